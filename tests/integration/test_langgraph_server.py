"""The graph as a service: ``langgraph dev`` (langgraph-cli[inmem]) serves langgraph.json's graphs
on loopback, and a run started, streamed, interrupted and continued through the LangGraph SDK
leaves the files ``goalcluster run`` leaves on the same input and config. Real packaged 0.5B model,
real MiniLM, a fresh home (answer cache and store) for each side, nothing downloaded."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.real
langgraph_sdk = pytest.importorskip("langgraph_sdk")

ROOT = Path(__file__).resolve().parents[2]
LANGGRAPH = Path(sys.executable).parent / "langgraph"
GOAL = "group the messages by what the customer wants the bank to do"
SAMPLE, SEED, CLUSTERS = 60, 3, 3
OPTIONS: dict[str, Any] = {
    "goal": GOAL,
    "seed": SEED,
    "llm": "llamacpp:small",
    "max_iterations": 1,
    "view": "semantic",
    "assign_mode": "embeddings",
}
CLI_FLAGS = ["--goal", GOAL, "--seed", str(SEED), "--llm", "llamacpp:small", "--max-iterations", "1"]
CLI_FLAGS += ["--view", "semantic", "--assign-mode", "embeddings", "--sample", str(SAMPLE)]
CLI_FLAGS += ["--clusters", str(CLUSTERS)]
OFFLINE = {
    "HF_HUB_OFFLINE": "1",
    "ANONYMIZED_TELEMETRY": "False",
    "LANGGRAPH_CLI_NO_ANALYTICS": "1",  # the CLI's usage report
    "LANGGRAPH_NO_VERSION_CHECK": "true",  # the server's look-up of its latest version
    "LANGSMITH_TRACING": "false",
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def home_beside(fresh_home: Path, name: str) -> Path:
    """Another fresh home (empty cache and store) sharing the assembled model files."""
    home = fresh_home.parent / name
    home.mkdir()
    (home / "models").symlink_to((fresh_home / "models").resolve(), target_is_directory=True)
    return home


def served_config_file(folder: Path) -> Path:
    """The project's langgraph.json with its paths made absolute, so that the server can run in a
    folder of its own (its dev store, .langgraph_api/, is written where it runs)."""
    spec = json.loads((ROOT / "langgraph.json").read_text())
    spec["dependencies"] = [str((ROOT / dep).resolve()) for dep in spec["dependencies"]]
    spec["graphs"] = {
        name: f"{(ROOT / target.split(':')[0]).resolve()}:{target.split(':')[1]}"
        for name, target in spec["graphs"].items()
    }
    path = folder / "langgraph.json"
    path.write_text(json.dumps(spec))
    return path


@pytest.fixture
def server(tmp_path: Path, fresh_home: Path) -> Iterator[str]:
    folder = tmp_path / "server"
    folder.mkdir()
    port = free_port()
    log = (folder / "server.log").open("w")
    env = {**os.environ, **OFFLINE, "GOALCLUSTER_HOME": str(fresh_home), "PYTHONPATH": str(ROOT)}
    command = [str(LANGGRAPH), "dev", "--config", str(served_config_file(folder)), "--host", "127.0.0.1"]
    command += ["--port", str(port), "--no-browser", "--no-reload"]
    process = subprocess.Popen(
        command, cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 600  # importing torch and the graphs on busy cores
        while not _answers(f"{url}/ok"):
            assert process.poll() is None, (folder / "server.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "langgraph dev did not start in 600 s"
            time.sleep(0.5)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:  # a run still in a model call holds the shutdown
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def stream(
    client: Any, thread_id: str, start: dict[str, Any] | None, run_dir: Path, **kwargs: Any
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """One run on the thread: its stage events and its last state."""
    events: list[dict[str, Any]] = []
    values: dict[str, Any] = {}
    for part in client.runs.stream(
        thread_id,
        "goalcluster",
        input=start,
        context={"run_dir": str(run_dir)},
        stream_mode=["custom", "values"],
        **kwargs,
    ):
        assert part.event != "error", part.data
        if part.event == "custom":
            events.append(part.data)
        elif part.event == "values":
            values = part.data
    return events, values


def started(events: list[dict[str, Any]]) -> list[str]:
    return [e["stage"] for e in events if e["status"] == "started"]


def test_a_run_through_the_sdk_leaves_the_files_of_goalcluster_run(
    server: str, tmp_path: Path, shared_data: Path, fresh_home: Path
) -> None:
    data = shared_data / "banking77" / "data.jsonl"
    client = langgraph_sdk.get_sync_client(url=server, timeout=900)
    assert {a["graph_id"] for a in client.assistants.search()} == {"goalcluster", "agent"}
    thread_id = client.threads.create()["thread_id"]
    run_dir = tmp_path / "served-run"
    start = {"data": str(data), "sample": SAMPLE, "clusters": CLUSTERS, "options": OPTIONS}

    first, _ = stream(client, thread_id, start, run_dir, interrupt_before=["propose"])
    assert started(first) == ["prepare", "embed", "view", "cluster", "inspect"]
    assert all(e["seconds"] >= 0 for e in first if e["status"] == "finished" and "round" in e)
    assert client.threads.get(thread_id)["status"] == "interrupted"
    assert client.threads.get_state(thread_id)["next"] == ["propose"]
    assert (run_dir / "run.json").exists() and not (run_dir / "clusters.json").exists()

    rest, output = stream(client, thread_id, None, run_dir)  # the same thread, no input: go on
    assert started(rest)[0] == "propose" and started(rest)[-1] == "results"
    assert not {"prepare", "embed", "view", "cluster"} & set(started(rest))  # not done again
    assert [e["stage"] for e in rest if e["status"] == "finished"][-2:] == ["finish", "results"]
    assert client.threads.get(thread_id)["status"] == "idle"

    cli_run = tmp_path / "cli-run"
    env = {**os.environ, **OFFLINE, "PYTHONPATH": str(ROOT)}
    home = home_beside(fresh_home, "cli-home")
    command = [sys.executable, "-m", "goalcluster", "run", str(data), *CLI_FLAGS]
    command += ["--out", str(cli_run), "--home", str(home), "--quiet"]
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stderr[-3000:]

    clusters = json.loads((run_dir / "clusters.json").read_text())
    assert clusters and clusters == json.loads((cli_run / "clusters.json").read_text())
    assert clusters == output["clusters"]
    for name in ("assignments.jsonl", "assignments.csv", "corpus.jsonl"):
        assert (run_dir / name).read_text() == (cli_run / name).read_text(), name
    assert len((run_dir / "assignments.jsonl").read_text().splitlines()) == SAMPLE
    served_meta, cli_meta = (json.loads((d / "run.json").read_text()) for d in (run_dir, cli_run))
    assert served_meta["config"].pop("home") == str(fresh_home)
    assert cli_meta["config"].pop("home") == str(home)
    assert served_meta == cli_meta
    served_metrics, cli_metrics = (json.loads((d / "metrics.json").read_text()) for d in (run_dir, cli_run))
    same = ("documents", "clusters", "coverage", "overlap", "stop_reason", "view", "history")
    for key in (*same, "llm_calls", "cached_calls", "prompt_tokens", "completion_tokens"):
        assert served_metrics[key] == cli_metrics[key], key
