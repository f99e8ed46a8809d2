"""Where per-document work runs: in this process (``local``, the default) or on a Ray cluster.

Two kinds of per-document work go through an executor:
- :meth:`Executor.embed`: texts to vectors with an :class:`~tools.embedders.Embedder` (the
  semantic view and the goal view's forward passes). On Ray this is a Ray Data ``map_batches``
  over the texts with a pool of actors, each of which unpickles the embedder once and loads its
  model on its first batch (embedders pickle without their loaded model).
- :meth:`Executor.map_blocks`: a function over row blocks ``fn(start, stop, *shared)`` (assignment
  scores, the extension of a sampled goal view to every document); on Ray the shared arguments go
  once into the object store and each block is a task.
- :meth:`Executor.scores`: the (n, k) scores of every document against k vectors, through
  ``map_blocks``.

Spec strings: ``local``; ``ray`` (join the cluster ``RAY_ADDRESS`` names, or start a local one);
``ray:HOST:PORT`` (an existing cluster's GCS address, as ``ray start --head`` prints it). Ray is an
optional dependency (``pip install 'goalcluster[ray]'``), imported only here and only for a Ray spec.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from tools.assign import similarity
from tools.embedders import Embedder

SCORE_BLOCK = 65_536  # document rows per scoring block


class Executor(Protocol):
    """Runs per-document work; results are the same whichever executor runs it."""

    @property
    def name(self) -> str: ...

    def embed(
        self, texts: Sequence[str], embedder: Embedder, batch_size: int
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield ``(positions, vectors)``: positions into ``texts`` (int array) and their vectors
        (len(positions), d), batch by batch as they finish (any order), each text exactly once."""
        ...

    def map_blocks(self, fn: Callable[..., Any], n: int, block: int, *shared: Any) -> list[Any]:
        """``[fn(start, min(start + block, n), *shared) for start in range(0, n, block)]``, in that
        order; ``fn`` must be a module-level function (Ray ships it by name)."""
        ...

    def scores(self, vectors: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """``vectors @ targets.T`` as float32 (n, k), for documents (n, d) and targets (k, d)."""
        ...


class ExecutorError(RuntimeError):
    """An executor cannot be built or reached; the message says how to fix it."""


@dataclass(frozen=True)
class LocalExecutor:
    """Everything in this process, batch after batch."""

    @property
    def name(self) -> str:
        return "local"

    def embed(
        self, texts: Sequence[str], embedder: Embedder, batch_size: int
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for start in range(0, len(texts), batch_size):
            batch = texts[start : start + batch_size]
            yield np.arange(start, start + len(batch)), embedder.embed(batch)

    def map_blocks(self, fn: Callable[..., Any], n: int, block: int, *shared: Any) -> list[Any]:
        return [fn(start, min(start + block, n), *shared) for start in range(0, n, block)]

    def scores(self, vectors: np.ndarray, targets: np.ndarray) -> np.ndarray:
        return _block_scores(vectors, targets)


@dataclass
class RayExecutor:
    """Per-document work on a Ray cluster: ``address`` None joins ``RAY_ADDRESS`` or starts a local
    instance; ``workers`` actors (default: one per CPU the cluster has, at most 8) each take
    ``cpus_per_worker`` CPUs."""

    address: str | None = None
    workers: int | None = None
    cpus_per_worker: float = 1.0

    @property
    def name(self) -> str:
        return "ray" if self.address is None else f"ray:{self.address}"

    def _ray(self) -> Any:
        try:
            import ray
        except ImportError as error:
            raise ExecutorError(
                "--executor ray needs Ray: pip install 'goalcluster[ray]' (or --executor local)"
            ) from error
        if not ray.is_initialized():
            try:
                ray.init(
                    address=self.address or os.environ.get("RAY_ADDRESS"),
                    include_dashboard=False,
                    log_to_driver=False,
                    configure_logging=False,
                )
            except ConnectionError as error:
                raise ExecutorError(
                    f"no Ray cluster at {self.address or os.environ.get('RAY_ADDRESS')}: {error}. Fix: "
                    "start one with `ray start --head` and pass the address it prints (--executor "
                    "ray:HOST:PORT); a cluster with token authentication also needs RAY_AUTH_MODE=token "
                    "and its RAY_AUTH_TOKEN in the environment"
                ) from error
        # The run's own progress bar counts documents; Ray Data's bars and logs would repeat it.
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False
        context.print_on_execution_start = False
        logging.getLogger("ray.data").setLevel(logging.WARNING)
        return ray

    def _pool(self, ray: Any) -> int:
        if self.workers is not None:
            return self.workers
        cpus = float(ray.cluster_resources().get("CPU", 1))
        return max(1, min(8, int(cpus // self.cpus_per_worker)))

    def embed(
        self, texts: Sequence[str], embedder: Embedder, batch_size: int
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        if not texts:
            return
        ray = self._ray()
        rows = ray.data.from_items(
            [{"position": i, "text": t} for i, t in enumerate(texts)],
            override_num_blocks=max(1, min(len(texts) // batch_size, 256)),
        )
        done = rows.map_batches(
            _EmbedBatch,
            fn_constructor_args=(embedder,),
            batch_size=batch_size,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=self._pool(ray)),
            num_cpus=self.cpus_per_worker,
        )
        for batch in done.iter_batches(batch_size=None, batch_format="numpy"):
            yield np.asarray(batch["position"], dtype=int), np.stack(batch["vector"]).astype(np.float32)

    def map_blocks(self, fn: Callable[..., Any], n: int, block: int, *shared: Any) -> list[Any]:
        if n <= block:  # one block: shipping it costs more than it saves
            return LocalExecutor().map_blocks(fn, n, block, *shared)
        ray = self._ray()
        refs = [ray.put(value) for value in shared]
        task = ray.remote(fn)
        return list(ray.get([task.remote(s, min(s + block, n), *refs) for s in range(0, n, block)]))

    def scores(self, vectors: np.ndarray, targets: np.ndarray) -> np.ndarray:
        if targets.size == 0:
            return _block_scores(vectors, targets)
        return np.concatenate(self.map_blocks(_score_rows, len(vectors), SCORE_BLOCK, vectors, targets))


class _EmbedBatch:
    """A Ray Data actor: one embedder per actor, its model loaded on the first batch."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        vectors = self.embedder.embed([str(t) for t in batch["text"]])
        return {"position": batch["position"], "vector": np.asarray(vectors, dtype=np.float32)}


def _score_rows(start: int, stop: int, vectors: np.ndarray, targets: np.ndarray) -> np.ndarray:
    return similarity(vectors[start:stop], targets)


def _block_scores(vectors: np.ndarray, targets: np.ndarray) -> np.ndarray:
    starts = range(0, max(len(vectors), 1), SCORE_BLOCK)
    return np.concatenate([_score_rows(s, s + SCORE_BLOCK, vectors, targets) for s in starts])


def make_executor(spec: str = "local") -> Executor:
    """The executor ``spec`` names (see the module docstring)."""
    kind, sep, address = spec.partition(":")
    if kind == "local" and not sep:
        return LocalExecutor()
    if kind == "ray":
        if sep and not address:
            raise ExecutorError("--executor ray: needs an address after the colon, as ray:HOST:PORT")
        return RayExecutor(address=address or None)
    raise ExecutorError(f"unknown executor {spec!r}: use local, ray, or ray:HOST:PORT")


def check_executor_spec(spec: str) -> str:
    """``spec`` if it names an executor (nothing is started); ValueError otherwise (for a config)."""
    try:
        make_executor(spec)
    except ExecutorError as error:
        raise ValueError(str(error)) from None
    return spec
