"""The goal-driven clustering graph: wiring only. ``graph`` is what langgraph.json serves.

embed -> view -> cluster -> inspect -> propose -> assign -> select -> reassign -> verify
                              ^                                                    |
                              +------------- (targets not met, budget left) -------+--> finish
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from langgraph.graph import END, START, StateGraph

from agent.nodes.assign import assign
from agent.nodes.cluster import cluster
from agent.nodes.embed import embed
from agent.nodes.finish import finish
from agent.nodes.inspect import inspect
from agent.nodes.propose import propose
from agent.nodes.reassign import reassign
from agent.nodes.select import select
from agent.nodes.verify import verify
from agent.nodes.view import view
from agent.routes import route_after_propose, route_after_verify
from agent.state import RunState
from agent.workspace import RunContext

NODES: list[tuple[str, Any]] = [
    ("embed", embed),
    ("view", view),
    ("cluster", cluster),
    ("inspect", inspect),
    ("propose", propose),
    ("assign", assign),
    ("select", select),
    ("reassign", reassign),
    ("verify", verify),
    ("finish", finish),
]
"""The agent's nodes by name, in the order a first round runs them."""


def add_agent(
    builder: StateGraph[Any, Any, Any, Any],
    entry: str = START,
    exit: str = END,
    wrap: Callable[[Any], Any] | None = None,
) -> None:
    """Add the agent's nodes and edges to ``builder``, entered from ``entry`` and left to ``exit``;
    ``wrap`` (if given) wraps every node. A served graph puts its own steps before and after the
    agent this way."""
    for name, node in NODES:
        builder.add_node(name, wrap(node) if wrap else node)
    builder.add_edge(entry, "embed")
    builder.add_edge("embed", "view")
    builder.add_edge("view", "cluster")
    builder.add_edge("cluster", "inspect")
    builder.add_edge("inspect", "propose")
    builder.add_conditional_edges("propose", route_after_propose)
    builder.add_edge("assign", "select")
    builder.add_edge("select", "reassign")
    builder.add_edge("reassign", "verify")
    builder.add_conditional_edges("verify", route_after_verify)
    builder.add_edge("finish", exit)


def build_graph() -> StateGraph[Any, Any, Any, Any]:
    builder: StateGraph[Any, Any, Any, Any] = StateGraph(RunState, context_schema=RunContext)
    add_agent(builder)
    return builder


graph = build_graph().compile()
