"""The graph with the scripted fake LLM and the deterministic fake embedder: every route."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fakes import FakeEmbedder, ScriptedBackend, answer_by_prompt, corpus_of_topics

from agent.config import Config
from goalcluster.results import ClusteringResult, summary_table
from goalcluster.runner import RunInputError, start_run
from tools.corpus import Corpus
from tools.metrics import hungarian_accuracy


def topics_corpus(per_topic: int = 12) -> tuple[Corpus, list[str]]:
    ids, texts, gold = corpus_of_topics(per_topic)
    return Corpus(ids=ids, texts=texts, name="topics"), gold


def config(tmp_path: Path, **overrides: object) -> Config:
    base = {
        "home": tmp_path / "home",
        "goal": "why the customer wrote",
        "view": "semantic",
        "min_clusters": 2,
        "max_clusters": 4,
        "assign_mode": "embeddings",
        "spot_checks": 2,
        "use_cache": False,
        "annotate_samples": False,
    }
    return Config.model_validate({**base, **overrides})


def cluster_run(corpus: Corpus, cfg: Config, folder: Path, fake: ScriptedBackend) -> ClusteringResult:
    return start_run(corpus, cfg, folder, backend=fake, embedder=FakeEmbedder(), quiet=True)


def backend(n: int = 200, **kwargs: object) -> ScriptedBackend:
    return ScriptedBackend([answer_by_prompt(**kwargs)] * n)  # type: ignore[arg-type]


def test_targets_met_in_one_round(tmp_path: Path) -> None:
    corpus, gold = topics_corpus()
    fake = backend(judge="words")
    result = cluster_run(corpus, config(tmp_path), tmp_path / "run", fake)
    assert result.metrics["stop_reason"] == "targets_met"
    assert result.metrics["coverage"] >= 0.9 and result.metrics["overlap"] <= 0.1
    assert {c.name for c in result.clusters} == {"Card payments", "Parcel delivery", "Password login"}
    assert hungarian_accuracy(gold, result.labels()) == 1.0
    # One proposal; per cluster two checks of members and, as the run stops, two of other documents.
    assert result.metrics["llm_calls"] == len(fake.calls) == 1 + 3 * 2 + 3 * 2
    assert all(c.precision == 1.0 and c.recall == 1.0 for c in result.clusters)
    checks = result.metrics["explanations"]
    assert checks["precision"] == checks["recall"] == 1.0 and len(checks["clusters"]) == 3
    assert "1.00 / 1.00" in summary_table(result)
    run = tmp_path / "run"
    rows = [json.loads(line) for line in (run / "assignments.jsonl").read_text().splitlines()]
    assert len(rows) == len(corpus) and all(len(r["cluster_ids"]) == 1 for r in rows)
    metrics = json.loads((run / "metrics.json").read_text())
    for key in (
        "coverage",
        "overlap",
        "llm_calls",
        "prompt_tokens",
        "completion_tokens",
        "iterations",
        "stop_reason",
        "seconds",
    ):
        assert key in metrics
    assert (run / "assignments.csv").read_text().startswith("id,cluster_ids,confidence,decided_by")
    assert len((run / "trace.jsonl").read_text().splitlines()) == len(fake.calls)


def test_coverage_short_goes_back_to_propose_on_the_uncovered(tmp_path: Path) -> None:
    corpus, _ = topics_corpus()
    partial = {"clusters": [{"name": "Card payments", "explanation": "card payment declined refused"}]}
    fake = ScriptedBackend([answer_by_prompt(partial)] * 5 + [answer_by_prompt()] * 50)  # type: ignore[list-item]
    result = cluster_run(corpus, config(tmp_path, min_clusters=1), tmp_path / "run", fake)
    history = result.metrics["history"]
    assert history[0]["action"] == "initial" and history[0]["coverage"] < 0.9
    assert history[1]["action"] == "uncovered"
    assert any("texts that no current cluster covers" in c[1]["content"] for c in fake.calls)
    assert result.metrics["stop_reason"] == "targets_met" and result.metrics["coverage"] >= 0.9


def test_overlap_high_sharpens_the_overlapping_clusters(tmp_path: Path) -> None:
    corpus, _ = topics_corpus()
    overlapping = {
        "clusters": [
            {"name": "Card payments", "explanation": "card payment declined refused number"},
            {"name": "Anything numbered", "explanation": "number card payment"},
            {"name": "Parcel delivery", "explanation": "parcel delivery late arrived"},
            {"name": "Password login", "explanation": "password reset login"},
        ]
    }
    fake = ScriptedBackend([answer_by_prompt(overlapping)] * 200)  # type: ignore[list-item]
    result = cluster_run(
        corpus, config(tmp_path, overlap_margin=0.5, max_iterations=2), tmp_path / "run", fake
    )
    history = result.metrics["history"]
    assert history[0]["overlap"] > 0.1
    assert history[1]["action"] == "sharpen"
    assert any("These clusters overlap" in c[1]["content"] for c in fake.calls)
    assert result.metrics["stop_reason"] == "max_iterations"


def test_budget_out_stops_cleanly_with_what_exists(tmp_path: Path) -> None:
    corpus, _ = topics_corpus()
    fake = backend()
    result = cluster_run(corpus, config(tmp_path, budget_calls=2), tmp_path / "run", fake)
    assert result.metrics["stop_reason"] == "budget_exhausted"
    assert len(fake.calls) == 2 and result.metrics["llm_calls"] == 2
    assert result.clusters and (tmp_path / "run" / "clusters.json").exists()


def test_llm_decides_the_uncertain_band_when_the_probe_agrees(tmp_path: Path) -> None:
    corpus, _ = topics_corpus()
    result = cluster_run(
        corpus,
        config(
            tmp_path,
            assign_mode="auto",
            uncertain_band=2.0,
            max_llm_assign=5,
            calibration_probe=3,
            spot_checks=0,
        ),
        tmp_path / "run",
        backend(choice=0),
    )
    probe = result.metrics["llm_assign_probe"]
    assert probe["checked"] == 3 and probe["agreement"] == 0.0 and probe["used"] is False
    assert (probe["llm_wins"], probe["embedding_wins"]) == (0, 3)  # the judge backs the embeddings
    assert result.metrics["llm_decided_documents"] == 0
    forced = cluster_run(
        corpus,
        config(
            tmp_path, assign_mode="llm", uncertain_band=2.0, max_llm_assign=5, spot_checks=0, max_iterations=1
        ),
        tmp_path / "run2",
        backend(choice=0),
    )
    assert forced.metrics["llm_decided_documents"] == 5 and forced.metrics["unassigned"] == 5


def test_goalex_mode_judges_every_pair(tmp_path: Path) -> None:
    corpus, _ = topics_corpus(per_topic=3)
    fake = backend(judge="no")
    result = cluster_run(
        corpus,
        config(tmp_path, assign_mode="goalex", spot_checks=0, max_iterations=1, min_clusters=1),
        tmp_path / "run",
        fake,
    )
    assert len(fake.calls) == 1 + 9 * 3
    assert result.metrics["coverage"] == 0.0 and result.metrics["stop_reason"] == "max_iterations"


def test_bad_requests_are_refused_before_any_work(tmp_path: Path) -> None:
    corpus, _ = topics_corpus(per_topic=1)
    with pytest.raises(RunInputError, match="goal is empty"):
        start_run(
            corpus, config(tmp_path, goal="   "), tmp_path / "a", backend=backend(), embedder=FakeEmbedder()
        )
    with pytest.raises(RunInputError, match=r"3 document\(s\) but 5 cluster"):
        start_run(
            corpus,
            config(tmp_path, min_clusters=5, max_clusters=6),
            tmp_path / "b",
            backend=backend(),
            embedder=FakeEmbedder(),
        )


def test_probe_hands_the_uncertain_band_to_the_llm_when_the_judge_backs_it(tmp_path: Path) -> None:
    corpus, _ = topics_corpus()

    def answer(messages, schema):  # type: ignore[no-untyped-def]
        text = messages[1]["content"]
        if "Which cluster does this text belong to?" in text:
            options = [line for line in text.splitlines() if line[:1].isdigit() and ". " in line]
            return {"choice": next(int(o.split(".")[0]) for o in options if "Password" in o)}
        if "Is the description true of this text?" in text:
            return {"answer": "yes" if "password" in text.split("Text:")[0] else "no"}
        return answer_by_prompt()(messages, schema)

    fake = ScriptedBackend([answer] * 300)
    result = cluster_run(
        corpus,
        config(
            tmp_path,
            assign_mode="auto",
            calibration_probe=6,
            uncertain_band=2.0,
            max_llm_assign=10,
            spot_checks=0,
            max_iterations=1,
        ),
        tmp_path / "run",
        fake,
    )
    probe = result.metrics["llm_assign_probe"]
    assert probe["used"] is True and probe["llm_wins"] > probe["embedding_wins"]
    assert result.metrics["llm_decided_documents"] == 10
    llm_rows = [a for a in result.assignments if a.decided_by == "llm"]
    password = next(c.id for c in result.clusters if c.name == "Password login")
    assert all(a.cluster_ids == [password] for a in llm_rows)


def test_one_repeated_text_is_refused_or_gives_one_cluster(tmp_path: Path) -> None:
    same = Corpus(ids=[str(i) for i in range(20)], texts=["my card was declined"] * 20, name="same")
    with pytest.raises(RunInputError, match=r"only 1 distinct text\(s\) \(of 20 documents\)"):
        start_run(same, config(tmp_path), tmp_path / "a", backend=backend(), embedder=FakeEmbedder())
    one = {"clusters": [{"name": "Card payments", "explanation": "card payment declined refused"}]}
    result = cluster_run(
        same, config(tmp_path, min_clusters=1, max_clusters=1), tmp_path / "b", backend(proposal=one)
    )
    assert [c.size for c in result.clusters] == [20] and result.metrics["coverage"] == 1.0


def test_samples_are_annotated_by_the_goal_before_proposing(tmp_path: Path) -> None:
    corpus, _ = topics_corpus()
    fake = backend()
    cluster_run(
        corpus,
        config(tmp_path, annotate_samples=True, spot_checks=0, samples_per_proposal=5),
        tmp_path / "run",
        fake,
    )
    annotations = [c for c in fake.calls if "In one to four words" in c[1]["content"]]
    proposal = next(c for c in fake.calls if "Propose up to" in c[1]["content"])[1]["content"]
    assert len(annotations) == 5
    assert "marked [in brackets] with its value" in proposal
    first_word = annotations[0][1]["content"].split('Text: "')[1].split()[0]
    assert f"1. [{first_word}] " in proposal
