"""A smoke-sized `python -m evals run` (64 documents) with every method, the real 0.5B model and
MiniLM: every figure is present and in range; then `python -m evals rejudge` on its folder. It
asserts no quality threshold."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from evals.run import METHODS, PER_DOCUMENT_LLM

pytestmark = pytest.mark.real
UNIT = ("coverage", "overlap", "unassigned_share", "llm_calls_per_doc")
# Every method but goalcluster-sharpen, goalcluster-semantic and goalex (goalcluster with the
# contrast step, with the semantic view, and asking about every document-explanation pair:
# test_real_agent's sharpening and goalex-mode tests and the LangGraph server's test run those with
# the real model): CI's time limit (goalex alone took 264 s of this test's 870 s in CI).
SKIPPED = ("goalcluster-sharpen", "goalcluster-semantic", "goalex")
SMOKED = tuple(m for m in METHODS if m not in SKIPPED)


def test_smoke_eval_reports_every_figure(tmp_path: Path, shared_data: Path, fresh_home: Path) -> None:
    out = tmp_path / "evals"
    command = [
        sys.executable,
        "-m",
        "evals",
        "run",
        "--data-dir",
        str(shared_data),
        "--datasets",
        "syngoalex:topic",
        "--n",
        "64",
        "--llm-n",
        "8",
        "--llm",
        "llamacpp:small",
        "--methods",
        ",".join(SMOKED),
        "--budget-calls",
        "90",
        "--judge-samples",
        "4",
        "--out",
        str(out),
    ]
    env = {**os.environ, "GOALCLUSTER_HOME": str(fresh_home)}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=1800)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((out / "results.json").read_text())
    assert report["cpus"] >= 1 and report["versions"]["goalcluster"] and report["date"]
    rows = {row["method"]: row for row in report["rows"]}
    assert set(rows) == set(SMOKED)
    for method, row in rows.items():
        assert "error" not in row, row
        assert row["n"] == (8 if method in PER_DOCUMENT_LLM else 64)
        for criterion in ("topic", "language", "style"):
            scores = row["against"][criterion]
            assert 0 <= scores["acc"] <= 1 and 0 <= scores["nmi"] <= 1 and -1 <= scores["ari"] <= 1
        assert all(0 <= row[key] <= (1 if key != "llm_calls_per_doc" else 90) for key in UNIT)
        assert row["clusters"] >= 0 and row["k_gold"] == 4
        assert row["seconds"] > 0 and row["seconds_per_1k_docs"] > 0 and row["peak_rss_mb"] > 0
        assert set(row["stage_seconds"]) and all(v >= 0 for v in row["stage_seconds"].values())
        uses_llm = method.startswith("goalcluster") or method in PER_DOCUMENT_LLM
        assert (row["llm_calls"] > 0) == uses_llm and (row["prompt_tokens"] > 0) == uses_llm
        assert row["completion_tokens"] >= 0
        if row["clusters_found"] and row["explanation"]:
            quality = row["explanation"]
            assert 0 <= quality["precision"] <= 1 and 0 <= quality["recall"] <= 1
            assert 1 <= quality["judged"] <= 4 and quality["judge_cost"]["llm_calls"] >= quality["judged"]
    assert rows["goalcluster"]["llm_calls"] <= 90  # the budget holds
    assert rows["goalcluster"]["details"]["view"]["chosen_by"] == "notes"  # the budget left room to measure
    assert rows["goalcluster"]["explanation"] is not None and rows["kmeans"]["explanation"] is None
    table = (out / "results.md").read_text()
    assert all(f"| syngoalex | topic | {method} |" in table for method in SMOKED)
    assert "| syngoalex | topic | goalcluster |" in done.stdout

    # the same runs judged again from their run folders (the real model, no answer cache)
    command = [
        sys.executable,
        "-m",
        "evals",
        "rejudge",
        str(out),
        "--judge-samples",
        "4",
        "--llm",
        "llamacpp:small",
    ]
    again = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    rejudged = {row["method"]: row for row in json.loads((out / "rejudged.json").read_text())["rows"]}
    quality = rejudged["goalcluster"]["explanation"]
    assert 0 <= quality["precision"] <= 1 and 0 <= quality["recall"] <= 1
    assert quality["judged"] == rows["goalcluster"]["explanation"]["judged"]  # the same documents
    assert quality["judge_cost"]["llm_calls"] >= quality["judged"]  # the model answered, not a cache
    assert rejudged["goalcluster"]["explanation_before"] == rows["goalcluster"]["explanation"]
    assert rejudged["kmeans"] == rows["kmeans"]  # no run folder: kept as it was
    assert "kmeans / seed 0: kept as it was" in again.stdout
