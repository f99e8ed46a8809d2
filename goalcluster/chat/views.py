"""Chat actions that look without changing anything: list, show, search, why, summary, help."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from agent.llm.trace import Trace
from goalcluster.chat.actions import COMMANDS, Search, ShowCluster, Summarize, Why, usage
from goalcluster.chat.clustering import find, run_checks
from goalcluster.chat.session import ChatSession
from goalcluster.chat.state import ChatState
from goalcluster.results import precision_recall, read_assignments
from tools.prototypes import normalise
from tools.store import text_hash
from tools.text import clip

SHOWN = 10
TEXT = 160
Reply = tuple[dict[str, Any], str]


class Summary(BaseModel):
    summary: str = Field(description="Two to four sentences.", max_length=1200)


def _line(session: ChatSession, doc_id: str, state: ChatState) -> str:
    text = session.ws.texts[session.position(doc_id)]
    where = ",".join(c.id for c in state.clusters if doc_id in c.members) or "-"
    return f"  {doc_id} [{where}] {clip(text, TEXT)}"


def list_clusters(state: ChatState, session: ChatSession) -> Reply:
    if not state.clusters:
        return {}, "There is no clustering yet. Ask for one, e.g. /cluster group the texts by topic"
    n = max(1, len(session.ws.ids) - len(state.excluded))
    checks = run_checks(state)
    lines = [f"Goal: {state.goal or '(by topic)'}", f"  {'id':>4}  {'size':>5}  {'share':>6}  {'P / R':>11}"]
    for c in state.clusters:
        figures = precision_recall(*checks.get(c.id, (None, None)))
        size = f"{len(c.members):>5}  {len(c.members) / n:6.1%}"
        lines.append(f"  {c.id:>4}  {size}  {figures:>11}  {c.name} — {c.explanation}")
    lines.append("  P / R: the run's estimated precision and recall of each explanation (- once edited)")
    unassigned = n - len({d for c in state.clusters for d in c.members})
    lines.append(f"coverage {state.coverage:.1%}, overlap {state.overlap:.1%}, {unassigned} unassigned")
    return {}, "\n".join(lines)


def show(action: ShowCluster, state: ChatState, session: ChatSession) -> Reply:
    cluster = find(state, action.cluster)
    lines = [f"{cluster.id} {cluster.name} ({len(cluster.members)} documents): {cluster.explanation}"]
    lines += [_line(session, doc_id, state) for doc_id in cluster.members[: action.n]]
    return {}, "\n".join(lines)


def unassigned(state: ChatState, session: ChatSession) -> Reply:
    placed = {d for c in state.clusters for d in c.members} | set(state.excluded)
    left = [doc_id for doc_id in session.ws.ids if doc_id not in placed]
    if not left:
        return {}, "Every document is in a cluster (or excluded)."
    lines = [f"{len(left)} documents are in no cluster:"] + [_line(session, d, state) for d in left[:SHOWN]]
    return {}, "\n".join(lines)


def search(action: Search, state: ChatState, session: ChatSession) -> Reply:
    ws = session.ws
    if action.by == "keyword":
        words = action.query.casefold().split()
        hits = [d for d, t in zip(ws.ids, ws.texts, strict=True) if all(w in t.casefold() for w in words)]
        lines = [f"{len(hits)} documents contain {action.query!r}:"] + [
            _line(session, d, state) for d in hits[:SHOWN]
        ]
        return {}, "\n".join(lines)
    session.vectors()
    hashes = [text_hash(text) for text in ws.texts]
    found = ws.store.query(ws.embedder.embed([action.query])[0], n_results=SHOWN, within=hashes)
    first = {h: doc_id for doc_id, h in reversed(list(zip(ws.ids, hashes, strict=True)))}
    found = [(first[h], distance) for h, distance in found]  # the store holds every corpus's texts
    lines = [f"Closest in meaning to {action.query!r}:"]
    lines += [
        f"{_line(session, doc_id, state)}  (similarity {1 - distance:.2f})" for doc_id, distance in found
    ]
    return {}, "\n".join(lines)


def why(action: Why, state: ChatState, session: ChatSession) -> Reply:
    ws, doc_id = session.ws, action.document.strip()
    row = session.position(doc_id)
    inside = [c for c in state.clusters if doc_id in c.members]
    lines = [f"{doc_id}: {clip(ws.texts[row], TEXT)}"]
    if doc_id in state.excluded:
        lines.append("It is excluded from the clustering (you excluded it).")
    lines.append("In: " + (", ".join(f"{c.id} ({c.name})" for c in inside) or "no cluster"))
    if doc_id in state.pinned:
        lines.append(f"Pinned by you to {state.pinned[doc_id]}.")
    filled = [c for c in state.clusters if c.members]
    if filled:
        vectors, view = session.space(state.run_dir)
        centres = normalise(
            np.stack([vectors[[session.position(d) for d in c.members]].mean(0) for c in filled])
        )
        scores = centres @ vectors[row]
        ranked = np.argsort(-scores)[:3]
        where = view.describe().split(";")[0] if view else "the semantic view"
        lines.append(
            f"Similarity to the clusters' centres in {where}: "
            + ", ".join(f"{filled[j].id} {scores[j]:.3f}" for j in ranked)
        )
    if state.run_dir:
        lines += _run_evidence(Path(state.run_dir), doc_id, clip(ws.texts[row], ws.config.prompt_chars))
    return {}, "\n".join(lines)


def _run_evidence(run_dir: Path, doc_id: str, prompt_text: str) -> list[str]:
    """What the agent run recorded about the document: its assignment and the LLM's judgements."""
    lines = []
    for row in read_assignments(run_dir):
        if row["id"] == doc_id:
            lines.append(
                f"In the run: decided by {row['decided_by']}, "
                f"top-1 minus top-2 embedding margin {row['confidence']:.3f}."
            )
    judged = []
    for entry in Trace(run_dir / "trace.jsonl").readable():
        asked = (entry.get("messages") or [{}])[-1].get("content", "")
        if entry.get("parsed") is not None and prompt_text in asked:
            judged.append(f"  {entry['prompt']}: {json.dumps(entry['parsed'])}")
    if judged:
        lines += ["The LLM's judgements on it (from the run's trace):", *judged[-4:]]
    return lines


def summary(action: Summarize, state: ChatState, session: ChatSession) -> Reply:
    ws = session.ws
    cluster = find(state, action.cluster) if action.cluster else None
    ids = cluster.members if cluster else ws.ids
    rows = [session.position(d) for d in ids]
    picked = sorted(np.random.default_rng(0).choice(rows, size=min(20, len(rows)), replace=False).tolist())
    variables = {
        "cluster": cluster.model_dump() if cluster else None,
        "texts": ws.prompt_texts(picked),
        "goal": state.goal,
    }
    answer = ws.llm.generate("summarize", variables, Summary)
    what = f"{cluster.id} {cluster.name}" if cluster else f"the corpus ({len(ids)} documents)"
    return {}, f"Summary of {what}, from {len(picked)} sampled documents:\n{answer.summary}"


def help_text(drilled: str = "") -> Reply:
    """The commands; with where /drill stands (``drilled``: a node id, '' at the top level)."""
    lines = ["Ask in plain words, or use a command:", *(f"  {usage(c)}" for c in COMMANDS)]
    lines.append("/drill and /up only look: edits act on the top-level clusters, whichever level is shown.")
    if drilled:
        lines.append(f"Now showing the clusters within {drilled} (/up goes back).")
    return {}, "\n".join(lines)
