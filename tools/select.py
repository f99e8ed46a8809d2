"""Choose the final clusters from candidates by integer linear programming (GoalEx's select step).

Maximise the documents covered while penalising documents covered more than once, with the
number of clusters fixed or in a range; solved exactly with scipy's ``milp`` (HiGHS).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import csr_matrix, hstack, identity, vstack


def select_clusters(
    members: np.ndarray,
    *,
    min_clusters: int = 1,
    max_clusters: int | None = None,
    overlap_penalty: float = 0.5,
    min_size: int = 1,
    time_limit: float = 10.0,
) -> list[int]:
    """Indices of the chosen candidates, in increasing order.

    members: (n, k) bool, whether document i satisfies candidate j.
    Objective: max sum_i [covered_i] - overlap_penalty * sum_i (times_i - 1)^+ subject to
    min_clusters <= chosen <= max_clusters. Candidates with fewer than ``min_size`` members are
    never chosen. When fewer candidates qualify than ``min_clusters``, all that qualify are chosen.
    The ILP is solved exactly within ``time_limit`` seconds; past that, the better of its best
    selection so far and a greedy-plus-swaps selection is returned.
    """
    members = np.asarray(members, dtype=bool)
    k = members.shape[1]
    viable = members.sum(axis=0) >= max(1, min_size)
    if k == 0 or not viable.any():
        return []
    upper = min(max_clusters or k, int(viable.sum()))
    lower = min(max(min_clusters, 0), upper)
    greedy = greedy_select(members, viable, lower, upper, overlap_penalty)
    exact = _ilp(members, viable, lower, upper, overlap_penalty, time_limit)
    if exact is not None and objective(members, exact, overlap_penalty) >= objective(
        members, greedy, overlap_penalty
    ):
        return exact
    return greedy


def objective(members: np.ndarray, chosen: list[int], overlap_penalty: float) -> float:
    """Covered documents minus the penalty for each extra covering."""
    times = members[:, chosen].sum(axis=1)
    return float((times > 0).sum() - overlap_penalty * np.maximum(times - 1, 0).sum())


def greedy_select(
    members: np.ndarray, viable: np.ndarray, lower: int, upper: int, overlap_penalty: float
) -> list[int]:
    """Add the candidate with the best gain while it helps (or until ``lower``), then swap one
    chosen for one unchosen candidate while that improves the objective."""
    pool = [j for j in range(members.shape[1]) if viable[j]]
    chosen: list[int] = []
    while len(chosen) < upper:
        gains = {j: objective(members, [*chosen, j], overlap_penalty) for j in pool if j not in chosen}
        best = max(gains, key=lambda j: gains[j])
        if len(chosen) >= lower and gains[best] <= objective(members, chosen, overlap_penalty):
            break
        chosen.append(best)
    improved = True
    while improved:
        improved = False
        current = objective(members, chosen, overlap_penalty)
        for out in list(chosen):
            for into in (j for j in pool if j not in chosen):
                trial = [into if j == out else j for j in chosen]
                if objective(members, trial, overlap_penalty) > current + 1e-9:
                    chosen, improved = trial, True
                    break
            if improved:
                break
    return sorted(chosen)


def _ilp(
    members: np.ndarray, viable: np.ndarray, lower: int, upper: int, overlap_penalty: float, time_limit: float
) -> list[int] | None:
    k = members.shape[1]
    rows, counts = np.unique(members, axis=0, return_counts=True)  # identical rows share variables
    a = csr_matrix(rows.astype(float))
    u = len(rows)
    # variables: x (k, chosen), y (u, covered share), o (u, extra coverings)
    cost = np.concatenate([np.full(k, 1e-6), -counts.astype(float), overlap_penalty * counts])
    cover = hstack([-a, identity(u), csr_matrix((u, u))])  # y - A x <= 0
    extra = hstack([a, csr_matrix((u, u)), -identity(u)])  # A x - o <= 1
    size = hstack([csr_matrix(np.ones((1, k))), csr_matrix((1, 2 * u))])
    constraints = [
        LinearConstraint(vstack([cover, extra]).tocsr(), -np.inf, np.concatenate([np.zeros(u), np.ones(u)])),
        LinearConstraint(size.tocsr(), lower, upper),
    ]
    upper_bounds = np.concatenate([viable.astype(float), np.ones(u), np.full(u, np.inf)])
    result = milp(
        cost,
        constraints=constraints,
        integrality=np.concatenate([np.ones(k), np.zeros(2 * u)]),
        bounds=Bounds(np.zeros(k + 2 * u), upper_bounds),
        options={"time_limit": time_limit},
    )
    if result.x is None:
        return None
    return [j for j in range(k) if result.x[j] > 0.5]
