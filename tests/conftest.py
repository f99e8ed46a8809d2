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


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.exists():
        pytest.fail(f"the labeled data sets are expected at {SHARED_DATA}")
    return SHARED_DATA
