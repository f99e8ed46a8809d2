"""Ask the LLM for candidate clusters (GoalEx's propose step), or for sharper or narrower ones.

By prototypes, the LLM describes each group of texts it is shown (one short call per group; with
``note_groups``, the default, each text first annotated with its value for the goal's criterion,
and the group asked once more without the notes if no valid description comes), and the group's
texts become the candidate's seeds; a description repeating another cluster's explanation is asked
again with the repeat shown. By explanations, one call proposes several clusters from a
mixed sample, each sample first annotated that way."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
from langgraph.runtime import Runtime

from agent.llm.budget import BudgetExceeded
from agent.nodes.common import by_prototypes, goal_text, space, timed, workspace
from agent.schemas import Annotation, ClusterDescription, Proposal
from agent.state import Candidate, RunState
from agent.wording import repeated
from agent.workspace import RunContext, Workspace
from tools.prototypes import nearest_groups

DUPLICATE_SIMILARITY = 0.95
MAX_CONTRAST = 3  # texts of the nearest other group shown beside a group


@timed("propose")
def propose(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    ws = workspace(runtime)
    if by_prototypes(state):
        return _describe_groups(state, ws)
    try:
        prompt, variables = _request(state, ws)
        proposal = ws.llm.attempt(prompt, variables, Proposal, {"texts": variables["texts"]})
    except BudgetExceeded:
        ws.say("LLM budget spent: no new proposals")
        return {"budget_exhausted": True}
    if proposal is None:
        ws.say("note: the LLM gave no valid proposal this round; the candidates stay as they were")
        return {}
    fresh = _new_candidates(state, ws, proposal.clusters)
    ws.say(
        f"proposed {len(proposal.clusters)} clusters, {len(fresh)} new: " + "; ".join(c.name for c in fresh)
    )
    return {"candidates": [*state.candidates, *fresh]}


def _request(state: RunState, ws: Workspace) -> tuple[str, dict[str, Any]]:
    config, texts = state.config, ws.prompt_texts(state.samples)
    by_id = {c.id: c for c in state.candidates}
    if state.action in ("sharpen", "split"):
        clusters = [by_id[i].model_dump() for i in state.focus_clusters if i in by_id]
        reason = "it holds too many documents or its members often do not fit its explanation"
        return "refine", {
            "goal": goal_text(state),
            "mode": state.action,
            "clusters": clusters,
            "texts": texts,
            "reason": reason,
        }
    existing = [by_id[i].model_dump() for i in state.selected if i in by_id]
    note = "texts that no current cluster covers" if state.action == "uncovered" else ""
    wanted = config.max_clusters if state.action == "initial" else max(2, config.max_clusters // 2)
    return "propose", {
        "goal": goal_text(state),
        "texts": texts,
        "existing": existing,
        "note": note,
        "n_clusters": wanted,
        "annotations": _annotate(state, ws, texts),
    }


def _annotate(state: RunState, ws: Workspace, texts: list[str]) -> list[str]:
    """Each sample's note (:func:`notes_on`), if ``annotate_samples``."""
    return notes_on(ws, goal_text(state), texts) if state.config.annotate_samples else []


def notes_on(ws: Workspace, goal: str, texts: list[str]) -> list[str]:
    """Each text's value for the goal's criterion, in a few words, asked of that text alone: small
    models then propose or describe clusters by that criterion rather than by what the texts are
    about (the 1.5B named a group of Spanish texts "English", yet reads one Spanish text's language
    right). '' where the LLM gave no valid note (none is shown)."""
    notes = [ws.llm.attempt("annotate", {"goal": goal, "text": text}, Annotation) for text in texts]
    return ["" if note is None else note.value for note in notes]


def describe_group(ws: Workspace, variables: dict[str, Any]) -> ClusterDescription | None:
    """The LLM's description of the group of ``variables["texts"]`` (see prompts/describe_group.j2),
    checked against a copy of those texts or of the ``contrast`` texts; None if it gives no valid
    one. A group shown with notes on its texts that gets none is asked once more without them: so
    prompted, the packaged 0.5B wrote a banking77 group as a list of its texts (a copy) however
    often it was asked, and the run lost the group. ``variables`` keep no notes after that."""
    context = {"texts": variables["texts"] + variables.get("contrast", [])}
    item = ws.llm.attempt("describe_group", variables, ClusterDescription, context)
    if item is None and variables.get("notes"):
        ws.say("note: no valid description of a group with the notes on its texts; asked again without them")
        variables["notes"] = []
        item = ws.llm.attempt("describe_group", variables, ClusterDescription, context)
    return item


