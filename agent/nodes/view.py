"""Choose the space the run works in: the goal view under the goal's aspect, or the semantic view,
by measurement. On a probe sample the LLM writes, for each text, its <aspect> in a few words (what a
small model does well); the notes, embedded, are clustered, and so is each space; the space whose
clustering agrees more with the notes' (NMI) wins, a tie going to the goal view (the space the goal
asked for). Asking the model to judge pairs or triplets of texts directly was measured first and
was near chance with the embedded 1.5B model."""

from __future__ import annotations

from typing import Any

import numpy as np
from langgraph.runtime import Runtime
from sklearn.metrics import normalized_mutual_info_score as nmi

from agent.llm.budget import BudgetExceeded
from agent.nodes.common import goal_text, timed, workspace
from agent.schemas import Annotation, Aspect
from agent.state import RunState, ViewChoice
from agent.workspace import RunContext, Workspace
from tools.cluster import partition
from tools.extend import sample_rows
from tools.prototypes import centre

DEFAULT_ASPECT = "topic"  # what a run without a goal groups by
MIN_NOTES = 8  # fewer notes than this (the budget ran out) measure nothing


@timed("view")
def view(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    ws, config = workspace(runtime), state.config
    if config.view == "semantic":
        return {"view": ViewChoice(kind="semantic", chosen_by="config")}
    goal = goal_text(state)
    try:
        aspect = config.aspect or _aspect(ws, config.goal)
    except BudgetExceeded:
        ws.say("LLM budget spent before the goal's aspect was named: working in the semantic view")
        return {"view": ViewChoice(kind="semantic", chosen_by="budget"), "budget_exhausted": True}
    sample = config.goal_view_sample
    sampled = sample if sample is not None and sample < state.n_docs else None
    choice = ViewChoice(
        kind="goal",
        aspect=aspect,
        identity=ws.goal_view(aspect, goal).name,
        chosen_by="config",
        sampled=sampled,
    )
    if ws.hidden_states() is None:
        ws.say(
            f"note: {config.view_model or config.llm} exposes no hidden states; the goal view asks it for a "
            "short note on each document instead (one generated answer per document: much slower)"
        )
    update: dict[str, Any] = {}
    if config.view == "auto":
        choice, update = _measure(state, ws, choice, goal)
    if choice.kind == "goal":
        rows = None if sampled is None else sample_rows(state.n_docs, sampled, config.seed)
        _compute(ws, aspect, goal, rows)
    ws.say(f"working space: {choice.describe()}")
    return {**update, "view": choice}


def _aspect(ws: Workspace, goal: str) -> str:
    """The property the goal groups by, named by the LLM in one call (no goal, or no valid answer:
    the topic)."""
    named = ws.llm.attempt("aspect", {"goal": goal}, Aspect) if goal else None
    if goal and named is None:
        ws.say(
            f"note: the LLM gave no valid aspect for the goal; using {DEFAULT_ASPECT!r} (--aspect sets one)"
        )
    return DEFAULT_ASPECT if named is None else named.aspect


def _measure(
    state: RunState, ws: Workspace, goal_choice: ViewChoice, goal: str
) -> tuple[ViewChoice, dict[str, Any]]:
    """Cluster both spaces and the LLM's notes on the probe sample; the closer space wins."""
    config, aspect = state.config, goal_choice.aspect
    probe = sample_rows(state.n_docs, config.view_probe, config.seed)
    notes, exhausted = _notes(ws, aspect, probe)
    spent = {"budget_exhausted": True} if exhausted else {}
    if len(notes) < MIN_NOTES:
        unmeasured = {"chosen_by": "budget" if exhausted else "no_notes", "notes": len(notes)}
        return goal_choice.model_copy(update=unmeasured), spent
    rows = list(notes)
    k = int(np.clip(config.max_clusters, 2, max(2, len(rows) // 4)))

    def cut(vectors: np.ndarray) -> np.ndarray:
        return partition(vectors, n_clusters=k, random_state=config.seed)

    reference = cut(ws.embedder.embed([f"{aspect}: {note}" for note in notes.values()]))
    spaces = {"semantic": ws.vectors()[rows], "goal": centre(_compute(ws, aspect, goal, rows))}
    scores = {name: round(float(nmi(reference, cut(x))), 3) for name, x in spaces.items()}
    kind = "goal" if scores["goal"] >= scores["semantic"] else "semantic"
    update = {"kind": kind, "chosen_by": "notes", "agreement": scores, "notes": len(notes)}
    return goal_choice.model_copy(update=update), spent


def _notes(ws: Workspace, aspect: str, rows: list[int]) -> tuple[dict[int, str], bool]:
    """The LLM's few words on each text's aspect, by row, as many as the budget allows (a text it
    gives no valid note for is left out), and whether the budget ran out."""
    notes: dict[int, str] = {}
    try:
        for row, text in zip(rows, ws.prompt_texts(rows), strict=True):
            note = ws.llm.attempt("aspect_note", {"aspect": aspect, "text": text}, Annotation)
            if note is not None:
                notes[row] = note.value
    except BudgetExceeded:
        ws.say(f"LLM budget spent after {len(notes)} notes")
        return notes, True
    return notes, False


def _compute(ws: Workspace, aspect: str, goal: str, rows: list[int] | None) -> np.ndarray:
    """Goal-view vectors of ``rows`` (default: all) with a progress bar in documents per second."""
    total = len(ws.ids) if rows is None else len(rows)
    with ws.bar(f"goal view ({aspect})", total, unit="doc") as bar:

        def tick(done: int, todo: int) -> None:
            bar.total = todo
            bar.update(done - bar.n)

        return ws.goal_vectors(aspect, goal, rows, progress=tick)
