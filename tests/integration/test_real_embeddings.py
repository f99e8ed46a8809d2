"""The packaged MiniLM through sentence-transformers, offline, and the CLI on a real Chroma store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tools.embedders import make_embedder

pytestmark = pytest.mark.real
GOALCLUSTER = str(Path(sys.executable).parent / "goalcluster")


def test_packaged_minilm_embeds_by_meaning(capfd: pytest.CaptureFixture[str]) -> None:
    embedder = make_embedder("minilm")
    vectors = embedder.embed(["My card was declined.", "The payment was refused.", "Where is my parcel?"])
    assert "Loading weights" not in capfd.readouterr().err  # no library progress bar on the terminal
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.1
    assert embedder.count_truncated(["short", "word " * 400]) == 1


def run_cli(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GOALCLUSTER_HOME": str(home)}
    return subprocess.run([GOALCLUSTER, *args], capture_output=True, text=True, env=env, timeout=600)


def test_cli_embed_twice_reuses_the_store(tmp_path: Path, shared_data: Path) -> None:
    data = shared_data / "banking77" / "data.jsonl"
    first = run_cli("embed", str(data), "--sample", "150", "--json", home=tmp_path)
    assert first.returncode == 0, first.stderr
    summary = json.loads(first.stdout)
    assert (summary["documents"], summary["embedded"], summary["reused"]) == (150, 150, 0)
    assert summary["dimensions"] == 384 and summary["corpus"] == "banking77"
    second = json.loads(run_cli("embed", str(data), "--sample", "150", "--json", home=tmp_path).stdout)
    assert (second["embedded"], second["reused"]) == (0, 150)
    assert (tmp_path / "embeddings" / "chroma.sqlite3").exists()


def test_cli_reports_bad_input_with_the_fix(tmp_path: Path) -> None:
    bad = tmp_path / "reviews.csv"
    bad.write_text("review,stars\ngreat,5\n")
    result = run_cli("embed", str(bad), "--text-column", "body", home=tmp_path)
    assert result.returncode == 2
    assert "'body' is not in" in result.stderr and "'review', 'stars'" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_help_and_models(tmp_path: Path) -> None:
    help_text = run_cli("--help", home=tmp_path).stdout
    assert "models" in help_text and "embed" in help_text
    listing = json.loads(run_cli("models", "--json", home=tmp_path).stdout)
    small = next(row for row in listing["chat_models"] if row["llm"] == "llamacpp:small")
    assert small["installed"] is True
    assert listing["embedder_minilm"].endswith("model")


def test_any_local_sentence_transformers_folder() -> None:
    from tools.embedders import packaged_minilm_path

    folder = make_embedder(f"sentence-transformers:{packaged_minilm_path()}")
    np.testing.assert_allclose(
        folder.embed(["card declined"]), make_embedder("minilm").embed(["card declined"]), atol=1e-5
    )
