"""The methods that need no LLM, all on the task's shared embeddings: k-means and agglomerative with
the gold number of clusters, HDBSCAN, and BERTopic (UMAP + HDBSCAN + c-TF-IDF keywords) reduced to
the gold number of topics."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from evals.scoring import members_of
from evals.task import Outcome, Task, no_llm_cost
from tools.cluster import Method, partition


def sklearn_method(method: Method, task: Task) -> Outcome:
    started = time.perf_counter()
    labels = partition(
        task.vectors, method=method, n_clusters=task.k, random_state=task.seed, min_cluster_size=5
    )
    seconds = time.perf_counter() - started
    return Outcome(
        members=members_of(labels.tolist()), clusters=[], cost=no_llm_cost(task.embed_seconds, seconds)
    )


def kmeans(task: Task) -> Outcome:
    return sklearn_method("kmeans", task)


def agglomerative(task: Task) -> Outcome:
    return sklearn_method("agglomerative", task)


def hdbscan(task: Task) -> Outcome:
    return sklearn_method("hdbscan", task)


def warm_up() -> None:
    """Compile UMAP's numba code once, so that BERTopic's timings do not carry it."""
    from umap import UMAP

    UMAP(n_neighbors=5, n_components=2).fit_transform(np.random.default_rng(0).normal(size=(40, 8)))


def bertopic_model(n: int, k: int, seed: int, nr_topics: int | None) -> Any:
    """BERTopic as its documentation sets it up (UMAP to 5 dimensions, HDBSCAN, English stop words
    removed for the keywords) for ``n`` documents in about ``k`` groups: HDBSCAN's minimum topic size
    is scaled down for small samples (default 10)."""
    from bertopic import BERTopic
    from sklearn.feature_extraction.text import CountVectorizer
    from umap import UMAP

    return BERTopic(
        umap_model=UMAP(
            n_neighbors=min(15, n - 1), n_components=5, min_dist=0.0, metric="cosine", random_state=seed
        ),
        vectorizer_model=CountVectorizer(stop_words="english"),
        min_topic_size=max(3, min(10, n // (3 * k))),
        nr_topics=nr_topics,
    )


def bertopic(task: Task) -> Outcome:
    """BERTopic (:func:`bertopic_model`), given the shared embeddings, and ``nr_topics=k``. Its
    outliers (topic -1) are the unassigned; each topic's explanation is its top keywords."""
    started = time.perf_counter()
    model = bertopic_model(len(task.texts), task.k, task.seed, nr_topics=task.k)
    topics, _ = model.fit_transform(task.texts, embeddings=task.vectors)
    seconds = time.perf_counter() - started
    found = sorted(set(topics) - {-1})
    column = {topic: j for j, topic in enumerate(found)}
    members = members_of([column.get(t, -1) for t in topics], len(found))
    clusters = []
    for topic in found:
        words = [word for word, _ in (model.get_topic(topic) or [])][:6]
        clusters.append({"name": f"topic {topic}", "explanation": "Keywords: " + ", ".join(words) + "."})
    return Outcome(
        members=members,
        clusters=clusters,
        cost=no_llm_cost(task.embed_seconds, seconds),
        details={"min_topic_size": model.min_topic_size},
    )
