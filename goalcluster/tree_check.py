"""A taxonomy's children checked against their parent: a child's explanation must not contradict
its parent's. One yes/no question per child (the model reads the two explanations only); the answers
are kept in the child run's folder, so a resume reads them back instead of asking again."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from agent.llm.budget import BudgetExceeded
from agent.llm.helper import LLM
from agent.schemas import Compatible
from goalcluster.results import Cluster
from tools.files import write_atomic

CHECK_FILE = "parent_check.json"


def check_children(
    make_llm: Callable[[], LLM], goal: str, parent: Cluster, children: list[Cluster], folder: Path
) -> dict[str, bool | None]:
    """Per child cluster id: True when the model finds its explanation can hold together with the
    parent's, False when they contradict, None when it gave no valid answer or the budget was spent.
    Written to ``folder/parent_check.json`` once every child has an answer, with what the answers
    cost; read back from there (its cost charged to the LLM's budget again, which spans the tree)."""
    path = folder / CHECK_FILE
    if path.exists():
        saved = json.loads(path.read_text())
        make_llm().budget.absorb(saved["cost"])
        return dict(saved["within_parent"])
    llm = make_llm()
    before = llm.budget.snapshot()
    verdicts: dict[str, bool | None] = {}
    for child in children:
        variables = {"goal": goal, "parent": parent.explanation, "child": child.explanation}
        try:
            answer = llm.attempt("parent_check", variables, Compatible)
        except BudgetExceeded:
            answer = None
        verdicts[child.id] = None if answer is None else answer.answer == "yes"
    after = llm.budget.snapshot()
    cost = {key: after[key] - before[key] for key in after}
    if all(v is not None for v in verdicts.values()):
        write_atomic(path, json.dumps({"within_parent": verdicts, "cost": cost}, indent=2))
    return verdicts
