"""Where the graph goes next. Loop caps and the budget are checked here, from the state's config."""

from __future__ import annotations

from typing import Literal

from agent.state import RunState


def stop_reason(state: RunState) -> str | None:
    """Why the loop should stop now, or None to go on."""
    if not state.candidates:
        return "no_candidates"
    if state.budget_exhausted:
        return "budget_exhausted"
    if state.action == "done":
        return "targets_met"
    if state.iteration >= state.config.max_iterations:
        return "max_iterations"
    return None


def route_after_propose(state: RunState) -> Literal["assign", "finish"]:
    """Assign while there is anything to assign (even when the budget ran out mid-proposal)."""
    return "assign" if state.candidates else "finish"


def route_after_verify(state: RunState) -> Literal["inspect", "finish"]:
    return "finish" if stop_reason(state) else "inspect"
