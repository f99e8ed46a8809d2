"""The run's workspace: its folder, corpus, models and store, shared by the nodes through the
LangGraph runtime context. Nothing here is checkpointed; everything can be rebuilt from the run
folder (``run.json`` and ``corpus.jsonl``), which is how a run resumes in a new process."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from agent.config import Config
from agent.llm.backends import ChatBackend
from agent.llm.factory import build_llm
from agent.llm.helper import LLM
from agent.llm.hidden import HiddenStates
from agent.llm.registry import make_hidden_states
from agent.progress import progress_bar, tell
from agent.state import ViewChoice
from agent.views import GoalView, NotesView
from tools.arrays import load_array, save_array
from tools.embed import Progress, embed_corpus
from tools.embedders import Embedder, make_embedder
from tools.executor import Executor, make_executor
from tools.extend import extend_view, sample_rows
from tools.files import DamagedFileError, replacing, write_atomic
from tools.prototypes import centre
from tools.store import EmbeddingStore, text_hash
from tools.text import clip, read_jsonl

RUN_FILE = "run.json"
CORPUS_FILE = "corpus.jsonl"


@dataclass
class Workspace:
    """What nodes use besides the state: texts by position, vectors, the LLM, progress output."""

    config: Config
    run_dir: Path
    ids: list[str]
    texts: list[str]
    llm: LLM
    embedder: Embedder
    store: EmbeddingStore
    corpus_name: str = "corpus"
    quiet: bool = False
    _vectors: np.ndarray | None = field(default=None, repr=False)
    _explanations: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    _hidden: list[HiddenStates | None] = field(default_factory=list, repr=False)
    _spaces: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    _executor: list[Executor] = field(default_factory=list, repr=False)

    @property
    def executor(self) -> Executor:
        """Where per-document work runs (built on first use: nothing connects before)."""
        if not self._executor:
            self._executor.append(make_executor(self.config.executor))
        return self._executor[0]

    def set_vectors(self, vectors: np.ndarray) -> None:
        self._vectors = vectors

    def vectors(self) -> np.ndarray:
        """Semantic-view document vectors (n, d), from memory or the store."""
        if self._vectors is None:
            self._vectors = self.store.get([text_hash(t) for t in self.texts])
        return self._vectors

    def hidden_states(self) -> HiddenStates | None:
        """The goal view's hidden-state model (built once; nothing loads before its first use), or
        None for a model without hidden states."""
        if not self._hidden:
            spec = self.config.view_model or self.config.llm
            self._hidden.append(make_hidden_states(spec, self.config.backend, self.config.home))
        return self._hidden[0]

    def goal_view(self, aspect: str, goal: str) -> Embedder:
        """The goal view under ``aspect``: hidden states where the model has them, else notes."""
        chars = self.config.view_text_chars
        if (states := self.hidden_states()) is None:
            return NotesView(self.llm, self.embedder, aspect, goal, chars)
        return GoalView(states, aspect, self.llm.prompts, chars, self.config.view_prompt)

    def goal_vectors(
        self, aspect: str, goal: str, rows: Sequence[int] | None = None, progress: Progress | None = None
    ) -> np.ndarray:
        """Raw goal-view vectors (len(rows), d) of the documents at ``rows`` (default: all), from
        the store; only what it lacks is computed, and written in small batches as it goes."""
        view = self.goal_view(aspect, goal)
        rows = range(len(self.ids)) if rows is None else rows
        store = EmbeddingStore(self.config.store_path, view.name)
        texts = [self.texts[i] for i in rows]
        return embed_corpus(texts, view, store, batch_size=16, progress=progress, executor=self.executor)[0]

    def space(self, choice: ViewChoice | None, goal: str = "") -> np.ndarray:
        """The working space (n, d): the semantic view, or the centred goal view (extended from its
        sample to every document when ``choice.sampled`` is set)."""
        if choice is None or choice.kind == "semantic":
            return self.vectors()
        key = f"{choice.identity}|{choice.sampled}"
        if key not in self._spaces:
            if choice.sampled is None:
                self._spaces[key] = centre(self.goal_vectors(choice.aspect, goal))
            else:
                rows = sample_rows(len(self.ids), choice.sampled, self.config.seed)
                known = centre(self.goal_vectors(choice.aspect, goal, rows))
                self._spaces[key] = extend_view(self.vectors(), self.texts, rows, known, self.executor)
        return self._spaces[key]

    def keep(self, array: np.ndarray) -> str:
        """Save a per-document array in the run folder; the reference the state holds."""
        return save_array(self.run_dir, np.asarray(array))

    def array(self, ref: str) -> np.ndarray:
        """The array the state refers to by ``ref``."""
        return load_array(self.run_dir, ref)

    def prompt_texts(self, positions: Sequence[int]) -> list[str]:
        """Texts for a prompt, cut to ``config.prompt_chars`` (marked with an ellipsis)."""
        limit = self.config.prompt_chars
        return [clip(self.texts[i], limit) for i in positions]

    def embed_explanations(self, sentences: Sequence[str]) -> np.ndarray:
        """Vectors (k, d) of explanation sentences; each is embedded once per process."""
        todo = [s for s in dict.fromkeys(sentences) if s not in self._explanations]
        if todo:
            for sentence, vector in zip(todo, self.embedder.embed(todo), strict=True):
                self._explanations[sentence] = vector
        if not sentences:
            return np.zeros((0, self.vectors().shape[1]), dtype=np.float32)
        return np.stack([self._explanations[s] for s in sentences])

    def say(self, message: str) -> None:
        say(message, quiet=self.quiet)

    def bar(self, description: str, total: int, unit: str = "it") -> tqdm:
        return progress_bar(description, total, unit, quiet=self.quiet)


@dataclass
class RunContext:
    """The LangGraph runtime context: a run folder, and the workspace when the caller built one."""

    run_dir: str
    workspace: Workspace | None = None


def workspace_of(context: RunContext) -> Workspace:
    """The workspace for ``context``, opened from the run folder if the caller gave none."""
    return context.workspace or open_workspace(context.run_dir)


@lru_cache(maxsize=4)
def open_workspace(run_dir: str, quiet: bool = False) -> Workspace:
    """Rebuild a run's workspace from its folder (a served graph, or ``goalcluster resume``)."""
    config, corpus_name, ids, texts = read_run_files(Path(run_dir))
    return build_workspace(config, Path(run_dir), corpus_name, ids, texts, quiet=quiet)


