"""A Ray instance started by the test (``ray start --head`` on loopback, 2 CPUs, token
authentication) runs a real run's
per-document work (MiniLM, the packaged 0.5B model's goal view, assignment scores) and the run
ends with the local executor's vectors and assignments; block scoring and the extension of a
sampled goal view run as Ray tasks and equal the local results."""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tools.embedders import make_embedder
from tools.store import EmbeddingStore, text_hash

pytestmark = pytest.mark.real
BIN = Path(sys.executable).parent
GOAL = "group the texts by the language they are written in"
# Token authentication, as a shared cluster should run: the token reaches Ray from the environment.
RAY_ENV = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32), "RAY_USAGE_STATS_ENABLED": "0"}


@pytest.fixture(scope="module")
def ray_address() -> Iterator[str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, **RAY_ENV}
    start = [str(BIN / "ray"), "start", "--head", "--node-ip-address", "127.0.0.1", "--port", str(port)]
    options = ["--num-cpus", "2", "--include-dashboard", "false", "--disable-usage-stats"]
    started = subprocess.run([*start, *options], capture_output=True, text=True, env=env, timeout=300)
    assert started.returncode == 0, started.stderr[-2000:]
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([str(BIN / "ray"), "stop", "--force"], capture_output=True, env=env, timeout=300)


def run(data: Path, out: Path, store: Path, home: Path, executor: str) -> str:
    env = {**os.environ, **RAY_ENV, "GOALCLUSTER_HOME": str(home)}
    command = [str(BIN / "goalcluster"), "run", str(data), "--goal", GOAL, "--llm", "llamacpp:small"]
    command += ["--view", "goal", "--max-clusters", "4", "--max-iterations", "1"]
    command += ["--store", str(store), "--executor", executor, "--out", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=1500)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stderr


def test_ray_executor_gives_the_local_executors_vectors_and_assignments(
    tmp_path: Path, shared_data: Path, fresh_home: Path, ray_address: str
) -> None:
    rows = [json.loads(line) for line in (shared_data / "syngoalex" / "data.jsonl").open()][::8][:96]
    data = tmp_path / "texts.jsonl"
    data.write_text("".join(json.dumps({"id": r["id"], "text": r["text"]}) + "\n" for r in rows))
    # The local run computes every answer; the Ray run shares its answer cache (so it asks the model
    # again only where a vector differs) but not its store, so every vector is computed on Ray.
    run(data, tmp_path / "local", tmp_path / "local-store", fresh_home, "local")
    said = run(data, tmp_path / "ray", tmp_path / "ray-store", fresh_home, f"ray:{ray_address}")
    assert f"per-document work runs on ray:{ray_address}" in said

    check_same_results(rows, tmp_path)


def check_same_results(rows: list[dict[str, str]], tmp_path: Path) -> None:
    """MiniLM's vectors are equal; each goal-view vector points the same way (llama.cpp's numerics
    shift a little with how much of a prompt's opening it reuses from the prompt before, and a
    worker's prompts come in another order); every document is in the same clusters."""
    hashes = [text_hash(r["text"]) for r in rows]
    stored = {
        where: [EmbeddingStore(tmp_path / f"{where}-store", name).get(hashes) for name in names(tmp_path)]
        for where in ("local", "ray")
    }
    (semantic, goal), (semantic_on_ray, goal_on_ray) = stored["local"], stored["ray"]
    np.testing.assert_allclose(semantic_on_ray, semantic, atol=1e-5)
    cosines = (
        np.sum(goal * goal_on_ray, axis=1)
        / np.linalg.norm(goal, axis=1)
        / np.linalg.norm(goal_on_ray, axis=1)
    )
    assert goal.shape == goal_on_ray.shape and cosines.min() > 0.999
    assert _assignments(tmp_path / "ray") == _assignments(tmp_path / "local")


def test_ray_scores_in_blocks_are_the_product(ray_address: str) -> None:
    """Past one block of rows, scores are Ray tasks over the vectors put once in the object store
    (in a process of its own: Ray reads its authentication settings from the environment at start)."""
    script = f"""
import numpy as np
from tools.executor import SCORE_BLOCK, RayExecutor
rng = np.random.default_rng(0)
vectors = rng.normal(size=(SCORE_BLOCK + 4000, 16)).astype(np.float32)
targets = rng.normal(size=(5, 16)).astype(np.float32)
scores = RayExecutor(address="{ray_address}").scores(vectors, targets)
np.testing.assert_allclose(scores, vectors @ targets.T, rtol=1e-5, atol=1e-5)
print("blocks", -(-len(vectors) // SCORE_BLOCK))
"""
    env = {**os.environ, **RAY_ENV}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "blocks 2" in done.stdout


def test_ray_extends_a_sampled_view_as_the_local_executor_does(ray_address: str) -> None:
    """The extension of a goal view computed on a sample (n-gram document frequencies, then the
    prediction) runs as Ray tasks in blocks and gives the vectors the local executor gives."""
    script = f"""
import numpy as np
from tools.executor import LocalExecutor, RayExecutor
from tools.extend import BLOCK, extend_view
rng = np.random.default_rng(0)
n = 2 * BLOCK + 500
texts = [f"{{['tea', 'coffee', 'rain'][i % 3]}} no {{rng.integers(10**6)}}" for i in range(n)]
semantic = rng.normal(size=(n, 16)).astype(np.float32)
rows = sorted(rng.choice(n, 300, replace=False).tolist())
known = rng.normal(size=(300, 24))
local = extend_view(semantic, texts, rows, known, LocalExecutor())
on_ray = extend_view(semantic, texts, rows, known, RayExecutor(address="{ray_address}"))
np.testing.assert_allclose(on_ray, local, rtol=1e-5, atol=1e-6)
print("blocks", -(-n // BLOCK))
"""
    env = {**os.environ, **RAY_ENV}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "blocks 3" in done.stdout


def names(tmp_path: Path) -> tuple[str, str]:
    return make_embedder("minilm").name, _goal_view_identity(tmp_path / "local")


def _goal_view_identity(run_dir: Path) -> str:
    metrics = json.loads((run_dir / "metrics.json").read_text())
    identity: str = metrics["view"]["identity"]
    return identity


def _assignments(run_dir: Path) -> list[tuple[str, list[str]]]:
    rows = [json.loads(line) for line in (run_dir / "assignments.jsonl").read_text().splitlines()]
    return [(row["id"], sorted(row["cluster_ids"])) for row in rows]
