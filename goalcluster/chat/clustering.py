"""The thread's clustering as data: taking it from a run, checking references, re-verifying coverage
and overlap after an edit, and writing it back out as a run folder (for reports and exports)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from agent.workspace import write_run_files
from goalcluster.chat.session import ChatError, ChatSession
from goalcluster.chat.state import ChatCluster, ChatState
from goalcluster.results import read_assignments
from tools.files import replacing, write_atomic
from tools.metrics import coverage, overlap

REPRESENTATIVES = 3


def clusters_of_run(run_dir: Path) -> list[ChatCluster]:
    """The clusters of a finished run folder, with their members."""
    raw = json.loads((run_dir / "clusters.json").read_text())
    members: dict[str, list[str]] = {c["id"]: [] for c in raw}
    for row in read_assignments(run_dir):
        for cid in row["cluster_ids"]:
            members[cid].append(row["id"])
    return [
        ChatCluster(id=c["id"], name=c["name"], explanation=c["explanation"], members=members[c["id"]])
        for c in raw
    ]


def run_checks(state: ChatState) -> dict[str, tuple[float | None, float | None]]:
    """The run's estimated precision and recall of each cluster the thread has kept as the run left
    it (same explanation, same members but the excluded): an edited cluster's figures are gone."""
    if not state.run_dir:
        return {}
    run_dir, excluded = Path(state.run_dir), set(state.excluded)
    figures = {
        c["id"]: (c["precision"], c.get("recall"))
        for c in json.loads((run_dir / "clusters.json").read_text())
    }
    as_run = {c.id: c for c in clusters_of_run(run_dir)}
    return {
        c.id: figures[c.id]
        for c in state.clusters
        if c.id in as_run
        and c.explanation == as_run[c.id].explanation
        and set(c.members) == set(as_run[c.id].members) - excluded
    }


def adopt_run(run_dir: Path, goal: str, state: ChatState, session: ChatSession) -> dict[str, Any]:
    """The state update that makes a finished run's clustering the thread's (pins and edits of the
    old clusters are cleared, and /drill is back at the top; excluded documents stay out)."""
    clusters = clusters_of_run(run_dir)
    update = verified(clusters, state.model_copy(update={"pinned": {}}), session)
    update.update(goal=goal, run_dir=str(run_dir), pinned={}, edits=[], next_id=len(clusters) + 1)
    update["drilled"] = ""  # a new run: back at its top level
    return update


def find(state: ChatState, cluster_id: str) -> ChatCluster:
    for cluster in state.clusters:
        if cluster.id == cluster_id.strip():
            return cluster
    if not state.clusters:
        raise ChatError("there are no clusters yet; ask for a clustering first (/cluster GOAL)")
    known = ", ".join(f"{c.id} ({c.name})" for c in state.clusters)
    raise ChatError(f"there is no cluster {cluster_id!r}; the clusters are {known}")


def membership(clusters: list[ChatCluster], ids: list[str]) -> np.ndarray:
    """(n, k) bool: document i is in cluster j."""
    position = {doc_id: i for i, doc_id in enumerate(ids)}
    members = np.zeros((len(ids), len(clusters)), dtype=bool)
    for j, cluster in enumerate(clusters):
        for doc_id in cluster.members:
            members[position[doc_id], j] = True
    return members


def verified(clusters: list[ChatCluster], state: ChatState, session: ChatSession) -> dict[str, Any]:
    """The state update for ``clusters``: pins applied, excluded documents dropped, members in corpus
    order, coverage and overlap over the documents not excluded."""
    excluded = set(state.excluded)
    for cluster in clusters:
        pinned_here = [d for d, cid in state.pinned.items() if cid == cluster.id]
        if pinned_here:
            present = set(cluster.members)
            cluster.members.extend(d for d in pinned_here if d not in present)
    order = {doc_id: i for i, doc_id in enumerate(session.ws.ids)}
    for cluster in clusters:
        kept = {doc_id for doc_id in cluster.members if doc_id not in excluded}
        cluster.members = sorted(kept, key=order.__getitem__)
    counted = [doc_id for doc_id in session.ws.ids if doc_id not in excluded]
    members = membership(clusters, counted)
    return {"clusters": clusters, "coverage": coverage(members), "overlap": overlap(members)}


