from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fakes import FakeEmbedder, ScriptedBackend, answer_by_prompt, corpus_of_topics

from agent.config import Config
from agent.workspace import build_workspace, read_run_files, write_run_files
from goalcluster.runner import RunInputError, resume_run, start_run
from tools.corpus import Corpus
from tools.embed import embed_corpus


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


def test_a_resumed_run_reads_its_own_texts_vectors_not_another_corpus_of_the_same_name(
    tmp_path: Path,
) -> None:
    """Run A on a file's titles, run B on the same file's bodies (same ids, same corpus name),
    then A again: A must get the vectors of its titles."""
    config = Config(home=tmp_path / "home", use_cache=False)
    ids = ["1", "2", "3"]
    titles, bodies = ["card declined", "parcel lost", "refund late"], ["the shop", "a courier", "my bank"]
    for texts, run in ((titles, "a"), (bodies, "b")):
        ws = build_workspace(
            config, tmp_path / run, "corpus", ids, texts, quiet=True, embedder=FakeEmbedder()
        )
        embed_corpus(ws.texts, ws.embedder, ws.store)
    again = build_workspace(
        config, tmp_path / "a", "corpus", ids, titles, quiet=True, embedder=FakeEmbedder()
    )
    np.testing.assert_allclose(again.vectors(), FakeEmbedder().embed(titles), atol=1e-6)
