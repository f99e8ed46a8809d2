"""Decide which candidates each document belongs to: by embeddings (linear in documents) where
they are sure, by the LLM for the unsure band where a probe shows it helps, or, in the faithful
GoalEx mode, by asking the LLM about every pair."""

from __future__ import annotations

from typing import Any

import numpy as np
from langgraph.runtime import Runtime

from agent.llm.budget import BudgetExceeded
from agent.nodes.common import candidate_scores, floor, timed, workspace
from agent.nodes.llm_assign import ask, judge, probe, unsure_rows
from agent.state import RunState
from agent.workspace import RunContext, Workspace
from tools.assign import assign as assign_by_scores
from tools.assign import plausible


@timed("assign")
def assign(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    ws, config = workspace(runtime), state.config
    scores = candidate_scores(state, ws, state.candidates)
    members = plausible(scores, min_similarity=floor(state), margin=config.pool_margin)
    if config.assign_mode == "goalex":
        members, complete = _judge_every_pair(state, ws, members)
        ws.say(f"matched {len(members)} documents against {len(state.candidates)} candidates, pair by pair")
        return {
            "pair_decided_by": "llm" if complete else "llm+embeddings",
            "budget_exhausted": not complete,
            "pair_members": ws.keep(members),
        }
    update: dict[str, Any] = {"pair_decided_by": "embeddings"}
    if config.assign_mode in ("llm", "auto"):
        update.update(_llm_band(state, ws, scores))
        for row, cid in update["llm_choices"].items():
            members[int(row)] = [c.id == cid for c in state.candidates]
    by_llm = len(update.get("llm_choices", ()))
    ws.say(
        f"matched {len(members)} documents against {len(state.candidates)} candidates"
        + (f" ({by_llm} by the LLM)" if by_llm else "")
    )
    return {**update, "pair_members": ws.keep(members)}


def _llm_band(state: RunState, ws: Workspace, scores: np.ndarray) -> dict[str, Any]:
    """The LLM's choices for the documents the embeddings are unsure of (kept across rounds;
    documents it placed nowhere are asked again when new candidates exist)."""
    config, candidates = state.config, state.candidates
    result = assign_by_scores(scores, min_similarity=floor(state), overlap_margin=config.overlap_margin)
    choices, report, exhausted = dict(state.llm_choices), dict(state.llm_assign), False
    try:
        if config.assign_mode == "auto" and "used" not in report:
            report = probe(state, ws, candidates, scores, result)
        if config.assign_mode == "llm" or report.get("used"):
            todo = [
                r for r in unsure_rows(result, config.uncertain_band, len(scores)) if not choices.get(str(r))
            ]
            for row, j in ask(state, ws, candidates, scores, todo[: config.max_llm_assign]).items():
                choices[str(row)] = candidates[j].id if j >= 0 else ""
    except BudgetExceeded:
        exhausted = True
        ws.say("LLM budget spent: the remaining memberships stay as the embeddings decided")
    return {
        "llm_choices": choices,
        "llm_assign": report,
        "budget_exhausted": state.budget_exhausted or exhausted,
    }


def _judge_every_pair(state: RunState, ws: Workspace, fallback: np.ndarray) -> tuple[np.ndarray, bool]:
    """GoalEx's assigner: one yes/no LLM judgement per (document, candidate). Pairs left when the
    budget runs out, or that the LLM gives no valid answer for, keep the embedding decision."""
    members = fallback.copy()
    with ws.bar("judging pairs", members.size) as bar:
        for j, candidate in enumerate(state.candidates):
            for i in range(len(members)):
                try:
                    verdict = judge(state, ws, candidate.explanation, i)
                except BudgetExceeded:
                    return members, False
                if verdict is not None:
                    members[i, j] = verdict
                bar.update(1)
    return members, True
