"""A taxonomy's children checked against their parent: a child's explanation must sit under its
parent's. The model is shown the child's explanation as a text and the parent's level (the parent
and its siblings) as clusters, with the agent's own ``choose_cluster`` question: the child is within
its parent when the model files it there, and contradicts it when it files it under a sibling or
under none. (Asked instead whether two explanations contradict, the packaged models answered the
same word whatever the pair.) The answers are kept in the child run's folder, so a resume reads
them back instead of asking again."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agent.llm.budget import Budget, BudgetExceeded
from agent.llm.helper import LLM
from agent.schemas import choice_schema
from goalcluster.results import Cluster
from tools.files import write_atomic

CHECK_FILE = "parent_check.json"


def check_children(
    make_llm: Callable[[], LLM],
    budget: Budget,
    goal: str,
    parent: Cluster,
    level: list[Cluster],
    children: list[Cluster],
    folder: Path,
) -> dict[str, bool | None]:
    """Per child cluster id: True when the model files its explanation under ``parent`` among the
    clusters of the parent's ``level``, False when under another or none, None when it gave no valid
    answer or the budget was spent. ``make_llm`` builds (when a question must be asked) the LLM
    that charges ``budget``, the tree's. Written to ``folder/parent_check.json`` once every child has
    an answer, with what the answers cost; read back from there (its cost charged to ``budget``
    again: a resume rebuilds the tree's totals). A damaged file is asked again (the answer cache
    replays what it can)."""
    path = folder / CHECK_FILE
    saved = _read(path)
    if saved is not None:
        budget.absorb(saved["cost"])
        return dict(saved["within_parent"])
    llm = make_llm()
    before = llm.budget.snapshot()
    options = [{"name": c.name, "explanation": c.explanation} for c in level]
    mine = next(i for i, c in enumerate(level) if c.id == parent.id) + 1
    verdicts: dict[str, bool | None] = {}
    for child in children:
        variables = {"goal": goal, "text": child.explanation, "clusters": options}
        try:
            answer = llm.attempt("choose_cluster", variables, choice_schema(len(options)))
        except BudgetExceeded:
            answer = None
        verdicts[child.id] = None if answer is None else int(answer.choice) == mine  # type: ignore[attr-defined]
    after = llm.budget.snapshot()
    cost = {key: after[key] - before[key] for key in after}
    if all(v is not None for v in verdicts.values()):
        write_atomic(path, json.dumps({"within_parent": verdicts, "cost": cost}, indent=2))
    return verdicts


def _read(path: Path) -> dict[str, Any] | None:
    """What ``path`` kept, or None when it is missing or damaged."""
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    ok = isinstance(saved, dict) and isinstance(saved.get("within_parent"), dict)
    return saved if ok and isinstance(saved.get("cost"), dict) else None
