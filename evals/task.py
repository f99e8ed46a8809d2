"""What every method is given (one dataset sample, its embeddings, the gold number of clusters) and
what it hands back (memberships, explanations, cost)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from agent.llm.helper import LLM


@dataclass
class Task:
    """One sample of a dataset, clustered for one criterion's goal.

    vectors: MiniLM embeddings of ``texts``, shared by every method (computed once).
    k: the number of gold labels of ``criterion`` in the sample (baselines are given it;
       goalcluster gets it as ``max_clusters``).
    gold: the criterion's labels, written into goalcluster's run folders (their report's confusion table).
    chat: the evals' own LLM helper (LLM baselines, and the explanation judge), no answer cache.
    """

    dataset: str
    criterion: str
    goal: str
    ids: list[str]
    texts: list[str]
    vectors: np.ndarray
    k: int
    seed: int
    llm: str
    out: Path
    embed_seconds: float
    gold: list[str] = field(default_factory=list)
    chat: LLM | None = None
    budget_calls: int | None = None
    quiet: bool = True


@dataclass
class Outcome:
    """A method's answer: ``members`` (n, k) bool; ``clusters`` (name, explanation) per column, or
    empty when the method gives no explanations; ``cost`` with ``llm_calls``, ``prompt_tokens``,
    ``completion_tokens``, ``seconds`` and ``stage_seconds``; ``details`` for anything else."""

    members: np.ndarray
    clusters: list[dict[str, str]]
    cost: dict[str, Any]
    details: dict[str, Any] = field(default_factory=dict)


def no_llm_cost(embed_seconds: float, cluster_seconds: float) -> dict[str, Any]:
    """The cost of an embedding-only method: the shared embedding plus its own clustering."""
    return {
        "llm_calls": 0,
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "seconds": embed_seconds + cluster_seconds,
        "stage_seconds": {"embed": embed_seconds, "cluster": cluster_seconds},
    }
