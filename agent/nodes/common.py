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
from tools.assign import similarity, smooth

MICRO_CLUSTER_WEIGHT = 0.3

Node = Callable[[RunState, Runtime[RunContext]], dict[str, Any]]


def workspace(runtime: Runtime[RunContext]) -> Workspace:
    return workspace_of(runtime.context)


def timed(stage: str) -> Callable[[Node], Node]:
    """Add the node's wall time to ``stage_seconds[stage]``."""

    def wrap(node: Node) -> Node:
        @wraps(node)
        def run(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
            started = time.perf_counter()
            update = node(state, runtime)
            return {**update, "stage_seconds": {stage: time.perf_counter() - started}}

        return run

    return wrap


def goal_text(state: RunState) -> str:
    """The goal as prompts state it; without one, cluster by what the texts are about."""
    return state.config.goal or "Group the texts by what they are about (their topic)."


def candidate_scores(state: RunState, ws: Workspace, candidates: list[Candidate]) -> np.ndarray:
    """Embedding scores (n, k) of every document against ``candidates``' explanations, each
    document's row blended with its micro-cluster's (what the corpus's structure implies)."""
    sentences = [f"{c.name}. {c.explanation}" for c in candidates]
    raw = similarity(ws.vectors(), ws.embed_explanations(sentences))
    return smooth(raw, np.asarray(state.micro_labels), weight=MICRO_CLUSTER_WEIGHT)
