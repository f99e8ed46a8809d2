"""``python -m evals rejudge``: a finished run's explanations judged again from its run folder, with
a scripted judge."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fakes import ScriptedBackend

from agent.config import Config
from agent.llm.helper import LLM
from agent.workspace import write_run_files
from evals import llm_methods, rejudge, run
from evals.scoring import members_of
from evals.task import Outcome, Task, no_llm_cost
from goalcluster.results import Cluster, ClusteringResult, DocumentAssignment, write_result

IDS = ["a", "b", "c", "d"]
TEXTS = ["card declined", "card refused", "parcel late", "parcel lost"]
CLUSTERS = [("Card", "The request is about a card."), ("Parcel", "The request is about a parcel.")]


def finished_run(folder: Path) -> None:
    """A goalcluster run folder: a and b in Card, c in Parcel, d unassigned."""
    config = Config(home=folder.parent / "home", goal="group the requests by what they are about")
    write_run_files(folder, config, "toy", IDS, TEXTS)
    in_cluster = [["c0"], ["c0"], ["c1"], []]
    result = ClusteringResult(
        run_dir=str(folder),
        clusters=[
            Cluster(
                id=f"c{j}",
                name=name,
                explanation=text,
                size=2 - j,
                share=0.5,
                precision=1.0,
                representatives=[],
            )
            for j, (name, text) in enumerate(CLUSTERS)
        ],
        assignments=[
            DocumentAssignment(id=i, cluster_ids=c, confidence=1.0, decided_by="embeddings")
            for i, c in zip(IDS, in_cluster, strict=True)
        ],
        metrics={"stop_reason": "targets_met"},
    )
    write_result(result, folder)


def evals_results(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An ``evals run`` folder with a goalcluster row (judged badly on 4 documents) whose run folder
    was recorded at another path (the folder moved since), and a baseline row without one."""
    results = tmp_path / "results"
    finished_run(results / "runs" / "toy-topic-goalcluster-0")

    def goalcluster_like(task: Task) -> Outcome:
        clusters = [{"name": name, "explanation": text} for name, text in CLUSTERS]
        details = {"run_dir": "/moved/away/runs/toy-topic-goalcluster-0"}
        return Outcome(members_of([0, 0, 1, -1]), clusters, no_llm_cost(0.5, 0.25), details)

    def baseline(task: Task) -> Outcome:
        return Outcome(members_of([0, 0, 1, 1]), [], no_llm_cost(0.5, 0.25))

    monkeypatch.setitem(run.METHODS, "goalcluster-like", goalcluster_like)
    monkeypatch.setitem(run.METHODS, "baseline", baseline)
    chat = LLM(backend=ScriptedBackend([{"choice": 2}, {"choice": 2}, {"choice": 1}, {"choice": 1}]))
    task = Task("toy", "topic", "by topic", IDS, TEXTS, np.eye(4), 2, 0, "scripted", tmp_path, 0.5, chat=chat)
    gold = {"topic": ["card", "card", "parcel", "parcel"]}
    judged = argparse.Namespace(judge_samples=4)
    rows = [run.evaluate(task, method, gold, judged) for method in ("goalcluster-like", "baseline")]
    (results / "results.json").write_text(json.dumps({"command": "python -m evals run", "rows": rows}))
    return results


def test_rejudge_judges_the_run_folders_explanations_again_and_keeps_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    results = evals_results(tmp_path, monkeypatch)
    backend = ScriptedBackend([{"choice": 1}, {"choice": 1}, {"choice": 2}, {"choice": 0}])
    judge = LLM(backend=backend)
    seen: list[Config] = []

    def build(config: Config, trace_path: Path) -> LLM:
        seen.append(config)
        return judge

    monkeypatch.setattr(llm_methods, "build_llm", build)
    args = argparse.Namespace(results=str(results), judge_samples=4, llm="llamacpp", out=None)
    assert rejudge.main(args) == 0

    figures = json.loads((results / "rejudged.json").read_text())
    again, kept = figures["rows"]
    assert again["explanation"]["precision"] == 1.0 and again["explanation"]["agreement"] == 1.0
    assert again["explanation_before"]["precision"] == 0.0  # the run's own judging, kept beside
    assert again["explanation"]["judge_cost"]["llm_calls"] == 4
    assert kept == json.loads((results / "results.json").read_text())["rows"][1]
    assert figures["rejudged"]["judge_samples"] == 4 and seen[0].use_cache is False
    # the judge read the run folder's goal and texts, and saw explanations, not names
    first = backend.calls[0][-1]["content"]
    assert "group the requests by what they are about" in first and "card declined" in first
    assert "The request is about a parcel." in first and "Parcel" not in first.replace("a parcel", "")
    out = capsys.readouterr().out
    assert "baseline / seed 0: kept as it was" in out and "| 1.00 / 1.00 |" in out
    table = (results / "rejudged.md").read_text()
    assert table.startswith("Explanation P / R judged again on 4 documents by llamacpp")
    assert table.count("| toy | topic |") == 2


def test_rejudge_names_a_folder_that_is_not_an_evals_run(tmp_path: Path) -> None:
    args = argparse.Namespace(results=str(tmp_path), judge_samples=4, llm="llamacpp", out=None)
    with pytest.raises(SystemExit, match=r"has no results\.json: point at the folder"):
        rejudge.main(args)
    args.judge_samples = 0
    with pytest.raises(SystemExit, match="at least 1"):
        rejudge.main(args)


def test_every_row_is_kept_when_no_run_folder_is_left(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    results = evals_results(tmp_path, monkeypatch)
    rows: list[dict[str, Any]] = json.loads((results / "results.json").read_text())["rows"]
    assert rejudge.run_folder(results, rows[0]) == results / "runs" / "toy-topic-goalcluster-0"
    assert rejudge.run_folder(results, rows[1]) is None
    assert rejudge.run_folder(tmp_path / "elsewhere", rows[0]) is None


def test_a_damaged_run_folder_keeps_its_row_and_the_rest_are_judged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    results = evals_results(tmp_path, monkeypatch)
    before = json.loads((results / "results.json").read_text())["rows"]
    folder = results / "runs" / "toy-topic-goalcluster-0"
    lines = (folder / "assignments.jsonl").read_text().splitlines()
    (folder / "assignments.jsonl").write_text("\n".join(lines[:2]) + "\n")  # two documents lost
    monkeypatch.setattr(llm_methods, "build_llm", lambda config, trace_path: LLM(backend=ScriptedBackend()))
    args = argparse.Namespace(results=str(results), judge_samples=4, llm="llamacpp", out=None)
    assert rejudge.main(args) == 0
    assert json.loads((results / "rejudged.json").read_text())["rows"] == before
    assert "does not follow corpus.jsonl" in capsys.readouterr().out
