"""The LLM's share of assignment: a probe of whether it should decide where the embeddings are
unsure, and its choice of cluster for given documents (one short, constrained answer each)."""

from __future__ import annotations

import numpy as np

from agent.nodes.common import by_prototypes, goal_text, space
from agent.schemas import Judgement, choice_schema
from agent.state import Candidate, RunState
from agent.workspace import Workspace
from tools.assign import Assignment, uncertain
from tools.sample import diverse

MAX_OPTIONS = 9  # options shown to the LLM for one document: its best-scoring clusters


def unsure_rows(result: Assignment, band: float, limit: int) -> list[int]:
    """Unassigned documents and those with the smallest margins, at most ``limit``."""
    rows = np.union1d(uncertain(result, band), np.flatnonzero(result.top < 0))
    margin = np.where(result.top[rows] < 0, -1.0, result.confidence[rows])
    return [int(i) for i in rows[np.argsort(margin, kind="stable")][:limit]]


def probe(
    state: RunState, ws: Workspace, chosen: list[Candidate], scores: np.ndarray, result: Assignment
) -> dict[str, float | int | bool]:
    """Should the LLM decide where the embeddings are unsure? Ask it about a spread of documents;
    where it disagrees with the embeddings, let its yes/no judgement (the form small models do
    best) arbitrate between the two choices. Use the LLM if it wins more arbitrations than the
    embeddings (a goal the embedding space does not see, e.g. style), or, by explanations, if it
    mostly agrees."""
    config = state.config
    picks = diverse(space(state, ws), config.calibration_probe, random_state=config.seed)
    answers = ask(state, ws, chosen, scores, picks)
    picks = [i for i in picks if i in answers]  # documents the LLM gave a valid answer for
    agreement = float(np.mean([answers[i] == result.top[i] for i in picks])) if picks else 0.0
    llm_wins = embedding_wins = 0
    for row in (i for i in picks if answers[i] != result.top[i]):
        llm_says, embeddings_say = (
            fits(state, ws, chosen, row, answers[row]),
            fits(state, ws, chosen, row, int(result.top[row])),
        )
        llm_wins += int(llm_says and not embeddings_say)
        embedding_wins += int(embeddings_say and not llm_says)
    # By prototypes the working space already follows the goal: an LLM that merely agrees with it
    # would spend a call per uncertain document for nothing, so only winning arbitrations count.
    agrees = agreement >= config.calibration_agreement and not by_prototypes(state)
    used = agrees or llm_wins > embedding_wins
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


def fits(state: RunState, ws: Workspace, chosen: list[Candidate], row: int, cluster: int) -> bool:
    """Is ``chosen[cluster]`` (-1: none, never) true of document ``row``, by the LLM's judgement?
    (No valid judgement is no evidence for it.)"""
    return cluster >= 0 and bool(judge(state, ws, chosen[cluster].explanation, row))


def judge(state: RunState, ws: Workspace, explanation: str, row: int) -> bool | None:
    """The LLM's yes/no: is ``explanation`` true of document ``row``? None: no valid answer."""
    variables = {"goal": goal_text(state), "explanation": explanation, "text": ws.prompt_texts([row])[0]}
    verdict = ws.llm.attempt("judge_membership", variables, Judgement)
    return None if verdict is None else verdict.answer == "yes"


def ask(
    state: RunState, ws: Workspace, chosen: list[Candidate], scores: np.ndarray, rows: list[int]
) -> dict[int, int]:
    """The LLM's choice of cluster (-1: none) for each document in ``rows``; a document it gives no
    valid answer for is left out (the working space decides it)."""
    decided: dict[int, int] = {}
    with ws.bar("LLM assigning", len(rows)) as bar:
        for row in rows:
            options = np.argsort(-scores[row], kind="stable")[:MAX_OPTIONS].tolist()
            variables = {
                "goal": goal_text(state),
                "text": ws.prompt_texts([row])[0],
                "clusters": [chosen[j].model_dump() for j in options],
            }
            answer = ws.llm.attempt("choose_cluster", variables, choice_schema(len(options)))
            bar.update(1)
            if answer is None:
                continue
            choice = int(answer.choice)  # type: ignore[attr-defined]
            decided[row] = options[choice - 1] if choice > 0 else -1
    return decided
