"""The seams a background job uses: progress lines and bars reach a listener (even from a quiet
workspace), and a stop asked for ends the work before its next LLM call."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from fakes import FakeEmbedder, ScriptedBackend
from pydantic import BaseModel

from agent.config import Config
from agent.llm.budget import BudgetExceeded, Cancelled, stoppable
from agent.progress import listening
from agent.workspace import build_workspace

GOOD = {"name": "Declined card", "explanation": "The customer's card payment was declined."}
VARIABLES = {"goal": "why payments fail", "explanation": "The card was declined.", "text": "card declined"}


class Description(BaseModel):
    name: str
    explanation: str


def quiet_workspace(tmp_path: Path, backend: ScriptedBackend) -> Any:
    config = Config(home=tmp_path / "home", use_cache=False)
    ids, texts = ["a", "b"], ["first text", "second text"]
    return build_workspace(
        config, tmp_path / "run", "corpus", ids, texts, quiet=True, backend=backend, embedder=FakeEmbedder()
    )


def test_a_quiet_workspace_tells_its_progress_to_a_listener_only(tmp_path: Path, capsys: Any) -> None:
    ws = quiet_workspace(tmp_path, ScriptedBackend())
    heard: list[tuple[str, str]] = []
    with listening(lambda kind, line: heard.append((kind, line))):
        ws.say("round 1: initial")
        with ws.bar("embedding", 4) as bar:
            bar.update(4)
    ws.say("after the block")
    assert heard[0] == ("say", "round 1: initial")
    assert heard[-1][0] == "bar" and heard[-1][1].startswith("embedding: 100%") and "4/4" in heard[-1][1]
    assert all(line != "after the block" for _, line in heard)
    assert capsys.readouterr().err == ""  # quiet: nothing on the terminal


def test_a_stop_ends_the_work_before_its_next_llm_call(tmp_path: Path) -> None:
    backend = ScriptedBackend([GOOD, GOOD])
    ws = quiet_workspace(tmp_path, backend)
    stop = threading.Event()
    with stoppable(stop):
        ws.llm.generate("judge_membership", VARIABLES, Description)
        stop.set()
        with pytest.raises(Cancelled) as stopped:
            ws.llm.generate("judge_membership", {**VARIABLES, "goal": "other"}, Description)
    assert not isinstance(stopped.value, BudgetExceeded)  # no step carries on as if the budget ran out
    assert len(backend.calls) == 1  # the second request never reached the model
    ws.llm.generate("judge_membership", {**VARIABLES, "goal": "other"}, Description)  # outside: as usual
    assert len(backend.calls) == 2
