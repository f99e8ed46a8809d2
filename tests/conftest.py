from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
GOALCLUSTER = str(Path(sys.executable).parent / "goalcluster")
sys.path.insert(0, str(ROOT / "tests"))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")


@pytest.fixture(scope="session")
def model_home() -> Path:
    """Where the real embedded models are assembled: the user's cache, so it happens once."""
    return Path(os.environ.get("GOALCLUSTER_HOME", Path("~/.cache/goalcluster").expanduser()))


@pytest.fixture
def fresh_home(tmp_path: Path, model_home: Path) -> Path:
    """A GOALCLUSTER_HOME for one real-model test: the assembled model files are shared (linked,
    assembled once), but the answer cache and the embedding store start empty, so the models compute
    every answer and vector the test checks (a warm cache would replay them)."""
    return make_fresh_home(tmp_path, model_home)


def make_fresh_home(folder: Path, model_home: Path) -> Path:
    from agent.llm.packaged import PACKAGED_MODELS, ensure_model

    for model in PACKAGED_MODELS.values():
        ensure_model(model, model_home)
    home = folder / "fresh-home"
    home.mkdir()
    (home / "models").symlink_to(model_home / "models", target_is_directory=True)
    return home


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.exists():
        pytest.fail(f"the labeled data sets are expected at {SHARED_DATA}")
    return SHARED_DATA


@dataclass(frozen=True)
class RealRun:
    """A finished real run and what made it: its data file, gold labels and GOALCLUSTER_HOME."""

    data: Path
    gold: Path
    run_dir: Path
    home: Path
    rows: list[dict[str, str]]
    labels: list[str]

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "GOALCLUSTER_HOME": str(self.home)}


HOSTILE = (
    "<script>alert(1)</script> My card was declined <img src=x onerror=alert(2)> "
    "<a href='javascript:alert(3)'>twice</a> today."
)


@pytest.fixture(scope="session")
def banking_run(tmp_path_factory: pytest.TempPathFactory, model_home: Path, shared_data: Path) -> RealRun:
    """300 banking77 messages and a hostile one, run once with ``--report`` by the packaged 0.5B
    model, a fresh answer cache and store (the browser tests open its report and serve it)."""
    from evals.data import load_set, stratified

    folder = tmp_path_factory.mktemp("banking-run")
    sample = stratified(load_set(shared_data, "banking77"), "label", 300, seed=0)
    rows = [{"id": i, "text": t} for i, t in zip(sample.ids, sample.texts, strict=True)]
    rows.append({"id": "hostile-1", "text": HOSTILE})
    labels = [*sample.labels["label"], "card_not_working"]
    data, gold = folder / "messages.jsonl", folder / "gold.jsonl"
    data.write_text("".join(json.dumps(row) + "\n" for row in rows))
    pairs = zip(rows, labels, strict=True)
    gold.write_text("".join(json.dumps({"id": r["id"], "label": label}) + "\n" for r, label in pairs))
    run = RealRun(data, gold, folder / "run", make_fresh_home(folder, model_home), rows, labels)
    command = [GOALCLUSTER, "run", str(data), "--llm", "llamacpp:small", "--max-clusters", "5"]
    command += ["--max-iterations", "1", "--goal", "by what the customer wants", "--out", str(run.run_dir)]
    done = subprocess.run([*command, "--report"], capture_output=True, text=True, env=run.env, timeout=1800)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"report: {run.run_dir / 'report.html'}" in done.stdout
    return run
