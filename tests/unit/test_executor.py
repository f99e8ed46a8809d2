"""Executors at the project's seam: spec strings, the local executor, and embed_corpus taking
batches in any order (a Ray pool returns them as they finish). The real Ray run is in
tests/integration/test_ray_executor.py."""

from __future__ import annotations

import pickle
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest
from fakes import FakeEmbedder
from pydantic import ValidationError

from agent.config import Config
from agent.llm.hidden import LlamaCppHiddenStates
from agent.llm.prompts import PromptLibrary
from tools.embed import embed_corpus
from tools.embedders import Embedder, SentenceTransformerEmbedder
from tools.executor import ExecutorError, LocalExecutor, RayExecutor, make_executor
from tools.store import EmbeddingStore

TEXTS = [f"text number {i} about {topic}" for i, topic in enumerate(["cards", "parcels", "loans"] * 7)]


class ReversedExecutor:
    """Hands back batches last first, as a pool of workers may."""

    name = "reversed"

    def embed(
        self, texts: Sequence[str], embedder: Embedder, batch_size: int
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        yield from reversed(list(LocalExecutor().embed(texts, embedder, batch_size)))

    def scores(self, vectors: np.ndarray, targets: np.ndarray) -> np.ndarray:
        return LocalExecutor().scores(vectors, targets)


def test_spec_strings_name_the_executor_and_bad_ones_say_what_to_write() -> None:
    assert make_executor("local").name == "local"
    assert make_executor("ray") == RayExecutor(address=None)
    assert make_executor("ray:10.0.0.5:6379") == RayExecutor(address="10.0.0.5:6379")
    for bad in ("dask", "ray:", "local:x"):
        with pytest.raises(ExecutorError, match="ray:HOST:PORT"):
            make_executor(bad)
    with pytest.raises(ValidationError, match="unknown executor"):
        Config(executor="spark")
    assert Config(executor="ray:127.0.0.1:6379").executor == "ray:127.0.0.1:6379"


def test_local_executor_covers_every_text_once_in_batches() -> None:
    embedder = FakeEmbedder()
    batches = list(LocalExecutor().embed(TEXTS, embedder, 8))
    assert [len(p) for p, _ in batches] == [8, 8, 5]
    positions = np.concatenate([p for p, _ in batches])
    np.testing.assert_array_equal(positions, np.arange(len(TEXTS)))
    np.testing.assert_allclose(np.concatenate([v for _, v in batches]), FakeEmbedder().embed(TEXTS))


def test_scores_are_the_product_in_any_block_and_empty_targets_give_no_columns() -> None:
    rng = np.random.default_rng(0)
    vectors, targets = rng.normal(size=(50, 8)), rng.normal(size=(3, 8))
    np.testing.assert_allclose(LocalExecutor().scores(vectors, targets), vectors @ targets.T, rtol=1e-5)
    assert LocalExecutor().scores(vectors, np.zeros((0, 8))).shape == (50, 0)
    assert LocalExecutor().scores(np.zeros((0, 8)), targets).shape == (0, 3)


def test_embed_corpus_stores_batches_that_come_back_out_of_order(tmp_path: Path) -> None:
    embedder = FakeEmbedder()
    store = EmbeddingStore(tmp_path, embedder.name)
    seen: list[tuple[int, int]] = []
    vectors, stats = embed_corpus(
        TEXTS,
        embedder,
        store,
        batch_size=4,
        executor=ReversedExecutor(),
        progress=lambda d, t: seen.append((d, t)),
    )
    assert stats.embedded == len(TEXTS) and seen[-1] == (len(TEXTS), len(TEXTS))
    np.testing.assert_allclose(vectors, FakeEmbedder().embed(TEXTS), atol=1e-6)


def test_embedders_travel_to_workers_without_their_loaded_models(tmp_path: Path) -> None:
    semantic = SentenceTransformerEmbedder(tmp_path / "model", name="st-x")
    semantic._model = object()  # stands for a loaded model: it must not be pickled
    copy = pickle.loads(pickle.dumps(semantic))
    assert copy._model is None and copy.name == "st-x" and semantic._model is not None

    states = LlamaCppHiddenStates(Path, model_id="m@1", n_threads=1)
    states._llama, states._cached = object(), [1, 2]
    moved = pickle.loads(pickle.dumps(states))
    assert (moved._llama, moved._cached, moved.model_id, moved.n_threads) == (None, [], "m@1", 1)

    prompts = PromptLibrary()
    again = pickle.loads(pickle.dumps(prompts))
    variables = {"text": "ein kurzer Text", "aspect": "language"}
    assert again.render("goal_view", variables) == prompts.render("goal_view", variables)
