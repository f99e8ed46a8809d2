"""Taxonomies: clusters within clusters, driven over the ordinary runner.

With ``levels`` above 1, once the top run has finished, each of its clusters holding at least
``min_node_size`` documents is clustered again, on its members only, by the same graph: a normal run
folder in ``RUN_DIR/tree/<node id>/`` whose goal is a finer grain of its parent's. Node ids are
path-like (``c2.c1`` is cluster c1 of the run inside c2). One LLM budget spans the whole tree: a child
run may spend what the runs before it left. Nodes are visited level by level in a fixed order, so a
resume walks the same tree: a child with ``metrics.json`` is read back, one with a checkpoint is
resumed, any other is started.

Each child's explanation is checked against its parent's (:mod:`goalcluster.tree_check`).

Files: ``tree.json`` (every node), ``path`` on each ``assignments.jsonl`` row, ``tree`` in the top
run's ``metrics.json`` (what the whole tree spent), ``tree-checks.jsonl`` (the checks' LLM trace).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from agent.config import Config
from agent.llm.backends import ChatBackend
from agent.llm.budget import Budget
from agent.llm.factory import build_llm
from agent.llm.helper import LLM
from agent.llm.hidden import HiddenStates
from agent.llm.registry import make_chat_backend
from agent.workspace import RUN_FILE, make_run_embedder, read_run_files, say
from goalcluster.results import Cluster, ClusteringResult, read_result
from goalcluster.runner import CHECKPOINT, RunInputError, as_resumed, check_request, resume_run, start_run
from goalcluster.tree_check import check_children
from tools.corpus import Corpus
from tools.embedders import Embedder
from tools.files import DamagedFileError, replacing, write_atomic

TREE_DIR = "tree"
TREE_FILE = "tree.json"
CHECKS_TRACE = "tree-checks.jsonl"
METRICS_FILE = "metrics.json"
BUDGET_SPENT = "LLM budget spent"


class TreeNode(BaseModel):
    """One cluster of the taxonomy."""

    id: str = Field(description="Path-like: the parent's id, a dot, the cluster's id in its run.")
    parent: str | None = Field(description="The parent node's id; None at the top level.")
    level: int = Field(description="1 for the top run's clusters.")
    name: str
    explanation: str
    size: int
    precision: float | None
    recall: float | None
    goal: str = Field(description="The goal of the run that found this cluster.")
    within_parent: bool | None = Field(
        None,
        description="The check against the parent: True when the model files this explanation under "
        "its parent among the clusters of the parent's level, False under another or none; None at "
        "the top level, or when the check got no answer.",
    )


class Tree(BaseModel):
    """What ``tree.json`` holds."""

    levels: int
    min_node_size: int
    nodes: list[TreeNode] = Field(description="Level by level; within a level, by parent, largest first.")
    not_split: dict[str, str] = Field(
        default_factory=dict,
        description="Node id -> why a node big enough and above the last level was not clustered again.",
    )
    budget_spent: bool = Field(False, description="The LLM budget ran out before the tree was complete.")


@dataclass
class Models:
    """The models every run of the tree shares, each built once, when first needed."""

    config: Config
    backend: ChatBackend | None = None
    embedder: Embedder | None = None
    hidden: HiddenStates | None = None
    quiet: bool = False
    executor: str | None = None
    home: Path | None = None
    checker: LLM | None = field(default=None, repr=False)

    def chat_backend(self) -> ChatBackend:
        if self.backend is None:
            announce = None if self.quiet else say
            self.backend = make_chat_backend(self.config.llm, self.config.backend, self.config.home, announce)
        return self.backend

    def checks_llm(self, budget: Budget, trace_path: Path) -> LLM:
        """The LLM that checks children against their parents, charging the tree's ``budget``."""
        if self.checker is None:
            built = build_llm(self.config, trace_path=trace_path, backend=self.chat_backend())
            self.checker = replace(built, budget=budget)
        return self.checker

    def run_kwargs(self) -> dict[str, Any]:
        if self.embedder is None:
            self.embedder = make_run_embedder(self.config)
        return {
            "backend": self.chat_backend(),
            "embedder": self.embedder,
            "hidden": self.hidden,
            "quiet": self.quiet,
        }


def child_goal(goal: str, cluster: Cluster) -> str:
    """The goal a cluster's members are clustered again by: a finer grain of ``goal`` within it."""
    return f"{goal.rstrip(' .')}, within: {cluster.name} — {cluster.explanation}"


