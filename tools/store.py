"""The embedding store: vectors kept in a ChromaDB ``PersistentClient`` on disk.

One collection per (corpus, embedder), keyed by document id, each vector carrying the sha256
of the text it was computed from, so a rerun embeds only what is new or changed.
Telemetry is off and no embedding function is attached, so Chroma never downloads a model.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np


def text_hash(text: str) -> str:
    """The sha256 hex digest of ``text`` (UTF-8)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def collection_name(corpus: str, embedder: str) -> str:
    """A valid Chroma collection name for (corpus, embedder): readable, unique, <= 63 chars."""
    readable = re.sub(r"[^A-Za-z0-9_-]+", "-", f"{corpus}__{embedder}").strip("-_") or "corpus"
    digest = hashlib.sha256(f"{corpus}\0{embedder}".encode()).hexdigest()[:10]
    return f"{readable[:50]}-{digest}"


class EmbeddingStore:
    """Vectors of one corpus under one embedder, persisted under ``path``."""

    def __init__(self, path: str | Path, corpus: str, embedder: str) -> None:
        self.path = Path(path)
        self.corpus = corpus
        self.embedder = embedder
        self._collection: Any = None

    @property
    def collection(self) -> Any:
        if self._collection is None:
            os.environ["ANONYMIZED_TELEMETRY"] = "False"
            import chromadb
            from chromadb.config import Settings

            self.path.mkdir(parents=True, exist_ok=True)
            client = chromadb.PersistentClient(
                path=str(self.path), settings=Settings(anonymized_telemetry=False)
            )
            self._collection = client.get_or_create_collection(
                collection_name(self.corpus, self.embedder),
                embedding_function=None,
                configuration={"hnsw": {"space": "cosine"}},
                metadata={"corpus": self.corpus, "embedder": self.embedder},
            )
        return self._collection

    def _batch_size(self) -> int:
        return int(self.collection._client.get_max_batch_size())

    def stale(self, ids: Sequence[str], hashes: Sequence[str]) -> list[int]:
        """Positions in ``ids`` whose vector is missing or was computed from another text."""
        stored: dict[str, str] = {}
        step = self._batch_size()
        for start in range(0, len(ids), step):
            got = self.collection.get(ids=list(ids[start : start + step]), include=["metadatas"])
            for doc_id, meta in zip(got["ids"], got["metadatas"], strict=True):
                stored[doc_id] = (meta or {}).get("sha256", "")
        return [i for i, (doc_id, h) in enumerate(zip(ids, hashes, strict=True)) if stored.get(doc_id) != h]

    def put(self, ids: Sequence[str], vectors: np.ndarray, hashes: Sequence[str]) -> None:
        """Store ``vectors`` (n, d) for ``ids``, replacing what was there."""
        step = self._batch_size()
        for start in range(0, len(ids), step):
            stop = start + step
            self.collection.upsert(
                ids=list(ids[start:stop]),
                embeddings=np.asarray(vectors[start:stop], dtype=np.float32),
                metadatas=[{"sha256": h} for h in hashes[start:stop]],
            )

    def get(self, ids: Sequence[str]) -> np.ndarray:
        """The stored vectors for ``ids``, in that order; shape (len(ids), d)."""
        rows: dict[str, np.ndarray] = {}
        step = self._batch_size()
        for start in range(0, len(ids), step):
            got = self.collection.get(ids=list(ids[start : start + step]), include=["embeddings"])
            for doc_id, vector in zip(got["ids"], got["embeddings"], strict=True):
                rows[doc_id] = np.asarray(vector, dtype=np.float32)
        missing = [doc_id for doc_id in ids if doc_id not in rows]
        if missing:
            raise KeyError(f"{len(missing)} id(s) have no stored vector, e.g. {missing[:3]}")
        return np.stack([rows[doc_id] for doc_id in ids])

    def query(self, vector: np.ndarray, n_results: int = 10) -> list[tuple[str, float]]:
        """The ``n_results`` nearest stored ids to ``vector`` (d,), with cosine distance."""
        found = self.collection.query(
            query_embeddings=[np.asarray(vector, dtype=np.float32)],
            n_results=n_results,
            include=["distances"],
        )
        return list(zip(found["ids"][0], (float(d) for d in found["distances"][0]), strict=True))

    def count(self) -> int:
        """How many vectors the collection holds."""
        return int(self.collection.count())
