"""A chat's folder, corpus and models: a run folder (``run.json`` + ``corpus.jsonl``) that threads
share, so several threads explore different goals on the same corpus and embeddings."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import numpy as np

from agent.config import Config
from agent.llm.backends import ChatBackend
from agent.llm.hidden import HiddenStates
from agent.state import ViewChoice
from agent.workspace import RUN_FILE, Workspace, build_workspace, read_run_files, write_run_files
from tools.corpus import CorpusError, load_corpus
from tools.embed import embed_corpus
from tools.embedders import Embedder
from tools.files import FolderInUse, claim

CHAT_CHECKPOINT = "chat.sqlite"


class ChatError(ValueError):
    """A request the chat cannot carry out; the message says why and what to do instead."""


@dataclass
class ChatSession:
    folder: Path
    thread: str
    corpus_name: str
    ws: Workspace
    base_run: Path | None = None
    base_goal: str = ""
    _positions: dict[str, int] = field(default_factory=dict, repr=False)
    _embedded: bool = field(default=False, repr=False)
    _claim: IO[str] | None = field(default=None, repr=False)
    """The thread folder's claim, held while the session is open (released by :meth:`close`)."""

    def close(self) -> None:
        """Let another process open the thread."""
        if self._claim is not None:
            self._claim.close()
            self._claim = None

    @property
    def thread_dir(self) -> Path:
        return self.folder / "threads" / self.thread

    @property
    def config(self) -> Config:
        return self.ws.config

    def position(self, doc_id: str) -> int:
        """The corpus position of ``doc_id``; :class:`ChatError` if there is no such document."""
        if not self._positions:
            self._positions = {doc_id: i for i, doc_id in enumerate(self.ws.ids)}
        if doc_id not in self._positions:
            raise ChatError(
                f"there is no document {doc_id!r} (ids look like {self.ws.ids[0]!r}; /find WORDS finds one)"
            )
        return self._positions[doc_id]

    def vectors(self) -> np.ndarray:
        """The corpus's vectors, embedding first what the store lacks (once per session)."""
        ws = self.ws
        if not self._embedded:
            with ws.bar("embedding", len(ws.ids)) as bar:

                def progress(done: int, total: int) -> None:
                    bar.update(done - bar.n)

                vectors, _ = embed_corpus(ws.texts, ws.embedder, ws.store, progress=progress)
            ws.set_vectors(vectors)
            self._embedded = True
        return ws.vectors()

    def space(self, run_dir: str) -> tuple[np.ndarray, ViewChoice | None]:
        """The working space of the agent run at ``run_dir`` (the semantic view when there is none,
        or the run predates goal views), and the view it is."""
        metrics = Path(run_dir) / "metrics.json" if run_dir else None
        view = json.loads(metrics.read_text()).get("view") if metrics and metrics.exists() else None
        choice = ViewChoice.model_validate(view) if view else None
        self.vectors()
        return self.ws.space(choice, self.config.goal_text), choice


def open_session(
    target: Path,
    thread: str,
    config: Config,
    *,
    out: Path | None = None,
    quiet: bool = False,
    backend: ChatBackend | None = None,
    embedder: Embedder | None = None,
    hidden: HiddenStates | None = None,
) -> ChatSession:
    """A session on a run folder (its corpus and, if finished, its clustering) or a data file
    (copied into ``out``, default ``runs/chat-NAME``, on first use)."""
    if target.is_dir():
        if not (target / RUN_FILE).exists():
            raise ChatError(
                f"{target} is not a goalcluster folder (no {RUN_FILE}); give a data file or a run folder"
            )
        folder = target
        stored, corpus_name, ids, texts = read_run_files(folder)
        base_goal = stored.goal
    else:
        try:
            corpus = load_corpus(target)
        except CorpusError as error:
            raise ChatError(str(error)) from error
        folder, base_goal = out or Path("runs") / f"chat-{corpus.name}", ""
        if (folder / RUN_FILE).exists():
            _, corpus_name, ids, texts = read_run_files(folder)
            if ids != corpus.ids or texts != corpus.texts:
                raise ChatError(
                    f"{folder} holds a chat on another version of this corpus; pick another --out"
                )
        else:
            corpus_name, ids, texts = corpus.name, corpus.ids, corpus.texts
            write_run_files(folder, config, corpus_name, ids, texts)
    thread_dir = folder / "threads" / thread
    try:
        held = claim(thread_dir)  # for the session's life: one process per thread
    except FolderInUse as error:
        raise ChatError(f"{error} (another goalcluster chat on thread {thread!r}?)") from None
    ws = build_workspace(
        config,
        thread_dir,
        corpus_name,
        ids,
        texts,
        quiet=quiet,
        backend=backend,
        embedder=embedder,
        hidden=hidden,
    )
    base = folder if (folder / "clusters.json").exists() else None
    return ChatSession(
        folder=folder,
        thread=thread,
        corpus_name=corpus_name,
        ws=ws,
        base_run=base,
        base_goal=base_goal,
        _claim=held,
    )
