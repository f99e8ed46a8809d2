"""The embedding store on a real Chroma database on disk, with the deterministic fake embedder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from fakes import FakeEmbedder

from tools.embed import embed_corpus
from tools.store import EmbeddingStore, collection_name

IDS = ["a", "b", "c", "d"]
TEXTS = ["card was declined", "card declined again", "where is my parcel", "parcel never arrived"]


def test_rerun_embeds_nothing_and_a_changed_text_is_reembedded(tmp_path: Path) -> None:
    embedder = FakeEmbedder()
    vectors, stats = embed_corpus(IDS, TEXTS, embedder, EmbeddingStore(tmp_path, "c", embedder.name))
    assert (stats.embedded, stats.reused) == (4, 0) and vectors.shape == (4, 64)
    np.testing.assert_allclose(vectors, embedder.embed(TEXTS), atol=1e-6)

    again = FakeEmbedder()  # a new process: a new store object on the same folder
    same, stats = embed_corpus(IDS, TEXTS, again, EmbeddingStore(tmp_path, "c", again.name))
    assert (stats.embedded, stats.reused) == (0, 4) and again.embedded == []
    np.testing.assert_allclose(same, vectors, atol=1e-6)

    changed = [*TEXTS[:3], "the parcel came broken"]
    _, stats = embed_corpus(IDS, changed, again, EmbeddingStore(tmp_path, "c", again.name))
    assert (stats.embedded, stats.reused) == (1, 3) and again.embedded == ["the parcel came broken"]


def test_vectors_come_back_in_the_order_asked(tmp_path: Path) -> None:
    embedder = FakeEmbedder()
    store = EmbeddingStore(tmp_path, "c", embedder.name)
    embed_corpus(IDS, TEXTS, embedder, store)
    reordered = store.get(["d", "a"])
    np.testing.assert_allclose(reordered, embedder.embed([TEXTS[3], TEXTS[0]]), atol=1e-6)
    nearest = store.query(embedder.embed(["card declined"])[0], n_results=2)
    assert {doc_id for doc_id, _ in nearest} == {"a", "b"}


def test_collections_are_per_corpus_and_embedder(tmp_path: Path) -> None:
    names = {collection_name(c, e) for c in ("x", "y") for e in ("m1", "m2")}
    assert len(names) == 4 and all(3 <= len(n) <= 63 for n in names)
    progress: list[tuple[int, int]] = []
    embedder = FakeEmbedder()
    embed_corpus(
        IDS,
        TEXTS,
        embedder,
        EmbeddingStore(tmp_path, "x", embedder.name),
        batch_size=3,
        progress=lambda done, total: progress.append((done, total)),
    )
    assert progress == [(3, 4), (4, 4)]
    _, stats = embed_corpus(IDS, TEXTS, embedder, EmbeddingStore(tmp_path, "y", embedder.name))
    assert stats.embedded == 4
