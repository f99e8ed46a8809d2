"""Tools on generated data with known structure."""

from __future__ import annotations

import numpy as np
import pytest

from tools.assign import assign, plausible, similarity, smooth, uncertain, with_decisions
from tools.cluster import micro_cluster_count, partition
from tools.metrics import agreement, coverage, hungarian_accuracy, overlap, sizes
from tools.sample import boundary, diverse, nearest_to_centres, proposal_sample
from tools.select import greedy_select, objective, select_clusters


def blobs(n_per: int = 30, centres: int = 4, dim: int = 16, spread: float = 0.05, seed: int = 0):
    rng = np.random.default_rng(seed)
    axes = np.eye(dim)[:centres]
    points = np.concatenate([axes[c] + spread * rng.standard_normal((n_per, dim)) for c in range(centres)])
    labels = np.repeat(np.arange(centres), n_per)
    return points / np.linalg.norm(points, axis=1, keepdims=True), labels


@pytest.mark.parametrize("method", ["kmeans", "agglomerative", "hdbscan"])
def test_partition_recovers_blobs(method: str) -> None:
    vectors, gold = blobs()
    labels = partition(vectors, method=method, n_clusters=4, random_state=0)
    assert labels.shape == gold.shape
    assert hungarian_accuracy(gold.tolist(), labels.tolist()) == 1.0


def test_micro_cluster_count() -> None:
    assert micro_cluster_count(1000, 6) == 18
    assert micro_cluster_count(30, 6) == 6
    assert micro_cluster_count(3, 6) == 1


def test_samples_span_clusters_and_prefer_centres() -> None:
    vectors, gold = blobs()
    central = nearest_to_centres(vectors, gold, per_cluster=2)
    assert len(central) == 8 and {gold[i] for i in central[:4]} == {0, 1, 2, 3}
    spread = diverse(vectors, 4, random_state=0)
    assert {gold[i] for i in spread} == {0, 1, 2, 3}
    mixed = vectors.copy()
    mixed[0] = (vectors[0] + vectors[40]) / np.linalg.norm(vectors[0] + vectors[40])
    assert boundary(mixed, gold, 1) == [0]
    sample = proposal_sample(vectors, gold, 12, random_state=0)
    assert len(sample) == len(set(sample)) == 12 and {gold[i] for i in sample} == {0, 1, 2, 3}
    focused = proposal_sample(vectors, gold, 5, focus=list(range(30, 60)))
    assert all(30 <= i < 60 for i in focused) and len(focused) == 5


def test_assignment_margins_and_thresholds() -> None:
    scores = np.array([[0.9, 0.1, 0.0], [0.5, 0.49, 0.0], [0.05, 0.02, 0.01]], dtype=np.float32)
    result = assign(scores, min_similarity=0.2, overlap_margin=0.02)
    assert result.top.tolist() == [0, 0, -1]
    assert result.members.tolist() == [[True, False, False], [True, True, False], [False, False, False]]
    np.testing.assert_allclose(result.confidence, [0.8, 0.01, 0.03], atol=1e-6)
    assert uncertain(result, band=0.05).tolist() == [1, 2]
    decided = with_decisions(result, {1: 1, 0: -1})
    assert decided.members[1].tolist() == [False, True, False] and decided.top.tolist() == [-1, 1, -1]
    assert not decided.members[0].any() and result.members[0, 0]  # inputs untouched
    assert plausible(scores, min_similarity=0.2, margin=0.5).sum() == 3


def test_similarity_and_smoothing() -> None:
    docs = np.array([[1.0, 0.0], [0.0, 1.0], [0.8, 0.6]], dtype=np.float32)
    expl = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    scores = similarity(docs, expl)
    np.testing.assert_allclose(scores, docs)
    smoothed = smooth(scores, np.array([0, 0, -1]), weight=0.5)
    np.testing.assert_allclose(smoothed[0], [0.75, 0.25])
    np.testing.assert_allclose(smoothed[2], scores[2])


def test_ilp_picks_the_known_best_subset() -> None:
    # candidates: 0 covers docs 0-4, 1 covers 5-9, 2 covers 3-7 (overlaps both), 3 covers 0-9 sparsely
    members = np.zeros((10, 4), dtype=bool)
    members[0:5, 0] = True
    members[5:10, 1] = True
    members[3:8, 2] = True
    members[[0, 9], 3] = True
    assert select_clusters(members, min_clusters=2, max_clusters=2) == [0, 1]
    assert select_clusters(members, min_clusters=1, max_clusters=1) in ([0], [1], [2])
    assert select_clusters(members, min_clusters=3, max_clusters=3, overlap_penalty=0.5) == [0, 1, 3]
    assert select_clusters(members, min_clusters=1, max_clusters=4, min_size=6) == []
    assert select_clusters(members, min_clusters=4, max_clusters=4, min_size=3) == [0, 1, 2]


def test_ilp_scales_to_many_documents() -> None:
    # as assignment produces them: each document plausibly fits one to three candidates
    rng = np.random.default_rng(0)
    members = np.zeros((20000, 30), dtype=bool)
    for row in range(len(members)):
        members[row, rng.choice(30, size=rng.integers(1, 4), replace=False)] = True
    members[:, 7] = False  # an empty candidate is never chosen
    chosen = select_clusters(members, min_clusters=5, max_clusters=10, time_limit=2)
    assert 5 <= len(chosen) <= 10 and 7 not in chosen
    viable = members.sum(axis=0) > 0
    greedy = greedy_select(members, viable, 5, 10, 0.5)
    assert objective(members, chosen, 0.5) >= objective(members, greedy, 0.5)


def test_coverage_overlap_arithmetic() -> None:
    members = np.array([[1, 0], [1, 1], [0, 0], [0, 1]], dtype=bool)
    assert coverage(members) == 0.75 and overlap(members) == 0.25 and sizes(members) == [2, 2]


def test_accuracy_with_more_predicted_clusters_and_unassigned() -> None:
    gold = ["a", "a", "a", "b", "b", "b"]
    predicted = [0, 0, 2, 1, 1, -1]
    # best matching: 0->a (2 right), 1->b (2 right); cluster 2 and the unassigned doc are wrong
    assert hungarian_accuracy(gold, predicted) == pytest.approx(4 / 6)
    perfect = agreement(gold, [5, 5, 5, 7, 7, 7])
    assert (
        perfect["acc"] == 1.0
        and perfect["nmi"] == pytest.approx(1.0)
        and perfect["ari"] == pytest.approx(1.0)
    )
    assert agreement(gold, [-1] * 6)["acc"] == 0.0


def test_agglomerative_refuses_a_matrix_too_large_to_hold() -> None:
    from tools.cluster import MAX_AGGLOMERATIVE

    big = np.zeros((MAX_AGGLOMERATIVE + 1, 2), dtype=np.float32)
    with pytest.raises(ValueError, match="use it for at most 20,000"):
        partition(big, method="agglomerative", n_clusters=2)
