"""Chat backends: one structured-completion method each, and nothing loaded before first use.

- :class:`LlamaCppBackend` runs a GGUF in-process with llama-cpp-python (JSON-schema grammar).
- :class:`OpenAICompatibleBackend` talks to any OpenAI-compatible server (vLLM, llama.cpp
  server, Ollama, LM Studio, TGI) with JSON-schema structured output.
- :class:`LangChainBackend` wraps a hosted LangChain chat model's structured output.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from tools.text import strip_credentials

Message = dict[str, str]
"""A chat message: ``{"role": "system" | "user" | "assistant", "content": str}``."""


class BackendError(RuntimeError):
    """A backend failed in a way that retrying the same request will not fix."""


@dataclass(frozen=True)
class Completion:
    """One answer: raw text and token counts as the backend reported them."""

    text: str
    prompt_tokens: int
    completion_tokens: int


class ChatBackend(Protocol):
    """What the typed LLM helper needs from a model."""

    @property
    def model_id(self) -> str:
        """Names the model for traces and the answer cache (never holds a secret)."""
        ...

    def complete(self, messages: Sequence[Message], schema: dict[str, Any], *, max_tokens: int) -> Completion:
        """Answer ``messages`` with JSON that should fit ``schema`` (deterministic decoding)."""
        ...


class LlamaCppBackend:
    """A GGUF model run in-process by llama-cpp-python, loaded on the first call."""

    def __init__(
        self,
        locate: Callable[[], Path],
        *,
        model_id: str,
        n_ctx: int = 4096,
        n_threads: int | None = None,
        n_gpu_layers: int = 0,
        seed: int = 0,
    ) -> None:
        self.locate = locate
        self._model_id = model_id
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.n_gpu_layers = n_gpu_layers
        self.seed = seed
        self._llama: Any = None

    @property
    def model_id(self) -> str:
        return self._model_id

    def _load(self) -> Any:
        if self._llama is None:
            from llama_cpp import Llama

            path = self.locate()
            self._llama = Llama(
                model_path=str(path),
                n_ctx=self.n_ctx,
                n_threads=self.n_threads,
                n_gpu_layers=self.n_gpu_layers,
                seed=self.seed,
                verbose=False,
            )
        return self._llama

    def complete(self, messages: Sequence[Message], schema: dict[str, Any], *, max_tokens: int) -> Completion:
        llama = self._load()
        try:
            out = llama.create_chat_completion(
                messages=list(messages),
                response_format={"type": "json_object", "schema": schema},
                temperature=0.0,
                max_tokens=max_tokens,
                seed=self.seed,
            )
        except ValueError as error:  # llama-cpp-python reports a full context this way
            raise BackendError(
                f"{self.model_id}: {error}. Shorten the input or raise the context size (n_ctx={self.n_ctx})."
            ) from error
        usage = out.get("usage") or {}
        return Completion(
            text=out["choices"][0]["message"]["content"] or "",
            prompt_tokens=int(usage.get("prompt_tokens", 0)),
            completion_tokens=int(usage.get("completion_tokens", 0)),
        )


class OpenAICompatibleBackend:
    """Any server speaking the OpenAI chat-completions API, e.g. on a local GPU."""

    def __init__(
        self, base_url: str, model: str, *, api_key: str | None = None, timeout: float = 600.0, seed: int = 0
    ) -> None:
        self.base_url = base_url
        self.model = model
        self.api_key = api_key
        self.timeout = timeout
        self.seed = seed
        self._client: Any = None
        # Servers differ in the structured-output dialect they accept: the OpenAI standard
        # (`json_schema`) first, else llama-cpp-python's (`json_object` with a `schema`). Until one
        # has been answered, a request is sent once, unretried: a refusal of the dialect (400, 422,
        # or llama_cpp.server's 500 naming response_format) switches at once.
        self._dialects = ["json_schema", "json_object"]
        self._settled = False

    @property
    def model_id(self) -> str:
        return f"openai-compatible:{strip_credentials(self.base_url)}@{self.model}"

    def _connect(self) -> Any:
        if self._client is None:
            import openai

            self._client = openai.OpenAI(
                base_url=self.base_url,
                api_key=self.api_key or "not-needed",
                timeout=self.timeout,
                max_retries=RETRIES,  # the SDK retries 408/409/429/5xx and lost connections, backing off
            )
        return self._client

    def complete(self, messages: Sequence[Message], schema: dict[str, Any], *, max_tokens: int) -> Completion:
        import openai

        client = self._connect()
        while True:
            trying = not self._settled
            try:
                out = (client.with_options(max_retries=0) if trying else client).chat.completions.create(
                    model=self.model,
                    messages=list(messages),
                    response_format=_response_format(self._dialects[0], schema),
                    temperature=0.0,
                    max_tokens=max_tokens,
                    seed=self.seed,
                )
                self._settled = True
                break
            except openai.OpenAIError as error:
                if _refuses_dialect(error) and len(self._dialects) > 1:
                    self._dialects.pop(0)  # another structured-output dialect may be what it expects
                    continue
                if isinstance(error, openai.BadRequestError | openai.UnprocessableEntityError):
                    raise BackendError(f"{self.model_id} refused the request: {error}") from error
                if trying:  # a transient failure of the first request: again, with retries
                    self._settled = True
                    continue
                url = strip_credentials(self.base_url)
                raise BackendError(served_error(error, url, self.model, self.timeout)) from error
        usage = out.usage
        return Completion(
            text=out.choices[0].message.content or "",
            prompt_tokens=int(usage.prompt_tokens) if usage else 0,
            completion_tokens=int(usage.completion_tokens) if usage else 0,
        )


RETRIES = 4


def _refuses_dialect(error: Exception) -> bool:
    """Whether the server refused the structured-output dialect (not a transient failure)."""
    import openai

    if isinstance(error, openai.BadRequestError | openai.UnprocessableEntityError):
        return True
    return isinstance(error, openai.InternalServerError) and "response_format" in str(error)


def served_error(error: Exception, url: str, model: str, timeout: float) -> str:
    """What went wrong with the OpenAI-compatible server at ``url`` (no credentials), and the fix."""
    import openai

    if isinstance(error, openai.APITimeoutError):
        return f"the model server at {url} did not answer within {timeout:g} s. Raise --timeout."
    if isinstance(error, openai.APIConnectionError):
        return f"cannot reach the model server at {url} ({error}). Start the server or fix the URL in --llm."
    if isinstance(error, openai.AuthenticationError | openai.PermissionDeniedError):
        return (
            f"the model server at {url} refused the API key. Name the variable that holds it: --api-key-env."
        )
    if isinstance(error, openai.NotFoundError):
        return (
            f"the model server at {url} has no model {model!r} ({error}). Check the URL's /v1 and the @MODEL."
        )
    if isinstance(error, openai.RateLimitError | openai.InternalServerError):
        return (
            f"the model server at {url} kept failing after {RETRIES} retries ({error}). Resume the run later."
        )
    return f"the model server at {url} answered with an error: {error}"


class LangChainBackend:
    """A LangChain chat model (hosted providers through ``init_chat_model``)."""

    def __init__(self, chat_model: Any, *, model_id: str) -> None:
        self.chat_model = chat_model
        self._model_id = model_id

    @property
    def model_id(self) -> str:
        return self._model_id

    def complete(self, messages: Sequence[Message], schema: dict[str, Any], *, max_tokens: int) -> Completion:
        structured = self.chat_model.bind(max_tokens=max_tokens).with_structured_output(
            schema, include_raw=True
        )
        result = structured.invoke([(m["role"], m["content"]) for m in messages])
        raw = result["raw"]
        parsed = result.get("parsed")
        text = json.dumps(parsed) if parsed is not None else _message_text(raw)
        usage = getattr(raw, "usage_metadata", None) or {}
        return Completion(
            text=text,
            prompt_tokens=int(usage.get("input_tokens", 0)),
            completion_tokens=int(usage.get("output_tokens", 0)),
        )


def _response_format(dialect: str, schema: dict[str, Any]) -> dict[str, Any]:
    if dialect == "json_schema":
        name = str(schema.get("title", "answer"))
        return {"type": "json_schema", "json_schema": {"name": name, "schema": schema}}
    return {"type": "json_object", "schema": schema}


def _message_text(message: Any) -> str:
    content = getattr(message, "content", "")
    if isinstance(content, list):
        return "".join(part.get("text", "") if isinstance(part, dict) else str(part) for part in content)
    return str(content)
