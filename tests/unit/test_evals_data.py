from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

import pytest
from fakes import FakeEmbedder, FakeHiddenStates, ScriptedBackend

from agent.llm.helper import LLM
from evals.data import discover, load_set, stratified


def make_set(root: Path) -> Path:
    folder = root / "toy"
    folder.mkdir(parents=True)
    rows = [
        {"id": f"d{i}", "text": f"text {i}", "labels": {"topic": "ab"[i % 2], "tone": "xyz"[i % 3]}}
        for i in range(30)
    ]
    (folder / "data.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    (folder / "goals.json").write_text(json.dumps({"goals": {"topic": "by topic", "tone": "by tone"}}))
    return root


def test_datasets_are_discovered_with_every_criterion(tmp_path: Path) -> None:
    root = make_set(tmp_path)
    assert discover(root) == ["toy"]
    data = load_set(root, "toy")
    assert set(data.labels) == {"topic", "tone"} and data.goals["tone"] == "by tone"
    assert data.labels["topic"][:3] == ["a", "b", "a"] and len(data.ids) == 30


def test_stratified_sample_is_balanced_and_seeded(tmp_path: Path) -> None:
    data = load_set(make_set(tmp_path), "toy")
    sample = stratified(data, "tone", 12, seed=1)
    assert Counter(sample.labels["tone"]) == {"x": 4, "y": 4, "z": 4}
    assert sample.ids == stratified(data, "tone", 12, seed=1).ids
    assert stratified(data, "tone", 12, seed=2).ids != sample.ids
    assert all(data.texts[data.ids.index(i)] == t for i, t in zip(sample.ids, sample.texts, strict=True))


def test_shared_syngoalex_has_three_goals(shared_data: Path) -> None:
    data = load_set(shared_data, "syngoalex")
    assert set(data.goals) == {"topic", "language", "style"} and len(data.ids) == 1024


def test_growth_exponent_of_a_linear_and_a_quadratic_stage() -> None:
    from evals.scale import growth_exponent

    rows = [
        {"n": n, "seconds": {"a": n / 1000, "b": (n / 1000) ** 2}, "total_seconds": n / 100}
        for n in (1000, 4000, 16000)
    ]
    assert round(growth_exponent(rows, "a"), 6) == 1.0
    assert round(growth_exponent(rows, "b"), 6) == 2.0
    assert round(growth_exponent(rows, "total"), 6) == 1.0


def test_the_stage_meter_gives_each_stage_its_own_peak_memory() -> None:
    from evals.scale import StageMeter

    meter = StageMeter()
    with meter.stage("big"):
        block = bytearray(200 * 1024 * 1024)  # 200 MB, touched
        block[::4096] = b"x" * len(block[::4096])
        del block
    with meter.stage("small"):
        sum(range(1000))
    assert meter.peak_mb["big"] - meter.peak_mb["small"] > 150  # the small stage's peak was reset
    assert set(meter.seconds) == {"big", "small"}


def test_scale_times_every_stage_and_counts_the_agents_calls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from evals import scale
    from goalcluster.results import ClusteringResult

    asked: list[int] = []

    def fake_cluster(texts: list[str], **kwargs: object) -> ClusteringResult:
        asked.append(len(texts))
        assert kwargs["use_cache"] is False  # cached answers would hide calls
        assert kwargs["store"] != kwargs.get("home")  # a fresh store: the goal view is computed in the run
        view = {"kind": "goal", "aspect": "topic", "chosen_by": "notes", "sampled": None}
        metrics = {"llm_calls": 10 + len(texts) // 4, "prompt_tokens": 100, "completion_tokens": 20,
                   "seconds": 1.5, "iterations": 2, "stop_reason": "goals_met", "view": view,
                   "stage_seconds": {"view": 0.5}}  # fmt: skip
        return ClusteringResult(run_dir="x", clusters=[], assignments=[], metrics=metrics)

    monkeypatch.setattr(scale, "POOL", ("toy",))
    monkeypatch.setattr(scale, "make_embedder", lambda name: FakeEmbedder())
    monkeypatch.setattr(scale.goalcluster, "cluster", fake_cluster)
    args = argparse.Namespace(
        data_dir=str(make_set(tmp_path / "data")), sizes="8,16", llm_sizes="8,20", llm="fake",
        embedder="fake", seed=0, out=tmp_path / "out", verbose=False, view="auto", goal_view_sample=None,
        held_out=300, executor="local", store=None,
    )  # fmt: skip
    assert scale.main(args) == 0
    figures = json.loads((tmp_path / "out" / "scale.json").read_text())
    assert [row["n"] for row in figures["rows"]] == [8, 16] and asked == [8, 20]
    assert set(figures["rows"][0]["seconds"]) == {"load", "embed", "cluster", "assign", "select"}
    stages = {"load", "embed", "cluster", "assign", "select"}
    assert set(figures["exponents"]["local"]) == stages | {"total", "peak_rss_mb"}
    assert set(figures["rows"][0]["peak_mb"]) == stages  # memory per stage, each its own peak
    assert all(0 < mb <= figures["rows"][0]["peak_rss_mb"] for mb in figures["rows"][0]["peak_mb"].values())
    assert {row["executor"] for row in figures["rows"]} == {"local"}
    assert [row["llm_calls_per_doc"] for row in figures["llm_rows"]] == [1.5, 0.75]
    assert "| 20 | goal (topic) | 15 | 0.75 | 120 | 0.5 |" in capsys.readouterr().out
    assert figures["llm_rows"][0]["checkpoint"] is None  # the fake run wrote none


def test_discover_eval_scores_each_dataset_and_writes_its_figures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from evals import discover
    from goalcluster.criteria import DiscoveredCriterion, Discovery

    def fake_discover(texts: list[str], **kwargs: object) -> Discovery:
        assert kwargs["use_cache"] is False and kwargs["max_criteria"] == 3
        # "subject" splits the texts exactly as their gold topic does (text i has topic "ab"[i % 2])
        subject = [int(text.split()[1]) % 2 for text in texts]
        criteria = [
            DiscoveredCriterion(name="subject", goal="by subject", labels=subject),
            DiscoveredCriterion(name="length", goal="by length", labels=[0] * len(texts), kept=False,
                                dropped_because="one cluster holds 100% of the texts"),
        ]  # fmt: skip
        return Discovery(folder=str(kwargs["out"]), criteria=criteria, llm_calls=7, seconds=2.0)

    monkeypatch.setattr(discover.goalcluster, "discover", fake_discover)
    args = argparse.Namespace(
        data_dir=str(make_set(tmp_path / "data")), datasets="toy", criteria="topic,tone", n=12,
        max_criteria=3, threshold=0.3, llm="fake", seed=0, out=tmp_path / "out", verbose=False,
    )  # fmt: skip
    assert discover.main(args) == 0
    row = json.loads((tmp_path / "out" / "discover.json").read_text())["rows"][0]
    assert row["best"]["topic"] == {"criterion": "subject", "nmi": 1.0} and row["recovered"] == 1
    assert row["spurious"] == [] and row["criteria"][1]["dropped_because"].startswith("one cluster")
    assert "| subject, length (dropped) | tone: subject 0.10; topic: subject 1.00 | 1 of 2 | 0 | 7 | 2 |" in (
        capsys.readouterr().out
    )


def test_views_eval_scores_both_spaces_per_task(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from evals import views

    root = tmp_path / "data"
    folder = root / "tagged"
    folder.mkdir(parents=True)
    tone = ["xy"[i // 10] for i in range(20)]  # the words say another thing; only a tag says the tone
    words = [" ".join([["alpha", "beta"][i % 2]] * 6) for i in range(20)]
    rows = [
        {"id": f"d{i}", "text": f"{words[i]} tone={tone[i]} no {i}", "labels": {"tone": tone[i]}}
        for i in range(20)
    ]
    (folder / "data.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    (folder / "goals.json").write_text(json.dumps({"goals": {"tone": "by tone"}}))
    hidden = FakeHiddenStates()
    monkeypatch.setattr(views, "make_hidden_states", lambda *a: hidden)
    monkeypatch.setattr(views, "make_embedder", lambda name: FakeEmbedder())
    monkeypatch.setattr(views, "build_llm", lambda *a, **k: LLM(ScriptedBackend([{"aspect": "tone"}])))
    args = argparse.Namespace(
        data_dir=str(root), datasets="tagged", n=20, max_labels=8, llm="fake", aspect="", seed=0,
        out=tmp_path / "out", prompts="goal_view,goal_view_text_first",
    )  # fmt: skip
    assert views.main(args) == 0
    row = json.loads((tmp_path / "out" / "views.json").read_text())["rows"][0]
    assert row["task"] == "tagged:tone" and row["aspect"] == "tone" and row["k"] == 2
    for prompt in ("goal_view", "goal_view_text_first"):  # each prompt's view, side by side
        assert row["scores"][prompt]["nmi"] == 1.0 > row["scores"]["semantic"]["nmi"]
        assert row["goal_view_s_per_doc"][prompt] >= 0
    assert len(hidden.prompts) == 41  # the warm-up and each document once per prompt
    assert sum(p.startswith("<|im_start|>user\nWhat is the tone") for p in hidden.prompts) == 20
    assert "| tagged:tone | 20 | 2 | tone |" in capsys.readouterr().out


def test_scale_measures_what_an_extended_goal_view_loses_on_held_out_documents(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fakes import answer_by_prompt

    from agent.config import Config
    from agent.state import ViewChoice
    from agent.workspace import build_workspace, read_run_files
    from evals import scale
    from goalcluster.runner import start_run
    from tools.corpus import Corpus

    tone = ["xy"[i % 2] for i in range(60)]  # only a tag says the tone; the words are noise
    texts = [f"word{i % 7} other{i % 5} tone={tone[i]}" for i in range(60)]
    corpus = Corpus(ids=[f"d{i}" for i in range(60)], texts=texts, name="tones")
    config = Config(home=tmp_path / "home", goal="by tone", view="goal", aspect="tone", goal_view_sample=20,
                    max_clusters=2, assign_mode="embeddings", spot_checks=0, use_cache=False)  # fmt: skip
    run_dir = tmp_path / "run"
    backend = ScriptedBackend([answer_by_prompt(aspect="tone", reads="tone")] * 50)
    start_run(
        corpus,
        config,
        run_dir,
        backend=backend,
        embedder=FakeEmbedder(),
        hidden=FakeHiddenStates(),
        quiet=True,
    )
    hidden = FakeHiddenStates()

    def reopen(folder: str, quiet: bool = False) -> object:
        stored, name, ids, stored_texts = read_run_files(Path(folder))
        return build_workspace(stored, Path(folder), name, ids, stored_texts, quiet=True, backend=backend,
                               embedder=FakeEmbedder(), hidden=hidden)  # fmt: skip

    monkeypatch.setattr(scale, "open_workspace", reopen)
    view = ViewChoice.model_validate(json.loads((run_dir / "metrics.json").read_text())["view"])
    assert view.sampled == 20
    stored = scale.checkpoint_sizes(run_dir / "checkpoint.sqlite")
    assert stored is not None and stored["steps"] > 5 and 0 < stored["largest_step_bytes"] < 20_000
    lost = scale.extension_quality(run_dir, view, tone, argparse.Namespace(seed=0, held_out=15))
    assert lost["held_out"] == 15 and len(hidden.prompts) == 15  # only the held-out went through the view
    assert lost["full_vs_gold"]["nmi"] == 1.0 and lost["extended_vs_full_nmi"] == 1.0


def test_goalsteer_runs_each_goal_in_each_view_side_by_side(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from evals import goalsteer
    from goalcluster.results import Cluster, ClusteringResult, DocumentAssignment

    asked: list[tuple[str, int]] = []

    def fake_cluster(texts: list[str], **kwargs: object) -> ClusteringResult:
        view = str(kwargs["view"])
        asked.append((view, int(kwargs["max_clusters"])))  # type: ignore[call-overload]
        assert kwargs["use_cache"] is False and kwargs["store"] != kwargs.get("home")
        by = 2 if view == "auto" else 3  # the "auto" run finds the topic (i % 2), the other the tone (i % 3)
        ids = [str(kwargs["ids"][i]) for i in range(len(texts))]  # type: ignore[index]
        assignments = [
            DocumentAssignment(id=d, cluster_ids=[f"c{i % by}"], confidence=1.0, decided_by="embeddings")
            for i, d in enumerate(ids)
        ]
        clusters = [
            Cluster(
                id=f"c{j}",
                name=f"n{j}",
                explanation="e",
                size=1,
                share=0.1,
                precision=None,
                representatives=[],
            )
            for j in range(by)
        ]
        space = {"kind": "goal" if view == "auto" else "semantic", "aspect": "topic"}
        metrics = {"coverage": 1.0, "overlap": 0.0, "clusters": by, "llm_calls": 5, "prompt_tokens": 1,
                   "completion_tokens": 1, "stop_reason": "targets_met", "view": space}  # fmt: skip
        return ClusteringResult(run_dir="x", clusters=clusters, assignments=assignments, metrics=metrics)

    monkeypatch.setattr(goalsteer.goalcluster, "cluster", fake_cluster)
    args = argparse.Namespace(
        data_dir=str(make_set(tmp_path / "data")), dataset="toy", goals="topic", n=30, seed=0, llm="fake",
        max_clusters=None, max_iterations=1, views="auto,semantic", verbose=False, out=tmp_path / "out",
    )  # fmt: skip
    assert goalsteer.main(args) == 0
    assert asked == [("auto", 2), ("semantic", 2)]  # at most the goal's number of gold labels
    rows = json.loads((tmp_path / "out" / "goalsteer.json").read_text())["rows"]
    assert [(r["view"], r["against"]["topic"]["nmi"]) for r in rows] == [("auto", 1.0), ("semantic", 0.0)]
    out = capsys.readouterr().out
    assert "| topic | auto | goal (topic) |" in out and "| topic | semantic | semantic |" in out


def test_scale_draws_distinct_texts_past_the_pools_size() -> None:
    from evals.scale import draw

    pool, labels = [f"text {i}" for i in range(10)], [f"l{i % 3}" for i in range(10)]
    few, few_labels = draw(4, pool, labels, seed=0)
    assert (
        len(set(few)) == 4
        and set(few) <= set(pool)
        and all(labels[pool.index(t)] == y for t, y in zip(few, few_labels, strict=True))
    )
    many, many_labels = draw(60, pool, labels, seed=0)
    assert len(many) == len(set(many)) == len(many_labels) == 60 and many[:10] == pool
    joined = many[10]
    assert joined.count("text") == 2 and many_labels[10] == labels[pool.index(" ".join(joined.split()[:2]))]
