from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
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
    from agent.llm.packaged import PACKAGED_MODELS, ensure_model

    for model in PACKAGED_MODELS.values():
        ensure_model(model, model_home)
    home = tmp_path / "fresh-home"
    home.mkdir()
    (home / "models").symlink_to(model_home / "models", target_is_directory=True)
    return home


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.exists():
        pytest.fail(f"the labeled data sets are expected at {SHARED_DATA}")
    return SHARED_DATA
