"""Assign every document among the chosen clusters: embeddings decide where they are sure, the
LLM decides the uncertain band where it has shown it helps (see ``Config.assign_mode``)."""

from __future__ import annotations

from typing import Any

import numpy as np
from langgraph.runtime import Runtime

from agent.llm.budget import BudgetExceeded
from agent.nodes.common import candidate_scores, goal_text, timed, workspace
from agent.schemas import choice_schema
from agent.state import Candidate, RunState
from agent.workspace import RunContext, Workspace
from tools.assign import Assignment, assign, uncertain, with_decisions

MAX_OPTIONS = 9  # options shown to the LLM for one document: its best-scoring clusters


@timed("reassign")
def reassign(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    ws, config = workspace(runtime), state.config
    chosen = [c for c in state.candidates if c.id in set(state.selected)]
    scores = candidate_scores(state, ws, chosen)
    result = assign(scores, min_similarity=config.min_similarity, overlap_margin=config.overlap_margin)
    if state.pair_decided_by != "embeddings":  # GoalEx mode: the LLM's pair judgements stand
        result = _from_pairs(state, chosen, result)
    probe, decided, exhausted = dict(state.llm_assign), {}, False
    if config.assign_mode in ("llm", "auto"):
        try:
            if config.assign_mode == "auto" and "used" not in probe:
                probe = _probe(state, ws, chosen, scores, result)
            if config.assign_mode == "llm" or probe.get("used"):
                band = uncertain(result, config.uncertain_band)
                band = band[np.argsort(result.confidence[band], kind="stable")][: config.max_llm_assign]
                decided = _ask(state, ws, chosen, scores, band.tolist())
        except BudgetExceeded:
            exhausted = True
            ws.say("LLM budget spent: the remaining memberships stay as the embeddings decided")
    final = with_decisions(result, decided)
    llm_rows = set(decided) if state.pair_decided_by == "embeddings" else set(range(state.n_docs))
    return {
        "memberships": [[chosen[j].id for j in np.flatnonzero(row)] for row in final.members],
        "confidence": [round(float(c), 4) for c in final.confidence],
        "decided_by": ["llm" if i in llm_rows else "embeddings" for i in range(state.n_docs)],
        "llm_assign": probe,
        "budget_exhausted": state.budget_exhausted or exhausted,
    }


def _from_pairs(state: RunState, chosen: list[Candidate], result: Assignment) -> Assignment:
    position = {c.id: j for j, c in enumerate(state.candidates)}
    columns = [position[c.id] for c in chosen]
    members = np.zeros_like(result.members)
    for row, pairs in enumerate(state.pair_members):
        members[row] = [column in pairs for column in columns]
    first = np.argmax(members, axis=1) if members.shape[1] else np.zeros(len(members), dtype=int)
    top = np.where(members.any(axis=1), first, -1)
    return Assignment(members, top, np.ones(len(members), dtype=np.float32))


def _probe(
    state: RunState, ws: Workspace, chosen: list[Candidate], scores: np.ndarray, result: Assignment
) -> dict[str, float | int | bool]:
    """Ask the LLM about the documents the embeddings are surest of; use it for the uncertain band
    only if it agrees with them often enough (a model that misses easy cases misses hard ones)."""
    config = state.config
    sure = [int(i) for i in np.argsort(-result.confidence, kind="stable") if result.top[i] >= 0]
    by_cluster: dict[int, list[int]] = {}
    for i in sure:
        by_cluster.setdefault(int(result.top[i]), []).append(i)
    picks = [
        rows[r] for r in range(config.calibration_probe) for rows in by_cluster.values() if r < len(rows)
    ]
    picks = picks[: config.calibration_probe]
    answers = _ask(state, ws, chosen, scores, picks)
    agreement = float(np.mean([answers[i] == result.top[i] for i in picks])) if picks else 0.0
    used = agreement >= config.calibration_agreement
    ws.say(
        f"LLM agreed with {agreement:.0%} of {len(picks)} confident embedding decisions: "
        f"{'using' if used else 'not using'} it for uncertain documents"
    )
    return {"agreement": round(agreement, 3), "checked": len(picks), "used": used}


def _ask(
    state: RunState, ws: Workspace, chosen: list[Candidate], scores: np.ndarray, rows: list[int]
) -> dict[int, int]:
    """The LLM's choice of cluster (-1: none) for each document in ``rows``."""
    decided: dict[int, int] = {}
    with ws.bar("LLM assigning", len(rows)) as bar:
        for row in rows:
            options = np.argsort(-scores[row], kind="stable")[:MAX_OPTIONS].tolist()
            variables = {
                "goal": goal_text(state),
                "text": ws.prompt_texts([row])[0],
                "clusters": [chosen[j].model_dump() for j in options],
            }
            answer = ws.llm.generate("choose_cluster", variables, choice_schema(len(options)))
            choice = int(answer.choice)  # type: ignore[attr-defined]
            decided[row] = options[choice - 1] if choice > 0 else -1
            bar.update(1)
    return decided
