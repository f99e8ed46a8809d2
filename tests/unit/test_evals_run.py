"""The evals harness: figures against hand-computed values, and the run loop with fakes."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fakes import ScriptedBackend

from agent.llm.helper import LLM
from evals import run, table
from evals.data import LabeledSet, restrict
from evals.llm_methods import llm_classify
from evals.scoring import (
    explanation_quality,
    judge_sample,
    mean_over_seeds,
    members_of,
    score_clustering,
)
from evals.table import means_table, results_table
from evals.task import Outcome, Task, no_llm_cost
from tools.metrics import first_labels

# doc0 in c0; doc1 in c0 and c1; doc2 in c1; doc3 in none
MEMBERS = np.array([[1, 0], [1, 1], [0, 1], [0, 0]], dtype=bool)


def test_labels_and_members_round_trip() -> None:
    assert first_labels(MEMBERS) == [0, 0, 1, -1]
    assert members_of([0, 0, 1, -1]).tolist() == [[1, 0], [1, 0], [0, 1], [0, 0]]
    assert members_of([-1, 0], 3).shape == (2, 3)


def test_clustering_scores_by_hand() -> None:
    gold = {"topic": ["a", "a", "b", "b"], "tone": ["x", "y", "x", "y"]}
    scores = score_clustering(MEMBERS, gold)
    assert scores["coverage"] == 0.75 and scores["overlap"] == 0.25
    assert scores["clusters"] == 2 and scores["unassigned_share"] == 0.25
    # first labels [0, 0, 1, -1]: c0->a holds 2, c1->b holds 1; the unassigned doc is wrong
    assert scores["against"]["topic"]["acc"] == pytest.approx(0.75)
    # vs tone: c0 = {x, y}, c1 = {x}: the best matching gets 2 of 4
    assert scores["against"]["tone"]["acc"] == pytest.approx(0.5)
    assert set(scores["against"]["topic"]) == {"acc", "nmi", "ari"}


def test_explanation_quality_by_hand() -> None:
    right = explanation_quality(MEMBERS, [0, 1, 2, 3], [0, 1, -1, -1])
    # c0: picked once (doc0, a member): P 1, R 1/2; c1: picked once (doc1, a member): P 1, R 1/2
    assert right["precision"] == 1.0 and right["recall"] == 0.5
    assert right["agreement"] == 0.75 and right["judged"] == 4  # doc2 has c1 but got none
    wrong = explanation_quality(MEMBERS, [0, 1, 2, 3], [1, 1, 1, 0])
    # c0: picked for doc3 (not a member): P 0, R 0/2; c1: picked for docs 0-2, members 1, 2: P 2/3, R 1
    assert wrong["precision"] == pytest.approx(1 / 3) and wrong["recall"] == pytest.approx(0.5)
    assert wrong["agreement"] == 0.5


def test_judge_sample_reaches_every_cluster_and_the_unassigned() -> None:
    members = members_of([0] * 20 + [1] * 3 + [-1] * 5)
    rows = judge_sample(members, 6, seed=0)
    assert len(rows) == len(set(rows)) == 6
    labels = [first_labels(members)[r] for r in rows]
    assert {0, 1, -1} <= set(labels)
    assert judge_sample(members, 6, seed=0) == rows
    assert len(judge_sample(members, 100, seed=0)) == 28


def test_mean_over_seeds_keeps_nesting() -> None:
    rows = [
        {"method": "k", "acc": 0.5, "against": {"t": {"nmi": 0.2}}, "explanation": None},
        {"method": "k", "acc": 1.0, "against": {"t": {"nmi": 0.4}}, "explanation": None},
    ]
    mean = mean_over_seeds(rows)
    assert mean["acc"] == 0.75 and mean["against"]["t"]["nmi"] == pytest.approx(0.3)
    assert mean["method"] == "k" and mean["explanation"] is None


def test_restrict_keeps_a_seeded_draw_of_labels() -> None:
    labels = [f"l{i % 10}" for i in range(50)]
    data = LabeledSet("toy", [str(i) for i in range(50)], [f"t{i}" for i in range(50)], {"c": labels}, {})
    kept = restrict(data, "c", 4, seed=3)
    assert len(set(kept.labels["c"])) == 4 and len(kept.ids) == 20
    assert kept.ids == restrict(data, "c", 4, seed=3).ids
    assert restrict(data, "c", 12, seed=3) is data


def toy_task(tmp_path: Path, chat: LLM | None = None) -> Task:
    return Task(
        dataset="toy",
        criterion="topic",
        goal="by topic",
        ids=["a", "b", "c", "d"],
        texts=["card declined", "card refused", "parcel late", "parcel lost"],
        vectors=np.eye(4, dtype=np.float32),
        k=2,
        seed=0,
        llm="scripted",
        out=tmp_path,
        embed_seconds=0.5,
        chat=chat,
    )


def test_llm_classify_labels_merges_then_classifies_each_document(tmp_path: Path) -> None:
    labels = {"clusters": [{"name": "Card", "explanation": "The text is about a card."}]}
    merged = {
        "clusters": [
            {"name": "Card", "explanation": "The text is about a card."},
            {"name": "Parcel", "explanation": "The text is about a parcel."},
        ]
    }
    backend = ScriptedBackend([labels, merged, {"choice": 1}, {"choice": 1}, {"choice": 2}, {"choice": 0}])
    outcome = llm_classify(toy_task(tmp_path, LLM(backend=backend)))
    assert outcome.members.tolist() == [[1, 0], [1, 0], [0, 1], [0, 0]]
    assert [c["name"] for c in outcome.clusters] == ["Card", "Parcel"]
    assert outcome.cost["llm_calls"] == 6 and outcome.cost["prompt_tokens"] == 60
    assert set(outcome.cost["stage_seconds"]) == {"label", "merge", "classify"}


def test_evaluate_scores_a_method_and_judges_its_explanations(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fake_method(task: Task) -> Outcome:
        clusters = [{"name": "Card", "explanation": "card"}, {"name": "Parcel", "explanation": "parcel"}]
        return Outcome(members_of([0, 0, 1, 1]), clusters, no_llm_cost(task.embed_seconds, 0.25))

    monkeypatch.setitem(run.METHODS, "fake", fake_method)
    backend = ScriptedBackend([{"choice": 1}, {"choice": 2}, {"choice": 2}, {"choice": 0}])
    task, args = toy_task(tmp_path, LLM(backend=backend)), argparse.Namespace(judge_samples=4)
    row = run.evaluate(task, "fake", {"topic": ["c", "c", "p", "p"]}, args)
    assert row["against"]["topic"]["acc"] == 1.0 and row["seconds"] == 0.75
    assert row["seconds_per_1k_docs"] == pytest.approx(187.5) and row["llm_calls_per_doc"] == 0
    assert row["explanation"]["agreement"] == 0.5 and row["explanation"]["judge_cost"]["llm_calls"] == 4
    assert [c["size"] for c in row["clusters_found"]] == [2, 2]
    assert "| toy | topic | fake | 4 | 2 / 2 | 1.000 |" in results_table([row])


def test_a_failing_method_is_recorded_and_the_table_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(task: Task) -> Outcome:
        raise RuntimeError("model crashed")

    monkeypatch.setitem(run.METHODS, "broken", broken)
    args = argparse.Namespace(judge_samples=0)
    row = run.evaluate(toy_task(tmp_path), "broken", {"topic": ["c"] * 4}, args)
    assert row["error"] == "RuntimeError: model crashed"
    assert "failed: RuntimeError: model crashed" in results_table([row])


def test_the_means_table_averages_seeds_first_then_tasks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def row(dataset: str, criterion: str, seed: int, acc: float, calls_per_doc: float) -> dict[str, Any]:
        own = {"acc": acc, "nmi": acc / 2, "ari": 0.0}
        return {
            "dataset": dataset, "criterion": criterion, "method": "m", "seed": seed,
            "against": {criterion: own}, "coverage": 1.0, "unassigned_share": 0.0,
            "llm_calls_per_doc": calls_per_doc, "seconds_per_1k_docs": 10.0, "n": 4, "k_gold": 2,
            "clusters": 2, "overlap": 0.0, "llm_calls": 4 * calls_per_doc, "tokens_per_doc": 0.0,
            "seconds": 0.04,
        }  # fmt: skip

    # task a: seeds average to ACC 0.5; task b: ACC 1.0; a failed run counts for nothing
    rows = [row("a", "x", 0, 0.4, 1.0), row("a", "x", 1, 0.6, 3.0), row("b", "y", 0, 1.0, 0.0)]
    rows.append({"dataset": "c", "criterion": "z", "method": "m", "seed": 0, "error": "E: boom"})
    assert "| m | 2 | 0.750 | 0.375 | 0.000 | 1.00 | 0.00 | 1.00 | 10 |" in means_table(rows)
    (tmp_path / "results.json").write_text(json.dumps({"rows": rows}))
    assert table.main(argparse.Namespace(results=[tmp_path])) == 0  # `python -m evals table DIR`
    assert capsys.readouterr().out.strip() == results_table(rows)
    assert means_table(rows) in results_table(rows)
    (tmp_path / "more").mkdir()  # several runs' rows together
    (tmp_path / "more" / "results.json").write_text(json.dumps({"rows": rows[:1]}))
    assert table.main(argparse.Namespace(results=[tmp_path / "results.json", tmp_path / "more"])) == 0
    assert capsys.readouterr().out.strip() == results_table([*rows, rows[0]])


def test_unknown_datasets_and_criteria_are_named(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="no dataset 'nope'"):
        run.runs_wanted(tmp_path, "nope")
    data = LabeledSet("toy", ["a"], ["t"], {"topic": ["x"]}, {"topic": "by topic"})
    assert run.goal_criteria(data, None) == ["topic"]
    with pytest.raises(SystemExit, match="has no criterion 'tone'"):
        run.goal_criteria(data, "tone")


def test_discovery_scoring_finds_the_best_match_per_gold_criterion() -> None:
    from evals.discover import score
    from goalcluster.criteria import DiscoveredCriterion, Discovery

    gold = {"topic": ["a", "a", "b", "b"], "tone": ["x", "y", "x", "y"]}
    found = Discovery(
        folder="f",
        criteria=[
            DiscoveredCriterion(name="subject", goal="", labels=[0, 0, 1, 1]),
            DiscoveredCriterion(name="noise", goal="", labels=[0, 0, 0, 1]),
            DiscoveredCriterion(name="dropped", goal="", labels=[0, 1, 0, 1], kept=False),
        ],
    )
    result = score(gold, found, threshold=0.5)
    assert result["best"]["topic"] == {"criterion": "subject", "nmi": 1.0}
    assert result["best"]["tone"]["criterion"] in ("subject", "noise") and result["best"]["tone"]["nmi"] < 0.5
    assert result["recovered"] == 1 and result["spurious"] == ["noise"]  # the dropped one is not counted
