"""A tree run's taxonomy as the reports show it: every node of ``tree.json`` under its parent, with
its share of the parent and a few of its members (the representatives of the run that found it).

Texts are kept raw here; the HTML and Markdown writers escape them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from goalcluster.tree import Tree, TreeNode, read_tree, run_folder

EXAMPLES = 3


@dataclass
class NodeView:
    id: str
    level: int
    name: str
    explanation: str
    size: int
    share: float
    """Of the parent's documents (of the corpus at the top level)."""
    within: str
    """What ``share`` is of: "all documents", or the parent's id."""
    precision: float | None
    recall: float | None
    top: int
    """Position of its top-level ancestor among the top-level nodes (for its colour)."""
    representatives: list[tuple[str, str]]
    children: list[NodeView] = field(default_factory=list)
    not_split: str = ""
    """Why a node big enough to be split was not ('' otherwise)."""
    contradicts_parent: bool = False
    """The model's check found its explanation contradicts its parent's."""


@dataclass
class TaxonomyView:
    levels: int
    min_node_size: int
    documents: int
    roots: list[NodeView]
    not_split: dict[str, str]
    budget_spent: bool
    source: str = ""
    """The run folder the tree is read from, when the report's clusters are not that run's own (a
    chat's clusters, which edits may have changed since): the report says so."""

    def walk(self) -> Iterator[NodeView]:
        """Every node, each before its children (depth first, in the tree's order)."""
        stack = list(reversed(self.roots))
        while stack:
            node = stack.pop()
            yield node
            stack.extend(reversed(node.children))


def load_taxonomy(run_dir: Path, documents: int, *, source: bool = False) -> TaxonomyView | None:
    """The taxonomy of the tree run in ``run_dir`` (``documents`` in its corpus), or None for a
    flat run; ``source``: the report it goes in is of other clusters (see ``TaxonomyView.source``)."""
    tree = read_tree(run_dir)
    if tree is None:
        return None
    examples: dict[str | None, dict[str, list[tuple[str, str]]]] = {}
    views: dict[str, NodeView] = {}
    roots: list[NodeView] = []
    for node in tree.nodes:  # level by level: a parent comes before its children
        if node.parent not in examples:
            examples[node.parent] = _representatives(run_folder(run_dir, node.parent))
        parent = views.get(node.parent) if node.parent else None
        shown = examples[node.parent].get(node.id.rsplit(".", 1)[-1], [])
        view = _view(node, tree, parent, len(roots), documents, shown)
        views[node.id] = view
        (parent.children if parent else roots).append(view)
    return TaxonomyView(
        levels=tree.levels,
        min_node_size=tree.min_node_size,
        documents=documents,
        roots=roots,
        not_split=tree.not_split,
        budget_spent=tree.budget_spent,
        source=str(run_dir) if source else "",
    )


def _view(
    node: TreeNode,
    tree: Tree,
    parent: NodeView | None,
    roots: int,
    documents: int,
    representatives: list[tuple[str, str]],
) -> NodeView:
    whole = parent.size if parent else documents
    return NodeView(
        id=node.id,
        level=node.level,
        name=node.name,
        explanation=node.explanation,
        size=node.size,
        share=node.size / max(whole, 1),
        within=parent.id if parent else "all documents",
        precision=node.precision,
        recall=node.recall,
        top=parent.top if parent else roots,
        representatives=representatives,
        not_split=tree.not_split.get(node.id, ""),
        contradicts_parent=node.within_parent is False,
    )


def _representatives(folder: Path) -> dict[str, list[tuple[str, str]]]:
    """Cluster id -> its first representatives (id, text), from the run's ``clusters.json``."""
    clusters = json.loads((folder / "clusters.json").read_text())
    return {c["id"]: [(m["id"], m["text"]) for m in c["representatives"][:EXAMPLES]] for c in clusters}
