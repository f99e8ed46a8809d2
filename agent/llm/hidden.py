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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from agent.llm.backends import RETRIES, BackendError, served_error
from tools.text import strip_credentials


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

    Prompts are tokenized as llama.cpp's own embeddings endpoint does (the chat markers in the
    prompt file as plain text: the form the goal view was measured in), so the in-process and the
    ``llama_cpp.server`` goal views are the same vectors. On a CPU one prompt goes per forward pass
    (packing several was measured slower), and the key-value cache of the tokens a prompt shares
    with the one before (the prompt file's opening) is kept, so only the rest is computed; with
    layers on a GPU, up to ``GPU_BATCH`` prompts share a pass instead.
    """

    GPU_BATCH = 16

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
        self._cached: list[int] = []  # the tokens whose keys and values sequence 0 holds

    @property
    def model_id(self) -> str:
        return self._model_id

    def __getstate__(self) -> dict[str, Any]:
        # Pickled (to a Ray worker) without the loaded model: each process loads its own.
        return {**self.__dict__, "_llama": None, "_cached": []}

    @property
    def per_pass(self) -> int:
        return 1 if self.n_gpu_layers == 0 else self.GPU_BATCH

    def _load(self) -> Any:
        if self._llama is None:
            import llama_cpp

            self._llama = llama_cpp.Llama(
                model_path=str(self.locate()),
                n_ctx=self.n_ctx * self.per_pass,
                n_batch=self.n_ctx * self.per_pass,
                n_ubatch=512,
                n_seq_max=self.per_pass,
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
        step = self.per_pass
        for start in range(0, len(prompts), step):
            batch = [self._tokens(llama, prompt) for prompt in prompts[start : start + step]]
            if step == 1:
                self._decode_after_shared_prefix(llama, batch[0])
            else:
                self._cached = []
                llama._ctx.kv_cache_clear()
                llama._batch.reset()
                for seq, tokens in enumerate(batch):
                    llama._batch.add_sequence(tokens, seq, True)
                llama._ctx.decode(llama._batch)
            for seq in range(len(batch)):
                rows[start + seq] = llama_cpp.llama_get_embeddings_seq(llama._ctx.ctx, seq)[:width]
        return rows

    def _tokens(self, llama: Any, prompt: str) -> list[int]:
        tokens = list(llama.tokenize(prompt.encode("utf-8")))  # as llama_cpp.server does
        if len(tokens) > self.n_ctx:
            raise BackendError(
                f"a goal-view prompt has {len(tokens)} tokens, over the context of {self.n_ctx}; "
                "cut the texts shorter (view_text_chars)"
            )
        return tokens

    def _decode_after_shared_prefix(self, llama: Any, tokens: list[int]) -> None:
        """Decode ``tokens`` in sequence 0, reusing the cached keys and values of the prefix they
        share with the previous prompt (causal attention: those do not depend on what follows)."""
        import llama_cpp

        shared = 0
        limit = min(len(tokens) - 1, len(self._cached))
        while shared < limit and tokens[shared] == self._cached[shared]:
            shared += 1
        llama_cpp.llama_memory_seq_rm(llama_cpp.llama_get_memory(llama._ctx.ctx), 0, shared, -1)
        llama._batch.reset()
        batch = llama._batch.batch
        for i, token in enumerate(tokens[shared:]):
            batch.token[i], batch.pos[i], batch.n_seq_id[i], batch.logits[i] = token, shared + i, 1, True
            batch.seq_id[i][0] = 0
        batch.n_tokens = len(tokens) - shared
        llama._ctx.decode(llama._batch)
        self._cached = tokens


class ServedHiddenStates:
    """An OpenAI-compatible ``/embeddings`` endpoint given the raw prompt.

    One prompt per request, ``concurrency`` requests in flight: servers that batch (vLLM) batch
    concurrent requests themselves, and llama-cpp-python's server reads per-token vectors of a
    multi-input request at the wrong offsets.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        timeout: float = 600.0,
        concurrency: int = 4,
    ) -> None:
        self.base_url = base_url
        self.model = model
        self.api_key = api_key
        self.timeout = timeout
        self.concurrency = concurrency

    @property
    def model_id(self) -> str:
        return f"openai-compatible:{strip_credentials(self.base_url)}@{self.model}"

    def last_states(self, prompts: Sequence[str]) -> np.ndarray:
        import openai

        client = openai.OpenAI(
            base_url=self.base_url,
            api_key=self.api_key or "not-needed",
            timeout=self.timeout,
            max_retries=RETRIES,  # the SDK retries 408/409/429/5xx and lost connections, backing off
        )

        def one(prompt: str) -> np.ndarray:
            try:
                answer = client.embeddings.create(model=self.model, input=[prompt])
            except (openai.BadRequestError, openai.UnprocessableEntityError) as error:
                raise BackendError(
                    f"{self.model_id} refused an embeddings request ({error}). The goal view needs a server "
                    "with embeddings on and last-token pooling (see README, Models)."
                ) from error
            except openai.OpenAIError as error:
                url = strip_credentials(self.base_url)
                raise BackendError(served_error(error, url, self.model, self.timeout)) from error
            vector = np.asarray(answer.data[0].embedding, dtype=np.float32)
            return vector[-1] if vector.ndim == 2 else vector  # per-token answers: the last token's

        if not prompts:
            return np.zeros((0, 0), np.float32)
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            return np.stack(list(pool.map(one, prompts)))