def start_tree(
    corpus: Corpus,
    config: Config,
    run_dir: Path,
    *,
    backend: ChatBackend | None = None,
    embedder: Embedder | None = None,
    hidden: HiddenStates | None = None,
    quiet: bool = False,
) -> ClusteringResult:
    """:func:`start_run`, then (``config.levels`` above 1) the tree below its clusters."""
    top = start_run(corpus, config, run_dir, backend=backend, embedder=embedder, hidden=hidden, quiet=quiet)
    if config.levels == 1:
        return top
    models = Models(config, backend=backend, embedder=embedder, hidden=hidden, quiet=quiet)
    return grow_tree(top, config, run_dir, models)


def resume_tree(
    run_dir: Path,
    *,
    backend: ChatBackend | None = None,
    embedder: Embedder | None = None,
    hidden: HiddenStates | None = None,
    quiet: bool = False,
    executor: str | None = None,
    home: Path | None = None,
) -> ClusteringResult:
    """:func:`resume_run`; on a tree run, the top run is resumed only if unfinished, then every
    child that has no ``metrics.json`` is resumed or started; finished runs are read back.
    ``executor`` and ``home`` move every run of the tree, as in :func:`resume_run`."""
    kwargs: dict[str, Any] = {"backend": backend, "embedder": embedder, "hidden": hidden, "quiet": quiet}
    moved: dict[str, Any] = {"executor": executor, "home": home}
    if not (run_dir / RUN_FILE).exists():
        return resume_run(run_dir, **moved, **kwargs)
    config = as_resumed(read_run_files(run_dir)[0], **moved)
    if config.levels == 1:
        return resume_run(run_dir, **moved, **kwargs)
    if (run_dir / METRICS_FILE).exists():
        top = read_result(run_dir)
    else:
        top = resume_run(run_dir, **moved, **kwargs)
    models = Models(config, **moved, **kwargs)
    return grow_tree(top, config, run_dir, models)


def grow_tree(top: ClusteringResult, config: Config, run_dir: Path, models: Models) -> ClusteringResult:
    """Cluster the top run's clusters again, level by level down to ``config.levels``, within one
    budget; write ``tree.json``, the assignments' paths and the tree's totals. Returns the top result,
    its metrics with ``tree`` added."""
    _, corpus_name, ids, texts = read_run_files(run_dir)
    text_of = dict(zip(ids, texts, strict=True))
    budget = Budget(max_calls=config.budget_calls, max_tokens=config.budget_tokens)
    budget.absorb(top.metrics)
    tree = Tree(levels=config.levels, min_node_size=config.min_node_size, nodes=[])
    runs: dict[str, ClusteringResult] = {"": top}  # by the node they cluster ("": the corpus)
    within: dict[str, bool | None] = {}  # child node id -> its check against its parent
    checks = run_dir / CHECKS_TRACE
    frontier: list[tuple[str, str]] = [("", config.goal)]
    for level in range(1, config.levels + 1):
        below: list[tuple[str, str]] = []
        for parent, goal in frontier:
            result = runs[parent]
            for cluster in result.clusters:
                node_id = f"{parent}.{cluster.id}" if parent else cluster.id
                tree.nodes.append(_node(node_id, parent or None, level, cluster, goal, within.get(node_id)))
                if level == config.levels or cluster.size < config.min_node_size:
                    continue
                members = [a.id for a in result.assignments if cluster.id in a.cluster_ids]
                sub = Corpus(
                    ids=members, texts=[text_of[i] for i in members], name=f"{corpus_name}/{node_id}"
                )
                finer = child_goal(goal or config.goal_text, cluster)
                child = _child_run(sub, config, finer, run_dir / TREE_DIR / node_id, budget, models)
                if isinstance(child, str):
                    tree.not_split[node_id] = child
                    continue
                budget.absorb(child.metrics)
                runs[node_id] = child
                found = check_children(
                    lambda: models.checks_llm(budget, checks),
                    budget,
                    goal or config.goal_text,
                    cluster,
                    result.clusters,
                    child.clusters,
                    run_dir / TREE_DIR / node_id,
                )
                within.update({f"{node_id}.{cid}": verdict for cid, verdict in found.items()})
                below.append((node_id, finer))
        frontier = below
    tree.budget_spent = budget.exhausted or any(r == BUDGET_SPENT for r in tree.not_split.values())
    return _write_tree(top, tree, runs, budget, run_dir)


def _node(
    node_id: str, parent: str | None, level: int, cluster: Cluster, goal: str, within_parent: bool | None
) -> TreeNode:
    return TreeNode(
        id=node_id,
        parent=parent,
        level=level,
        name=cluster.name,
        explanation=cluster.explanation,
        size=cluster.size,
        precision=cluster.precision,
        recall=cluster.recall,
        goal=goal,
        within_parent=within_parent,
    )


