"""A real two-level tree (the packaged 0.5B model, MiniLM, Chroma on disk), killed during its second
level and resumed, against the same tree built without a kill."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import GOALCLUSTER, make_fresh_home

from evals.data import load_set
from evals.tree import two_level_sample

pytestmark = pytest.mark.real
KILL_AFTER = 10  # LLM calls the second level has finished when the run is killed


def test_a_tree_killed_in_its_second_level_resumes_to_the_uninterrupted_tree(
    tmp_path: Path, shared_data: Path, model_home: Path
) -> None:
    # 48 requests: 2 clinc150 domains, 3 intents each, 8 of each intent.
    sample = two_level_sample(load_set(shared_data, "clinc150"), "domain", "intent", 2, 3, 8, seed=0)
    data = tmp_path / "requests.jsonl"
    rows = zip(sample.ids, sample.texts, strict=True)
    data.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in rows))
    killed_dir, reference_dir = tmp_path / "killed", tmp_path / "reference"
    homes = []
    for name in ("killed-home", "reference-home"):
        (tmp_path / name).mkdir()
        homes.append(make_fresh_home(tmp_path / name, model_home))
    command = [GOALCLUSTER, "run", str(data), "--llm", "llamacpp:small", "--levels", "2"]
    # The goal view without the LLM's notes that choose between views (48 calls a run): CI's time.
    command += ["--view", "goal", "--max-clusters", "2", "--max-iterations", "1", "--out", str(killed_dir)]
    command += ["--goal", "by the broad domain of life the request concerns"]
    env = [{**os.environ, "GOALCLUSTER_HOME": str(home)} for home in homes]

    run = subprocess.Popen(command, env=env[0], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 1500
    level_two = killed_dir / "tree"
    while run.poll() is None and time.monotonic() < deadline and not level_two.exists():
        time.sleep(0.2)
    # The top level is finished and no child has written a file yet: its folder, without the tree's
    # folder, is where an uninterrupted second level starts from.
    shutil.copytree(killed_dir, reference_dir, ignore=shutil.ignore_patterns("tree"))
    while run.poll() is None and time.monotonic() < deadline and _calls(level_two) < KILL_AFTER:
        time.sleep(0.2)
    run.kill()  # SIGKILL part-way through the second level
    assert run.wait() == -signal.SIGKILL, "the tree finished before the kill: raise KILL_AFTER's margin"
    assert (killed_dir / "metrics.json").exists() and not (killed_dir / "tree.json").exists()

    resumed = subprocess.run(
        [GOALCLUSTER, "resume", str(killed_dir)], capture_output=True, text=True, env=env[0], timeout=1500
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    # The reference's second level runs in a home of its own: its answers are computed again, not
    # replayed from the killed run's cache.
    uninterrupted = subprocess.run(
        [GOALCLUSTER, "resume", str(reference_dir), "--home", str(homes[1])],
        capture_output=True,
        text=True,
        env=env[1],
        timeout=1500,
    )
    assert uninterrupted.returncode == 0, uninterrupted.stderr[-3000:]
    children = [json.loads((f / "run.json").read_text()) for f in (reference_dir / "tree").iterdir()]
    assert {child["config"]["home"] for child in children} == {str(homes[1])}

    tree, reference = (json.loads((d / "tree.json").read_text()) for d in (killed_dir, reference_dir))
    assert tree == reference
    assert {node["level"] for node in tree["nodes"]} == {1, 2}  # two levels, each explained
    assert all(node["name"] and node["explanation"] for node in tree["nodes"])
    assert all(node["within_parent"] is not None for node in tree["nodes"] if node["level"] == 2)
    paths = _paths(killed_dir)
    assert paths == _paths(reference_dir) and any(len(path) == 2 for path in paths.values())
    # The killed run's second level asked no question twice: what was answered before the kill was
    # replayed from the answer cache.
    asked = [json.dumps(r["messages"]) for r in _records(level_two) if "messages" in r and not r["cached"]]
    assert len(asked) == len(set(asked)) and any(r.get("cached") for r in _records(level_two))
    assert "taxonomy, 2 levels" in resumed.stdout


def _records(folder: Path) -> list[dict[str, object]]:
    traces = sorted(folder.glob("*/trace.jsonl"))
    return [json.loads(line) for trace in traces for line in trace.read_text().splitlines() if line]


def _calls(folder: Path) -> int:
    return sum(trace.read_text().count("\n") for trace in folder.glob("*/trace.jsonl"))


def _paths(run_dir: Path) -> dict[str, list[str]]:
    rows = (json.loads(line) for line in (run_dir / "assignments.jsonl").read_text().splitlines())
    return {row["id"]: row["path"] for row in rows}
