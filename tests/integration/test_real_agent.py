"""The whole agent on a small real sample, with the real packaged 0.5B model and MiniLM."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import goalcluster
from tools.corpus import load_corpus, sample_corpus

pytestmark = pytest.mark.real
GOALCLUSTER = str(Path(sys.executable).parent / "goalcluster")


def test_cli_run_on_a_real_sample(tmp_path: Path, shared_data: Path) -> None:
    data = shared_data / "banking77" / "data.jsonl"
    env = {**os.environ, "GOALCLUSTER_HOME": str(tmp_path / "home")}
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
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=1200)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "coverage" in done.stdout and "stopped" in done.stdout
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["documents"] == 40 and metrics["llm_calls"] >= 1 and metrics["prompt_tokens"] > 0
    assert 0.0 <= metrics["coverage"] <= 1.0 and 0.0 <= metrics["overlap"] <= 1.0
    assert metrics["stop_reason"] in {"targets_met", "max_iterations"}
    clusters = json.loads((run_dir / "clusters.json").read_text())
    assert clusters and all(c["name"] and c["explanation"] for c in clusters)
    rows = [json.loads(line) for line in (run_dir / "assignments.jsonl").read_text().splitlines()]
    assert len(rows) == 40 and {r["id"] for r in rows} <= {json.loads(x)["id"] for x in data.open()}
    covered = sum(1 for r in rows if r["cluster_ids"]) / len(rows)
    assert covered == pytest.approx(metrics["coverage"])

    again = subprocess.run(
        [GOALCLUSTER, "resume", str(run_dir), "--json"], capture_output=True, text=True, env=env, timeout=600
    )
    assert again.returncode == 0, again.stderr[-3000:]
    assert json.loads(again.stdout)["metrics"]["llm_calls"] == metrics["llm_calls"]  # nothing re-asked


def test_python_api_on_a_real_sample(tmp_path: Path, shared_data: Path) -> None:
    corpus = sample_corpus(load_corpus(shared_data / "trec" / "data.jsonl"), 30, seed=1)
    result = goalcluster.cluster(
        corpus.texts,
        ids=corpus.ids,
        goal="group the questions by what kind of answer they expect",
        llm="llamacpp:small",
        out=tmp_path / "run",
        home=tmp_path / "home",
        max_iterations=1,
        max_clusters=4,
        spot_checks=1,
    )
    assert isinstance(result, goalcluster.ClusteringResult)
    assert len(result.assignments) == 30 and result.clusters
    assert sum(c.size for c in result.clusters) >= result.metrics["coverage"] * 30 - 1e-9
    assert (tmp_path / "run" / "checkpoint.sqlite").exists()


def test_goalex_mode_asks_the_real_model_about_every_pair(tmp_path: Path, shared_data: Path) -> None:
    corpus = sample_corpus(load_corpus(shared_data / "banking77" / "data.jsonl"), 8, seed=2)
    result = goalcluster.cluster(
        corpus.texts,
        ids=corpus.ids,
        goal="group the messages by what the customer wants",
        llm="llamacpp:small",
        out=tmp_path / "run",
        home=tmp_path / "home",
        assign_mode="goalex",
        max_iterations=1,
        min_clusters=1,
        max_clusters=2,
        spot_checks=0,
        samples_per_proposal=4,
        annotate_samples=False,
    )
    judged = [json.loads(line) for line in (tmp_path / "run" / "trace.jsonl").read_text().splitlines()]
    candidates = result.metrics["history"][0]["proposed"]
    assert sum(r["prompt"] == "judge_membership" for r in judged) == 8 * len(candidates)
    assert all(a.decided_by == "llm" for a in result.assignments)
