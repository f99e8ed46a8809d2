"""The goal-driven clustering graph: wiring only. ``graph`` is what langgraph.json serves.

embed -> view -> cluster -> inspect -> propose -> assign -> select -> reassign -> verify
                              ^                                                    |
                              +------------- (targets not met, budget left) -------+--> finish
"""

from __future__ import annotations

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


def build_graph() -> StateGraph[Any, Any, Any, Any]:
    builder: StateGraph[Any, Any, Any, Any] = StateGraph(RunState, context_schema=RunContext)
    nodes: list[tuple[str, Any]] = [
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
    for name, node in nodes:
        builder.add_node(name, node)
    builder.add_edge(START, "embed")
    builder.add_edge("embed", "view")
    builder.add_edge("view", "cluster")
    builder.add_edge("cluster", "inspect")
    builder.add_edge("inspect", "propose")
    builder.add_conditional_edges("propose", route_after_propose)
    builder.add_edge("assign", "select")
    builder.add_edge("select", "reassign")
    builder.add_edge("reassign", "verify")
    builder.add_conditional_edges("verify", route_after_verify)
    builder.add_edge("finish", END)
    return builder


graph = build_graph().compile()
