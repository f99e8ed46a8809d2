"""One registry of model strings, shared by the CLI, the Python API and config.

llamacpp                                 the packaged Qwen2.5-Coder-1.5B-Instruct (default)
llamacpp:small                           the packaged Qwen2.5-Coder-0.5B-Instruct
llamacpp:/path/to/model.gguf             any GGUF file
openai-compatible:http://HOST:PORT/v1@MODEL   a local GPU-served model (vLLM, Ollama, ...)
PROVIDER:MODEL                           a hosted model through LangChain (openai:gpt-4o-mini,
                                         anthropic:claude-..., any init_chat_model provider)
"""

from __future__ import annotations

import importlib.util
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agent.config import BackendOptions
from agent.llm.backends import (
    BackendError,
    ChatBackend,
    LangChainBackend,
    LlamaCppBackend,
    OpenAICompatibleBackend,
)
from agent.llm.packaged import PACKAGED_MODELS, ensure_model

DEFAULT_LLM = "llamacpp"

# Hosted providers we can name the fix for: (extra, LangChain package module, key variable).
_HOSTED = {
    "openai": ("openai", "langchain_openai", "OPENAI_API_KEY"),
    "anthropic": ("anthropic", "langchain_anthropic", "ANTHROPIC_API_KEY"),
    "google_genai": ("", "langchain_google_genai", "GOOGLE_API_KEY"),
    "mistralai": ("", "langchain_mistralai", "MISTRAL_API_KEY"),
    "groq": ("", "langchain_groq", "GROQ_API_KEY"),
}

Announce = Callable[[str], None]


def make_chat_backend(
    spec: str, options: BackendOptions, home: Path, announce: Announce | None = None
) -> ChatBackend:
    """Build the chat backend that ``spec`` names. Nothing is loaded until its first call."""
    kind, sep, rest = spec.partition(":")
    if kind == "llamacpp":
        return _llamacpp(rest if sep else "", options, home, announce)
    if kind == "openai-compatible":
        return _openai_compatible(rest, options)
    if sep and rest and re.fullmatch(r"[a-z][a-z0-9_-]*", kind):
        return _hosted(kind, rest, options)
    raise BackendError(
        f"unknown model {spec!r}. Use 'llamacpp', 'llamacpp:small', 'llamacpp:/path/model.gguf', "
        "'openai-compatible:http://HOST:PORT/v1@MODEL' or 'PROVIDER:MODEL' (e.g. openai:gpt-4o-mini)."
    )


def _llamacpp(rest: str, options: BackendOptions, home: Path, announce: Announce | None) -> ChatBackend:
    if rest in ("", "default", "small"):
        packaged = PACKAGED_MODELS[rest or "default"]

        def locate() -> Path:
            if announce is not None:
                announce(f"loading {packaged.title}")
            return ensure_model(packaged, home)

        return _llama(locate, f"llamacpp:{packaged.key}", options)
    path = Path(rest).expanduser()
    if not path.is_file():
        raise BackendError(
            f"no GGUF file at {path}. Pass an existing file: --llm llamacpp:/path/to/model.gguf"
        )
    return _llama(lambda: path, f"llamacpp:{path.name}", options)


def _llama(locate: Callable[[], Path], model_id: str, options: BackendOptions) -> ChatBackend:
    return LlamaCppBackend(
        locate,
        model_id=model_id,
        n_ctx=options.n_ctx,
        n_threads=options.n_threads,
        n_gpu_layers=options.n_gpu_layers,
        seed=options.seed,
    )


def _openai_compatible(rest: str, options: BackendOptions) -> ChatBackend:
    url, sep, model = rest.rpartition("@")
    if not sep or not re.match(r"https?://", url) or not model:
        raise BackendError(
            f"expected 'openai-compatible:http://HOST:PORT/v1@MODEL', got 'openai-compatible:{rest}'."
        )
    api_key = os.environ.get(options.api_key_env) if options.api_key_env else None
    return OpenAICompatibleBackend(url, model, api_key=api_key, timeout=options.timeout, seed=options.seed)


def _hosted(provider: str, model: str, options: BackendOptions) -> ChatBackend:
    extra, module, key_env = _HOSTED.get(provider, ("", f"langchain_{provider}", ""))
    if importlib.util.find_spec(module) is None:
        fix = f"pip install 'goalcluster[{extra}]'" if extra else f"pip install {module.replace('_', '-')}"
        raise BackendError(f"the {provider!r} provider needs {module}, which is not installed. Fix: {fix}")
    key_env = options.api_key_env or key_env
    if key_env and not os.environ.get(key_env):
        raise BackendError(f"{provider}:{model} needs an API key. Fix: export {key_env}=...")
    from langchain.chat_models import init_chat_model

    kwargs: dict[str, Any] = {"temperature": 0.0, "timeout": options.timeout}
    if options.api_key_env:
        kwargs["api_key"] = os.environ[options.api_key_env]
    chat_model = init_chat_model(model, model_provider=provider, **kwargs)
    return LangChainBackend(chat_model, model_id=f"{provider}:{model}")
