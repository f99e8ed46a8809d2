"""The one configuration object: every knob with its default and what it does.

Environment variables are read at the edges (CLI, Python API), never here; an explicit
argument always wins over the environment.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_HOME = Path("~/.cache/goalcluster").expanduser()


class BackendOptions(BaseModel):
    """How a chat backend is run."""

    model_config = ConfigDict(frozen=True)

    n_ctx: int = Field(4096, ge=512, description="llama.cpp context window in tokens.")
    n_threads: int | None = Field(None, ge=1, description="llama.cpp CPU threads (default: all cores).")
    n_gpu_layers: int = Field(
        0, description="llama.cpp layers offloaded to a GPU (-1: all); needs a CUDA/Metal build."
    )
    seed: int = Field(0, description="Sampling seed passed to the backend.")
    timeout: float = Field(600.0, gt=0, description="Seconds to wait for a served or hosted model.")
    api_key_env: str | None = Field(
        None, description="Environment variable holding the API key (default: the provider's usual one)."
    )


class Config(BaseModel):
    """Everything a run can be told. Defaults give a useful run on the embedded models."""

    model_config = ConfigDict(frozen=True)

    home: Path = Field(DEFAULT_HOME, description="Cache for assembled models, embeddings and LLM answers.")
    llm: str = Field("llamacpp", description="Chat model, as a registry string (see `goalcluster models`).")
    embedder: str = Field("minilm", description="Embedder, as a registry string.")
    backend: BackendOptions = Field(default_factory=BackendOptions, description="How the chat model runs.")
    max_attempts: int = Field(3, ge=1, le=10, description="Tries per LLM call when its output is invalid.")
    max_tokens: int = Field(1024, ge=16, description="Most tokens one LLM answer may have.")
    use_cache: bool = Field(True, description="Reuse cached answers for identical LLM requests.")
    budget_calls: int | None = Field(None, ge=0, description="Most LLM calls a run may make (None: no cap).")
    budget_tokens: int | None = Field(
        None, ge=0, description="Most prompt+completion tokens a run may spend (None: no cap)."
    )

    @property
    def store_path(self) -> Path:
        """Where the Chroma embedding store lives."""
        return self.home / "embeddings"

    @property
    def cache_path(self) -> Path:
        """The SQLite file of cached LLM answers."""
        return self.home / "llm-cache.sqlite"