def _child_run(
    sub: Corpus, config: Config, goal: str, folder: Path, budget: Budget, models: Models
) -> ClusteringResult | str:
    """The child run in ``folder``: read back if finished, resumed if begun, else started with what
    is left of ``budget``; or why it is not run."""
    if (folder / METRICS_FILE).exists():
        return read_result(folder)
    if (folder / CHECKPOINT).exists():
        return resume_run(folder, executor=models.executor, home=models.home, **models.run_kwargs())
    if budget.exhausted:
        return BUDGET_SPENT
    child_config = config.model_copy(update={"goal": goal, "levels": 1, **budget.left()})
    try:
        check_request(sub, child_config)
    except RunInputError as error:
        return f"cannot be clustered again: {error}"
    if not models.quiet:
        say(f"clustering {len(sub)} documents within {folder.name}")
    return start_run(sub, child_config, folder, **models.run_kwargs())


def document_paths(runs: dict[str, ClusteringResult]) -> dict[str, list[str]]:
    """Per document id, the node ids from the top to the deepest node holding it, through its first
    cluster at each level (a document in several clusters follows the first)."""
    first = {
        node: {a.id: a.cluster_ids[0] for a in result.assignments if a.cluster_ids}
        for node, result in runs.items()
    }
    paths: dict[str, list[str]] = {}
    for assignment in runs[""].assignments:
        path: list[str] = []
        prefix = ""
        while prefix in first and (cid := first[prefix].get(assignment.id)) is not None:
            prefix = f"{prefix}.{cid}" if prefix else cid
            path.append(prefix)
        paths[assignment.id] = path
    return paths


def _write_tree(
    top: ClusteringResult, tree: Tree, runs: dict[str, ClusteringResult], budget: Budget, run_dir: Path
) -> ClusteringResult:
    """tree.json, then assignments.jsonl with paths, then metrics.json (last, as in a run)."""
    write_atomic(run_dir / TREE_FILE, json.dumps(tree.model_dump(), indent=2, ensure_ascii=False))
    paths = document_paths(runs)
    with replacing(run_dir / "assignments.jsonl") as out:
        for row in top.assignments:
            line = {**row.model_dump(), "path": paths[row.id]}
            out.write(json.dumps(line, ensure_ascii=False) + "\n")
    totals = {
        "levels": tree.levels,
        "nodes": len(tree.nodes),
        "runs": len(runs),
        **budget.snapshot(),
        "budget_spent": tree.budget_spent,
        "not_split": tree.not_split,
        "contradict_parent": [node.id for node in tree.nodes if node.within_parent is False],
    }
    metrics = {**top.metrics, "tree": totals}
    write_atomic(run_dir / METRICS_FILE, json.dumps(metrics, indent=2, ensure_ascii=False))
    return top.model_copy(update={"metrics": metrics})


def run_folder(run_dir: Path, node_id: str | None) -> Path:
    """The run folder that clustered ``node_id``'s members (the top run ``run_dir`` for None)."""
    return run_dir / TREE_DIR / node_id if node_id else run_dir


def read_tree(run_dir: Path) -> Tree | None:
    """The tree a tree run wrote into ``run_dir``, or None (a flat run); a damaged ``tree.json`` is
    named with its fix."""
    path = run_dir / TREE_FILE
    if not path.exists():
        return None
    try:
        return Tree.model_validate_json(path.read_text(encoding="utf-8", errors="replace"))
    except ValidationError as error:
        problem = error.errors()[0]
        where = ".".join(map(str, problem["loc"]))
        raise DamagedFileError(
            f"{path} is damaged ({where + ': ' if where else ''}{problem['msg']}). "
            f"Fix: goalcluster resume {run_dir} writes it again."
        ) from error


def tree_lines(tree: Tree) -> str:
    """The tree, each node indented under its parent: id, size, name."""
    children: dict[str | None, list[TreeNode]] = {}
    for node in tree.nodes:
        children.setdefault(node.parent, []).append(node)
    lines = [f"taxonomy, {tree.levels} levels (clusters of {tree.min_node_size}+ documents split again):"]

    def show(parent: str | None, depth: int) -> None:
        for node in children.get(parent, []):
            flag = "  [contradicts its parent]" if node.within_parent is False else ""
            lines.append(
                f"{'  ' * depth}{node.id:<10} {node.size:>5}  {node.name} — {node.explanation}{flag}"
            )
            show(node.id, depth + 1)

    show(None, 1)
    if tree.not_split:
        why = "; ".join(f"{node}: {reason}" for node, reason in tree.not_split.items())
        lines.append(f"not split: {why}")
    if tree.budget_spent:
        lines.append(
            "LLM budget spent: the tree stopped with what exists (goalcluster resume does not add budget)"
        )
    return "\n".join(lines)
