from __future__ import annotations

from pathlib import Path

import pytest

from agent.config import BackendOptions
from agent.llm import registry
from agent.llm.backends import BackendError, LlamaCppBackend, OpenAICompatibleBackend
from agent.llm.registry import make_chat_backend
from tools.embedders import (
    EmbedderError,
    OpenAICompatibleEmbedder,
    SentenceTransformerEmbedder,
    make_embedder,
)
from tools.text import strip_credentials

OPTIONS = BackendOptions()


def test_packaged_and_file_backends_load_nothing_until_used(tmp_path: Path) -> None:
    default = make_chat_backend("llamacpp", OPTIONS, tmp_path)
    small = make_chat_backend("llamacpp:small", OPTIONS, tmp_path)
    assert isinstance(default, LlamaCppBackend) and default._llama is None
    assert default.model_id == "llamacpp:qwen2.5-coder-1.5b-instruct-q4_k_m@cc324af070c2ecbf"
    assert small.model_id.startswith("llamacpp:qwen2.5-coder-0.5b-instruct@")
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    custom = make_chat_backend(f"llamacpp:{gguf}", BackendOptions(n_gpu_layers=-1, n_ctx=8192), tmp_path)
    assert isinstance(custom, LlamaCppBackend)
    assert (custom.n_gpu_layers, custom.n_ctx, custom.locate()) == (-1, 8192, gguf)
    other = tmp_path / "b" / "m.gguf"  # the same file name, other weights: another model id
    other.parent.mkdir()
    other.write_bytes(b"GGUF re-quantised")
    assert make_chat_backend(f"llamacpp:{other}", OPTIONS, tmp_path).model_id != custom.model_id
    with pytest.raises(BackendError, match="no GGUF file"):
        make_chat_backend(f"llamacpp:{tmp_path / 'missing.gguf'}", OPTIONS, tmp_path)


def test_openai_compatible_spec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_KEY", "sk-secret")
    backend = make_chat_backend(
        "openai-compatible:http://127.0.0.1:8000/v1@qwen", BackendOptions(api_key_env="MY_KEY"), tmp_path
    )
    assert isinstance(backend, OpenAICompatibleBackend)
    assert (backend.base_url, backend.model, backend.api_key) == (
        "http://127.0.0.1:8000/v1",
        "qwen",
        "sk-secret",
    )
    assert "sk-secret" not in backend.model_id
    with pytest.raises(BackendError, match="expected 'openai-compatible:http"):
        make_chat_backend("openai-compatible:localhost:8000", OPTIONS, tmp_path)


def test_credentials_never_reach_the_model_id() -> None:
    assert strip_credentials("http://user:pw@host:1/v1") == "http://host:1/v1"
    backend = OpenAICompatibleBackend("https://u:pw@example.test/v1", "m")
    assert "pw" not in backend.model_id


def test_unknown_spec_names_the_choices(tmp_path: Path) -> None:
    with pytest.raises(BackendError, match="llamacpp:small"):
        make_chat_backend("gpt4", OPTIONS, tmp_path)


def test_hosted_provider_errors_name_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(BackendError, match=r"pip install langchain-nosuchprovider"):
        make_chat_backend("nosuchprovider:model-x", OPTIONS, tmp_path)
    monkeypatch.setattr(registry.importlib.util, "find_spec", lambda name: object())
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(BackendError, match=r"export ANTHROPIC_API_KEY="):
        make_chat_backend("anthropic:claude-x", OPTIONS, tmp_path)


def test_missing_extra_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(BackendError, match=r"pip install 'goalcluster\[openai\]'"):
        make_chat_backend("openai:gpt-4o-mini", OPTIONS, tmp_path)


def test_embedder_registry(tmp_path: Path) -> None:
    assert isinstance(make_embedder("minilm"), SentenceTransformerEmbedder)
    folder = make_embedder(f"sentence-transformers:{tmp_path}")
    assert isinstance(folder, SentenceTransformerEmbedder) and folder.model_path == tmp_path
    with pytest.raises(EmbedderError, match="not a sentence-transformers model folder"):
        folder.embed(["x"])
    served = make_embedder("openai-compatible:http://127.0.0.1:9/v1@emb")
    assert isinstance(served, OpenAICompatibleEmbedder) and served.model == "emb"
    with pytest.raises(EmbedderError, match="unknown embedder"):
        make_embedder("word2vec")
