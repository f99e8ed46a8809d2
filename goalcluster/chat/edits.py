"""Chat actions that change the clustering. Clustering by a goal runs the agent graph; each edit is
followed by re-verification of coverage and overlap (and recorded for the report)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np

from agent.nodes.propose import MAX_CONTRAST, describe_group, notes_on
from agent.schemas import ClusterDescription
from goalcluster.chat.actions import (
    ClusterBy,
    Describe,
    Discover,
    Exclude,
    Export,
    Merge,
    Move,
    Pin,
    Rename,
    Split,
)
from goalcluster.chat.clustering import adopt_run, find, new_id, status, verified, write_current
from goalcluster.chat.session import ChatError, ChatSession
from goalcluster.chat.state import ChatCluster, ChatState
from goalcluster.criteria import discover as find_criteria
from goalcluster.report import write_reports
from goalcluster.tree import start_tree
from tools.cluster import partition
from tools.corpus import Corpus
from tools.files import replacing
from tools.sample import nearest_to_centres
from tools.text import spreadsheet_safe

Reply = tuple[dict[str, Any], str]
SAMPLE = 16


def _copy(state: ChatState) -> list[ChatCluster]:
    return [c.model_copy(deep=True) for c in state.clusters]


def _edited(
    clusters: list[ChatCluster], state: ChatState, session: ChatSession, edit: str, **extra: Any
) -> Reply:
    update = verified(clusters, state.model_copy(update=extra), session)
    update.update(extra)
    update["edits"] = [*state.edits, edit]
    return update, f"Done: {edit}.\n{status(update, session.config)}"


def cluster_by(action: ClusterBy, state: ChatState, session: ChatSession) -> Reply:
    ws = session.ws
    number = sum(1 for p in session.thread_dir.glob("run-*")) + 1
    run_dir = session.thread_dir / f"run-{number}"
    config = session.config.model_copy(update={"goal": action.goal, **ws.llm.budget.left()})
    corpus = Corpus(ids=ws.ids, texts=ws.texts, name=session.corpus_name)
    result = start_tree(  # a flat run, or a tree with the chat's --levels
        corpus,
        config,
        run_dir,
        backend=ws.llm.backend,
        embedder=ws.embedder,
        hidden=ws.hidden_states(),
        quiet=ws.quiet,
    )
    ws.llm.budget.absorb(result.metrics.get("tree", result.metrics))  # the chat's one budget
    update = adopt_run(run_dir, action.goal, state, session)
    clusters = update["clusters"]
    note = " Your pins were for the old clusters and are cleared." if state.pinned else ""
    lines = [
        f"Clustered by: {action.goal} (run folder {run_dir}, stopped: {result.metrics['stop_reason']}).{note}"
    ]
    lines += [f"  {c.id:>4}  {len(c.members):>5}  {c.name} — {c.explanation}" for c in clusters]
    lines.append(status(update, session.config))
    return update, "\n".join(lines)


def discover(action: Discover, state: ChatState, session: ChatSession) -> Reply:
    """Criteria discovery on the corpus; the best criterion's clustering becomes the thread's."""
    ws = session.ws
    number = sum(1 for p in session.thread_dir.glob("discover-*")) + 1
    corpus = Corpus(ids=ws.ids, texts=ws.texts, name=session.corpus_name)
    found = find_criteria(
        corpus,
        session.config.model_copy(update=ws.llm.budget.left()),
        session.thread_dir / f"discover-{number}",
        max_criteria=action.max_criteria,
        backend=ws.llm.backend,
        embedder=ws.embedder,
        quiet=ws.quiet,
    )
    ws.llm.budget.absorb({"llm_calls": found.llm_calls})  # the chat's one budget
    lines = [f"Criteria found ({found.llm_calls} LLM calls; details in {found.folder}/discover.md):"]
    for c in found.criteria:
        verdict = f"distinctness {c.distinctness:.2f}" if c.kept else f"dropped: {c.dropped_because}"
        lines.append(
            f"  {c.name} — {c.goal} [{len(c.clusters)} clusters, coverage {c.coverage:.0%}, {verdict}]"
        )
    if not found.kept:
        return {}, "\n".join([*lines, "None is strong enough to keep; try /cluster with a goal of your own."])
    best = found.kept[0]
    update = adopt_run(Path(best.run_dir), best.goal, state, session)
    lines.append(f"Showing the clustering by {best.name!r}; /cluster GOAL switches to another.")
    lines.append(status(update, session.config))
    return update, "\n".join(lines)


def merge(action: Merge, state: ChatState, session: ChatSession) -> Reply:
    a, b = find(state, action.cluster), find(state, action.other)
    if a.id == b.id:
        raise ChatError(f"{a.id} and {b.id} are the same cluster; name two different ones")
    cid, next_id = new_id(state, state.clusters)
    in_a = set(a.members)
    merged = ChatCluster(
        id=cid,
        name=f"{a.name} + {b.name}",
        explanation=f"{a.explanation} Or: {b.explanation}",
        members=[*a.members, *(d for d in b.members if d not in in_a)],
    )
    clusters = [merged if c.id == a.id else c for c in _copy(state) if c.id != b.id]
    pinned = {d: (cid if p in (a.id, b.id) else p) for d, p in state.pinned.items()}
    return _edited(
        clusters, state, session, f"merged {a.id} and {b.id} into {cid}", pinned=pinned, next_id=next_id
    )


def split(action: Split, state: ChatState, session: ChatSession) -> Reply:
    """Cut the cluster in two in the run's working space; the LLM describes each part."""
    ws, cluster = session.ws, find(state, action.cluster)
    if len(cluster.members) < 4:
        raise ChatError(f"{cluster.id} has {len(cluster.members)} documents: too few to split")
    rows = np.asarray([session.position(d) for d in cluster.members])
    vectors, view = session.space(state.run_dir)
    halves = partition(vectors[rows], n_clusters=2, random_state=ws.config.seed)
    clusters, new_ids, next_id = [c for c in _copy(state) if c.id != cluster.id], [], state.next_id
    parts = [rows[halves == part] for part in (0, 1)]
    shown = [
        [int(m[i]) for i in nearest_to_centres(vectors[m], np.zeros(len(m), dtype=int), SAMPLE // 2)]
        for m in parts
    ]
    goal, noted = state.goal or ws.config.goal_text, ws.config.note_groups and ws.config.annotate_samples
    for part, members in enumerate(parts):
        texts = ws.prompt_texts(shown[part])
        variables = {  # each part told apart from the other, as the run's groups are from their nearest
            "goal": goal,
            "aspect": view.aspect if view else "",
            "texts": texts,
            "contrast": ws.prompt_texts(shown[1 - part][:MAX_CONTRAST]),
            "notes": notes_on(ws, goal, texts) if noted else [],
            "others": [c.model_dump(include={"name", "explanation"}) for c in clusters],
        }
        described = describe_group(ws, variables)
        if described is None:
            raise ChatError(
                f"the LLM gave no valid description of a part of {cluster.id} (the trace says why); "
                "nothing was split. Try a larger model (--llm), or /split another cluster"
            )
        cid, next_id = new_id(state.model_copy(update={"next_id": next_id}), clusters)
        ids = [ws.ids[int(i)] for i in members]
        clusters.append(
            ChatCluster(id=cid, name=described.name, explanation=described.explanation, members=ids)
        )
        new_ids.append(cid)
    placed = {d: c.id for c in clusters if c.id in new_ids for d in c.members}
    pinned = {d: (placed.get(d, p) if p == cluster.id else p) for d, p in state.pinned.items()}
    edit = f"split {cluster.id} into {', '.join(new_ids)}"
    return _edited(clusters, state, session, edit, pinned=pinned, next_id=next_id)


def rename(action: Rename, state: ChatState, session: ChatSession) -> Reply:
    cluster = find(state, action.cluster)
    clusters = [c.model_copy(update={"name": action.name}) if c.id == cluster.id else c for c in _copy(state)]
    return _edited(clusters, state, session, f"renamed {cluster.id} to {action.name!r}")


def describe(action: Describe, state: ChatState, session: ChatSession) -> Reply:
    ws, cluster = session.ws, find(state, action.cluster)
    explanation = action.explanation.strip()
    if not explanation:
        rows = [session.position(d) for d in cluster.members[:SAMPLE]]
        others = [c.model_dump(include={"name", "explanation"}) for c in state.clusters if c.id != cluster.id]
        variables = {"texts": ws.prompt_texts(rows), "others": others, "goal": state.goal or "by topic"}
        described = ws.llm.generate(
            "describe_cluster", variables, ClusterDescription, {"texts": variables["texts"]}
        )
        explanation = described.explanation
    clusters = [
        c.model_copy(update={"explanation": explanation}) if c.id == cluster.id else c for c in _copy(state)
    ]
    return _edited(clusters, state, session, f"re-described {cluster.id}: {explanation}")


def move(action: Move, state: ChatState, session: ChatSession) -> Reply:
    target = find(state, action.cluster)
    for doc_id in action.documents:
        session.position(doc_id)
    moving = set(action.documents)
    clusters = _copy(state)
    for c in clusters:
        c.members = [d for d in c.members if d not in moving] + (list(moving) if c.id == target.id else [])
    pinned = {d: p for d, p in state.pinned.items() if d not in moving}
    excluded = [d for d in state.excluded if d not in moving]
    edit = f"moved {', '.join(action.documents)} to {target.id}"
    return _edited(clusters, state, session, edit, pinned=pinned, excluded=excluded)


def pin(action: Pin, state: ChatState, session: ChatSession) -> Reply:
    target = find(state, action.cluster)
    session.position(action.document)
    pinned = {**state.pinned, action.document: target.id}
    excluded = [d for d in state.excluded if d != action.document]
    edit = f"pinned {action.document} to {target.id}"
    return _edited(_copy(state), state, session, edit, pinned=pinned, excluded=excluded)


def exclude(action: Exclude, state: ChatState, session: ChatSession) -> Reply:
    session.position(action.document)
    excluded = sorted({*state.excluded, action.document})
    pinned = {d: p for d, p in state.pinned.items() if d != action.document}
    return _edited(
        _copy(state), state, session, f"excluded {action.document}", pinned=pinned, excluded=excluded
    )


def export(action: Export, state: ChatState, session: ChatSession) -> Reply:
    """The assignments as CSV: by default a new file in the thread's folder; a path typed with
    /export PATH is written only if it is free, or after the user's yes to replacing it."""
    path = Path(action.path).expanduser() if action.path else _fresh(session.thread_dir / "assignments.csv")
    if path.exists() and not action.overwrite:
        replace = action.model_copy(update={"overwrite": True}).model_dump()
        asked = f"{path} exists. Replace it? Answer yes to replace it, anything else to keep it."
        return {"pending": replace}, asked
    path.parent.mkdir(parents=True, exist_ok=True)
    clusters_of: dict[str, list[ChatCluster]] = {}
    for cluster in state.clusters:
        for doc_id in cluster.members:
            clusters_of.setdefault(doc_id, []).append(cluster)
    excluded = set(state.excluded)
    with replacing(path, newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["id", "cluster_ids", "cluster_names", "excluded"])
        for doc_id in session.ws.ids:
            found = clusters_of.get(doc_id, [])
            cells = [
                doc_id,
                ";".join(c.id for c in found),
                ";".join(c.name for c in found),
                doc_id in excluded,
            ]
            writer.writerow([spreadsheet_safe(cell) for cell in cells])
    return {}, f"Wrote {len(session.ws.ids)} assignments to {path}"


def _fresh(path: Path) -> Path:
    """``path``, or the first of ``name-2.csv``, ``name-3.csv``, ... that does not exist."""
    number, free = 1, path
    while free.exists():
        number += 1
        free = path.with_name(f"{path.stem}-{number}{path.suffix}")
    return free


def report(state: ChatState, session: ChatSession) -> Reply:
    if not state.clusters:
        raise ChatError("there is no clustering to report on yet; ask for one first (/cluster GOAL)")
    paths = thread_reports(state, write_current(state, session, session.thread_dir / "current"))
    return {}, "Wrote " + " and ".join(str(p) for p in paths)


def thread_reports(state: ChatState, folder: Path) -> list[Path]:
    """The reports of the thread's clustering, written out in ``folder``; their tree (when the
    clustering came from a tree run) is that run's, as it left it."""
    return write_reports(folder, tree_from=Path(state.run_dir) if state.run_dir else None)
