"""Choosing a working space by pair questions: which candidate partition do an LLM's answers to
"do these two texts have the same <aspect>?" agree with?

Pairs are drawn where the candidate partitions disagree (one says same cluster, another says
different), the only pairs that can tell them apart, and in equal numbers for each candidate,
so a model that answers "yes" (or "no") to everything scores every candidate alike.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence

import numpy as np
from sklearn.utils import check_random_state

Pair = tuple[int, int]


def disagreeing_pairs(
    labelings: Mapping[str, np.ndarray], per_view: int, *, random_state: int | None = 0
) -> list[Pair]:
    """Up to ``per_view`` pairs per candidate that it puts in one cluster and some other candidate
    separates; positions index the labelings' rows (all the same length). Deterministic given
    ``random_state``; no pair twice."""
    rng = check_random_state(random_state)
    names = list(labelings)
    n = len(next(iter(labelings.values()))) if names else 0
    everything = np.array(list(itertools.combinations(range(n), 2)), dtype=int).reshape(-1, 2)
    same = {v: labelings[v][everything[:, 0]] == labelings[v][everything[:, 1]] for v in names}
    chosen: list[Pair] = []
    taken: set[Pair] = set()
    for v in names:
        split_elsewhere = np.zeros(len(everything), dtype=bool)
        for u in names:
            if u != v:
                split_elsewhere |= ~same[u]
        pool = np.flatnonzero(same[v] & split_elsewhere)
        picked = 0
        for row in rng.permutation(pool):
            pair = (int(everything[row, 0]), int(everything[row, 1]))
            if pair not in taken:
                taken.add(pair)
                chosen.append(pair)
                picked += 1
                if picked == per_view:
                    break
    return chosen


def agreement(labels: np.ndarray, pairs: Sequence[Pair], answers: Sequence[bool]) -> float:
    """Share of ``pairs`` where ``labels`` (same cluster or not) agrees with ``answers`` (the
    LLM's "same"); 0.5 when there are no pairs."""
    if not pairs:
        return 0.5
    said = np.asarray(answers, dtype=bool)
    same = np.array([labels[a] == labels[b] for a, b in pairs], dtype=bool)
    return float(np.mean(same == said))
