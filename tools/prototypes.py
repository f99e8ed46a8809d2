"""Assignment by prototypes in a working space: each cluster is the mean of the documents it was
proposed from (its seeds), refined over the corpus the way seeded k-means refines its centres.

All vectors are L2-normalised rows; scores are cosine similarities to the prototypes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero)."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.asarray(vectors / np.maximum(norms, 1e-12), dtype=np.float32)


def centre(vectors: np.ndarray) -> np.ndarray:
    """Rows minus their mean, L2-normalised: hidden states share a large common direction that
    would otherwise dominate every cosine."""
    return normalise(vectors - vectors.mean(axis=0, keepdims=True))


def nearest_groups(vectors: np.ndarray, groups: Sequence[Sequence[int]]) -> list[int]:
    """For each group of rows, the position of the other group whose centre (the direction of its
    rows' sum) is most similar; -1 when there is no other group."""
    if len(groups) < 2:
        return [-1] * len(groups)
    centres = normalise(np.stack([vectors[list(rows)].sum(axis=0) for rows in groups]))
    similarity = centres @ centres.T
    np.fill_diagonal(similarity, -np.inf)
    return [int(j) for j in np.argmax(similarity, axis=1)]


def seeded_prototypes(
    vectors: np.ndarray, seeds: Sequence[Sequence[int]], *, max_iter: int = 20
) -> tuple[np.ndarray, np.ndarray]:
    """Prototypes (k, d) and labels (n,) from ``seeds`` (k lists of row positions in ``vectors``).

    Starts from each seed set's mean; then, as seeded k-means does, assigns every document to its
    nearest prototype and moves each prototype to the mean of its documents, until nothing
    changes. Seed documents stay with their own cluster (a seed shared by several clusters counts
    for each), so a prototype cannot drift away from what it was proposed from.
    """
    k = len(seeds)
    if k == 0:
        return np.zeros((0, vectors.shape[1]), np.float32), np.full(len(vectors), -1)
    if any(len(s) == 0 for s in seeds):
        raise ValueError("every prototype needs at least one seed document")
    prototypes = normalise(np.stack([vectors[list(s)].mean(axis=0) for s in seeds]))
    labels = np.full(len(vectors), -1)
    for _ in range(max_iter):
        new = np.argmax(vectors @ prototypes.T, axis=1)
        if np.array_equal(new, labels):
            break
        labels = new
        for j, rows in enumerate(seeds):
            members = np.union1d(np.flatnonzero(labels == j), np.asarray(rows, dtype=int))
            prototypes[j] = normalise(vectors[members].mean(axis=0, keepdims=True))[0]
    return prototypes, labels
