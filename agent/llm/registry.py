"""One registry of model strings, shared by the CLI, the Python API and config.

llamacpp                                 the packaged Qwen2.5-Coder-1.5B-Instruct (default)
llamacpp:small                           the packaged Qwen2.5-Coder-0.5B-Instruct
llamacpp:/path/to/model.gguf             any GGUF file
openai-compatible:http://HOST:PORT/v1@MODEL   a local GPU-served model (vLLM, Ollama, ...)
PROVIDER:MODEL                           a hosted model through LangChain (openai:gpt-4o-mini,
                                         anthropic:claude-..., any init_chat_model provider)
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
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
from agent.llm.hidden import HiddenStates, LlamaCppHiddenStates, ServedHiddenStates
from agent.llm.packaged import PACKAGED_MODELS, ensure_model
from tools.files import write_atomic

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
    locate, model_id = _gguf(rest, home, announce)
    return _llama(locate, model_id, options)


def _gguf(rest: str, home: Path, announce: Announce | None) -> tuple[Callable[[], Path], str]:
    """How to find the GGUF that ``llamacpp[:rest]`` names, and its model id, which names the exact
    weights (their sha256): answers and hidden states of two files never mix."""
    if rest in ("", "default", "small"):
        packaged = PACKAGED_MODELS[rest or "default"]

        def locate() -> Path:
            if announce is not None:
                announce(f"loading {packaged.title}")
            return ensure_model(packaged, home)

        return locate, f"llamacpp:{packaged.key}@{packaged.sha256[:16]}"
    path = Path(rest).expanduser()
    if not path.is_file():
        raise BackendError(
            f"no GGUF file at {path}. Pass an existing file: --llm llamacpp:/path/to/model.gguf"
        )
    return (lambda: path), f"llamacpp:{path.name}@{file_sha256(path, home)[:16]}"


def make_hidden_states(
    spec: str, options: BackendOptions, home: Path, announce: Announce | None = None
) -> HiddenStates | None:
    """The hidden-state backend of the chat model ``spec`` names; None for a hosted model, which
    exposes no hidden states. Its ``model_id`` pins the exact weights (the file's sha256)."""
    kind, sep, rest = spec.partition(":")
    if kind == "llamacpp":
        locate, model_id = _gguf(rest if sep else "", home, announce)
        return LlamaCppHiddenStates(
            locate,
            model_id=model_id,
            n_threads=options.n_threads,
            n_gpu_layers=options.n_gpu_layers,
        )
    if kind == "openai-compatible":
        url, model, api_key = _served(rest, options)
        return ServedHiddenStates(url, model, api_key=api_key, timeout=options.timeout)
    make_chat_backend(spec, options, home)  # a hosted model: checks the spec, its package and key
    return None


def file_sha256(path: Path, home: Path) -> str:
    """The sha256 of a model file, remembered per (path, size, mtime) under ``home``."""
    stat = path.stat()
    key = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    known_path = home / "models" / "file-hashes.json"
    known = json.loads(known_path.read_text()) if known_path.exists() else {}
    if key not in known:
        digest = hashlib.sha256()
        with path.open("rb") as model:
            while block := model.read(8 << 20):
                digest.update(block)
        known[key] = digest.hexdigest()
        known_path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(known_path, json.dumps(known, indent=1))
    return str(known[key])


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
    url, model, api_key = _served(rest, options)
    return OpenAICompatibleBackend(url, model, api_key=api_key, timeout=options.timeout, seed=options.seed)


def _served(rest: str, options: BackendOptions) -> tuple[str, str, str | None]:
    """URL, model and API key of ``openai-compatible:URL@MODEL``."""
    url, sep, model = rest.rpartition("@")
    if not sep or not re.match(r"https?://", url) or not model:
        raise BackendError(
            f"expected 'openai-compatible:http://HOST:PORT/v1@MODEL', got 'openai-compatible:{rest}'."
        )
    api_key = os.environ.get(options.api_key_env) if options.api_key_env else None
    return url, model, api_key


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
