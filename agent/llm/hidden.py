"""Hidden-state backends: the chat model's last-token hidden state for a prompt, one forward pass
and no generated token. The goal view (``agent/views.py``) is built on them.

- :class:`LlamaCppHiddenStates` runs a GGUF in-process in llama.cpp's embedding mode with
  last-token pooling.
- :class:`ServedHiddenStates` asks an OpenAI-compatible ``/embeddings`` endpoint for the raw
  prompt: a llama.cpp ``llama-server --embeddings --pooling last``, a vLLM pooling model with LAST
  pooling, or ``python -m llama_cpp.server --embedding true`` (it returns one vector per token, of
  which the last is taken).

Nothing is loaded before the first call.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from agent.llm.backends import BackendError, strip_credentials


class HiddenStates(Protocol):
    """Last-token hidden states of raw prompts."""

    @property
    def model_id(self) -> str:
        """Names the model's weights exactly (a file hash where there is one); part of a view's
        identity, so vectors from different weights are never mixed."""
        ...

    def last_states(self, prompts: Sequence[str]) -> np.ndarray:
        """Float32 (len(prompts), d): the hidden state after each prompt's last token."""
        ...


class LlamaCppHiddenStates:
    """A GGUF run in-process by llama-cpp-python in embedding mode, loaded on the first call.

    Prompts are tokenized with their special tokens (the chat template's markers), one prompt per
    forward pass: on a CPU, packing several prompts into one pass was measured no faster.
    """

    def __init__(
        self,
        locate: Callable[[], Path],
        *,
        model_id: str,
        n_ctx: int = 2048,
        n_threads: int | None = None,
        n_gpu_layers: int = 0,
    ) -> None:
        self.locate = locate
        self._model_id = model_id
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.n_gpu_layers = n_gpu_layers
        self._llama: Any = None

    @property
    def model_id(self) -> str:
        return self._model_id

    def _load(self) -> Any:
        if self._llama is None:
            import llama_cpp

            self._llama = llama_cpp.Llama(
                model_path=str(self.locate()),
                n_ctx=self.n_ctx,
                n_batch=self.n_ctx,
                n_ubatch=512,
                n_threads=self.n_threads,
                n_gpu_layers=self.n_gpu_layers,
                embedding=True,
                pooling_type=llama_cpp.LLAMA_POOLING_TYPE_LAST,
                verbose=False,
            )
        return self._llama

    def last_states(self, prompts: Sequence[str]) -> np.ndarray:
        import llama_cpp

        llama = self._load()
        width = llama.n_embd()
        rows = np.zeros((len(prompts), width), dtype=np.float32)
        for i, prompt in enumerate(prompts):
            tokens = llama.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)
            if len(tokens) > self.n_ctx:
                raise BackendError(
                    f"a goal-view prompt has {len(tokens)} tokens, over the context of {self.n_ctx}; "
                    "cut the texts shorter (view_text_chars)"
                )
            llama._ctx.kv_cache_clear()
            llama._batch.reset()
            llama._batch.add_sequence(tokens, 0, True)
            llama._ctx.decode(llama._batch)
            rows[i] = llama_cpp.llama_get_embeddings_seq(llama._ctx.ctx, 0)[:width]
        llama._batch.reset()
        llama._ctx.kv_cache_clear()
        return rows


class ServedHiddenStates:
    """An OpenAI-compatible ``/embeddings`` endpoint given the raw prompt."""

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        timeout: float = 600.0,
        batch: int = 32,
    ) -> None:
        self.base_url = base_url
        self.model = model
        self.api_key = api_key
        self.timeout = timeout
        self.batch = batch

    @property
    def model_id(self) -> str:
        return f"openai-compatible:{strip_credentials(self.base_url)}@{self.model}"

    def last_states(self, prompts: Sequence[str]) -> np.ndarray:
        import openai

        client = openai.OpenAI(
            base_url=self.base_url, api_key=self.api_key or "not-needed", timeout=self.timeout, max_retries=2
        )
        rows: list[np.ndarray] = []
        for start in range(0, len(prompts), self.batch):
            try:
                answer = client.embeddings.create(
                    model=self.model, input=list(prompts[start : start + self.batch])
                )
            except openai.APIConnectionError as error:
                raise BackendError(
                    f"cannot reach the goal-view server at {strip_credentials(self.base_url)} ({error}). "
                    "Start it with embeddings on, or fix --view-model."
                ) from error
            except openai.APIStatusError as error:
                raise BackendError(
                    f"{self.model_id} refused an embeddings request ({error}). The goal view needs a server "
                    "with embeddings on and last-token pooling (see README, Models)."
                ) from error
            for item in sorted(answer.data, key=lambda d: d.index):
                vector = np.asarray(item.embedding, dtype=np.float32)
                rows.append(vector[-1] if vector.ndim == 2 else vector)  # per-token answers: the last
        return np.stack(rows) if rows else np.zeros((0, 0), np.float32)
