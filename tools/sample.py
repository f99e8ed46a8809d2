"""Choose which documents the LLM is shown: central, diverse and boundary texts.

All functions take vectors (n, d), L2-normalised, and return document positions.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.utils import check_random_state

from tools.cluster import centroids


def nearest_to_centres(vectors: np.ndarray, labels: np.ndarray, per_cluster: int) -> list[int]:
    """The ``per_cluster`` documents nearest each cluster's centre, interleaved across clusters
    (first the most central of every cluster, then the second, ...), so any prefix spans them."""
    ranked: list[list[int]] = []
    for label, centre in centroids(vectors, labels).items():
        members = np.flatnonzero(labels == label)
        order = members[np.argsort(-(vectors[members] @ centre), kind="stable")]
        ranked.append(order[:per_cluster].tolist())
    return [rows[i] for i in range(per_cluster) for rows in ranked if i < len(rows)]


def diverse(
    vectors: np.ndarray,
    n: int,
    *,
    pool: Sequence[int] | None = None,
    random_state: int | np.random.RandomState | None = 0,
) -> list[int]:
    """``n`` documents from ``pool`` (default: all) spread over the space (farthest-point order)."""
    candidates = np.arange(len(vectors)) if pool is None else np.asarray(pool, dtype=int)
    if len(candidates) == 0 or n <= 0:
        return []
    rng = check_random_state(random_state)
    chosen = [int(candidates[rng.randint(len(candidates))])]
    nearest = vectors[candidates] @ vectors[chosen[0]]
    while len(chosen) < min(n, len(candidates)):
        pick = int(np.argmin(nearest))
        chosen.append(int(candidates[pick]))
        nearest = np.maximum(nearest, vectors[candidates] @ vectors[chosen[-1]])
    return chosen


def boundary(vectors: np.ndarray, labels: np.ndarray, n: int) -> list[int]:
    """``n`` documents lying most nearly between two clusters (smallest centre-similarity gap)."""
    centres = centroids(vectors, labels)
    if len(centres) < 2 or n <= 0:
        return []
    sims = vectors @ np.stack(list(centres.values())).T
    top2 = np.sort(sims, axis=1)[:, -2:]
    return np.argsort(top2[:, 1] - top2[:, 0], kind="stable")[:n].tolist()


def proposal_sample(
    vectors: np.ndarray,
    labels: np.ndarray,
    n: int,
    *,
    focus: Sequence[int] | None = None,
    random_state: int | np.random.RandomState | None = 0,
) -> list[int]:
    """What the proposer sees: ``n`` distinct documents.

    Without ``focus``: mostly texts central to each micro-cluster, plus diverse and boundary ones.
    With ``focus`` (e.g. the uncovered documents): diverse texts from the focus only.
    """
    if focus is not None:
        return diverse(vectors, n, pool=focus, random_state=random_state)
    n_labels = max(1, len(set(labels.tolist()) - {-1}))
    central = nearest_to_centres(vectors, labels, per_cluster=max(1, (6 * n) // (10 * n_labels)))
    picked = list(dict.fromkeys(central[: (6 * n) // 10]))
    for extra in (boundary(vectors, labels, n // 6), diverse(vectors, n, random_state=random_state)):
        for index in extra:
            if len(picked) >= n:
                break
            if index not in picked:
                picked.append(index)
    return picked[:n]
