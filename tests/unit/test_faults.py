"""Faults: a model that never answers an item validly degrades that item and the run goes on; a
fault that stops a run (an unreachable server) names the fix and keeps the finished work for `resume`."""

from __future__ import annotations

import json
import socket
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from fakes import FakeEmbedder, ScriptedBackend, answer_by_prompt, corpus_of_topics

from agent.config import Config
from agent.llm.backends import BackendError, Message, OpenAICompatibleBackend
from goalcluster.runner import resume_run, start_run
from tools.corpus import Corpus


def corpus() -> Corpus:
    ids, texts, _ = corpus_of_topics()
    texts[0] = texts[0] + " " + "very long words " * 400
    return Corpus(ids=ids, texts=texts, name="topics")


def config(tmp_path: Path) -> Config:
    return Config(
        home=tmp_path / "home",
        goal="why the customer wrote",
        view="semantic",
        assign_mode="embeddings",
        spot_checks=1,
        annotate_samples=False,
        min_clusters=2,
        max_clusters=4,
        prompt_chars=60,
    )


def faulty(*broken: str) -> ScriptedBackend:
    """A model that answers the prompts whose text holds one of ``broken`` with nonsense, every
    time (greedy decoding: the same request gets the same bad answer), and the rest well."""
    good = answer_by_prompt()

    def answer(messages: Sequence[Message], schema: dict[str, Any]) -> str | dict[str, Any]:
        asked = messages[1]["content"]
        return "nonsense, not JSON" if any(b in asked for b in broken) else good(messages, schema)

    return ScriptedBackend([answer] * 200)


def test_a_proposal_the_model_never_answers_validly_ends_the_run_cleanly_and_resume_succeeds(
    tmp_path: Path,
) -> None:
    run_dir = tmp_path / "run"
    cut = corpus()
    result = start_run(
        cut,
        config(tmp_path),
        run_dir,
        backend=faulty("Propose"),
        embedder=FakeEmbedder(max_words=100),
        quiet=True,
    )
    assert result.metrics["stop_reason"] == "no_candidates" and result.metrics["gave_up"] == 1
    # its attempts, traced and counted: the model refused alike twice, so the third request was the
    # second's again, answered from the cache
    assert (result.metrics["llm_calls"], result.metrics["cached_calls"]) == (2, 1)
    assert all(a.cluster_ids == [] for a in result.assignments)  # every document written, unassigned
    embedded = FakeEmbedder(max_words=100)
    again = resume_run(run_dir, backend=faulty("Propose"), embedder=embedded, quiet=True)  # the same model
    assert again.metrics["stop_reason"] == "no_candidates" and embedded.embedded == []
    assert result.metrics["truncated_for_embedding"] == 1  # the long text is reported, not hidden


def test_one_item_without_a_valid_answer_is_recorded_and_the_run_goes_on(tmp_path: Path) -> None:
    """Every spot-check judgement is unparseable: the clusters stand, without a precision."""
    result = start_run(
        corpus(),
        config(tmp_path),
        tmp_path / "run",
        backend=faulty("Is the description true of this text?"),
        embedder=FakeEmbedder(),
        quiet=True,
    )
    assert result.metrics["stop_reason"] == "targets_met" and len(result.clusters) == 3
    assert result.metrics["gave_up"] == 3 and all(c.precision is None for c in result.clusters)
    trace = [json.loads(line) for line in (tmp_path / "run" / "trace.jsonl").read_text().splitlines()]
    assert sum(1 for r in trace if r.get("gave_up")) == 3


def test_unreachable_server_names_the_url_and_the_run_resumes(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    run_dir = tmp_path / "run"
    with pytest.raises(BackendError, match=f"cannot reach the model server at {url}"):
        start_run(
            corpus(),
            config(tmp_path),
            run_dir,
            backend=OpenAICompatibleBackend(url, "m", timeout=5),
            embedder=FakeEmbedder(),
            quiet=True,
        )
    (failed,) = [json.loads(line) for line in (run_dir / "trace.jsonl").read_text().splitlines()]
    assert failed["error"].startswith("backend: cannot reach") and failed["raw"] == ""  # traced
    result = resume_run(
        run_dir, backend=ScriptedBackend([answer_by_prompt()] * 20), embedder=FakeEmbedder(), quiet=True
    )
    assert result.clusters and result.metrics["coverage"] >= 0.9
    healthy = len([line for line in (run_dir / "trace.jsonl").read_text().splitlines()]) - 1
    assert result.metrics["llm_calls"] == 1 + healthy  # the failed call counts against the budget too


def test_prompts_get_cut_texts(tmp_path: Path) -> None:
    fake = ScriptedBackend([answer_by_prompt()] * 20)
    start_run(corpus(), config(tmp_path), tmp_path / "run", backend=fake, embedder=FakeEmbedder(), quiet=True)
    shown = [line for line in fake.calls[0][1]["content"].splitlines() if line[:1].isdigit()]
    assert shown and all(len(line.split(". ", 1)[1]) <= 60 for line in shown)
    assert any(line.endswith("…") for line in shown)
