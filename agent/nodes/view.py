"""Choose the space the run works in: the goal view under the goal's aspect, or the semantic view,
by measurement. Both spaces are clustered on a probe sample; the LLM answers "do these two texts
have the same <aspect>?" for pairs the two clusterings disagree about; the space its answers agree
with more often wins (a tie goes to the goal view, the space the goal asked for)."""

from __future__ import annotations

from typing import Any

import numpy as np
from langgraph.runtime import Runtime

from agent.llm.budget import BudgetExceeded
from agent.nodes.common import goal_text, timed, workspace
from agent.schemas import Aspect, SameAspect
from agent.state import RunState, ViewChoice
from agent.workspace import RunContext, Workspace
from tools.cluster import partition
from tools.extend import sample_rows
from tools.pairs import agreement, disagreeing_pairs
from tools.prototypes import centre

DEFAULT_ASPECT = "topic"  # what a run without a goal groups by


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
    """The property the goal groups by, named by the LLM in one call (no goal: the topic)."""
    return ws.llm.generate("aspect", {"goal": goal}, Aspect).aspect if goal else DEFAULT_ASPECT


def _measure(
    state: RunState, ws: Workspace, goal_choice: ViewChoice, goal: str
) -> tuple[ViewChoice, dict[str, Any]]:
    """Cluster both spaces on a probe sample and ask the LLM about the pairs they disagree on."""
    config = state.config
    probe = sample_rows(state.n_docs, config.view_probe, config.seed)
    spaces = {
        "semantic": ws.vectors()[probe],
        "goal": centre(_compute(ws, goal_choice.aspect, goal, probe)),
    }
    k = int(np.clip(config.max_clusters, 2, max(2, len(probe) // 4)))
    labelings = {name: partition(x, n_clusters=k, random_state=config.seed) for name, x in spaces.items()}
    pairs = disagreeing_pairs(labelings, config.view_pairs, random_state=config.seed)
    answers: list[bool] = []
    exhausted = False
    try:
        for a, b in pairs:
            texts = ws.prompt_texts([probe[a], probe[b]])
            variables = {"goal": goal, "aspect": goal_choice.aspect, "first": texts[0], "second": texts[1]}
            answers.append(ws.llm.generate("same_aspect", variables, SameAspect).answer == "yes")
    except BudgetExceeded:
        exhausted = True
    scores = {
        name: round(agreement(labels, pairs[: len(answers)], answers), 3)
        for name, labels in labelings.items()
    }
    kind = "goal" if scores["goal"] >= scores["semantic"] else "semantic"
    chosen = goal_choice.model_copy(
        update={
            "kind": kind,
            "chosen_by": "budget" if exhausted else "pairs",
            "agreement": scores,
            "pairs": len(answers),
        }
    )
    return chosen, {"budget_exhausted": True} if exhausted else {}


def _compute(ws: Workspace, aspect: str, goal: str, rows: list[int] | None) -> np.ndarray:
    """Goal-view vectors of ``rows`` (default: all) with a progress bar in documents per second."""
    total = len(ws.ids) if rows is None else len(rows)
    with ws.bar(f"goal view ({aspect})", total, unit="doc") as bar:

        def tick(done: int, todo: int) -> None:
            bar.total = todo
            bar.update(done - bar.n)

        return ws.goal_vectors(aspect, goal, rows, progress=tick)
