"""Assign every document among the chosen clusters: the LLM's choices stand where it chose a
cluster that was selected (or none); the working space decides the rest (by prototypes, each document
joins its nearest prototype: only the LLM leaves a document out)."""

from __future__ import annotations

from typing import Any

import numpy as np
from langgraph.runtime import Runtime

from agent.nodes.common import candidate_scores, floor, timed, workspace
from agent.state import Candidate, RunState
from agent.workspace import RunContext
from tools.assign import Assignment, assign, with_decisions


@timed("reassign")
def reassign(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    ws, config = workspace(runtime), state.config
    chosen = [c for c in state.candidates if c.id in set(state.selected)]
    scores = candidate_scores(state, ws, chosen)
    result = assign(scores, min_similarity=floor(state), overlap_margin=config.overlap_margin)
    if state.pair_decided_by != "embeddings":  # GoalEx mode: the LLM's pair judgements stand
        result = _from_pairs(state, ws.array(state.pair_members), chosen, result)
        by_llm = np.ones(state.n_docs, dtype=bool)
    else:
        column = {c.id: j for j, c in enumerate(chosen)}
        decided = {
            int(row): column[cid] if cid else -1
            for row, cid in state.llm_choices.items()
            if not cid or cid in column
        }
        result = with_decisions(result, decided)
        by_llm = np.zeros(state.n_docs, dtype=bool)
        by_llm[list(decided)] = True
    by_column = {c.id: j for j, c in enumerate(chosen)}
    in_selected_order = result.members[:, [by_column[cid] for cid in state.selected]]
    placed = int(in_selected_order.any(axis=1).sum())
    ws.say(f"placed {placed} of {state.n_docs} documents in {len(chosen)} clusters")
    return {
        "memberships": ws.keep(in_selected_order.astype(bool)),
        "confidence": ws.keep(np.round(result.confidence, 4).astype(np.float32)),
        "decided_by": ws.keep(by_llm),
    }


def _from_pairs(
    state: RunState, pairs: np.ndarray, chosen: list[Candidate], result: Assignment
) -> Assignment:
    """The LLM's pair judgements (documents x candidates) among the ``chosen`` clusters."""
    position = {c.id: j for j, c in enumerate(state.candidates)}
    members = pairs[:, [position[c.id] for c in chosen]].astype(bool)
    first = np.argmax(members, axis=1) if members.shape[1] else np.zeros(len(members), dtype=int)
    top = np.where(members.any(axis=1), first, -1)
    return Assignment(members, top, np.ones(len(members), dtype=np.float32))
