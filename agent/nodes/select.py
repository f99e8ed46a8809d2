"""Choose the final clusters among the candidates by integer linear programming."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from agent.nodes.common import timed, workspace
from agent.state import RunState
from agent.workspace import RunContext
from tools.select import select_clusters


@timed("select")
def select(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    ws, config = workspace(runtime), state.config
    members = ws.array(state.pair_members).astype(bool)
    chosen = select_clusters(
        members,
        min_clusters=config.min_clusters,
        max_clusters=config.max_clusters,
        min_size=max(2, state.n_docs // 100),
    )
    selected = [state.candidates[j].id for j in chosen]
    ws.say(f"selected {len(selected)} of {len(state.candidates)} candidates")
    return {"selected": selected}
