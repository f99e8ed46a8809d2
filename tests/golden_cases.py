"""Fixed variables and schemas for the prompt snapshots (one case per task prompt)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from agent.schemas import ClusterDescription

CASES: dict[str, tuple[dict[str, Any], type[BaseModel]]] = {
    "describe_cluster": (
        {
            "goal": "why the customer was unhappy",
            "texts": ["The card was declined twice.", "Payment refused."],
        },
        ClusterDescription,
    ),
}
