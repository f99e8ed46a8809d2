"""Single nodes with the scripted fake LLM and the fake embedder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from fakes import FakeEmbedder, ScriptedBackend, corpus_of_topics
from langgraph.runtime import Runtime

from agent.config import Config
from agent.nodes.propose import propose
from agent.nodes.verify import verify
from agent.state import Candidate, RunState
from agent.workspace import RunContext, build_workspace


def runtime(tmp_path: Path, backend: ScriptedBackend, config: Config) -> Runtime[RunContext]:
    ids, texts, _ = corpus_of_topics(per_topic=4)
    ws = build_workspace(
        config, tmp_path, "topics", ids, texts, quiet=True, backend=backend, embedder=FakeEmbedder()
    )
    ws.set_vectors(ws.embedder.embed(texts))
    return Runtime(context=RunContext(run_dir=str(tmp_path), workspace=ws))


def test_propose_drops_near_copies_of_known_candidates(tmp_path: Path) -> None:
    config = Config(home=tmp_path, goal="why", view="semantic", annotate_samples=False, use_cache=False)
    known = Candidate(id="c1", name="Card payments", explanation="card payment declined refused", origin="x")
    backend = ScriptedBackend(
        [
            {
                "clusters": [
                    {"name": "card PAYMENTS", "explanation": "anything"},  # same name
                    {"name": "Declines", "explanation": "card payment declined refused"},  # same explanation
                    {"name": "Parcels", "explanation": "parcel delivery late"},
                ]
            }
        ]
    )
    ctx = runtime(tmp_path, backend, config)
    assert ctx.context.workspace is not None
    labels = ctx.context.workspace.keep(np.zeros(12, dtype=int))
    state = RunState(config=config, candidates=[known], samples=[0, 4, 8], micro_labels=labels, n_docs=12)
    update = propose(state, ctx)
    assert [c.name for c in update["candidates"]] == ["Card payments", "Parcels"]
    assert update["candidates"][1].id == "c2" and update["candidates"][1].origin == "initial@1"


def test_verify_measures_and_picks_the_next_action(tmp_path: Path) -> None:
    config = Config(home=tmp_path, spot_checks=2, use_cache=False, coverage=0.9)
    candidates = [Candidate(id=f"c{i}", name=f"n{i}", explanation=f"e{i}", origin="x") for i in (1, 2)]
    members = np.zeros((12, 2), dtype=bool)
    members[:6, 0], members[6:10, 1] = True, True  # 10 of 12 covered
    backend = ScriptedBackend([{"answer": "yes"}, {"answer": "no"}, {"answer": "yes"}, {"answer": "yes"}])
    ctx = runtime(tmp_path, backend, config)
    ws = ctx.context.workspace
    assert ws is not None
    state = RunState(
        config=config,
        candidates=candidates,
        selected=["c1", "c2"],
        memberships=ws.keep(members),
        n_docs=12,
        decided_by=ws.keep(np.zeros(12, dtype=bool)),
        confidence=ws.keep(np.full(12, 0.1, dtype=np.float32)),
    )
    update = verify(state, ctx)
    assert round(update["coverage"], 3) == round(10 / 12, 3) and update["overlap"] == 0.0
    assert update["precision"] == {"c1": 0.5, "c2": 1.0}
    assert update["action"] == "uncovered" and ws.array(update["focus"]).tolist() == [10, 11]
    assert update["iteration"] == 1 and update["history"][0].coverage == round(10 / 12, 4)


def test_as_the_run_stops_each_explanation_is_checked_outside_its_cluster(tmp_path: Path) -> None:
    """Recall: of the documents an explanation fits, the share in its cluster, from the fit rates
    inside (the precision) and outside, each times the number of documents there."""
    config = Config(home=tmp_path, spot_checks=2, use_cache=False, max_iterations=1, coverage=0.95)
    candidates = [Candidate(id=f"c{i}", name=f"n{i}", explanation=f"e{i}", origin="x") for i in (1, 2)]
    members = np.zeros((12, 2), dtype=bool)
    members[:4, 0], members[4:, 1] = True, True  # 4 and 8 documents
    verdicts = ["yes", "yes", "yes", "no", "yes", "no", "no", "no"]  # c1 in, c2 in, c1 out, c2 out
    verdicts += ["yes"] * 4  # the second call's checks inside
    ctx = runtime(tmp_path, ScriptedBackend([{"answer": v} for v in verdicts]), config)
    ws = ctx.context.workspace
    assert ws is not None
    state = RunState(
        config=config,
        candidates=candidates,
        selected=["c1", "c2"],
        memberships=ws.keep(members),
        n_docs=12,
        decided_by=ws.keep(np.zeros(12, dtype=bool)),
        confidence=ws.keep(np.full(12, 0.1, dtype=np.float32)),
    )
    update = verify(state, ctx)
    assert update["precision"] == {"c1": 1.0, "c2": 0.5}
    # c1: 4 fitting inside, half of the 8 outside fit -> 4 / (4 + 4); c2: none outside fits.
    assert update["recall"] == {"c1": 0.5, "c2": 1.0}
    members[11] = False  # one document uncovered, and rounds left: the run goes on
    going_on = {"config": config.model_copy(update={"max_iterations": 3}), "memberships": ws.keep(members)}
    update = verify(state.model_copy(update=going_on), ctx)
    assert update["action"] == "uncovered" and "recall" not in update  # checked inside only


def _describing(tmp_path: Path, **settings: Any) -> Config:
    """A configuration whose propose step describes groups (prototypes), with ``settings``."""
    return Config(
        home=tmp_path, goal="why", view="semantic", assign_by="prototypes", use_cache=False, **settings
    )


def test_groups_named_alike_stay_apart_with_numbered_names(tmp_path: Path) -> None:
    config = _describing(tmp_path, annotate_samples=False)
    said = ["a top-up that failed", "a top-up that was reverted", "a top-up by cash"]
    # the model names three groups alike, explained apart
    backend = ScriptedBackend([{"name": "Top-up", "explanation": f"The customer reports {x}."} for x in said])
    state = RunState(config=config, samples=[0, 1, 4, 5, 8, 9], sample_groups=[0, 0, 1, 1, 2, 2], n_docs=12)
    update = propose(state, runtime(tmp_path, backend, config))
    assert [(c.id, c.name, c.seeds) for c in update["candidates"]] == [
        ("c1", "Top-up", [0, 1]),
        ("c2", "Top-up (2)", [4, 5]),
        ("c3", "Top-up (3)", [8, 9]),
    ]
    assert all(c.origin == "initial@1" for c in update["candidates"])


def test_each_text_of_a_group_is_shown_with_its_note_on_the_goal(tmp_path: Path) -> None:
    config = _describing(tmp_path, note_groups=True)
    notes = [{"value": f"reason {i}"} for i in range(2)]
    described = {"name": "Refused payment", "explanation": "The customer says a card payment was refused."}
    backend = ScriptedBackend([*notes, described])
    state = RunState(config=config, samples=[0, 1], sample_groups=[0, 0], n_docs=12)
    update = propose(state, runtime(tmp_path, backend, config))
    asked = [call[-1]["content"] for call in backend.calls]
    # one note per text of the group, each asked on its own, then the group described with them
    assert all("In one to four words" in question for question in asked[:2])
    assert "read on its own: reason 0)" in asked[2] and "read on its own: reason 1)" in asked[2]
    assert [c.name for c in update["candidates"]] == ["Refused payment"]


def test_a_group_with_no_valid_description_beside_its_notes_is_asked_once_more_without_them(
    tmp_path: Path,
) -> None:
    config = _describing(tmp_path)  # notes on, the default
    notes = [{"value": f"reason {i}"} for i in range(2)]
    leaked = {"name": "Refused", "explanation": "The text says {'reason': 'refused'}."}
    described = {"name": "Refused payment", "explanation": "The customer says a card payment was refused."}
    backend = ScriptedBackend([*notes, leaked, leaked, leaked, described])
    state = RunState(config=config, samples=[0, 1], sample_groups=[0, 0], n_docs=12)
    update = propose(state, runtime(tmp_path, backend, config))
    asked = [call[1]["content"] for call in backend.calls]
    # three answers refused with the notes shown; the fourth ask shows the texts without them
    assert all("read on its own" in question for question in asked[2:5])
    assert "read on its own" not in asked[5]
    assert [c.name for c in update["candidates"]] == ["Refused payment"]


def test_notes_that_give_most_texts_one_value_are_not_shown(tmp_path: Path) -> None:
    config = _describing(tmp_path)
    # what the packaged 0.5B did on banking77: "poem", its schema's example, for most requests
    notes = [{"value": "poem"}] * 4 + [{"value": "exchange rates"}, {"value": "Poem"}]
    said = ["a failed top-up", "a lost card", "a rate"]
    described = [
        {"name": f"Group {i}", "explanation": f"The customer asks about {x}."} for i, x in enumerate(said)
    ]
    backend = ScriptedBackend([*notes, *described])
    state = RunState(config=config, samples=[0, 1, 4, 5, 8, 9], sample_groups=[0, 0, 1, 1, 2, 2], n_docs=12)
    update = propose(state, runtime(tmp_path, backend, config))
    asked = [call[1]["content"] for call in backend.calls]
    # every text noted first, then each group described without the notes (5 of 6 say "poem")
    assert all("In one to four words" in question for question in asked[:6])
    assert not any("read on its own" in question for question in asked[6:])
    assert [c.name for c in update["candidates"]] == ["Group 0", "Group 1", "Group 2"]
    varied = [{"value": v} for v in ("top-up", "top-up", "card", "card", "rate", "poem")]
    backend = ScriptedBackend([*varied, *described])
    propose(state, runtime(tmp_path / "varied", backend, config))
    assert all("read on its own" in call[1]["content"] for call in backend.calls[6:])


def test_a_group_explained_as_another_is_asked_again_and_kept_if_it_stays_a_repeat(tmp_path: Path) -> None:
    config = _describing(tmp_path, annotate_samples=False)
    same = {"name": "Same thing", "explanation": "The text is about the same thing."}
    other = {"name": "Other", "explanation": "The text asks for a refund."}
    backend = ScriptedBackend([same, same, other, same, same, same, same])
    state = RunState(config=config, samples=[0, 1, 4, 5, 8, 9], sample_groups=[0, 0, 1, 1, 2, 2], n_docs=12)
    update = propose(state, runtime(tmp_path, backend, config))
    # the second group is mended when asked again; the third repeats the first however asked: it is
    # kept (a cluster of the space), numbered, to be told apart as the run stops
    assert [(c.name, c.explanation, c.seeds) for c in update["candidates"]] == [
        ("Same thing", same["explanation"], [0, 1]),
        ("Other", other["explanation"], [4, 5]),
        ("Same thing (2)", same["explanation"], [8, 9]),
    ]
    shown = 'Your first answer explained them as "The text is about the same thing."'
    assert shown in backend.calls[2][1]["content"]
    assert "repeats another cluster's explanation" in backend.calls[5][-1]["content"]
    assert len(backend.calls) == 7
