"""The pure tools behind the working space, on generated data with known structure."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from tools.executor import LocalExecutor
from tools.extend import extend_view, sample_rows
from tools.metrics import hungarian_accuracy
from tools.prototypes import centre, nearest_groups, seeded_prototypes


def blobs(per: int = 30, k: int = 3, dim: int = 16, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, dim)) * 3
    labels = np.repeat(np.arange(k), per)
    return centre(centres[labels] + rng.normal(size=(k * per, dim))), labels


def test_seeded_prototypes_recover_the_blobs_from_two_seeds_each() -> None:
    vectors, labels = blobs()
    seeds = [list(np.flatnonzero(labels == j)[:2]) for j in range(3)]
    prototypes, found = seeded_prototypes(vectors, seeds)
    assert prototypes.shape == (3, vectors.shape[1])
    assert np.allclose(np.linalg.norm(prototypes, axis=1), 1.0, atol=1e-5)
    assert hungarian_accuracy(labels.tolist(), found.tolist()) == 1.0
    before = vectors.copy()
    seeded_prototypes(vectors, seeds)
    assert np.array_equal(before, vectors)  # inputs are not changed


def test_seeds_stay_with_their_cluster_even_when_nearer_another() -> None:
    vectors, labels = blobs()
    stray = int(np.flatnonzero(labels == 1)[0])
    _, found = seeded_prototypes(vectors, [[0, 1, stray], [31, 32], [61, 62]])
    assert found[0] == 0 and (found[labels == 1] == 1).mean() > 0.9


def test_extend_view_predicts_the_unsampled_documents_from_cheap_features() -> None:
    rng = np.random.default_rng(1)
    words = ["alpha", "beta", "gamma"]
    texts = [f"{words[i % 3]} {rng.integers(1000)} {words[i % 3]}" for i in range(90)]
    semantic = centre(rng.normal(size=(90, 8)))  # noise: the texts' words carry the structure
    truth = np.eye(3)[[i % 3 for i in range(90)]] * 5 + rng.normal(size=(90, 3)) * 0.1
    rows = sample_rows(90, 30, seed=0)
    out = extend_view(semantic, texts, rows, centre(truth[rows]))
    assert out.shape[0] == 90 and np.allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    nearest = np.argmax(out @ out[rows].T, axis=1)  # each document's most similar sampled one
    assert np.mean([rows[j] % 3 == i % 3 for i, j in enumerate(nearest)]) > 0.95


def test_extend_view_gives_the_same_vectors_block_by_block(monkeypatch: pytest.MonkeyPatch) -> None:
    """The corpus-wide passes go through an executor in blocks (on Ray: tasks); however the corpus
    is cut, every document gets the vector one pass over the whole corpus gives it."""
    import tools.extend

    rng = np.random.default_rng(2)
    texts = [f"{['tea', 'coffee'][i % 2]} n{rng.integers(50)} {'x' * (i % 7)}" for i in range(200)]
    semantic = centre(rng.normal(size=(200, 8)))
    rows = sample_rows(200, 40, seed=1)
    truth = centre(rng.normal(size=(40, 6)))
    whole = extend_view(semantic, texts, rows, truth)
    blocks: list[tuple[int, int]] = []

    class Recording(LocalExecutor):
        def map_blocks(self, fn: Callable[..., Any], n: int, block: int, *shared: Any) -> list[Any]:
            blocks.append((n, block))
            return super().map_blocks(fn, n, block, *shared)

    monkeypatch.setattr(tools.extend, "BLOCK", 64)
    cut = extend_view(semantic, texts, rows, truth, Recording())
    assert blocks == [(200, 64), (200, 64)]  # document frequencies, then the prediction
    np.testing.assert_allclose(cut, whole, rtol=1e-5, atol=1e-6)


def test_the_nearest_group_is_the_other_whose_centre_is_most_similar() -> None:
    vectors = np.array([[1.0, 0.0], [0.9, 0.1], [0.8, 0.6], [0.7, 0.7], [0.0, 1.0]])
    assert nearest_groups(vectors, [[0, 1], [2, 3], [4]]) == [1, 0, 1]
    assert nearest_groups(vectors, [[0, 1, 2]]) == [-1]
    assert nearest_groups(vectors, [[0], [], [1]]) == [2, 0, 0]  # an empty group (centre zero) is no nearest
