"""Assign documents to cluster explanations with embeddings, and say how sure each decision is.

Cost is linear in documents: one similarity per (document, explanation) from vectors already
stored, no LLM. The top-1/top-2 margin is the confidence signal: large margins are reliable,
the small-margin band is where a strong LLM may do better.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def similarity(doc_vectors: np.ndarray, explanation_vectors: np.ndarray) -> np.ndarray:
    """Cosine similarity (n, k) of L2-normalised docs (n, d) and explanations (k, d)."""
    if explanation_vectors.size == 0:
        return np.zeros((len(doc_vectors), 0), dtype=np.float32)
    return np.asarray(doc_vectors @ explanation_vectors.T, dtype=np.float32)


def smooth(scores: np.ndarray, labels: np.ndarray, weight: float = 0.3) -> np.ndarray:
    """Blend each document's scores (n, k) with the mean scores of its micro-cluster (labels, (n,)).

    Documents that the embedding space groups together then lean the same way; noise (-1) keeps
    its own scores.
    """
    out = scores.copy()
    for label in set(labels.tolist()) - {-1}:
        rows = labels == label
        out[rows] = (1 - weight) * scores[rows] + weight * scores[rows].mean(axis=0)
    return out


def plausible(scores: np.ndarray, *, min_similarity: float, margin: float) -> np.ndarray:
    """Pairwise memberships (n, k) for choosing clusters: a document may belong to every
    explanation within ``margin`` of its best one, if at least ``min_similarity``."""
    if scores.shape[1] == 0:
        return np.zeros(scores.shape, dtype=bool)
    best = scores.max(axis=1, keepdims=True)
    return (scores >= min_similarity) & (scores >= best - margin)


@dataclass(frozen=True)
class Assignment:
    """Memberships of n documents in k clusters.

    members: (n, k) bool; a row may hold several True (overlap) or none (unassigned).
    top: (n,) index of the best cluster, -1 when unassigned.
    confidence: (n,) top-1 minus top-2 score (the top-1 score when k == 1).
    """

    members: np.ndarray
    top: np.ndarray
    confidence: np.ndarray


def assign(scores: np.ndarray, *, min_similarity: float, overlap_margin: float) -> Assignment:
    """Each document joins its best cluster if that scores at least ``min_similarity``, and also
    any other cluster within ``overlap_margin`` of the best."""
    n, k = scores.shape
    if k == 0:
        return Assignment(np.zeros((n, 0), bool), np.full(n, -1), np.zeros(n, np.float32))
    order = np.argsort(-scores, axis=1, kind="stable")
    best = scores[np.arange(n), order[:, 0]]
    second = scores[np.arange(n), order[:, 1]] if k > 1 else np.zeros(n, np.float32)
    members = plausible(scores, min_similarity=min_similarity, margin=overlap_margin)
    top = np.where(best >= min_similarity, order[:, 0], -1)
    return Assignment(members, top, np.asarray(best - second, dtype=np.float32))


def uncertain(assignment: Assignment, band: float) -> np.ndarray:
    """Positions whose top-1/top-2 margin is below ``band`` (the band worth a second opinion)."""
    return np.flatnonzero(assignment.confidence < band)


def with_decisions(assignment: Assignment, decided: dict[int, int]) -> Assignment:
    """A copy where each document in ``decided`` belongs to exactly that cluster (-1: none)."""
    members, top = assignment.members.copy(), assignment.top.copy()
    for row, cluster in decided.items():
        members[row] = False
        if cluster >= 0:
            members[row, cluster] = True
        top[row] = cluster
    return Assignment(members, top, assignment.confidence.copy())