def build_workspace(
    config: Config,
    run_dir: Path,
    corpus_name: str,
    ids: list[str],
    texts: list[str],
    *,
    quiet: bool = False,
    backend: ChatBackend | None = None,
    embedder: Embedder | None = None,
    hidden: HiddenStates | None = None,
) -> Workspace:
    """A workspace over the given corpus; ``backend``/``embedder``/``hidden`` (the goal view's
    hidden states) override the configured ones."""
    embedder = embedder or make_run_embedder(config)
    announce = None if quiet else say
    return Workspace(
        config=config,
        run_dir=run_dir,
        ids=ids,
        texts=texts,
        llm=build_llm(config, trace_path=run_dir / "trace.jsonl", backend=backend, announce=announce),
        embedder=embedder,
        store=EmbeddingStore(config.store_path, embedder.name),
        corpus_name=corpus_name,
        quiet=quiet,
        _hidden=[] if hidden is None else [hidden],
    )


def make_run_embedder(config: Config) -> Embedder:
    """The configured embedder, its API key read from the environment variable the config names
    (a key is never part of the config, so never saved)."""
    key = os.environ.get(config.embedder_api_key_env) if config.embedder_api_key_env else None
    return make_embedder(config.embedder, api_key=key)


def write_run_files(
    run_dir: Path, config: Config, corpus_name: str, ids: list[str], texts: list[str]
) -> None:
    """Record what a run needs to be rebuilt: its config and its corpus."""
    run_dir.mkdir(parents=True, exist_ok=True)
    meta: dict[str, Any] = {"config": config.model_dump(mode="json"), "corpus": corpus_name}
    with replacing(run_dir / CORPUS_FILE) as out:
        for doc_id, text in zip(ids, texts, strict=True):
            out.write(json.dumps({"id": doc_id, "text": text}, ensure_ascii=False) + "\n")
    write_atomic(run_dir / RUN_FILE, json.dumps(meta, indent=2))  # last: run.json means complete


def read_run_files(run_dir: Path) -> tuple[Config, str, list[str], list[str]]:
    """What :func:`write_run_files` recorded: config, corpus name, ids and texts."""
    try:
        meta = json.loads((run_dir / RUN_FILE).read_text())
    except json.JSONDecodeError as error:
        raise DamagedFileError(
            f"{run_dir / RUN_FILE} is damaged ({error.msg}). Fix: start the run again from its data file"
        ) from error
    rows = read_jsonl(run_dir / CORPUS_FILE, fix="start the run again from its data file")
    config = Config.model_validate(meta["config"])
    return config, meta["corpus"], [row["id"] for row in rows], [row["text"] for row in rows]


def say(message: str, *, quiet: bool = False) -> None:
    """Progress and notes go to stderr (unless ``quiet``), so stdout stays the result; and to the
    progress listener, if one is set (see :mod:`agent.progress`)."""
    tell("say", message)
    if not quiet:
        print(message, file=sys.stderr, flush=True)
