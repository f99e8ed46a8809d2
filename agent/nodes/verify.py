"""Measure the result (coverage, overlap, sizes), have the LLM spot-check each cluster's members
against its explanation, and decide what the next round should fix. When the run stops, each
explanation is also checked on documents outside its cluster: the two together estimate how much
of what the explanation describes the cluster holds (its recall)."""

from __future__ import annotations

from typing import Any

import numpy as np
from langgraph.runtime import Runtime

from agent.llm.budget import BudgetExceeded
from agent.nodes.common import by_prototypes, timed, workspace
from agent.nodes.contrast import repeats, sharpen
from agent.nodes.llm_assign import judge
from agent.routes import stop_reason
from agent.state import IterationRecord, RunState
from agent.workspace import RunContext, Workspace
from tools.metrics import coverage, overlap


@timed("verify")
def verify(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    ws = workspace(runtime)
    members = ws.array(state.memberships).astype(bool)
    cov, ovl = coverage(members), overlap(members)
    precision, exhausted = _spot_check(state, ws, members)
    action, focus, focus_clusters = _next_action(state, members, cov, ovl, precision)
    names = {c.id: c.name for c in state.candidates}
    record = IterationRecord(
        iteration=state.iteration + 1,
        action=state.action,
        proposed=[c.name for c in state.candidates if c.origin.endswith(f"@{state.iteration + 1}")],
        selected=[names[i] for i in state.selected],
        coverage=round(cov, 4),
        overlap=round(ovl, 4),
        llm_decided=int(ws.array(state.decided_by).sum()),
    )
    ws.say(
        f"round {record.iteration}: coverage {cov:.0%}, overlap {ovl:.0%}, {len(state.selected)} clusters"
        + (f"; next: {action}" if action != "done" else "; targets met")
    )
    update: dict[str, Any] = {
        "coverage": cov,
        "overlap": ovl,
        "precision": precision,
        "action": action,
        "focus": ws.keep(np.asarray(focus, dtype=np.int64)) if focus else "",
        "focus_clusters": focus_clusters,
        "iteration": state.iteration + 1,
        "budget_exhausted": state.budget_exhausted or exhausted or ws.llm.budget.exhausted,
    }
    if stop_reason(state.model_copy(update=update)) and not update["budget_exhausted"]:
        update.update(_final_checks(state, ws, members, precision))
    return {**update, "history": [record]}


def _final_checks(
    state: RunState, ws: Workspace, members: np.ndarray, precision: dict[str, float]
) -> dict[str, Any]:
    """As the run stops: sharpen the explanations by contrast (all if asked, else those repeating
    another's), then check each one outside its cluster."""
    update: dict[str, Any] = {}
    pairs = None if state.config.sharpen else repeats(state)
    if pairs is None or pairs:
        sharpened = sharpen(state, ws, members, pairs)
        state = state.model_copy(update={"candidates": sharpened.candidates})
        precision = {**precision, **sharpened.precision}
        update = {"candidates": sharpened.candidates, "precision": precision, "sharpened": sharpened.records}
        if sharpened.exhausted:
            return {**update, "budget_exhausted": True}
    recall, spent = _outside_check(state, ws, members, precision)
    return {**update, "recall": recall, "budget_exhausted": spent}


def _spot_check(state: RunState, ws: Workspace, members: np.ndarray) -> tuple[dict[str, float], bool]:
    """Estimated precision per cluster: the share of sampled members the LLM says fit."""
    rng = np.random.default_rng(state.config.seed + state.iteration)
    explanations = {c.id: c.explanation for c in state.candidates}
    precision: dict[str, float] = {}
    for j, cid in enumerate(state.selected):
        try:
            rate = _fit_rate(state, ws, explanations[cid], np.flatnonzero(members[:, j]), rng)
        except BudgetExceeded:
            return precision, True
        if rate is not None:
            precision[cid] = round(rate, 3)
    return precision, False


def _outside_check(
    state: RunState, ws: Workspace, members: np.ndarray, precision: dict[str, float]
) -> tuple[dict[str, float], bool]:
    """Estimated recall per cluster: of all the documents its explanation fits, the share the cluster
    holds. The LLM judges the explanation on sampled documents outside the cluster (as many as the
    spot-check samples inside); the fit rates inside (the precision) and outside, times the two
    sizes, estimate the fitting documents in and out of the cluster."""
    rng = np.random.default_rng([state.config.seed, state.iteration, 1])
    explanations = {c.id: c.explanation for c in state.candidates}
    recall: dict[str, float] = {}
    for j, cid in enumerate(state.selected):
        if cid not in precision:
            continue
        outside = np.flatnonzero(~members[:, j])
        try:
            rate = _fit_rate(state, ws, explanations[cid], outside, rng) if len(outside) else 0.0
        except BudgetExceeded:
            return recall, True
        if rate is None:  # no valid judgement outside: no estimate
            continue
        fit_inside, fit_outside = precision[cid] * int(members[:, j].sum()), rate * len(outside)
        if fit_inside + fit_outside > 0:
            recall[cid] = round(fit_inside / (fit_inside + fit_outside), 3)
    checked = ", ".join(f"{cid} {recall[cid]:.2f}" for cid in state.selected if cid in recall)
    ws.say(f"explanations checked outside their clusters; estimated recall: {checked or 'none'}")
    return recall, False


def _fit_rate(
    state: RunState, ws: Workspace, explanation: str, rows: np.ndarray, rng: np.random.Generator
) -> float | None:
    """The share of ``spot_checks`` documents drawn from ``rows`` that the LLM says ``explanation``
    fits (None without a valid judgement: an item the LLM could not judge is one check fewer)."""
    picks = rng.choice(rows, size=min(state.config.spot_checks, len(rows)), replace=False).tolist()
    verdicts = [v for row in picks if (v := judge(state, ws, explanation, int(row))) is not None]
    return float(np.mean(verdicts)) if verdicts else None


def _next_action(
    state: RunState, members: np.ndarray, cov: float, ovl: float, precision: dict[str, float]
) -> tuple[str, list[int], list[str]]:
    config, counts = state.config, members.sum(axis=1)
    if cov < config.coverage:
        return "uncovered", np.flatnonzero(counts == 0).tolist(), []
    if ovl > config.max_overlap:
        shared = members[counts > 1]
        pair_counts = shared.T.astype(int) @ shared.astype(int)
        np.fill_diagonal(pair_counts, 0)
        a, b = np.unravel_index(int(np.argmax(pair_counts)), pair_counts.shape)
        return "sharpen", np.flatnonzero(counts > 1).tolist(), [state.selected[a], state.selected[b]]
    sizes = members.sum(axis=0) / max(1, len(members))
    for j, cid in enumerate(state.selected):
        # By explanations a weak explanation means a wrong membership; by prototypes the membership
        # comes from the space, and splitting it on a small model's spot-check noise made it worse.
        weak = precision.get(cid, 1.0) < config.min_precision and config.spot_checks >= 2
        giant = sizes[j] > config.max_cluster_share and len(state.selected) < config.max_clusters
        if giant or (weak and not by_prototypes(state)):
            return "split", np.flatnonzero(members[:, j]).tolist(), [cid]
    return "done", [], []
