"""Choose what the LLM sees next: the corpus's structure at first, then the documents the last
round left uncovered, the overlapping ones, or the members of a cluster to split.

By prototypes, what it sees is grouped: the texts most central to each group of the working space
(at first the initial groups; later the focus documents cut into new groups), one description
each. By explanations, one mixed sample of central, boundary and diverse texts."""

from __future__ import annotations

from typing import Any

import numpy as np
from langgraph.runtime import Runtime

from agent.nodes.common import by_prototypes, space, timed, workspace
from agent.state import RunState
from agent.workspace import RunContext
from tools.cluster import partition
from tools.sample import nearest_to_centres, proposal_sample

MIN_PER_GROUP, MAX_PER_GROUP = 3, 6


@timed("inspect")
def inspect(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    ws, config = workspace(runtime), state.config
    vectors = space(state, ws)
    focus = ws.array(state.focus).tolist() if state.action != "initial" and state.focus else None
    labels = ws.array(state.micro_labels)
    if by_prototypes(state):
        rows, groups = _grouped(state, vectors, labels, focus)
    else:
        rows = proposal_sample(
            vectors,
            labels,
            config.samples_per_proposal,
            focus=focus,
            random_state=config.seed + state.iteration,
        )
        groups = []
    ws.say(f"round {state.iteration + 1}: {state.action}, showing the LLM {len(rows)} texts")
    return {"samples": rows, "sample_groups": groups}


def _grouped(
    state: RunState, vectors: np.ndarray, initial: np.ndarray, focus: list[int] | None
) -> tuple[list[int], list[int]]:
    """The most central texts of each group (the ``initial`` partition's, or the focus documents cut
    anew), and the group of each."""
    config = state.config
    if focus is None:
        rows, labels = np.arange(len(vectors)), initial
    else:
        rows = np.asarray(focus)
        wanted = 2 if state.action in ("split", "sharpen") else max(1, config.max_clusters // 2)
        n_groups = int(min(wanted, max(1, len(rows) // MIN_PER_GROUP)))
        labels = partition(
            vectors[rows], method="kmeans", n_clusters=n_groups, random_state=config.seed + state.iteration
        )
    n_groups = max(1, len(set(labels.tolist()) - {-1}))
    per_group = int(np.clip(config.samples_per_proposal // n_groups, MIN_PER_GROUP, MAX_PER_GROUP))
    picked = nearest_to_centres(vectors[rows], labels, per_cluster=per_group)
    return [int(rows[i]) for i in picked], [int(labels[i]) for i in picked]
