"""Initial partitions of the embeddings with scikit-learn (k-means, agglomerative, HDBSCAN).

The agent asks for a partition *finer* than the clusters it wants, so that the LLM sees the
corpus's structure in the samples it is shown.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from sklearn.cluster import HDBSCAN, AgglomerativeClustering, KMeans
from sklearn.metrics import silhouette_score
from sklearn.utils import check_random_state

Method = Literal["kmeans", "agglomerative", "hdbscan"]


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
        agg = AgglomerativeClustering(n_clusters=n_clusters, metric="cosine", linkage="average")
        return np.asarray(agg.fit_predict(vectors), dtype=int)
    if method == "hdbscan":
        density = HDBSCAN(min_cluster_size=max(2, min(min_cluster_size, n)), metric="euclidean", copy=True)
        return np.asarray(density.fit_predict(vectors), dtype=int)
    raise ValueError(f"unknown clustering method {method!r}; choose kmeans, agglomerative or hdbscan")


def choose_n_clusters(
    vectors: np.ndarray, candidates: list[int], *, random_state: int = 0, sample_size: int = 2000
) -> int:
    """The k-means cluster count among ``candidates`` with the best silhouette (cosine)."""
    valid = [k for k in candidates if 2 <= k < len(vectors)]
    if not valid:
        return max(1, min(candidates[0] if candidates else 1, len(vectors)))
    best_k, best_score = valid[0], -np.inf
    for k in valid:
        labels = partition(vectors, n_clusters=k, random_state=random_state)
        if len(set(labels.tolist())) < 2:
            continue
        score = silhouette_score(
            vectors,
            labels,
            metric="cosine",
            sample_size=min(sample_size, len(vectors)),
            random_state=random_state,
        )
        if score > best_score:
            best_k, best_score = k, float(score)
    return best_k


def centroids(vectors: np.ndarray, labels: np.ndarray) -> dict[int, np.ndarray]:
    """The L2-normalised mean vector of each label (noise, -1, excluded)."""
    out = {}
    for label in sorted(set(labels.tolist()) - {-1}):
        mean = vectors[labels == label].mean(axis=0)
        out[label] = mean / max(float(np.linalg.norm(mean)), 1e-12)
    return out
