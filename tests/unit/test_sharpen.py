"""Sharpening by contrast (``sharpen``): as the run stops, each cluster's explanation is contrasted
with its nearest cluster's, and the new one is kept only where the checks on held-back members say
it tells the two apart better."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fakes import FakeEmbedder, ScriptedBackend, answer_by_prompt, corpus_of_topics
from langgraph.runtime import Runtime

from agent.config import Config
from agent.llm.backends import Message
from agent.nodes.verify import verify
from agent.state import Candidate, RunState
from agent.workspace import RunContext, build_workspace

# What the scripted model answers when asked to contrast a group, by the group's topic.
CONTRASTS = {
    "card": "The text is about a declined card payment.",  # fits card texts only: kept
    "parcel": "The text is about a card, a parcel or a password.",  # fits every text: not kept
    "password": "The text mentions a forgotten password.",  # fits password texts only: kept
}


def contrasting(messages: Sequence[Message], schema: dict[str, Any]) -> dict[str, Any]:
    text = messages[1]["content"]
    if "Two groups of texts lie close together" in text:
        first = text.split("Group A")[1].split("\n1. ")[1]
        topic = next(t for t in CONTRASTS if f" {t} number" in first)
        return {"name": f"{topic} sharp", "explanation": CONTRASTS[topic]}
    return answer_by_prompt(judge="words")(messages, schema)


def test_a_sharper_explanation_is_kept_only_where_the_checks_prefer_it(tmp_path: Path) -> None:
    config = Config(
        home=tmp_path, view="semantic", spot_checks=2, use_cache=False, max_iterations=1, sharpen=True
    )
    ids, texts, gold = corpus_of_topics(per_topic=10)
    backend = ScriptedBackend([contrasting] * 200)
    ws = build_workspace(
        config, tmp_path, "topics", ids, texts, quiet=True, backend=backend, embedder=FakeEmbedder()
    )
    ws.set_vectors(ws.embedder.embed(texts))
    topics = list(CONTRASTS)
    members = np.array([[g == t for t in topics] for g in gold])
    vague = [
        Candidate(id=f"c{j + 1}", name=t, explanation="It is so.", origin="x") for j, t in enumerate(topics)
    ]
    state = RunState(
        config=config,
        candidates=vague,
        selected=["c1", "c2", "c3"],
        memberships=ws.keep(members),
        n_docs=len(texts),
        decided_by=ws.keep(np.zeros(len(texts), dtype=bool)),
        confidence=ws.keep(np.full(len(texts), 0.1, dtype=np.float32)),
    )
    update = verify(state, Runtime(context=RunContext(run_dir=str(tmp_path), workspace=ws)))

    explanations = {c.id: c.explanation for c in update["candidates"]}
    assert explanations == {"c1": CONTRASTS["card"], "c2": "It is so.", "c3": CONTRASTS["password"]}
    assert [c.name for c in update["candidates"]] == ["card sharp", "parcel", "password sharp"]
    kept = {r["cluster"]: r["kept"] for r in update["sharpened"]}
    assert kept == {"c1": True, "c2": False, "c3": True}
    parcel = next(r for r in update["sharpened"] if r["cluster"] == "c2")
    assert parcel["old_fit"] == (0.0, 0.0) and parcel["new_fit"] == (
        1.0,
        1.0,
    )  # fits its own and its neighbour's
    # The checks that follow measure the kept explanations: they fit their members and no one else.
    assert update["precision"] == {"c1": 1.0, "c2": 0.0, "c3": 1.0}
    assert update["recall"] == {"c1": 1.0, "c3": 1.0}
    asked = [m[1]["content"] for m in backend.calls]
    assert sum("Two groups of texts lie close together" in a for a in asked) == 3


def test_without_sharpen_only_repeated_explanations_are_contrasted(tmp_path: Path) -> None:
    config = Config(home=tmp_path, view="semantic", spot_checks=2, use_cache=False, max_iterations=1)
    backend = ScriptedBackend([contrasting] * 100)
    apart = [f"The text is about a {t}." for t in CONTRASTS]
    update = _verify_three(tmp_path, config, backend, apart)
    assert "sharpened" not in update and "candidates" not in update
    assert not any("Two groups of texts" in m[1]["content"] for m in backend.calls)

    backend = ScriptedBackend([contrasting] * 100)
    update = _verify_three(tmp_path, config, backend, ["It is so."] * 3)  # c2 and c3 repeat c1
    records = {r["cluster"]: (r["neighbour"], r["kept"]) for r in update["sharpened"]}
    assert records == {"c2": ("c1", False), "c3": ("c1", True)}
    explanations = [c.explanation for c in update["candidates"]]
    assert explanations == ["It is so.", "It is so.", CONTRASTS["password"]]


def test_contrasts_that_bring_nothing_new_are_counted_in_the_note(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def repeating(messages: Sequence[Message], schema: dict[str, Any]) -> dict[str, Any]:
        if "Two groups of texts lie close together" in messages[1]["content"]:
            return {"name": "same", "explanation": "It is so."}  # the repeat again
        return answer_by_prompt(judge="words")(messages, schema)

    config = Config(home=tmp_path, view="semantic", spot_checks=2, use_cache=False, max_iterations=1)
    backend = ScriptedBackend([repeating] * 100)
    update = _verify_three(tmp_path, config, backend, ["It is so."] * 3, quiet=False)
    assert update["sharpened"] == [] and [c.explanation for c in update["candidates"]] == ["It is so."] * 3
    note = "sharpened 0 of 0 explanations tried against their nearest cluster (2 more asked, with no valid"
    assert note in capsys.readouterr().err


def _verify_three(
    tmp_path: Path, config: Config, backend: ScriptedBackend, explanations: list[str], *, quiet: bool = True
) -> dict[str, Any]:
    """verify, as the run stops, on three clusters of ten texts each (card, parcel, password)."""
    ids, texts, gold = corpus_of_topics(per_topic=10)
    ws = build_workspace(
        config, tmp_path, "topics", ids, texts, quiet=quiet, backend=backend, embedder=FakeEmbedder()
    )
    ws.set_vectors(ws.embedder.embed(texts))
    members = np.array([[g == t for t in CONTRASTS] for g in gold])
    candidates = [
        Candidate(id=f"c{j + 1}", name=t, explanation=e, origin="x")
        for j, (t, e) in enumerate(zip(CONTRASTS, explanations, strict=True))
    ]
    state = RunState(
        config=config,
        candidates=candidates,
        selected=["c1", "c2", "c3"],
        memberships=ws.keep(members),
        n_docs=len(texts),
        decided_by=ws.keep(np.zeros(len(texts), dtype=bool)),
        confidence=ws.keep(np.full(len(texts), 0.1, dtype=np.float32)),
    )
    return verify(state, Runtime(context=RunContext(run_dir=str(tmp_path), workspace=ws)))
