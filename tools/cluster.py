"""Initial partitions of the embeddings with scikit-learn (k-means, agglomerative, HDBSCAN).

The agent asks for a partition *finer* than the clusters it wants, so that the LLM sees the
corpus's structure in the samples it is shown.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from sklearn.cluster import HDBSCAN, AgglomerativeClustering, KMeans
from sklearn.utils import check_random_state

Method = Literal["kmeans", "agglomerative", "hdbscan"]
MAX_AGGLOMERATIVE = 20_000
"""Agglomerative clustering holds an n x n distance matrix: 3.2 GB at 20,000 documents."""


def micro_cluster_count(n_docs: int, max_clusters: int) -> int:
    """How many micro-clusters to cut: about three per wanted cluster, at least 8, and at most one
    per 5 documents (so each has members to show)."""
    wanted = max(8, 3 * max_clusters)
    return int(max(1, min(wanted, n_docs // 5, 60)))


def partition(
    vectors: np.ndarray,
    *,
    method: Method = "kmeans",
    n_clusters: int = 8,
    random_state: int | np.random.RandomState | None = 0,
    min_cluster_size: int = 5,
) -> np.ndarray:
    """Cluster labels for ``vectors`` (n, d): shape (n,), ints from 0; HDBSCAN noise is -1.

    ``n_clusters`` is used by k-means and agglomerative; HDBSCAN finds its own number.
    """
    n = len(vectors)
    if n == 0:
        return np.zeros(0, dtype=int)
    n_clusters = max(1, min(n_clusters, n))
    if method == "kmeans":
        model = KMeans(n_clusters=n_clusters, n_init=4, random_state=check_random_state(random_state))
        return np.asarray(model.fit_predict(vectors), dtype=int)
    if method == "agglomerative":
        if n > MAX_AGGLOMERATIVE:
            raise ValueError(
                f"agglomerative clustering of {n:,} documents needs an {n:,} x {n:,} matrix; "
                f"use it for at most {MAX_AGGLOMERATIVE:,} (or k-means)"
            )
        agg = AgglomerativeClustering(n_clusters=n_clusters, metric="cosine", linkage="average")
        return np.asarray(agg.fit_predict(vectors), dtype=int)
    if method == "hdbscan":
        density = HDBSCAN(min_cluster_size=max(2, min(min_cluster_size, n)), metric="euclidean", copy=True)
        return np.asarray(density.fit_predict(vectors), dtype=int)
    raise ValueError(f"unknown clustering method {method!r}; choose kmeans, agglomerative or hdbscan")


def centroids(vectors: np.ndarray, labels: np.ndarray) -> dict[int, np.ndarray]:
    """The L2-normalised mean vector of each label (noise, -1, excluded)."""
    out = {}
    for label in sorted(set(labels.tolist()) - {-1}):
        mean = vectors[labels == label].mean(axis=0)
        out[label] = mean / max(float(np.linalg.norm(mean)), 1e-12)
    return out
