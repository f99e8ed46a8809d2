"""What every node shares: its workspace, and timing its stage."""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import wraps
from typing import Any

import numpy as np
from langgraph.runtime import Runtime

from agent.state import Candidate, RunState
from agent.workspace import RunContext, Workspace, workspace_of
from tools.assign import smooth
from tools.prototypes import seeded_prototypes

MICRO_CLUSTER_WEIGHT = 0.3

Node = Callable[[RunState, Runtime[RunContext]], dict[str, Any]]


def workspace(runtime: Runtime[RunContext]) -> Workspace:
    return workspace_of(runtime.context)


def timed(stage: str) -> Callable[[Node], Node]:
    """Add the node's wall time to ``stage_seconds[stage]``, and tell a streaming client (LangGraph's
    "custom" stream mode) when the stage starts and finishes: ``{"stage", "status", "round"}``, with
    ``"seconds"`` when it finished. Outside a stream the events go nowhere."""

    def wrap(node: Node) -> Node:
        @wraps(node)
        def run(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
            event = {"stage": stage, "round": state.iteration + 1}
            runtime.stream_writer({**event, "status": "started"})
            started = time.perf_counter()
            update = node(state, runtime)
            seconds = time.perf_counter() - started
            runtime.stream_writer({**event, "status": "finished", "seconds": round(seconds, 3)})
            return {**update, "stage_seconds": {stage: seconds}}

        return run

    return wrap


def goal_text(state: RunState) -> str:
    """The goal as prompts state it; without one, cluster by what the texts are about."""
    return state.config.goal_text


def space(state: RunState, ws: Workspace) -> np.ndarray:
    """The run's working space (n, d): every step after the view choice works in it."""
    return ws.space(state.view, goal_text(state))


def by_prototypes(state: RunState) -> bool:
    """Whether candidates are prototypes seeded from documents (else: explanations' embeddings)."""
    return state.config.assign_by == "prototypes"


def candidate_scores(state: RunState, ws: Workspace, candidates: list[Candidate]) -> np.ndarray:
    """Scores (n, k) of every document against ``candidates``.

    By prototypes: cosine to each candidate's prototype in the working space, the prototypes seeded
    from the documents the candidate was proposed from and refined jointly (seeded k-means).
    By explanations: similarity to each explanation's embedding, each document's row blended with
    its micro-cluster's (what the corpus's structure implies).
    """
    if by_prototypes(state):
        vectors = space(state, ws)
        prototypes, _ = seeded_prototypes(vectors, [c.seeds for c in candidates])
        return ws.executor.scores(vectors, prototypes)
    sentences = [f"{c.name}. {c.explanation}" for c in candidates]
    raw = ws.executor.scores(ws.vectors(), ws.embed_explanations(sentences))
    return smooth(raw, ws.array(state.micro_labels), weight=MICRO_CLUSTER_WEIGHT)


def floor(state: RunState) -> float:
    """The least score a membership needs: explanations' similarities have an absolute scale;
    prototypes' do not (each document joins its nearest prototype)."""
    return -np.inf if by_prototypes(state) else state.config.min_similarity
