"""Cut the embeddings into micro-clusters, finer than the clusters wanted."""

from __future__ import annotations

from typing import Any

import numpy as np
from langgraph.runtime import Runtime

from agent.nodes.common import timed, workspace
from agent.state import RunState
from agent.workspace import RunContext
from tools.cluster import micro_cluster_count, partition


@timed("cluster")
def cluster(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    ws, config = workspace(runtime), state.config
    vectors = ws.vectors()
    distinct = len(np.unique(np.round(vectors, 5), axis=0))
    wanted = config.micro_clusters or micro_cluster_count(len(vectors), config.max_clusters)
    n_micro = max(1, min(wanted, distinct))
    if distinct == 1:
        ws.say("note: every document has the same embedding (one repeated text?)")
    labels = partition(vectors, method=config.cluster_method, n_clusters=n_micro, random_state=config.seed)
    found = len(set(labels.tolist()) - {-1})
    ws.say(f"initial partition: {found} micro-clusters ({config.cluster_method})")
    return {"micro_labels": labels.tolist()}
