"""The embedding store on a real Chroma database on disk, with the deterministic fake embedder."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from fakes import FakeEmbedder

from tools.embed import embed_corpus
from tools.store import EmbeddingStore, StoreError, collection_name, text_hash

TEXTS = ["card was declined", "card declined again", "where is my parcel", "parcel never arrived"]


def test_rerun_embeds_nothing_and_a_changed_text_is_reembedded(tmp_path: Path) -> None:
    embedder = FakeEmbedder()
    vectors, stats = embed_corpus(TEXTS, embedder, EmbeddingStore(tmp_path, embedder.name))
    assert (stats.embedded, stats.reused) == (4, 0) and vectors.shape == (4, 64)
    np.testing.assert_allclose(vectors, embedder.embed(TEXTS), atol=1e-6)

    again = FakeEmbedder()  # a new process: a new store object on the same folder
    same, stats = embed_corpus(TEXTS, again, EmbeddingStore(tmp_path, again.name))
    assert (stats.embedded, stats.reused) == (0, 4) and again.embedded == []
    np.testing.assert_allclose(same, vectors, atol=1e-6)

    changed = [*TEXTS[:3], "the parcel came broken"]
    _, stats = embed_corpus(changed, again, EmbeddingStore(tmp_path, again.name))
    assert (stats.embedded, stats.reused) == (1, 3) and again.embedded == ["the parcel came broken"]


def test_a_repeated_text_is_embedded_once(tmp_path: Path) -> None:
    embedder = FakeEmbedder()
    texts = [TEXTS[0], TEXTS[1], TEXTS[0]]
    vectors, stats = embed_corpus(texts, embedder, EmbeddingStore(tmp_path, embedder.name))
    assert embedder.embedded == TEXTS[:2] and stats.embedded == 2
    np.testing.assert_allclose(vectors[0], vectors[2])


def test_vectors_come_back_in_the_order_asked_and_search_keeps_to_the_texts_given(tmp_path: Path) -> None:
    embedder = FakeEmbedder()
    store = EmbeddingStore(tmp_path, embedder.name)
    embed_corpus(TEXTS, embedder, store)
    reordered = store.get([text_hash(TEXTS[3]), text_hash(TEXTS[0])])
    np.testing.assert_allclose(reordered, embedder.embed([TEXTS[3], TEXTS[0]]), atol=1e-6)
    query = embedder.embed(["card declined"])[0]
    nearest = store.query(query, n_results=2)
    assert {h for h, _ in nearest} == {text_hash(TEXTS[0]), text_hash(TEXTS[1])}
    within = store.query(query, n_results=2, within=[text_hash(t) for t in TEXTS[2:]])
    assert {h for h, _ in within} == {text_hash(TEXTS[2]), text_hash(TEXTS[3])}


def test_vectors_are_per_embedder_and_found_only_for_their_own_text(tmp_path: Path) -> None:
    names = {collection_name(e) for e in ("m1", "m2", "goal|model|prompt|400|language")}
    assert len(names) == 3 and all(3 <= len(n) <= 63 for n in names)
    progress: list[tuple[int, int]] = []
    embedder = FakeEmbedder()
    store = EmbeddingStore(tmp_path, embedder.name)
    embed_corpus(TEXTS, embedder, store, batch_size=3, progress=lambda d, t: progress.append((d, t)))
    assert progress == [(3, 4), (4, 4)]
    other = FakeEmbedder(dim=32)
    _, stats = embed_corpus(TEXTS, other, EmbeddingStore(tmp_path, other.name))
    assert stats.embedded == 4  # another identity shares nothing
    try:
        store.get([text_hash("a text never embedded")])
    except KeyError as error:
        assert "embed them first" in str(error)
    else:
        raise AssertionError("a text without a vector must not get another text's")


WRITER = textwrap.dedent(
    """
    import sys, numpy as np
    from tools.store import EmbeddingStore, text_hash
    store = EmbeddingStore(sys.argv[1], "m")
    mine, theirs = sys.argv[2], sys.argv[3]
    rng = np.random.default_rng(len(mine))
    for batch in range(20):
        texts = [f"{mine} {batch} {i}" for i in range(25)]
        store.put([text_hash(t) for t in texts], rng.normal(size=(25, 8)).astype(np.float32))
        store.missing([text_hash(f"{theirs} {b} {i}") for b in range(batch) for i in range(25)])
    print(store.count())
    """
)


def test_two_processes_write_and_read_one_store_at_once(tmp_path: Path) -> None:
    store = EmbeddingStore(tmp_path, "m")
    store.put([text_hash("seen first")], np.ones((1, 8), np.float32))  # this process opened it first
    root = str(Path(__file__).resolve().parents[2])
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(tmp_path), mine, theirs],
            cwd=root,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for mine, theirs in (("alpha", "beta"), ("beta", "alpha"))
    ]
    for run in runs:
        _, err = run.communicate(timeout=300)
        assert run.returncode == 0, err
    every = [f"{name} {b} {i}" for name in ("alpha", "beta") for b in range(20) for i in range(25)]
    assert store.missing([text_hash(t) for t in every]) == []  # written elsewhere, read here
    assert store.get([text_hash(t) for t in every]).shape == (1000, 8) and store.count() == 1001


def test_a_chroma_server_is_named_by_its_address_and_an_unreachable_one_with_the_fix() -> None:
    from agent.config import Config

    assert Config(store="chroma://127.0.0.1:8000").store_path == "chroma://127.0.0.1:8000"
    assert Config(store="/data/vectors").store_path == Path("/data/vectors")
    with pytest.raises(ValueError, match="chroma://HOST:PORT"):
        Config(store="chroma://no-port")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed once the block ends: nothing listens there
    store = EmbeddingStore(f"chroma://127.0.0.1:{port}", "m")
    with pytest.raises(StoreError, match=rf"Chroma server at chroma://127.0.0.1:{port} failed.*chroma run"):
        store.count()
