"""Faults stop a run with a clear error and keep its finished work for `resume`."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from fakes import FakeEmbedder, ScriptedBackend, answer_by_prompt, corpus_of_topics

from agent.config import Config
from agent.llm.backends import BackendError, OpenAICompatibleBackend
from agent.llm.helper import LLMOutputError
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


def test_invalid_llm_output_is_asked_again_then_a_clear_error_and_resumable(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    with pytest.raises(LLMOutputError, match="no valid answer to prompt 'propose' in 3 attempt"):
        start_run(
            corpus(),
            config(tmp_path),
            run_dir,
            backend=ScriptedBackend(["nonsense"] * 3),
            embedder=FakeEmbedder(max_words=100),
            quiet=True,
        )
    embedded = FakeEmbedder(max_words=100)
    result = resume_run(
        run_dir, backend=ScriptedBackend([answer_by_prompt()] * 20), embedder=embedded, quiet=True
    )
    assert not any("number" in text for text in embedded.embedded)  # no document embedded again
    assert result.metrics["stop_reason"] == "targets_met"
    assert result.metrics["truncated_for_embedding"] == 1  # the long text is reported, not hidden


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
    result = resume_run(
        run_dir, backend=ScriptedBackend([answer_by_prompt()] * 20), embedder=FakeEmbedder(), quiet=True
    )
    assert result.clusters and result.metrics["coverage"] >= 0.9


def test_prompts_get_cut_texts(tmp_path: Path) -> None:
    fake = ScriptedBackend([answer_by_prompt()] * 20)
    start_run(corpus(), config(tmp_path), tmp_path / "run", backend=fake, embedder=FakeEmbedder(), quiet=True)
    shown = [line for line in fake.calls[0][1]["content"].splitlines() if line[:1].isdigit()]
    assert shown and all(len(line.split(". ", 1)[1]) <= 60 for line in shown)
    assert any(line.endswith("…") for line in shown)
