"""Decide which candidates each document plausibly belongs to: by embeddings (linear in
documents), or, in the faithful GoalEx mode, by asking the LLM about every pair."""

from __future__ import annotations

from typing import Any

import numpy as np
from langgraph.runtime import Runtime

from agent.llm.budget import BudgetExceeded
from agent.nodes.common import candidate_scores, goal_text, timed, workspace
from agent.schemas import Judgement
from agent.state import RunState
from agent.workspace import RunContext, Workspace
from tools.assign import plausible


@timed("assign")
def assign(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    ws, config = workspace(runtime), state.config
    scores = candidate_scores(state, ws, state.candidates)
    members = plausible(scores, min_similarity=config.min_similarity, margin=config.pool_margin)
    update: dict[str, Any] = {"pair_decided_by": "embeddings"}
    if config.assign_mode == "goalex":
        members, complete = _judge_every_pair(state, ws, members)
        update = {
            "pair_decided_by": "llm" if complete else "llm+embeddings",
            "budget_exhausted": not complete,
        }
    return {**update, "pair_members": [np.flatnonzero(row).tolist() for row in members]}


def _judge_every_pair(state: RunState, ws: Workspace, fallback: np.ndarray) -> tuple[np.ndarray, bool]:
    """GoalEx's assigner: one yes/no LLM judgement per (document, candidate). Pairs left when the
    budget runs out keep the embedding decision."""
    members = fallback.copy()
    texts = ws.prompt_texts(range(len(ws.ids)))
    with ws.bar("judging pairs", members.size) as bar:
        for j, candidate in enumerate(state.candidates):
            for i, text in enumerate(texts):
                variables = {"goal": goal_text(state), "explanation": candidate.explanation, "text": text}
                try:
                    members[i, j] = ws.llm.generate("judge_membership", variables, Judgement).answer == "yes"
                except BudgetExceeded:
                    return members, False
                bar.update(1)
    return members, True
