"""The typed helper against the real packaged 0.5B model, in-process and behind a real server."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from agent.config import BackendOptions
from agent.llm.backends import BackendError
from agent.llm.helper import LLM
from agent.llm.packaged import PACKAGED_MODELS, ensure_model
from agent.llm.prompts import PromptLibrary
from agent.llm.registry import make_chat_backend, make_hidden_states
from agent.schemas import Proposal
from tools.embedders import make_embedder

pytestmark = pytest.mark.real

TEXTS = ["My card payment was declined at the shop.", "Why was my card refused?", "Card declined online."]


def describe(llm: LLM) -> Proposal:
    variables = {
        "goal": "why payments fail",
        "texts": TEXTS,
        "existing": [],
        "note": "",
        "n_clusters": 2,
        "annotations": [],
    }
    return llm.generate("propose", variables, Proposal)


def test_packaged_small_model_answers_the_schema(model_home: Path) -> None:
    backend = make_chat_backend("llamacpp:small", BackendOptions(n_ctx=2048), model_home)
    llm = LLM(backend, max_tokens=400)
    result = describe(llm)
    assert isinstance(result, Proposal)
    assert result.clusters and all(c.name and c.explanation for c in result.clusters)
    record = llm.trace.records[-1]
    assert record["error"] is None and record["prompt_tokens"] > 50 and record["completion_tokens"] > 5
    assert record["model"].startswith("llamacpp:qwen2.5-coder-0.5b-instruct@")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve(model_home: Path, log_path: Path, *extra: str) -> Iterator[str]:
    """Start ``python -m llama_cpp.server`` on loopback with the packaged 0.5B model; yield its URL."""
    path = ensure_model(PACKAGED_MODELS["small"], model_home)
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(path),
        "--model_alias",
        "small",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        "2048",
        *extra,
    ]
    log = log_path.open("wb")
    server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                urllib.request.urlopen(f"{url}/models", timeout=2).read()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"llama_cpp.server did not start: {log_path.read_text()[-2000:]}")
                time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


@pytest.fixture(scope="module")
def served_small_model(model_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from serve(model_home, tmp_path_factory.mktemp("server") / "server.log")


@pytest.fixture(scope="module")
def served_embeddings(model_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from serve(model_home, tmp_path_factory.mktemp("embeddings") / "server.log", "--embedding", "true")


def test_openai_compatible_server_on_loopback(served_small_model: str, model_home: Path) -> None:
    backend = make_chat_backend(f"openai-compatible:{served_small_model}@small", BackendOptions(), model_home)
    llm = LLM(backend, max_tokens=400)
    result = describe(llm)
    assert result.clusters and all(c.name and c.explanation for c in result.clusters)
    assert llm.budget.calls == 1 and llm.budget.tokens > 50
    assert llm.trace.records[-1]["model"] == f"openai-compatible:{served_small_model}@small"


def test_unreachable_server_names_the_url(model_home: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    backend = make_chat_backend(f"openai-compatible:{url}@small", BackendOptions(timeout=5), model_home)
    with pytest.raises(BackendError, match=f"cannot reach the model server at {url}"):
        describe(LLM(backend))


def test_openai_compatible_embeddings_endpoint(served_embeddings: str) -> None:
    embedder = make_embedder(f"openai-compatible:{served_embeddings}@small")
    vectors = embedder.embed(["My card was declined.", "The payment was refused.", "Where is my parcel?"])
    assert vectors.shape[0] == 3 and vectors.shape[1] >= 64
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_goal_view_from_a_served_model_matches_the_in_process_one(
    served_embeddings: str, model_home: Path
) -> None:
    view_prompts = [
        PromptLibrary().render("goal_view", {"text": text, "aspect": "language"})
        for text in ("My card was declined.", "Mi tarjeta fue rechazada.")
    ]
    served = make_hidden_states(f"openai-compatible:{served_embeddings}@small", BackendOptions(), model_home)
    local = make_hidden_states("llamacpp:small", BackendOptions(), model_home)
    assert served is not None and local is not None
    remote, here = served.last_states(view_prompts), local.last_states(view_prompts)
    assert remote.shape == here.shape == (2, 896)
    cosine = np.sum(remote * here, axis=1) / np.linalg.norm(remote, axis=1) / np.linalg.norm(here, axis=1)
    assert np.all(cosine > 0.999)  # the last token's hidden state, computed by the server


def test_a_whole_run_on_served_models_chat_and_goal_view(
    served_small_model: str, served_embeddings: str, tmp_path: Path, shared_data: Path, fresh_home: Path
) -> None:
    """A run whose every model call goes to llama_cpp.server: the chat model's answers to one server,
    the goal view's hidden states (the embeddings endpoint's last-token vectors) to the other."""
    import json
    import os

    rows = [json.loads(line) for line in (shared_data / "syngoalex" / "data.jsonl").open()][::16][:48]
    data = tmp_path / "texts.jsonl"
    data.write_text("".join(json.dumps({"id": r["id"], "text": r["text"]}) + "\n" for r in rows))
    command = [
        str(Path(sys.executable).parent / "goalcluster"),
        "run",
        str(data),
        "--out",
        str(tmp_path / "run"),
    ]
    command += ["--goal", "group the texts by the language they are written in", "--view", "goal"]
    command += ["--llm", f"openai-compatible:{served_small_model}@small", "--max-clusters", "4"]
    command += ["--view-model", f"openai-compatible:{served_embeddings}@small", "--max-iterations", "1"]
    env = {**os.environ, "GOALCLUSTER_HOME": str(fresh_home)}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=1200)
    assert done.returncode == 0, done.stderr[-3000:]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["view"]["kind"] == "goal"
    assert metrics["view"]["identity"].startswith(f"goal|openai-compatible:{served_embeddings}@small|")
    trace = [json.loads(line) for line in (tmp_path / "run" / "trace.jsonl").read_text().splitlines()]
    asked = [r for r in trace if "messages" in r and not r["cached"]]
    assert asked and {r["model"] for r in asked} == {f"openai-compatible:{served_small_model}@small"}
    assert metrics["coverage"] > 0 and metrics["clusters"] >= 2
