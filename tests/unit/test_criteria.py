"""Criteria discovery with the scripted fake LLM: parsing, deduplication, weak clusterings, ranking,
cross-tabulation, and the files an end-to-end discovery writes."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fakes import FakeEmbedder, ScriptedBackend, answer_by_prompt, corpus_of_topics

from agent.config import Config
from agent.llm.backends import Message
from agent.schemas import Criteria, Criterion
from goalcluster.cli import main
from goalcluster.criteria import (
    DiscoveredCriterion,
    Discovery,
    crosstab,
    deduplicate,
    discover,
    rank,
    weakness,
)
from goalcluster.results import Cluster, ClusteringResult, DocumentAssignment
from tools.corpus import Corpus

PROPOSED = {
    "criteria": [
        {"name": "Topic", "goal": "Cluster the messages by their topic"},
        {"name": "topic", "goal": "Group by subject"},
        {"name": "Urgency", "goal": "Cluster the messages by how urgent they are"},
    ]
}


def test_criteria_parse_and_near_duplicates_fold() -> None:
    criteria = Criteria.model_validate(PROPOSED).criteria
    mood = Criterion(name="Mood", goal="by the writer's mood")
    # Topic; topic (same name); Urgency (similarity 0.5 to Topic); Mood (0.91 to Urgency, 0.1 to Topic)
    vectors = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, np.sqrt(0.75)], [0.1, np.sqrt(0.99)]])
    folded = deduplicate([*criteria, mood], vectors)
    assert [(c.name, merged) for c, merged in folded] == [("Topic", ["topic"]), ("Urgency", ["Mood"])]


def test_deduplicate_by_similarity() -> None:
    criteria = [Criterion(name=n, goal=f"by {n}") for n in ("sentiment", "opinion", "language")]
    vectors = np.array([[1.0, 0.0], [0.95, np.sqrt(1 - 0.95**2)], [0.0, 1.0]])
    assert [(c.name, m) for c, m in deduplicate(criteria, vectors)] == [
        ("sentiment", ["opinion"]),
        ("language", []),
    ]


def result_with(sizes: list[int], coverage: float) -> ClusteringResult:
    clusters = [
        Cluster(
            id=f"c{j}", name=f"n{j}", explanation="e", size=s, share=0.0, precision=None, representatives=[]
        )
        for j, s in enumerate(sizes)
    ]
    assignments = [
        DocumentAssignment(id=str(i), cluster_ids=[], confidence=0.0, decided_by="embeddings")
        for i in range(100)
    ]
    return ClusteringResult(
        run_dir="x", clusters=clusters, assignments=assignments, metrics={"coverage": coverage}
    )


def test_weak_clusterings_are_named() -> None:
    assert weakness(result_with([90, 10], 1.0), 8) == "one giant cluster (90% of the documents)"
    assert weakness(result_with([100], 1.0), 8) == "fewer than two clusters"
    assert weakness(result_with([30, 10], 0.4), 8) == "coverage 40% is below 50%"
    fragmented = weakness(result_with([60, 30, 2, 2, 2, 1], 0.97), 6)
    assert fragmented == "too fragmented (4 of 6 clusters hold under 3% each)"
    assert weakness(result_with([50, 50], 1.0), 8) == ""


def test_ranking_prefers_distinct_covering_criteria_and_crosstabs_count() -> None:
    a = DiscoveredCriterion(name="a", goal="", coverage=1.0, labels=[0, 0, 1, 1], clusters=["x", "y"])
    b = DiscoveredCriterion(name="b", goal="", coverage=1.0, labels=[0, 1, 0, 1], clusters=["p", "q"])
    c = DiscoveredCriterion(name="c", goal="", coverage=0.5, labels=[0, 0, 1, -1], clusters=["x", "y"])
    d = DiscoveredCriterion(name="d", goal="", kept=False, dropped_because="fewer than two clusters")
    ranked = rank([c, d, a, b])
    assert [x.name for x in ranked][-1] == "d" and ranked[0].name in ("a", "b")
    assert b.distinctness > a.distinctness  # a shares its partition with c; b shares nothing
    table = crosstab(a, c)
    assert table["rows"] == ["x", "y", "(none)"] and table["counts"] == [[2, 0, 0], [0, 1, 1], [0, 0, 0]]


def answers(messages: Sequence[Message], schema: dict[str, Any]) -> dict[str, Any]:
    if "Propose up to" in messages[1]["content"] and "criteria" in messages[1]["content"]:
        return PROPOSED
    return answer_by_prompt()(messages, schema)


def discover_topics(tmp_path: Path, fake: ScriptedBackend, **options: Any) -> Discovery:
    """Discovery on 24 texts of three topics, the semantic view, assignment by embeddings, no cache."""
    ids, texts, _ = corpus_of_topics(8)
    config = Config(
        home=tmp_path / "home", view="semantic", assign_mode="embeddings", annotate_samples=False,
        use_cache=False, **options,
    )  # fmt: skip
    corpus = Corpus(ids=ids, texts=texts, name="topics")
    return discover(corpus, config, tmp_path / "found", backend=fake, embedder=FakeEmbedder())


def test_discovery_writes_an_index_a_report_section_and_a_run_per_criterion(tmp_path: Path) -> None:
    fake = ScriptedBackend([answers] * 300)
    found = discover_topics(tmp_path, fake)
    assert [c.name for c in found.criteria] == ["Topic", "Urgency"]  # "topic" folded into "Topic"
    assert found.criteria[0].merged_with == ["topic"]
    assert all(c.kept and len(c.clusters) == 3 for c in found.criteria)
    assert found.criteria[0].distinctness == pytest.approx(0.0)  # the fake clusters both goals alike
    assert found.crosstabs[0]["nmi"] == pytest.approx(1.0)
    assert found.llm_calls == len(fake.calls)
    index = json.loads((tmp_path / "found" / "criteria.json").read_text())
    assert [c["name"] for c in index["criteria"]] == ["Topic", "Urgency"]
    for criterion in found.criteria:
        assert (Path(criterion.run_dir) / "report.html").exists()
    section = (tmp_path / "found" / "discover.md").read_text()
    assert "# Criteria found" in section and "## Topic × Urgency (NMI 1.00)" in section


def test_discovery_keeps_to_one_budget_for_all_its_runs(tmp_path: Path) -> None:
    """Each criterion's run once started with a fresh budget: budget_calls=3 made 11 calls."""
    fake = ScriptedBackend([answers] * 300)
    found = discover_topics(tmp_path, fake, budget_calls=3)
    assert len(fake.calls) == found.llm_calls == 3
    assert len(found.criteria) == 1  # two proposals and one criterion's proposal, then the budget ended


