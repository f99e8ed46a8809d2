"""The embedding store: vectors kept in a ChromaDB ``PersistentClient`` on disk, or in a Chroma
server (``chroma://HOST:PORT``, Chroma's HTTP client; start one with ``chroma run --path DIR``).

One collection per embedder (or view) identity; each vector is keyed by the sha256 of the text it
was computed from. A vector is therefore found only for the very text it belongs to: two corpora
of the same name, a changed text, or another view's vectors can never be read in its place, and a
text seen before under the same identity is never embedded again.

Chroma's embedded store is not safe for several processes (a reader opened before another
process wrote fails with "Error finding id"). Every operation holds an exclusive file lock on the
store folder, and a process reopens its client when another process has written since it last
looked. A Chroma server serialises its clients itself: no lock is taken. Telemetry is off and no
embedding function is attached, so Chroma never downloads a model.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

SERVER_SCHEME = "chroma://"
LOCK_FILE = ".goalcluster.lock"
GENERATION_FILE = ".goalcluster.generation"

_seen: dict[Path, str] = {}
"""Per store folder, the last generation this process has seen. Chroma keeps one client per folder
per process, so what has been seen is the process's, not one object's."""
_epoch = [0]
"""Bumped whenever Chroma's clients are dropped (for every folder at once): older handles reopen."""


class StoreError(RuntimeError):
    """The store folder cannot be read or written (damaged): the message names it and the fix."""


