"""Choose what the LLM sees next: the corpus's structure at first, then the documents the last
round left uncovered, the overlapping ones, or the members of a cluster to split."""

from __future__ import annotations

from typing import Any

import numpy as np
from langgraph.runtime import Runtime

from agent.nodes.common import timed, workspace
from agent.state import RunState
from agent.workspace import RunContext
from tools.sample import proposal_sample


@timed("inspect")
def inspect(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    ws, config = workspace(runtime), state.config
    labels = np.asarray(state.micro_labels)
    focus = state.focus if state.action != "initial" and state.focus else None
    samples = proposal_sample(
        ws.vectors(),
        labels,
        config.samples_per_proposal,
        focus=focus,
        random_state=config.seed + state.iteration,
    )
    ws.say(f"round {state.iteration + 1}: {state.action}, showing the LLM {len(samples)} texts")
    return {"samples": samples}