def status(update: dict[str, Any], config: Any) -> str:
    """One line: how the clustering now stands against the targets."""
    cov, ovl = update["coverage"], update["overlap"]
    cov_met = "met" if cov >= config.coverage else "not met"
    ovl_met = "met" if ovl <= config.max_overlap else "not met"
    return (
        f"{len(update['clusters'])} clusters · coverage {cov:.1%} (target {config.coverage:.0%}, {cov_met})"
        f" · overlap {ovl:.1%} (max {config.max_overlap:.0%}, {ovl_met})"
    )


def new_id(state: ChatState, taken: list[ChatCluster]) -> tuple[str, int]:
    """A cluster id not used by ``taken``, and the next counter."""
    used = {c.id for c in taken}
    number = state.next_id
    while f"c{number}" in used or f"c{number}" in {c.id for c in state.clusters}:
        number += 1
    return f"c{number}", number + 1


def write_current(state: ChatState, session: ChatSession, folder: Path) -> Path:
    """The thread's clustering as a run folder (what reports read); edits appear in its history."""
    ws, config = session.ws, session.config.model_copy(update={"goal": state.goal})
    write_run_files(folder, config, session.corpus_name, ws.ids, ws.texts)
    texts = dict(zip(ws.ids, ws.texts, strict=True))
    n = max(1, len(ws.ids) - len(state.excluded))
    base = json.loads((Path(state.run_dir) / "metrics.json").read_text()) if state.run_dir else {}
    checks = run_checks(state)
    clusters = [
        {
            "id": c.id,
            "name": c.name,
            "explanation": c.explanation,
            "size": len(c.members),
            "share": round(len(c.members) / n, 4),
            "precision": checks.get(c.id, (None, None))[0],
            "recall": checks.get(c.id, (None, None))[1],
            "representatives": [{"id": d, "text": texts[d]} for d in c.members[:REPRESENTATIVES]],
        }
        for c in sorted(state.clusters, key=lambda c: -len(c.members))
    ]
    write_atomic(folder / "clusters.json", json.dumps(clusters, indent=2, ensure_ascii=False))
    in_clusters: dict[str, list[str]] = {}
    for c in state.clusters:
        for doc_id in c.members:
            in_clusters.setdefault(doc_id, []).append(c.id)
    with replacing(folder / "assignments.jsonl") as out:
        for doc_id in ws.ids:
            row = {
                "id": doc_id,
                "cluster_ids": in_clusters.get(doc_id, []),
                "confidence": 0.0,
                "decided_by": "chat",
            }
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    usage = ws.llm.budget.snapshot()
    history = list(base.get("history", []))
    names = [c.name for c in state.clusters]
    for number, edit in enumerate(state.edits, start=len(history) + 1):
        history.append(
            {"iteration": number, "action": f"chat: {edit}", "proposed": [], "selected": names,
             "coverage": state.coverage, "overlap": state.overlap, "llm_decided": 0}
        )  # fmt: skip
    metrics = {
        "llm": base.get("llm", ws.llm.backend.model_id),
        "embedder": base.get("embedder", ws.embedder.name),
        "assign_mode": base.get("assign_mode", config.assign_mode),
        "coverage_target": config.coverage,
        "max_overlap": config.max_overlap,
        "iterations": base.get("iterations", 0),
        "stop_reason": base.get("stop_reason", "chat"),
        "llm_decided_documents": base.get("llm_decided_documents", 0),
        "seconds": base.get("seconds", 0.0),
        **{k: base.get(k, 0) + usage[k] for k in ("llm_calls", "prompt_tokens", "completion_tokens")},
        "goal": state.goal,
        "documents": len(ws.ids),
        "clusters": len(state.clusters),
        "coverage": state.coverage,
        "overlap": state.overlap,
        "history": history,
        "edits": state.edits,
    }
    write_atomic(folder / "metrics.json", json.dumps(metrics, indent=2, ensure_ascii=False))
    return folder
