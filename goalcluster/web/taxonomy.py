"""The pages of a tree run (one made with ``goalcluster run --levels``), read from the run's files as
the report and the chat's /drill read them: the main page's Tree section (the report's taxonomy and
icicle chart) and a node's page (its members as the run that found it left them, page by page, and
the clusters within it). Read-only: edits act on the thread's own top-level clusters, whichever node
is shown, as with /drill. No HTTP here."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from goalcluster.chat.clustering import run_checks
from goalcluster.chat.session import ChatSession
from goalcluster.chat.state import ChatState
from goalcluster.chat.taxonomy import find_node, spread_within, tree_of, why_no_children
from goalcluster.report.icicle import icicle
from goalcluster.report.taxonomy import NodeView, load_taxonomy
from goalcluster.results import read_assignments
from goalcluster.tree import run_folder
from goalcluster.web.pages import Members, member_rows, paged


def node_href(node_id: str) -> str:
    """The path of a node's page (its id quoted whole: a dot stays, anything else is escaped)."""
    return f"/node/{quote(node_id, safe='')}"


def tree_section(state: ChatState, session: ChatSession) -> dict[str, Any] | None:
    """The main page's Tree section: ``taxonomy`` (the report's nested nodes) and ``icicle`` (the
    report's chart layout); None when the thread's clustering is not a tree run's; ``error`` alone
    when the run's tree cannot be read (the rest of the page still shows)."""
    if not state.run_dir:
        return None
    try:
        taxonomy = load_taxonomy(Path(state.run_dir), len(session.ws.ids))
    except ValueError as error:  # tree.json or a clusters.json damaged: shown, not hidden
        return {"error": f"The tree of the run in {state.run_dir} cannot be shown: {error}"}
    if taxonomy is None:
        return None
    return {"taxonomy": taxonomy, "icicle": icicle(taxonomy)}


@dataclass
class NodePage:
    node: NodeView
    """The node as the report shows it (with its children)."""
    goal: str
    """The goal of the run that found it."""
    ancestors: list[NodeView]
    """From the top level down to its parent."""
    members: Members
    none_within: str
    """Why it has no clusters within it ('' when it has)."""
    spread: str
    """Coverage, overlap and unassigned documents of the run on its members ('' without one)."""
    top: str
    """Its top-level ancestor's id (its own at the top)."""
    top_in_thread: bool
    """The thread still has a cluster with that id (where edits go)."""
    top_edited: bool
    """That cluster is no longer as the run left it."""


def node_page(state: ChatState, session: ChatSession, node_id: str, page: int, q: str) -> NodePage:
    """Node ``node_id`` of the thread's tree run; :class:`ChatError` for a flat run or an unknown id."""
    tree = tree_of(state, needs="a cluster's page in the tree")
    node = find_node(tree, node_id)
    run_dir = Path(state.run_dir)
    taxonomy = load_taxonomy(run_dir, len(session.ws.ids))
    views = {view.id: view for view in taxonomy.walk()} if taxonomy else {}
    view = views[node.id]
    parents = {n.id: n.parent for n in tree.nodes}
    ancestors: list[NodeView] = []
    parent = node.parent
    while parent is not None:
        ancestors.insert(0, views[parent])
        parent = parents[parent]
    cluster = node.id.rsplit(".", 1)[-1]  # its id in the run that found it
    found_in = read_assignments(run_folder(run_dir, node.parent))
    ids = [row["id"] for row in found_in if cluster in row["cluster_ids"]]
    top = ancestors[0].id if ancestors else node.id
    return NodePage(
        node=view,
        goal=node.goal,
        ancestors=ancestors,
        members=paged(view, member_rows(session, ids), page, q),
        none_within="" if view.children else why_no_children(node, tree),
        spread=spread_within(run_dir, node) if view.children else "",
        top=top,
        top_in_thread=any(c.id == top for c in state.clusters),
        top_edited=top not in run_checks(state),
    )
