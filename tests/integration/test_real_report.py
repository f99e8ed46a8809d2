"""A real small run (packaged 0.5B model, MiniLM, Chroma on disk) ends in reports; the HTML one is
opened in headless Chromium: it loads with no console error and no request leaving the file, shows
its cards, map and charts, and a document holding a script shows as text and runs nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from browser import chromium, visit

from evals.data import load_set, stratified

pytestmark = pytest.mark.real
ROOT = Path(__file__).resolve().parents[2]
GOALCLUSTER = str(Path(sys.executable).parent / "goalcluster")
HOSTILE = "<script>alert(1)</script> My card was declined <img src=x onerror=alert(2)> twice today."
PROBE = """JSON.stringify({
  cards: document.querySelectorAll('.cluster-card').length,
  points: document.querySelectorAll('svg.doc-map circle').length,
  bars: document.querySelectorAll('.size-chart tr').length,
  heat: document.querySelectorAll('.overlap-heatmap td').length,
  history: document.querySelectorAll('.history-chart polyline').length,
  confusion: document.querySelectorAll('.confusion td').length,
  scripts: document.querySelectorAll('script').length,
  images: document.querySelectorAll('img').length,
  literal: document.body.textContent.includes('<script>alert(1)</script> My card was declined'),
})"""


def test_report_of_a_real_run_in_headless_chromium(
    tmp_path: Path, shared_data: Path, fresh_home: Path
) -> None:
    if chromium() is None:
        pytest.fail("Chromium is missing: .ci/run installs Debian's chromium (apt-get install chromium)")
    sample = stratified(load_set(shared_data, "banking77"), "label", 30, seed=0)
    rows = [{"id": i, "text": t} for i, t in zip(sample.ids, sample.texts, strict=True)]
    rows.append({"id": "hostile-1", "text": HOSTILE})
    data = tmp_path / "messages.jsonl"
    data.write_text("".join(json.dumps(row) + "\n" for row in rows))
    gold = tmp_path / "gold.jsonl"
    labels = [*sample.labels["label"], "card_not_working"]
    pairs = zip(rows, labels, strict=True)
    gold.write_text("".join(json.dumps({"id": r["id"], "label": label}) + "\n" for r, label in pairs))
    env = {**os.environ, "GOALCLUSTER_HOME": str(fresh_home)}
    run_dir = tmp_path / "run"
    command = [GOALCLUSTER, "run", str(data), "--llm", "llamacpp:small", "--max-clusters", "4"]
    command += ["--max-iterations", "1", "--goal", "by what the customer wants", "--out", str(run_dir)]
    done = subprocess.run([*command, "--report"], capture_output=True, text=True, env=env, timeout=1200)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (run_dir / "report.md").exists() and f"report: {run_dir / 'report.html'}" in done.stdout
    page = tmp_path / "report-with-gold.html"
    command = [
        GOALCLUSTER,
        "report",
        str(run_dir),
        "--gold",
        str(gold),
        "--format",
        "html",
        "--out",
        str(page),
    ]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]

    seen = visit(page, PROBE, ROOT / "test-artifacts" / "report.png")
    assert seen.errors == [] and seen.dialogs == []
    assert seen.requests == [page.resolve().as_uri()]  # the file itself, nothing else
    found = json.loads(seen.probe)
    clusters = json.loads((run_dir / "clusters.json").read_text())
    assert found["cards"] == len(clusters) >= 1
    assert found["points"] == len(rows) and found["bars"] == len(clusters) + 1
    assert found["heat"] == len(clusters) ** 2 and found["history"] == 2
    assert found["confusion"] == (len(clusters) + 1) * len(set(labels))
    assert found["scripts"] == 0 and found["images"] == 0 and found["literal"] is True
    assert (ROOT / "test-artifacts" / "report.png").stat().st_size > 10_000
