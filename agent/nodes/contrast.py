"""Sharpen explanations by contrast, as the run stops: with ``--sharpen`` each chosen cluster beside
its nearest one in the working space, and always a cluster whose explanation repeats another's
beside that one; the LLM is shown texts of both and says what sets the first's apart; the new
explanation is kept only if, judged on members neither prompt showed, it tells the two clusters
apart better than the old one (fits more of its own, fewer of the neighbour's)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from agent.llm.budget import BudgetExceeded
from agent.nodes.common import goal_text, space
from agent.nodes.llm_assign import judge
from agent.schemas import ClusterDescription
from agent.state import Candidate, RunState
from agent.wording import repeated
from agent.workspace import Workspace
from tools.prototypes import nearest_groups

SHOWN = 5  # texts of each cluster in the prompt


@dataclass
class Sharpened:
    candidates: list[Candidate]
    precision: dict[str, float] = field(default_factory=dict)
    """The fit rate on held-back members of each changed cluster."""
    records: list[dict[str, Any]] = field(default_factory=list)
    """One per explanation tried: old, new, their fit rates on both sides, kept."""
    exhausted: bool = False


def sharpen(
    state: RunState, ws: Workspace, members: np.ndarray, pairs: dict[str, str] | None = None
) -> Sharpened:
    """The candidates with sharper explanations where the checks prefer them (those sharpened before
    the budget ran out are kept): each chosen cluster against its nearest, or only the ``pairs``
    given (cluster id -> the id of the cluster to tell it apart from)."""
    selected = state.selected
    if len(selected) < 2:
        return Sharpened(state.candidates)
    rng = np.random.default_rng([state.config.seed, state.iteration, 2])
    column = {cid: j for j, cid in enumerate(selected)}
    if pairs is None:
        nearest = nearest_groups(space(state, ws), _columns(members))
        pairs = {cid: selected[k] for cid, k in zip(selected, nearest, strict=True)}
    by_id = {c.id: c for c in state.candidates}
    checks = max(2, state.config.spot_checks)
    changed: dict[str, Candidate] = {}
    result = Sharpened(state.candidates)
    unanswered = 0  # asked, but no valid new explanation came back
    for cid, neighbour in pairs.items():
        own, other = by_id[cid], by_id[neighbour]
        own_rows, other_rows = (
            rng.permutation(np.flatnonzero(members[:, column[i]])) for i in (cid, neighbour)
        )
        if len(own_rows) < SHOWN + checks or len(other_rows) < SHOWN + checks:
            continue  # too small to show and still check on unseen members
        shown = [ws.prompt_texts(rows[:SHOWN].tolist()) for rows in (own_rows, other_rows)]
        held = [rows[SHOWN : SHOWN + checks].tolist() for rows in (own_rows, other_rows)]
        variables = {
            "goal": goal_text(state),
            "aspect": state.view.aspect if state.view else "",
            "explanation": own.explanation,
            "other_explanation": other.explanation,
            "texts": shown[0],
            "other_texts": shown[1],
        }
        try:
            context = {"texts": shown[0] + shown[1], "others": [other.explanation]}
            item = ws.llm.attempt("contrast", variables, ClusterDescription, context)
            if item is None or item.explanation == own.explanation:
                unanswered += 1
                continue
            before, after = (_separation(state, ws, e, held) for e in (own.explanation, item.explanation))
        except BudgetExceeded:
            result.exhausted = True
            break
        kept = before is not None and after is not None and after[0] - after[1] > before[0] - before[1]
        result.records.append(
            {"cluster": cid, "neighbour": other.id, "old": own.explanation, "new": item.explanation,
             "old_fit": before, "new_fit": after, "kept": kept}
        )  # fmt: skip
        if kept and after is not None:
            taken = {c.name.casefold() for c in state.candidates if c.id != cid}
            name = item.name if item.name.casefold() not in taken else own.name
            changed[cid] = own.model_copy(update={"name": name, "explanation": item.explanation})
            result.precision[cid] = round(after[0], 3)
    no_answer = f" ({unanswered} more asked, with no valid new explanation)" if unanswered else ""
    ws.say(
        f"sharpened {len(changed)} of {len(result.records)} explanations tried against their nearest "
        f"cluster{no_answer}"
    )
    result.candidates = [changed.get(c.id, c) for c in state.candidates]
    return result


def repeats(state: RunState) -> dict[str, str]:
    """Chosen clusters whose explanation all but repeats an earlier chosen one's, each with that one."""
    by_id = {c.id: c for c in state.candidates}
    found: dict[str, str] = {}
    for i, cid in enumerate(state.selected):
        earlier: dict[str, str] = {}  # explanation -> the first cluster with it
        for e in state.selected[:i]:
            earlier.setdefault(by_id[e].explanation, e)
        repeat = repeated(by_id[cid].explanation, list(earlier))
        if repeat:
            found[cid] = earlier[repeat]
    return found


def _columns(members: np.ndarray) -> list[list[int]]:
    """The rows of each cluster (column) of a membership matrix."""
    return [np.flatnonzero(members[:, j]).tolist() for j in range(members.shape[1])]


def _separation(
    state: RunState, ws: Workspace, explanation: str, held: list[list[int]]
) -> tuple[float, float] | None:
    """The share of held-back own members and of the neighbour's that ``explanation`` fits (None if
    either side got no valid judgement)."""
    rates = []
    for rows in held:
        verdicts = [v for row in rows if (v := judge(state, ws, explanation, row)) is not None]
        if not verdicts:
            return None
        rates.append(float(np.mean(verdicts)))
    return rates[0], rates[1]
