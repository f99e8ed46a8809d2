"""Chat views of a tree run (one made with ``goalcluster run --levels``): /drill ID lists the
clusters found within cluster ID, /up goes back to the level above.

They only read: ``tree.json`` and the child runs' ``metrics.json`` in the thread's run folder. The
thread's own clusters stay the top level's, and every edit acts on them, whichever level is shown.

Where the user stands in the tree (``ChatState.drilled``) is part of the thread's checkpointed state,
like everything a turn leaves for the next (the graph runs once per message): a thread reopened
later is where it was left. A new clustering (/cluster, /discover) starts again at its top.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from goalcluster.chat.actions import Drill
from goalcluster.chat.clustering import run_checks
from goalcluster.chat.session import ChatError, ChatSession
from goalcluster.chat.state import ChatState
from goalcluster.chat.views import list_clusters
from goalcluster.results import precision_recall, read_metrics
from goalcluster.tree import METRICS_FILE, TREE_FILE, Tree, TreeNode, read_tree, run_folder

Reply = tuple[dict[str, Any], str]


def drill(action: Drill, state: ChatState, session: ChatSession) -> Reply:
    """The clusters within node ``action.cluster``, which becomes where /up starts from; a node
    without any says why and moves nothing."""
    tree = tree_of(state)
    node = find_node(tree, action.cluster)
    if not _children(tree, node.id):
        return {}, why_no_children(node, tree)
    return {"drilled": node.id}, _level(node, tree, state)


def up(state: ChatState, session: ChatSession) -> Reply:
    """The level above the one /drill shows: its parent's clusters, or the thread's own at the top."""
    if not state.drilled:
        return {}, "This is the top level already (/clusters lists it; /drill ID goes down)."
    tree = tree_of(state)
    nodes = {node.id: node for node in tree.nodes}
    parent = nodes[state.drilled].parent if state.drilled in nodes else None
    if parent is None:
        _, listing = list_clusters(state, session)
        return {"drilled": ""}, f"Back at the top level.\n{listing}"
    return {"drilled": parent}, _level(nodes[parent], tree, state)


def tree_of(state: ChatState, needs: str = "/drill") -> Tree:
    """The tree of the run the thread's clustering came from; :class:`ChatError` saying why there is
    none (a flat run, or an unfinished tree) and that ``needs`` (what asked) wants a tree run."""
    if not state.run_dir:
        raise ChatError(
            "this thread's clustering has no tree; open the chat on a run folder made with "
            "goalcluster run --levels 2"
        )
    tree = read_tree(Path(state.run_dir))
    if tree is None:
        raise ChatError(
            f"the run {state.run_dir} has no {TREE_FILE}: it is flat, or its tree is unfinished "
            f"(goalcluster resume RUN_DIR finishes it); {needs} needs a run made with --levels 2 or more"
        )
    return tree


def find_node(tree: Tree, node_id: str) -> TreeNode:
    """The node ``node_id`` of ``tree``; :class:`ChatError` naming the top level if there is none."""
    for node in tree.nodes:
        if node.id == node_id.strip():
            return node
    tops = ", ".join(f"{n.id} ({n.name})" for n in tree.nodes if n.parent is None)
    raise ChatError(
        f"there is no cluster {node_id.strip()!r} in the run's tree; its top level is {tops} "
        "(a cluster within c2 is c2.c1)"
    )


def _children(tree: Tree, node_id: str) -> list[TreeNode]:
    return [node for node in tree.nodes if node.parent == node_id]


def why_no_children(node: TreeNode, tree: Tree) -> str:
    """Why ``node`` has no clusters within it, in plain words."""
    head = f"{node.id} {node.name} ({node.size} documents) has no clusters within it"
    if node.id in tree.not_split:
        return f"{head}: it was not split ({tree.not_split[node.id]})."
    if node.level >= tree.levels:
        return f"{head}: it is on the last level of the tree ({tree.levels} levels)."
    if node.size < tree.min_node_size:
        return f"{head}: only clusters of {tree.min_node_size} or more documents were split again."
    return f"{head}: the run on its members found none."


def _level(node: TreeNode, tree: Tree, state: ChatState) -> str:
    """The clusters within ``node``, laid out as /clusters lays out the top level."""
    children = _children(tree, node.id)
    width = max(4, *(len(child.id) for child in children))
    lines = [
        f"Within {node.id} {node.name} ({node.size} documents)",
        f"Goal: {children[0].goal}",
        f"  {'id':>{width}}  {'size':>5}  {'share':>6}  {'P / R':>11}",
    ]
    for child in children:
        figures = precision_recall(child.precision, child.recall)
        share = child.size / max(node.size, 1)
        lines.append(
            f"  {child.id:>{width}}  {child.size:>5}  {share:6.1%}  {figures:>11}  "
            f"{child.name} — {child.explanation}"
        )
    lines.append(f"  share: of {node.id}'s documents; P / R: the run's estimated precision and recall")
    if spread := spread_within(Path(state.run_dir), node):
        lines.append(spread)
    top = node.id.split(".")[0]
    if top not in run_checks(state):
        lines.append(f"Note: {top} is no longer as the run left it; these are the run's clusters within it.")
    lines.append("/drill ID goes deeper, /up back. Edits act on the top-level clusters only.")
    return "\n".join(lines)


def spread_within(run_dir: Path, node: TreeNode) -> str:
    """Coverage, overlap and unassigned documents of the run on ``node``'s members, from its
    ``metrics.json`` ('' when it has no finished run); a damaged file is named with its fix."""
    folder = run_folder(run_dir, node.id)
    if not (folder / METRICS_FILE).exists():
        return ""
    m = read_metrics(folder)
    spread = f"coverage {m['coverage']:.1%}, overlap {m['overlap']:.1%}"
    return f"{spread}, {m['unassigned']} of {node.id}'s documents unassigned"
