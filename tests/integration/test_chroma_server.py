"""A Chroma server started by the test (``chroma run`` on loopback) holds a corpus's vectors: the
CLI's embed puts them there, a rerun embeds nothing, and they are the vectors the embedded store
gets for the same texts."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tools.embedders import make_embedder
from tools.store import EmbeddingStore, text_hash

pytestmark = pytest.mark.real
BIN = Path(sys.executable).parent


@pytest.fixture
def chroma_server(tmp_path: Path) -> Iterator[str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "ANONYMIZED_TELEMETRY": "False"}
    command = [str(BIN / "chroma"), "run", "--path", str(tmp_path / "server-data"), "--host", "127.0.0.1"]
    server = subprocess.Popen(
        [*command, "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    pytest.fail("chroma run did not start within 60 s")
                time.sleep(0.3)
        yield f"chroma://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=30)


def embed(data: Path, store: str | Path, home: Path) -> dict[str, object]:
    env = {**os.environ, "GOALCLUSTER_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    command = [str(BIN / "goalcluster"), "embed", str(data), "--store", str(store), "--json"]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    summary: dict[str, object] = json.loads(done.stdout)
    return summary


def test_a_chroma_server_holds_the_vectors_and_a_rerun_embeds_nothing(
    tmp_path: Path, shared_data: Path, chroma_server: str, model_home: Path
) -> None:
    rows = [json.loads(line) for line in (shared_data / "banking77" / "data.jsonl").open()][:60]
    data = tmp_path / "messages.jsonl"
    data.write_text("".join(json.dumps({"id": r["id"], "text": r["text"]}) + "\n" for r in rows))
    first = embed(data, chroma_server, model_home)
    assert (first["embedded"], first["reused"], first["store"]) == (60, 0, chroma_server)
    again = embed(data, chroma_server, model_home)
    assert (again["embedded"], again["reused"]) == (0, 60)

    embed(data, tmp_path / "folder-store", model_home)  # the embedded store, for comparison
    hashes = [text_hash(r["text"]) for r in rows]
    name = make_embedder("minilm").name
    served = EmbeddingStore(chroma_server, name).get(hashes)
    local = EmbeddingStore(tmp_path / "folder-store", name).get(hashes)
    assert served.shape == (60, 384)
    np.testing.assert_allclose(served, local, atol=1e-6)


def test_evals_scale_embeds_every_text_into_a_new_collection_on_the_server_and_drops_it(
    chroma_server: str,
) -> None:
    import chromadb
    from chromadb.config import Settings

    from evals.scale import measure
    from tools.executor import make_executor

    texts = [f"message {i} about a card payment that failed" for i in range(40)]
    row = measure(30, texts, ["card"] * 40, make_embedder("minilm"), 0, make_executor("local"), chroma_server)
    assert row["store"] == chroma_server and row["seconds"]["embed"] > 0
    host, port = chroma_server.removeprefix("chroma://").split(":")
    client = chromadb.HttpClient(host=host, port=int(port), settings=Settings(anonymized_telemetry=False))
    assert client.list_collections() == []  # the measurement's collection is gone
