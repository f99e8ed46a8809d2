"""A real run of a few hundred texts (packaged 0.5B model, MiniLM, Chroma on disk) ends in reports;
the HTML one is opened in headless Chromium: it loads with no console error and no request leaving
the file, shows its cards, map and charts, and a document holding a script shows as text and runs
nothing."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from browser import chromium, visit
from conftest import GOALCLUSTER, RealRun

pytestmark = pytest.mark.real
ROOT = Path(__file__).resolve().parents[2]
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


def test_report_of_a_real_run_in_headless_chromium(tmp_path: Path, banking_run: RealRun) -> None:
    if chromium() is None:
        pytest.fail("Chromium is missing: .ci/run installs Debian's chromium (apt-get install chromium)")
    run_dir, rows, labels = banking_run.run_dir, banking_run.rows, banking_run.labels
    assert (run_dir / "report.md").exists() and (run_dir / "report.html").exists()
    page = tmp_path / "report-with-gold.html"
    command = [
        GOALCLUSTER,
        "report",
        str(run_dir),
        "--gold",
        str(banking_run.gold),
        "--format",
        "html",
        "--out",
        str(page),
    ]
    done = subprocess.run(command, capture_output=True, text=True, env=banking_run.env, timeout=300)
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
