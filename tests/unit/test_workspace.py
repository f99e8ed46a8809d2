from __future__ import annotations

from pathlib import Path

import pytest
from fakes import FakeEmbedder, ScriptedBackend, answer_by_prompt, corpus_of_topics

from agent.config import Config
from agent.workspace import read_run_files, write_run_files
from goalcluster.runner import RunInputError, resume_run, start_run
from tools.corpus import Corpus


def test_run_files_round_trip(tmp_path: Path) -> None:
    config = Config(home=tmp_path, goal="why", max_clusters=5)
    write_run_files(tmp_path / "run", config, "reviews", ["a", "b"], ["first text", "zweiter Text ü"])
    assert read_run_files(tmp_path / "run") == (
        config,
        "reviews",
        ["a", "b"],
        ["first text", "zweiter Text ü"],
    )


def test_resume_needs_a_run_folder_and_start_refuses_to_overwrite(tmp_path: Path) -> None:
    with pytest.raises(RunInputError, match="not a goalcluster run folder"):
        resume_run(tmp_path)
    ids, texts, _ = corpus_of_topics(per_topic=4)
    config = Config(
        home=tmp_path / "home",
        view="semantic",
        assign_mode="embeddings",
        spot_checks=0,
        annotate_samples=False,
        use_cache=False,
        max_iterations=1,
    )
    corpus = Corpus(ids=ids, texts=texts, name="topics")
    backend = ScriptedBackend([answer_by_prompt()] * 5)
    start_run(corpus, config, tmp_path / "run", backend=backend, embedder=FakeEmbedder(), quiet=True)
    with pytest.raises(RunInputError, match="already holds a run"):
        start_run(corpus, config, tmp_path / "run", backend=backend, embedder=FakeEmbedder(), quiet=True)
    finished = resume_run(tmp_path / "run", backend=ScriptedBackend([]), embedder=FakeEmbedder(), quiet=True)
    assert finished.metrics["stop_reason"] is not None  # a finished run resumes to its result, no LLM call
