"""Cut the working space into groups: by prototypes, one group per wanted cluster (each will be
described by the LLM); by explanations, micro-clusters finer than the clusters wanted."""

from __future__ import annotations

from typing import Any

import numpy as np
from langgraph.runtime import Runtime

from agent.nodes.common import by_prototypes, space, timed, workspace
from agent.state import RunState
from agent.workspace import RunContext
from tools.cluster import micro_cluster_count, partition


@timed("cluster")
def cluster(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    ws, config = workspace(runtime), state.config
    vectors = space(state, ws)
    distinct = len(np.unique(np.round(vectors, 5), axis=0))
    if by_prototypes(state):
        wanted = config.micro_clusters or config.max_clusters
    else:
        wanted = config.micro_clusters or micro_cluster_count(len(vectors), config.max_clusters)
    n_groups = max(1, min(wanted, distinct))
    if distinct == 1:
        ws.say("note: every document has the same vector (one repeated text?)")
    labels = partition(vectors, method=config.cluster_method, n_clusters=n_groups, random_state=config.seed)
    found = len(set(labels.tolist()) - {-1})
    ws.say(f"initial partition: {found} groups ({config.cluster_method})")
    return {"micro_labels": ws.keep(labels)}
