"""The one configuration object: every knob with its default and what it does.

Environment variables are read at the edges (CLI, Python API), never here; an explicit
argument always wins over the environment.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tools.executor import check_executor_spec
from tools.store import server_address

DEFAULT_HOME = Path("~/.cache/goalcluster").expanduser()


class BackendOptions(BaseModel):
    """How a chat backend is run."""

    model_config = ConfigDict(frozen=True)

    n_ctx: int = Field(4096, ge=512, description="llama.cpp context window in tokens.")
    n_threads: int | None = Field(
        None,
        ge=1,
        description="llama.cpp CPU threads for generating (default llama.cpp's: half the cores; "
        "prompts and the goal view are read on all cores).",
    )
    n_gpu_layers: int = Field(
        0, description="llama.cpp layers offloaded to a GPU (-1: all); needs a CUDA/Metal build."
    )
    seed: int = Field(0, description="Sampling seed passed to the backend.")
    timeout: float = Field(600.0, gt=0, description="Seconds to wait for a served or hosted model.")
    api_key_env: str | None = Field(
        None, description="Environment variable holding the API key (default: the provider's usual one)."
    )


CREDENTIALS = re.compile(r"://[^/@]*@")


def path_from_parts(value: object) -> object:
    """A path given as the list of its parts becomes the path: a LangGraph server's JSON view of a
    checkpoint (what it reads a thread's state through) writes a ``Path`` that way."""
    if isinstance(value, list | tuple) and value and all(isinstance(part, str) for part in value):
        return Path(*value)
    return value


class Config(BaseModel):
    """Everything a run can be told. Defaults give a useful run on the embedded models."""

    # A refused value is never echoed: it may hold a secret.
    model_config = ConfigDict(frozen=True, hide_input_in_errors=True)

    home: Path = Field(DEFAULT_HOME, description="Cache for assembled models, embeddings and LLM answers.")
    store: Path | str | None = Field(
        None,
        description="The embedding store: a folder (default: HOME/embeddings) or a Chroma server, "
        "chroma://HOST:PORT.",
    )
    executor: str = Field(
        "local",
        description="Where per-document work (embedding, the goal view, assignment scores) runs: 'local' "
        "(this process), 'ray' (RAY_ADDRESS's cluster, or a local one) or 'ray:HOST:PORT'.",
    )
    llm: str = Field("llamacpp", description="Chat model, as a registry string (see `goalcluster models`).")
    embedder: str = Field("minilm", description="Embedder, as a registry string.")
    embedder_api_key_env: str | None = Field(
        None, description="Environment variable holding the embeddings server's API key."
    )
    backend: BackendOptions = Field(default_factory=BackendOptions, description="How the chat model runs.")
    max_attempts: int = Field(3, ge=1, le=10, description="Tries per LLM call when its output is invalid.")
    max_tokens: int = Field(1024, ge=16, description="Most tokens one LLM answer may have.")
    use_cache: bool = Field(True, description="Reuse cached answers for identical LLM requests.")
    cache_namespace: str = Field(
        "",
        description="Part of every answer-cache key: change it after a server's weights changed under "
        "the same URL and name (a server cannot prove its weights; a GGUF file is keyed by its hash).",
    )
    budget_calls: int | None = Field(None, ge=0, description="Most LLM calls a run may make (None: no cap).")
    budget_tokens: int | None = Field(
        None, ge=0, description="Most prompt+completion tokens a run may spend (None: no cap)."
    )

    # what the user asks for
    levels: int = Field(
        1,
        ge=1,
        description="Levels of the taxonomy: 1 is a flat clustering; above 1, each cluster of at least "
        "min_node_size documents is clustered again, on its members only, by a finer grain of the goal.",
    )
    min_node_size: int = Field(
        12, ge=2, description="Fewest documents a cluster needs to be clustered again (levels above 1)."
    )
    goal: str = Field("", description="What the clustering is for; empty: by what the texts are about.")
    coverage: float = Field(0.9, ge=0, le=1, description="Target share of documents in some cluster.")
    max_overlap: float = Field(0.1, ge=0, le=1, description="Most share of documents in several clusters.")
    min_clusters: int = Field(2, ge=1, description="Fewest final clusters.")
    max_clusters: int = Field(8, ge=1, description="Most final clusters.")
    max_iterations: int = Field(3, ge=1, description="Most propose-assign-select-verify rounds.")
    seed: int = Field(0, description="Seed for clustering and sampling.")
    # the space the agent works in
    view: Literal["auto", "goal", "semantic"] = Field(
        "auto",
        description="The space every step after embedding works in. 'goal': the chat model's hidden "
        "states under a question about the goal's aspect; 'semantic': the sentence embedder's space "
        "(with explanations matched to documents by similarity: the behaviour before goal views); "
        "'auto': whichever of the two clusters a probe sample more like the LLM's own notes on each "
        "text's aspect do.",
    )
    aspect: str = Field(
        "", description="The property the goal groups by (e.g. 'language'); empty: the LLM names it."
    )
    view_model: str | None = Field(
        None,
        description="Model for the goal view's hidden states, as a registry string (default: the chat "
        "model; a hosted model has none, so short generated notes are embedded instead, much slower).",
    )
    view_text_chars: int = Field(
        400, ge=40, description="Texts are cut to this many characters for the goal view."
    )
    view_prompt: Literal["goal_view", "goal_view_text_first"] = Field(
        "goal_view",
        description="The goal view's prompt file: 'goal_view' asks about the aspect before showing the "
        "text, so the question is read once for all texts; 'goal_view_text_first' shows the text first "
        "(the form the goal view was first measured in; about a third slower).",
    )
    view_probe: int = Field(
        48, ge=8, description="Documents the 'auto' view choice has the LLM note and clusters in each space."
    )
    goal_view_sample: int | None = Field(
        None,
        ge=8,
        description="Compute the goal view on this many documents only and extend it to the rest with a "
        "ridge model on cheap features (semantic view + character n-grams); for large corpora on a CPU.",
    )
    assign_by: Literal["prototypes", "explanations"] = Field(
        "prototypes",
        description="'prototypes': each cluster is the mean of the documents it was proposed from, refined "
        "over the corpus (seeded k-means) in the working space; 'explanations': similarity between a "
        "document and the embedding of its explanation (the default with view='semantic').",
    )
    # how the agent works
    cluster_method: Literal["kmeans", "agglomerative", "hdbscan"] = Field(
        "kmeans", description="scikit-learn method for the initial fine partition."
    )
    micro_clusters: int | None = Field(
        None, ge=1, description="Clusters in the initial partition (default: about 3 per wanted cluster)."
    )
    samples_per_proposal: int = Field(24, ge=4, description="Texts the LLM sees when proposing clusters.")
    annotate_samples: bool = Field(
        True, description="Before proposing, have the LLM note each sample's value for the goal's criterion."
    )
    note_groups: bool = Field(
        True,
        description="When the LLM describes a group, show each of its texts with the LLM's note on it "
        "(one annotate call per text; the 1.5B then names languages right), and ask once more without "
        "the notes if no valid description comes with them; notes giving one value to more than half "
        "the texts of three groups or more are not shown.",
    )
    prompt_chars: int = Field(280, ge=40, description="Texts are cut to this many characters in prompts.")
    assign_mode: Literal["auto", "embeddings", "llm", "goalex"] = Field(
        "auto",
        description="Who decides uncertain memberships: 'embeddings' only; 'llm' for the uncertain band; "
        "'auto' uses the LLM there only if a probe shows it agrees with the embeddings or, where they "
        "disagree, the LLM's yes/no judgement backs its choice more often than the embeddings'; "
        "'goalex' asks the LLM about every (document, cluster) pair (small corpora, baseline).",
    )
    min_similarity: float = Field(0.15, description="Least embedding similarity for a membership.")
    overlap_margin: float = Field(0.015, ge=0, description="Scores this close to the best also count.")
    pool_margin: float = Field(0.06, ge=0, description="Candidate memberships for selection: within this.")
    uncertain_band: float = Field(0.03, ge=0, description="Margins below this are uncertain.")
    max_llm_assign: int = Field(60, ge=0, description="Most uncertain documents sent to the LLM per round.")
    calibration_probe: int = Field(8, ge=2, description="Documents the 'auto' probe asks the LLM about.")
    calibration_agreement: float = Field(
        0.75, ge=0, le=1, description="Agreement 'auto' needs to use the LLM."
    )
    spot_checks: int = Field(3, ge=0, description="Members per cluster the LLM checks to estimate precision.")
    sharpen: bool = Field(
        False,
        description="As the run stops, contrast each cluster with its nearest one and keep a sharper "
        "explanation where checks on unseen members prefer it (about 1 + 4 x spot_checks calls per cluster).",
    )
    min_precision: float = Field(
        0.5, ge=0, le=1, description="Clusters below this estimated precision are redone."
    )
    max_cluster_share: float = Field(0.6, gt=0, le=1, description="A cluster above this share is split.")

    @field_validator("llm", "embedder", "view_model")
    @classmethod
    def no_credentials_in_urls(cls, spec: str | None) -> str | None:
        """A model URL is saved in the run's files and shown in messages: keys come from the
        environment only."""
        if spec and CREDENTIALS.search(spec):
            raise ValueError(
                "the model URL carries credentials (user:key@), which would be saved in run.json; "
                "remove them and put the key in an environment variable named by --api-key-env "
                "(--embedder-api-key-env for the embedder)"
            )
        return spec

    @field_validator("home", mode="before")
    @classmethod
    def home_folder(cls, home: object) -> object:
        return path_from_parts(home)

    @field_validator("store", mode="before")
    @classmethod
    def folder_or_server(cls, store: object) -> object:
        """A ``chroma://HOST:PORT`` address stays a string (checked); anything else is a folder."""
        store = path_from_parts(store)
        if isinstance(store, str):
            return store if server_address(store) else Path(store)
        return store

    @field_validator("executor")
    @classmethod
    def known_executor(cls, spec: str) -> str:
        return check_executor_spec(spec)

    @model_validator(mode="before")
    @classmethod
    def semantic_view_assigns_by_explanations(cls, data: object) -> object:
        """``view='semantic'`` alone means the behaviour before goal views, explanations included."""
        if isinstance(data, dict) and data.get("view") == "semantic" and "assign_by" not in data:
            return {**data, "assign_by": "explanations"}
        return data

    @property
    def goal_text(self) -> str:
        """The goal as prompts state it; without one, cluster by what the texts are about."""
        return self.goal or "Group the texts by what they are about (their topic)."

    @property
    def store_path(self) -> Path | str:
        """Where the Chroma embedding store lives: a folder, or a ``chroma://`` server address."""
        return self.store or self.home / "embeddings"

    @property
    def cache_path(self) -> Path:
        """The SQLite file of cached LLM answers."""
        return self.home / "llm-cache.sqlite"