def test_cli_discover_refuses_a_goal(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "t.txt"
    data.write_text("one\ntwo\nthree\n")
    assert main(["discover", str(data), "--goal", "by topic"]) == 2
    assert "discover finds the goals itself" in capsys.readouterr().err


def test_a_discovery_cut_off_goes_on_where_it_stopped_when_run_again(tmp_path: Path) -> None:
    from agent.llm.backends import BackendError

    ids, texts, _ = corpus_of_topics(8)
    corpus = Corpus(ids=ids, texts=texts, name="topics")
    config = Config(
        home=tmp_path / "home", view="semantic", assign_mode="embeddings", annotate_samples=False,
        spot_checks=0, max_iterations=1,
    )  # fmt: skip
    second_goal = PROPOSED["criteria"][2]["goal"]

    def dies_in_the_second_criterion(messages: Sequence[Message], schema: dict[str, Any]) -> dict[str, Any]:
        if second_goal in messages[1]["content"]:
            raise BackendError("the server went away")
        return answers(messages, schema)

    folder = tmp_path / "found"
    with pytest.raises(BackendError):
        discover(corpus, config, folder, backend=ScriptedBackend([dies_in_the_second_criterion] * 50))
    first_run = folder / "criteria" / "1-topic" / "trace.jsonl"
    calls_before = first_run.read_text().count("\n")
    healthy = ScriptedBackend([answers] * 50)
    found = discover(corpus, config, folder, backend=healthy, embedder=FakeEmbedder())
    assert [c.name for c in found.criteria] == ["Topic", "Urgency"] and all(c.kept for c in found.criteria)
    asked = [m[1]["content"] for m in healthy.calls]
    assert not any("Propose up to" in a and "criteria" in a for a in asked)  # proposals kept, not re-asked
    assert first_run.read_text().count("\n") == calls_before  # the finished run was resumed, not redone
    assert all(second_goal in a for a in asked)  # only the cut-off run asked


def test_discovery_with_levels_builds_a_tree_per_criterion_within_its_one_budget(tmp_path: Path) -> None:
    fake = ScriptedBackend([answers] * 600)
    found = discover_topics(tmp_path, fake, levels=2, min_node_size=6)
    for criterion in found.criteria:
        tree = json.loads((Path(criterion.run_dir) / "tree.json").read_text())
        assert tree["levels"] == 2 and {n["level"] for n in tree["nodes"]} == {1, 2}
    assert found.llm_calls == len(fake.calls)  # the trees' calls are the discovery's
