"""Coverage, overlap and agreement with gold labels."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score


def coverage(members: np.ndarray) -> float:
    """Share of documents in at least one cluster; members is (n, k) bool."""
    return float(members.any(axis=1).mean()) if len(members) else 0.0


def overlap(members: np.ndarray) -> float:
    """Share of documents in more than one cluster."""
    return float((members.sum(axis=1) > 1).mean()) if len(members) else 0.0


def sizes(members: np.ndarray) -> list[int]:
    """Members per cluster."""
    return [int(v) for v in members.sum(axis=0)]


def first_labels(members: np.ndarray) -> list[int]:
    """One label per document: its first cluster, or -1 when it is in none."""
    return [int(np.flatnonzero(row)[0]) if row.any() else -1 for row in members]


def hungarian_accuracy(gold: Sequence[object], predicted: Sequence[int]) -> float:
    """Clustering accuracy: the share of documents right under the best one-to-one matching of
    predicted clusters to gold labels. Unassigned documents (-1) and predicted clusters left
    without a gold partner count as wrong."""
    gold_ids = {label: i for i, label in enumerate(sorted(set(gold), key=str))}
    pred_ids = {label: i for i, label in enumerate(sorted(set(predicted) - {-1}))}
    table = np.zeros((len(pred_ids), len(gold_ids)), dtype=int)
    for g, p in zip(gold, predicted, strict=True):
        if p != -1:
            table[pred_ids[p], gold_ids[g]] += 1
    if table.size == 0:
        return 0.0
    rows, cols = linear_sum_assignment(-table)
    return float(table[rows, cols].sum() / len(gold))


def agreement(gold: Sequence[object], predicted: Sequence[int]) -> dict[str, float]:
    """ACC (Hungarian), NMI and ARI of ``predicted`` (-1: unassigned, its own group) vs ``gold``."""
    gold_str = [str(g) for g in gold]
    return {
        "acc": hungarian_accuracy(gold_str, predicted),
        "nmi": float(normalized_mutual_info_score(gold_str, predicted)),
        "ari": float(adjusted_rand_score(gold_str, predicted)),
    }
