"""Ask the LLM for candidate clusters (GoalEx's propose step), or for sharper or narrower ones."""

from __future__ import annotations

from typing import Any

import numpy as np
from langgraph.runtime import Runtime

from agent.llm.budget import BudgetExceeded
from agent.nodes.common import goal_text, timed, workspace
from agent.schemas import Annotation, ClusterDescription, Proposal
from agent.state import Candidate, RunState
from agent.workspace import RunContext, Workspace

DUPLICATE_SIMILARITY = 0.95


@timed("propose")
def propose(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    ws = workspace(runtime)
    try:
        proposal = ws.llm.generate(*_request(state, ws), Proposal)
    except BudgetExceeded:
        ws.say("LLM budget spent: no new proposals")
        return {"budget_exhausted": True}
    fresh = _new_candidates(state, ws, proposal.clusters)
    ws.say(
        f"proposed {len(proposal.clusters)} clusters, {len(fresh)} new: " + "; ".join(c.name for c in fresh)
    )
    return {"candidates": [*state.candidates, *fresh]}


def _request(state: RunState, ws: Workspace) -> tuple[str, dict[str, Any]]:
    config, texts = state.config, ws.prompt_texts(state.samples)
    by_id = {c.id: c for c in state.candidates}
    if state.action in ("sharpen", "split"):
        clusters = [by_id[i].model_dump() for i in state.focus_clusters if i in by_id]
        reason = "it holds too many documents or its members often do not fit its explanation"
        return "refine", {
            "goal": goal_text(state),
            "mode": state.action,
            "clusters": clusters,
            "texts": texts,
            "reason": reason,
        }
    existing = [by_id[i].model_dump() for i in state.selected if i in by_id]
    note = "texts that no current cluster covers" if state.action == "uncovered" else ""
    wanted = config.max_clusters if state.action == "initial" else max(2, config.max_clusters // 2)
    return "propose", {
        "goal": goal_text(state),
        "texts": texts,
        "existing": existing,
        "note": note,
        "n_clusters": wanted,
        "annotations": _annotate(state, ws, texts),
    }


def _annotate(state: RunState, ws: Workspace, texts: list[str]) -> list[str]:
    """Each sample's value for the goal's criterion, in a few words: small models then propose
    clusters by that criterion rather than by what the texts are about."""
    if not state.config.annotate_samples:
        return []
    goal = goal_text(state)
    return [ws.llm.generate("annotate", {"goal": goal, "text": text}, Annotation).value for text in texts]


def _new_candidates(state: RunState, ws: Workspace, proposed: list[ClusterDescription]) -> list[Candidate]:
    """Proposed clusters that are not near-copies of a known candidate or of each other."""
    known = list(state.candidates)
    fresh: list[Candidate] = []
    origin = f"{state.action}@{state.iteration + 1}"
    for item in proposed:
        pool = [*known, *fresh]
        if any(c.name.casefold() == item.name.casefold() for c in pool):
            continue
        if pool:
            vectors = ws.embed_explanations([item.explanation, *(c.explanation for c in pool)])
            if float(np.max(vectors[1:] @ vectors[0])) >= DUPLICATE_SIMILARITY:
                continue
        fresh.append(
            Candidate(id=f"c{len(pool) + 1}", name=item.name, explanation=item.explanation, origin=origin)
        )
    return fresh