def text_hash(text: str) -> str:
    """The sha256 hex digest of ``text`` (UTF-8): a vector's key."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def collection_name(embedder: str) -> str:
    """A valid Chroma collection name for an embedder identity: readable, unique, <= 63 chars."""
    readable = re.sub(r"[^A-Za-z0-9_-]+", "-", embedder).strip("-_") or "vectors"
    digest = hashlib.sha256(embedder.encode()).hexdigest()[:12]
    return f"{readable[:48]}-{digest}"


def server_address(location: str | Path) -> tuple[str, int] | None:
    """(host, port) of a ``chroma://HOST:PORT`` location; None for a folder. A malformed address is
    refused with the form it must take."""
    if not isinstance(location, str) or not location.startswith(SERVER_SCHEME):
        return None
    host, _, port = location[len(SERVER_SCHEME) :].rstrip("/").rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(
            f"a Chroma server is named chroma://HOST:PORT (e.g. chroma://127.0.0.1:8000), not {location}"
        )
    return host, int(port)


class EmbeddingStore:
    """Vectors computed by one embedder, keyed by text hash, persisted under ``location``: a folder
    (the embedded store) or ``chroma://HOST:PORT`` (a Chroma server)."""

    def __init__(self, location: str | Path, embedder: str) -> None:
        self.server = server_address(location)
        self.path = Path(location).absolute() if self.server is None else Path()
        self.where = str(location) if self.server else str(self.path)
        self.embedder = embedder
        self._collection: Any = None
        self._epoch = -1

    @contextmanager
    def _locked(self, *, writing: bool = False) -> Iterator[Any]:
        """The collection, under the store's lock; reopened if another process wrote meanwhile."""
        os.environ["ANONYMIZED_TELEMETRY"] = "False"
        if self.server is not None:
            yield from self._served()
            return
        from chromadb.errors import ChromaError

        self.path.mkdir(parents=True, exist_ok=True)
        with (self.path / LOCK_FILE).open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                generation = _read_generation(self.path)
                if _seen.setdefault(self.path, generation) != generation:
                    _forget_clients()  # another process wrote: this process's clients are stale
                    _seen[self.path] = generation
                try:
                    if self._collection is None or self._epoch != _epoch[0]:
                        self._collection, self._epoch = self._open(), _epoch[0]
                    yield self._collection
                except ChromaError as error:
                    raise StoreError(
                        f"the embedding store at {self.path} is damaged ({error}). Fix: move that folder "
                        "aside (or give --home another folder); its vectors are then computed again."
                    ) from error
                finally:
                    if writing:  # even a failed write may have changed the folder
                        _seen[self.path] = uuid.uuid4().hex
                        (self.path / GENERATION_FILE).write_text(_seen[self.path])
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _served(self) -> Iterator[Any]:
        """The collection on the Chroma server; an unreachable or failing server is named with the fix."""
        import httpx
        from chromadb.errors import ChromaError

        fix = "Fix: start it (chroma run --path DIR --host HOST --port PORT) or give --store a folder."
        try:
            if self._collection is None:
                self._collection = self._open()
        except (ChromaError, httpx.HTTPError, ValueError) as error:  # ValueError: "Could not connect"
            raise StoreError(f"the Chroma server at {self.where} failed ({error}). {fix}") from error
        try:
            yield self._collection
        except (ChromaError, httpx.HTTPError) as error:
            raise StoreError(f"the Chroma server at {self.where} failed ({error}). {fix}") from error

    def _open(self) -> Any:
        import chromadb
        from chromadb.config import Settings

        settings = Settings(anonymized_telemetry=False)
        if self.server is not None:
            client: Any = chromadb.HttpClient(host=self.server[0], port=self.server[1], settings=settings)
        else:
            client = chromadb.PersistentClient(path=str(self.path), settings=settings)
        return client.get_or_create_collection(
            collection_name(self.embedder),
            embedding_function=None,
            configuration={"hnsw": {"space": "cosine"}},
            metadata={"embedder": self.embedder[:512]},
        )

    def missing(self, hashes: Sequence[str]) -> list[int]:
        """Positions in ``hashes`` whose text has no stored vector."""
        stored: set[str] = set()
        unique = list(dict.fromkeys(hashes))
        with self._locked() as collection:
            step = int(collection._client.get_max_batch_size())
            for start in range(0, len(unique), step):
                stored.update(collection.get(ids=unique[start : start + step], include=[])["ids"])
        return [i for i, h in enumerate(hashes) if h not in stored]

    def put(self, hashes: Sequence[str], vectors: np.ndarray) -> None:
        """Store ``vectors`` (n, d) under the hashes of their texts, replacing what was there."""
        first = {h: i for i, h in reversed(list(enumerate(hashes)))}  # Chroma refuses repeated ids
        keys, rows = list(first), list(first.values())
        with self._locked(writing=True) as collection:
            step = int(collection._client.get_max_batch_size())
            for start in range(0, len(keys), step):
                chunk = rows[start : start + step]
                collection.upsert(
                    ids=keys[start : start + step], embeddings=np.asarray(vectors[chunk], dtype=np.float32)
                )

    def get(self, hashes: Sequence[str]) -> np.ndarray:
        """The stored vectors of the texts with ``hashes``, in that order; shape (len(hashes), d)."""
        rows: dict[str, np.ndarray] = {}
        unique = list(dict.fromkeys(hashes))
        with self._locked() as collection:
            step = int(collection._client.get_max_batch_size())
            for start in range(0, len(unique), step):
                got = collection.get(ids=unique[start : start + step], include=["embeddings"])
                for key, vector in zip(got["ids"], got["embeddings"], strict=True):
                    rows[key] = np.asarray(vector, dtype=np.float32)
        missing = [h for h in unique if h not in rows]
        if missing:
            raise KeyError(
                f"{len(missing)} text(s) have no vector from {self.embedder} in {self.where}: "
                "embed them first"
            )
        return np.stack([rows[h] for h in hashes])

    def query(
        self, vector: np.ndarray, n_results: int = 10, within: Sequence[str] | None = None
    ) -> list[tuple[str, float]]:
        """The ``n_results`` nearest stored texts to ``vector`` (d,), as (hash, cosine distance);
        ``within`` keeps the search to those hashes (a corpus's own texts)."""
        with self._locked() as collection:
            found = collection.query(
                query_embeddings=[np.asarray(vector, dtype=np.float32)],
                n_results=n_results,
                ids=None if within is None else list(dict.fromkeys(within)),
                include=["distances"],
            )
        return list(zip(found["ids"][0], (float(d) for d in found["distances"][0]), strict=True))

    def count(self) -> int:
        """How many vectors the collection holds."""
        with self._locked() as collection:
            return int(collection.count())


def _read_generation(path: Path) -> str:
    try:
        return (path / GENERATION_FILE).read_text()
    except FileNotFoundError:
        return ""


def _forget_clients() -> None:
    """Drop Chroma's cached clients, so the next open reads what other processes wrote."""
    from chromadb.api.client import SharedSystemClient

    SharedSystemClient.clear_system_cache()
    _epoch[0] += 1
