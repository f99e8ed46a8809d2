"""Record why the run stopped."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from agent.nodes.common import workspace
from agent.routes import stop_reason
from agent.state import RunState
from agent.workspace import RunContext


def finish(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    reason = stop_reason(state)  # the routes only lead here once there is one
    workspace(runtime).say(f"stopped: {reason}")
    runtime.stream_writer({"stage": "finish", "status": "finished", "stop_reason": reason})
    return {"stop_reason": reason}