def _describe_groups(state: RunState, ws: Workspace) -> dict[str, Any]:
    """One description per group of the samples; each becomes a candidate seeded with the group's
    texts (see :func:`_adopt`)."""
    groups: dict[int, list[int]] = {}
    for row, group in zip(state.samples, state.sample_groups, strict=True):
        groups.setdefault(group, []).append(row)
    known = [c.explanation for c in state.candidates if c.id in set(state.selected)]
    described: list[tuple[ClusterDescription, list[int]]] = []
    exhausted = False
    # Beside each group, texts of its nearest: the description says what sets the group apart
    # from its likeliest confusion, not what it shares with it.
    listed = list(groups.values())
    nearest = nearest_groups(space(state, ws), listed)
    shown = [ws.prompt_texts(rows) for rows in listed]
    try:
        notes = _group_notes(state, ws, shown)
    except BudgetExceeded:
        ws.say("LLM budget spent: no descriptions")
        return {"budget_exhausted": True}
    for rows, texts, noted, j in zip(listed, shown, notes, nearest, strict=True):
        variables = {
            "goal": goal_text(state),
            "aspect": state.view.aspect if state.view else "",
            "texts": texts,
            "contrast": ws.prompt_texts(listed[j][:MAX_CONTRAST] if j >= 0 else []),
            "notes": noted,
            "others": [],  # listed, explanations given already were copied onto other groups by the 1.5B
        }
        try:
            item = describe_group(ws, variables)
            if item is not None:
                item = _unless_repeated(ws, item, variables, known)
        except BudgetExceeded:
            ws.say("LLM budget spent: no more descriptions")
            exhausted = True
            break
        if item is None:  # its documents join the other groups' prototypes
            ws.say(f"note: the LLM gave no valid description of a group of {len(rows)} texts; left out")
            continue
        described.append((item, sorted(rows)))
        known.append(item.explanation)
    update: dict[str, Any] = {"budget_exhausted": state.budget_exhausted or exhausted}
    return {**update, "candidates": _adopt(state, ws, described)} if described else update


def _group_notes(state: RunState, ws: Workspace, shown: list[list[str]]) -> list[list[str]]:
    """The notes on each group's texts (see :func:`notes_on`); none if ``note_groups`` is off, or if
    one note is given to more than half of the texts of three groups or more: it separates nothing
    (the packaged 0.5B noted 14 of 20 banking77 requests "poem", the example its schema gives, and
    then explained a group as "grouped together by their topic: poem")."""
    if not state.config.note_groups:
        return [[] for _ in shown]
    notes = [_annotate(state, ws, texts) for texts in shown]
    counted = Counter(note.casefold() for group in notes for note in group if note)
    common, count = (counted.most_common(1) or [("", 0)])[0]
    total = sum(map(len, notes))
    if len(shown) >= 3 and count > total / 2:
        ws.say(f"note: the LLM noted {count} of {total} texts {common!r}: it tells no group apart; notes off")
        return [[] for _ in shown]
    return notes


def _unless_repeated(
    ws: Workspace, item: ClusterDescription, variables: dict[str, Any], others: list[str]
) -> ClusterDescription:
    """``item``, or, if its explanation all but repeats another group's, the LLM's answer when asked
    again with the repeat shown. A repeat it cannot mend is kept, and noted: its group is a cluster
    of the working space (dropping such groups left the packaged 0.5B's runs with one cluster), and
    as the run stops the pair is contrasted (see :mod:`agent.nodes.contrast`)."""
    repeat = repeated(item.explanation, others)
    if not repeat:
        return item
    context = {"texts": variables["texts"] + variables["contrast"], "others": others}
    again = ws.llm.attempt("describe_group", {**variables, "repeats": repeat}, ClusterDescription, context)
    if again is not None:
        return again
    ws.say(f"note: a group is explained as another was ({repeat!r}); kept, to be told apart as the run stops")
    return item


def _adopt(
    state: RunState, ws: Workspace, described: list[tuple[ClusterDescription, list[int]]]
) -> list[Candidate]:
    """The candidates after this round's descriptions: one new candidate per group, seeded with its
    texts; a name already taken is numbered ("Top-up issue (2)"). Groups are never merged on their
    names: the 1.5B gives two distinct intents (failed and reverted top-ups) the same one, and a
    merge then costs a cluster the space had found; /merge in the chat does it on request."""
    candidates, origin = list(state.candidates), f"{state.action}@{state.iteration + 1}"
    for item, rows in described:
        name = _unique(item.name, candidates)
        candidates.append(
            Candidate(
                id=f"c{len(candidates) + 1}",
                name=name,
                explanation=item.explanation,
                origin=origin,
                seeds=rows,
            )
        )
    ws.say(
        f"described {len(described)} groups: "
        + "; ".join(c.name for c in candidates[len(state.candidates) :])
    )
    return candidates


def _same_name(item: ClusterDescription, pool: list[Candidate]) -> int | None:
    """The position in ``pool`` of the candidate named as ``item`` is (case aside), or None."""
    return next((j for j, known in enumerate(pool) if known.name.casefold() == item.name.casefold()), None)


def _unique(name: str, pool: list[Candidate]) -> str:
    """``name``, numbered if a candidate has it already ("Spanish (2)")."""
    taken = {c.name.casefold() for c in pool}
    number, unique = 1, name
    while unique.casefold() in taken:
        number += 1
        unique = f"{name} ({number})"
    return unique


def _duplicate_of(item: ClusterDescription, pool: list[Candidate], ws: Workspace) -> int | None:
    """The position in ``pool`` of a candidate ``item`` repeats (same name, or a near-identical
    explanation), or None."""
    same = _same_name(item, pool)
    if same is not None:
        return same
    if not pool:
        return None
    vectors = ws.embed_explanations([item.explanation, *(c.explanation for c in pool)])
    similarities = vectors[1:] @ vectors[0]
    best = int(np.argmax(similarities))
    return best if float(similarities[best]) >= DUPLICATE_SIMILARITY else None


def _new_candidates(state: RunState, ws: Workspace, proposed: list[ClusterDescription]) -> list[Candidate]:
    """Proposed clusters that are not near-copies of a known candidate or of each other."""
    fresh: list[Candidate] = []
    origin = f"{state.action}@{state.iteration + 1}"
    for item in proposed:
        pool = [*state.candidates, *fresh]
        if _duplicate_of(item, pool, ws) is None:
            fresh.append(
                Candidate(id=f"c{len(pool) + 1}", name=item.name, explanation=item.explanation, origin=origin)
            )
    return fresh
