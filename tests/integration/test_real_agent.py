"""The whole agent on a small real sample, with the real packaged 0.5B model and MiniLM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import goalcluster
from tools.corpus import load_corpus, sample_corpus

pytestmark = pytest.mark.real
GOALCLUSTER = str(Path(sys.executable).parent / "goalcluster")
KILL_AFTER = 12  # LLM calls finished before the run is killed


def run_trace(run_dir: Path) -> list[dict[str, Any]]:
    """The records of a run's LLM trace, in order."""
    return [json.loads(line) for line in (run_dir / "trace.jsonl").read_text().splitlines()]


def test_cli_run_killed_part_way_resumes_without_asking_again(
    tmp_path: Path, shared_data: Path, fresh_home: Path
) -> None:
    data = shared_data / "banking77" / "data.jsonl"
    env = {**os.environ, "GOALCLUSTER_HOME": str(fresh_home)}
    run_dir = tmp_path / "run"
    command = [
        GOALCLUSTER,
        "run",
        str(data),
        "--sample",
        "40",
        "--llm",
        "llamacpp:small",
        "--max-clusters",
        "4",
        "--max-iterations",
        "1",
        "--goal",
        "group the messages by what the customer wants the bank to do",
        "--out",
        str(run_dir),
    ]
    killed = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    trace = run_dir / "trace.jsonl"
    deadline = time.monotonic() + 900
    while killed.poll() is None and time.monotonic() < deadline and _lines(trace) < KILL_AFTER:
        time.sleep(0.2)
    killed.kill()  # SIGKILL part-way: no handler runs, no file is closed cleanly
    assert killed.wait() == -signal.SIGKILL and not (run_dir / "metrics.json").exists()
    done = subprocess.run(
        [GOALCLUSTER, "resume", str(run_dir)], capture_output=True, text=True, env=env, timeout=1200
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "coverage" in done.stdout and "stopped" in done.stdout
    records = [json.loads(line) for line in trace.read_text().splitlines()]
    asked = [json.dumps(r["messages"]) for r in records if "messages" in r and not r["cached"]]
    assert len(asked) == len(set(asked))  # no call finished before the kill was made again
    assert sum(r.get("cached", False) for r in records) >= KILL_AFTER - 2  # they were replayed instead
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["llm_calls"] == len(asked)
    assert metrics["documents"] == 40 and metrics["llm_calls"] >= 1 and metrics["prompt_tokens"] > 0
    assert 0.0 <= metrics["coverage"] <= 1.0 and 0.0 <= metrics["overlap"] <= 1.0
    assert metrics["stop_reason"] in {"targets_met", "max_iterations"}
    clusters = json.loads((run_dir / "clusters.json").read_text())
    assert clusters and all(c["name"] and c["explanation"] for c in clusters)
    # Each explanation checked as a classifier by the real model: inside its cluster and outside.
    checks = metrics["explanations"]["clusters"]
    assert set(checks) == {c["id"] for c in clusters}
    assert "explanations checked outside their clusters" in done.stderr
    figures = [x for c in checks.values() for x in (c["precision"], c["recall"]) if x is not None]
    assert all(0 <= x <= 1 for x in figures)
    # Recall is undefined (None) only where the model found the explanation fits nothing, in or out.
    assert all(c["recall"] is None or (c["recall"] > 0) == (c["precision"] > 0) for c in checks.values())
    rows = [json.loads(line) for line in (run_dir / "assignments.jsonl").read_text().splitlines()]
    assert len(rows) == 40 and {r["id"] for r in rows} <= {json.loads(x)["id"] for x in data.open()}
    covered = sum(1 for r in rows if r["cluster_ids"]) / len(rows)
    assert covered == pytest.approx(metrics["coverage"])


def _lines(path: Path) -> int:
    return path.read_text().count("\n") if path.exists() else 0


def test_python_api_on_a_real_sample(tmp_path: Path, shared_data: Path, fresh_home: Path) -> None:
    corpus = sample_corpus(load_corpus(shared_data / "trec" / "data.jsonl"), 30, seed=1)
    result = goalcluster.cluster(
        corpus.texts,
        ids=corpus.ids,
        goal="group the questions by what kind of answer they expect",
        llm="llamacpp:small",
        out=tmp_path / "run",
        home=fresh_home,
        max_iterations=1,
        max_clusters=4,
        spot_checks=1,
    )
    assert isinstance(result, goalcluster.ClusteringResult)
    assert len(result.assignments) == 30 and result.clusters
    assert sum(c.size for c in result.clusters) >= result.metrics["coverage"] * 30 - 1e-9
    assert (tmp_path / "run" / "checkpoint.sqlite").exists()


def test_goalex_mode_asks_the_real_model_about_every_pair(
    tmp_path: Path, shared_data: Path, fresh_home: Path
) -> None:
    corpus = sample_corpus(load_corpus(shared_data / "banking77" / "data.jsonl"), 8, seed=2)
    result = goalcluster.cluster(
        corpus.texts,
        ids=corpus.ids,
        goal="group the messages by what the customer wants",
        llm="llamacpp:small",
        out=tmp_path / "run",
        home=fresh_home,
        assign_mode="goalex",
        max_iterations=1,
        min_clusters=1,
        max_clusters=2,
        spot_checks=0,
        samples_per_proposal=4,
        annotate_samples=False,
    )
    judged = run_trace(tmp_path / "run")
    candidates = result.metrics["history"][0]["proposed"]
    assert sum(r["prompt"] == "judge_membership" for r in judged) == 8 * len(candidates)
    assert all(a.decided_by == "llm" for a in result.assignments)


def test_sharpening_by_contrast_with_the_real_model(
    tmp_path: Path, shared_data: Path, fresh_home: Path
) -> None:
    """The real model contrasts each of two clusters with the other and its answers are judged on
    members it was not shown; a new explanation is kept only where those checks prefer it."""
    corpus = sample_corpus(load_corpus(shared_data / "banking77" / "data.jsonl"), 40, seed=3)
    result = goalcluster.cluster(
        corpus.texts,
        ids=corpus.ids,
        goal="group the messages by what the customer wants the bank to do",
        llm="llamacpp:small",
        out=tmp_path / "run",
        home=fresh_home,
        max_iterations=1,
        min_clusters=2,
        max_clusters=2,
        spot_checks=2,
        sharpen=True,
    )
    records = result.metrics["sharpened"]
    trace = run_trace(tmp_path / "run")
    contrasts = [r for r in trace if r["prompt"] == "contrast"]
    assert len(result.clusters) == 2 and min(c.size for c in result.clusters) >= 7  # both can be contrasted
    assert len(contrasts) >= 2 and len(records) <= 2
    explanation = {c.id: c.explanation for c in result.clusters}
    for record in records:
        old, new = record["old_fit"], record["new_fit"]
        assert all(0 <= x <= 1 for fit in (old, new) if fit for x in fit)
        assert explanation[record["cluster"]] == (record["new"] if record["kept"] else record["old"])
        assert record["kept"] == bool(old and new and new[0] - new[1] > old[0] - old[1])


def test_note_groups_shows_the_real_models_notes_to_the_describe_step(
    tmp_path: Path, shared_data: Path, fresh_home: Path
) -> None:
    """With note_groups, every text a describe prompt shows carries the note the real model wrote on
    that text alone, and the run ends with its clusters."""
    corpus = load_corpus(shared_data / "syngoalex" / "data.jsonl")
    picked = sample_corpus(corpus, 12, seed=1)
    result = goalcluster.cluster(
        picked.texts,
        ids=picked.ids,
        goal="Group the texts by the language they are written in",
        llm="llamacpp:small",
        out=tmp_path / "run",
        home=fresh_home,
        view="semantic",
        assign_by="prototypes",
        max_iterations=1,
        max_clusters=2,
        spot_checks=0,
        samples_per_proposal=4,
        note_groups=True,
    )
    trace = run_trace(tmp_path / "run")
    notes = [json.loads(r["raw"])["value"] for r in trace if r["prompt"] == "annotate" and r.get("raw")]
    described = [r["messages"][-1]["content"] for r in trace if r["prompt"] == "describe_group"]
    assert notes and described
    for prompt in described:
        shown = prompt.split("Texts of the nearest other group")[0].split("The goal of the clustering")[0]
        lines = shown.splitlines()
        texts = [line for line in lines if line[:1].isdigit()]
        noted = [line for line in lines if "read on its own: " in line]
        assert texts and len(noted) == len(texts)
        assert all(line.split("read on its own: ")[1].rstrip(")") in notes for line in noted)
    assert result.clusters
