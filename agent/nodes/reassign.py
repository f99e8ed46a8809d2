"""Assign every document among the chosen clusters: embeddings decide where they are sure, the
LLM decides the uncertain band where it has shown it helps (see ``Config.assign_mode``)."""

from __future__ import annotations

from typing import Any

import numpy as np
from langgraph.runtime import Runtime

from agent.llm.budget import BudgetExceeded
from agent.nodes.common import candidate_scores, goal_text, timed, workspace
from agent.schemas import Judgement, choice_schema
from agent.state import Candidate, RunState
from agent.workspace import RunContext, Workspace
from tools.assign import Assignment, assign, uncertain, with_decisions
from tools.sample import diverse

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
                decided = _ask(
                    state, ws, chosen, scores, _unsure(result, config.uncertain_band, config.max_llm_assign)
                )
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


def _unsure(result: Assignment, band: float, limit: int) -> list[int]:
    """Unassigned documents and those with the smallest margins, at most ``limit``."""
    rows = np.union1d(uncertain(result, band), np.flatnonzero(result.top < 0))
    margin = np.where(result.top[rows] < 0, -1.0, result.confidence[rows])
    return [int(i) for i in rows[np.argsort(margin, kind="stable")][:limit]]


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
    """Should the LLM decide where the embeddings are unsure? Ask it about a spread of documents;
    where it disagrees with the embeddings, let its yes/no judgement (the form small models do
    best) arbitrate between the two choices. Use the LLM if it mostly agrees, or wins more
    arbitrations than the embeddings (a goal the embedding space does not see, e.g. style)."""
    config = state.config
    picks = diverse(ws.vectors(), config.calibration_probe, random_state=config.seed)
    answers = _ask(state, ws, chosen, scores, picks)
    agreement = float(np.mean([answers[i] == result.top[i] for i in picks])) if picks else 0.0
    llm_wins = embedding_wins = 0
    for row in (i for i in picks if answers[i] != result.top[i]):
        llm_says, embeddings_say = (
            _fits(state, ws, chosen, row, answers[row]),
            _fits(state, ws, chosen, row, int(result.top[row])),
        )
        llm_wins += int(llm_says and not embeddings_say)
        embedding_wins += int(embeddings_say and not llm_says)
    used = agreement >= config.calibration_agreement or llm_wins > embedding_wins
    ws.say(
        f"LLM probe on {len(picks)} documents: {agreement:.0%} agree with the embeddings; of the rest the "
        f"judge backs the LLM {llm_wins}x, the embeddings {embedding_wins}x: "
        f"{'using' if used else 'not using'} the LLM for uncertain documents"
    )
    return {
        "agreement": round(agreement, 3),
        "checked": len(picks),
        "llm_wins": llm_wins,
        "embedding_wins": embedding_wins,
        "used": used,
    }


def _fits(state: RunState, ws: Workspace, chosen: list[Candidate], row: int, cluster: int) -> bool:
    """The LLM's yes/no: is ``chosen[cluster]``'s explanation true of document ``row``?"""
    if cluster < 0:
        return False
    variables = {
        "goal": goal_text(state),
        "explanation": chosen[cluster].explanation,
        "text": ws.prompt_texts([row])[0],
    }
    return ws.llm.generate("judge_membership", variables, Judgement).answer == "yes"


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
