"""Rendered prompts are snapshotted, so a prompt change shows up in review.

After an intended change, refresh the snapshots with:
    UPDATE_GOLDEN=1 python -m pytest tests/unit/test_prompts.py
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from fakes import ScriptedBackend
from golden_cases import CASES, RAW_CASES

from agent.llm.helper import LLM
from agent.llm.prompts import PromptLibrary

GOLDEN = Path(__file__).resolve().parents[1] / "golden"


def render(name: str) -> str:
    if name in RAW_CASES:
        return PromptLibrary().render(name, RAW_CASES[name]) + "\n"
    variables, schema = CASES[name]
    messages = LLM(ScriptedBackend()).messages(name, variables, schema)
    return "\n\n".join(f"### {m['role']}\n{m['content']}" for m in messages) + "\n"


@pytest.mark.parametrize("name", sorted([*CASES, *RAW_CASES]))
def test_rendered_prompt_matches_its_snapshot(name: str) -> None:
    path = GOLDEN / f"{name}.txt"
    text = render(name)
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"no snapshot {path}; create it with UPDATE_GOLDEN=1"
    assert text == path.read_text(encoding="utf-8")


def test_every_task_prompt_has_a_snapshot_case() -> None:
    shared = {"system", "answer_format", "retry"}
    assert set(PromptLibrary().names()) - shared == {*CASES, *RAW_CASES}
