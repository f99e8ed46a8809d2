"""The working space: the goal view, its choice by pair questions, and assignment by prototypes,
with the scripted LLM, the fake embedder and fake hidden states at the project's seams."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from fakes import FakeEmbedder, FakeHiddenStates, ScriptedBackend, answer_by_prompt

from agent.config import Config
from agent.llm.helper import LLM
from agent.views import NotesView
from goalcluster.results import ClusteringResult
from goalcluster.runner import resume_run, start_run
from tools.corpus import Corpus
from tools.metrics import hungarian_accuracy

TOPICS = {
    "card": "card payment declined refused shop",
    "parcel": "parcel delivery late courier never arrived",
    "password": "password reset login account locked",
}
LANGUAGES = ("es", "de", "fr")


def crossed(per_cell: int = 4) -> tuple[Corpus, dict[str, list[str]]]:
    """Texts whose words are about a topic and whose tag says their language (3 x 3 crossed)."""
    ids, texts, gold = [], [], {"topic": [], "language": []}
    for (topic, words), language, i in itertools.product(TOPICS.items(), LANGUAGES, range(per_cell)):
        ids.append(f"{topic}-{language}-{i}")
        texts.append(f"{words} number {i} language={language}")
        gold["topic"].append(topic)
        gold["language"].append(language)
    return Corpus(ids=ids, texts=texts, name="crossed"), gold


def config(tmp_path: Path, **overrides: object) -> Config:
    base = {
        "home": tmp_path / "home",
        "goal": "Group the texts by the language they are written in",
        "min_clusters": 2,
        "max_clusters": 3,
        "assign_mode": "embeddings",
        "spot_checks": 1,
        "use_cache": False,
        "view_probe": 27,
    }
    return Config.model_validate({**base, **overrides})


def run(
    tmp_path: Path, name: str, reads: str, hidden: FakeHiddenStates, **overrides: object
) -> tuple[ClusteringResult, ScriptedBackend]:
    corpus, _ = crossed()
    fake = ScriptedBackend([answer_by_prompt(aspect="language", reads=reads)] * 300)
    result = start_run(
        corpus,
        config(tmp_path, **overrides),
        tmp_path / name,
        backend=fake,
        embedder=FakeEmbedder(),
        hidden=hidden,
        quiet=True,
    )
    return result, fake


def test_notes_by_language_choose_the_goal_view_and_the_clusters_follow(tmp_path: Path) -> None:
    hidden = FakeHiddenStates()
    result, fake = run(tmp_path, "run", "language", hidden)
    _, gold = crossed()
    view = result.metrics["view"]
    assert view["kind"] == "goal" and view["aspect"] == "language" and view["chosen_by"] == "notes"
    assert view["agreement"]["goal"] > view["agreement"]["semantic"] and view["notes"] == 27
    assert hungarian_accuracy(gold["language"], result.labels()) == 1.0
    assert sorted(c.name for c in result.clusters) == ["De", "Es", "Fr"]
    assert result.metrics["coverage"] == 1.0 and result.metrics["assign_by"] == "prototypes"
    assert len(hidden.prompts) == 36  # every document once: the probe's were reused from the store
    asked = [c[1]["content"] for c in fake.calls]
    assert sum("What is the language of this text?" in c for c in asked) == 27  # one note per probe text


def test_notes_by_topic_keep_the_semantic_view(tmp_path: Path) -> None:
    hidden = FakeHiddenStates()
    result, _ = run(tmp_path, "run", "", hidden)  # the model reads each text's first word: its topic
    _, gold = crossed()
    view = result.metrics["view"]
    assert view["kind"] == "semantic" and view["agreement"]["semantic"] > view["agreement"]["goal"]
    assert hungarian_accuracy(gold["topic"], result.labels()) == 1.0
    assert len(hidden.prompts) == 27  # only the probe sample went through the goal view


def test_goal_view_vectors_are_kept_per_aspect_and_reused(tmp_path: Path) -> None:
    first = FakeHiddenStates()
    run(tmp_path, "a", "language", first, view="goal")
    again = FakeHiddenStates()
    result, _ = run(tmp_path, "b", "language", again, view="goal")
    assert len(first.prompts) == 36 and again.prompts == []  # same aspect, same home: nothing recomputed
    assert result.metrics["view"]["chosen_by"] == "config"
    other = FakeHiddenStates()
    run(tmp_path, "c", "language", other, view="goal", aspect="topic")
    assert len(other.prompts) == 36 and "What is the topic of the text below?" in other.prompts[0]


def test_a_goal_view_run_resumes_in_its_working_space(tmp_path: Path) -> None:
    corpus, gold = crossed()
    hidden = FakeHiddenStates()
    short = ScriptedBackend(
        [answer_by_prompt(aspect="language", reads="language")] * 29
    )  # dies after the view
    with pytest.raises(AssertionError, match="unexpected LLM call"):
        start_run(
            corpus,
            config(tmp_path),
            tmp_path / "run",
            backend=short,
            embedder=FakeEmbedder(),
            hidden=hidden,
            quiet=True,
        )
    assert not (tmp_path / "run" / "metrics.json").exists()
    resumed_hidden = FakeHiddenStates()
    rest = ScriptedBackend([answer_by_prompt(aspect="language", reads="language")] * 300)
    result = resume_run(
        tmp_path / "run", backend=rest, embedder=FakeEmbedder(), hidden=resumed_hidden, quiet=True
    )
    assert result.metrics["view"]["kind"] == "goal" and resumed_hidden.prompts == []
    assert hungarian_accuracy(gold["language"], result.labels()) == 1.0


def test_goal_view_sample_extends_the_view_to_every_document(tmp_path: Path) -> None:
    hidden = FakeHiddenStates()
    result, _ = run(tmp_path, "run", "language", hidden, view="goal", goal_view_sample=18)
    _, gold = crossed()
    assert result.metrics["view"]["sampled"] == 18 and len(hidden.prompts) == 18
    assert hungarian_accuracy(gold["language"], result.labels()) >= 0.9


def test_semantic_view_alone_means_the_behaviour_before_goal_views(tmp_path: Path) -> None:
    assert Config(view="semantic").assign_by == "explanations"
    assert Config(view="semantic", assign_by="prototypes").assign_by == "prototypes"
    assert Config().view == "auto" and Config().assign_by == "prototypes"


def test_notes_view_embeds_the_llms_notes_for_models_without_hidden_states() -> None:
    backend = ScriptedBackend([{"value": "Spanish"}, {"value": "German"}, {"value": "Spanish"}])
    view = NotesView(LLM(backend), FakeEmbedder(), "language", "by language")
    vectors = view.embed(["hola amigo", "hallo freund", "buenos dias"])
    assert len(backend.calls) == 3 and "language" in view.name
    assert float(vectors[0] @ vectors[2]) == pytest.approx(1.0) and float(vectors[0] @ vectors[1]) < 0.9


def test_a_budget_too_small_to_measure_says_so_and_stops_cleanly(tmp_path: Path) -> None:
    hidden = FakeHiddenStates()
    result, fake = run(tmp_path, "run", "language", hidden, budget_calls=5)
    view = result.metrics["view"]
    assert view["chosen_by"] == "budget" and view["notes"] == 4 and len(fake.calls) == 5
    assert result.metrics["stop_reason"] in {"budget_exhausted", "no_candidates"}
    assert (tmp_path / "run" / "metrics.json").exists()
