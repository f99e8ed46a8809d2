"""Embed a corpus through the store: only texts that are new or changed reach the embedder."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from tools.embedders import Embedder
from tools.executor import Executor, LocalExecutor
from tools.store import EmbeddingStore, text_hash

Progress = Callable[[int, int], None]
"""Called as ``progress(done, total)`` after each embedded batch."""


@dataclass(frozen=True)
class EmbedStats:
    """What one :func:`embed_corpus` call did.

    embedded: texts sent to the embedder this time.
    reused: texts whose stored vector was still valid.
    truncated: embedded texts longer than the embedder reads (their tail was ignored).
    seconds: wall time of the whole call.
    """

    embedded: int
    reused: int
    truncated: int
    seconds: float


def embed_corpus(
    texts: Sequence[str],
    embedder: Embedder,
    store: EmbeddingStore,
    *,
    batch_size: int = 256,
    progress: Progress | None = None,
    executor: Executor | None = None,
) -> tuple[np.ndarray, EmbedStats]:
    """Vectors for ``texts`` (n, d), in order, embedding only the texts the store lacks, on
    ``executor`` (default: this process).

    Each batch is written to the store as soon as it is embedded, so an interrupted call
    loses at most one batch of work per worker.
    """
    start = time.perf_counter()
    hashes = [text_hash(text) for text in texts]
    first: dict[str, int] = {}  # a text repeated in the corpus is embedded once
    for i in store.missing(hashes):
        first.setdefault(hashes[i], i)
    todo = list(first.values())
    truncated = embedder.count_truncated([texts[i] for i in todo]) if todo else 0
    done = 0
    runner = executor or LocalExecutor()
    for positions, vectors in runner.embed([texts[i] for i in todo], embedder, batch_size):
        store.put([hashes[todo[p]] for p in positions], vectors)
        done += len(positions)
        if progress is not None:
            progress(done, len(todo))
    vectors = store.get(hashes)
    stats = EmbedStats(
        embedded=len(todo),
        reused=len(texts) - len(todo),
        truncated=truncated,
        seconds=time.perf_counter() - start,
    )
    return vectors, stats
