"""Criteria discovery end to end with the packaged 0.5B model and MiniLM on a small real sample."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import goalcluster
from evals.data import load_set, stratified

pytestmark = pytest.mark.real


def test_discover_on_a_real_sample(tmp_path: Path, shared_data: Path, model_home: Path) -> None:
    sample = stratified(load_set(shared_data, "syngoalex"), "topic", 40, seed=0)
    found = goalcluster.discover(
        sample.texts,
        ids=sample.ids,
        llm="llamacpp:small",
        out=tmp_path / "found",
        max_criteria=2,
        home=model_home,
        max_clusters=4,
        max_iterations=1,
        annotate_samples=False,
        spot_checks=1,
        use_cache=False,  # cached answers cost no calls, and the count is checked below
    )
    assert 1 <= len(found.criteria) <= 2 and found.llm_calls > 2
    for criterion in found.criteria:
        assert criterion.name and criterion.goal and Path(criterion.run_dir, "report.html").exists()
        assert len(criterion.labels) == 40 and 0 <= criterion.coverage <= 1
        assert criterion.kept == (criterion.dropped_because == "")
    index = json.loads((tmp_path / "found" / "criteria.json").read_text())
    assert [c["name"] for c in index["criteria"]] == [c.name for c in found.criteria]
    assert (tmp_path / "found" / "discover.md").read_text().startswith("# Criteria found")
