"""Start, drive and resume runs of the graph, with a LangGraph SQLite checkpoint in the run folder."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.checkpoint.sqlite import SqliteSaver

from agent.config import Config
from agent.graph import build_graph
from agent.llm.backends import ChatBackend
from agent.llm.hidden import HiddenStates
from agent.state import RunState
from agent.workspace import (
    RUN_FILE,
    RunContext,
    Workspace,
    build_workspace,
    read_run_files,
    write_run_files,
)
from goalcluster.results import ClusteringResult, collect, write_result
from tools.cluster import MAX_AGGLOMERATIVE
from tools.corpus import Corpus
from tools.embedders import Embedder
from tools.files import DamagedFileError, claimed

CHECKPOINT = "checkpoint.sqlite"
# The state's own types, allowed back out of the checkpoint (nothing else is unpickled).
SERDE = JsonPlusSerializer(
    allowed_msgpack_modules=[
        ("agent.config", "Config"),
        ("agent.config", "BackendOptions"),
        ("agent.state", "Candidate"),
        ("agent.state", "IterationRecord"),
        ("agent.state", "RunState"),
        ("agent.state", "ViewChoice"),
    ]
)
THREAD: RunnableConfig = {"configurable": {"thread_id": "run"}, "recursion_limit": 200}


class RunInputError(ValueError):
    """The request cannot be run as given; the message says how to fix it."""


def check_request(corpus: Corpus, config: Config) -> None:
    """Refuse requests that cannot succeed, before any work is done."""
    if config.goal and not config.goal.strip():
        raise RunInputError("the goal is empty. Write what the clusters are for, or leave out --goal.")
    if config.cluster_method == "agglomerative" and len(corpus) > MAX_AGGLOMERATIVE:
        raise RunInputError(
            f"--cluster-method agglomerative holds a {len(corpus):,} x {len(corpus):,} matrix in memory; "
            f"it takes at most {MAX_AGGLOMERATIVE:,} documents. Use --cluster-method kmeans, or --sample."
        )
    if config.min_clusters > config.max_clusters:
        raise RunInputError(
            f"--min-clusters {config.min_clusters} is above --max-clusters {config.max_clusters}."
        )
    if len(corpus) < config.min_clusters:
        raise RunInputError(
            f"the corpus has {len(corpus)} document(s) but {config.min_clusters} cluster(s) were asked for. "
            f"Ask for at most {len(corpus)}, or add documents."
        )
    distinct = len({" ".join(text.split()).casefold() for text in corpus.texts})
    if distinct < config.min_clusters:
        raise RunInputError(
            f"the corpus holds only {distinct} distinct text(s) (of {len(corpus)} documents), too few for "
            f"{config.min_clusters} clusters. Check the --text-column, or ask for --clusters {distinct}."
        )


def start_run(
    corpus: Corpus,
    config: Config,
    run_dir: Path,
    *,
    backend: ChatBackend | None = None,
    embedder: Embedder | None = None,
    hidden: HiddenStates | None = None,
    quiet: bool = False,
) -> ClusteringResult:
    """Run the graph on ``corpus`` from the start; files go to ``run_dir``, which this process holds
    until the run ends (a second process on it is refused)."""
    check_request(corpus, config)
    with claimed(run_dir):
        prepare_run(corpus, config, run_dir)
        ws = build_workspace(
            config,
            run_dir,
            corpus.name,
            corpus.ids,
            corpus.texts,
            quiet=quiet,
            backend=backend,
            embedder=embedder,
            hidden=hidden,
        )
        return _drive(ws, {"config": config})


def prepare_run(corpus: Corpus, config: Config, run_dir: Path) -> None:
    """A run's first step, which ``goalcluster run`` and the served graph share: check the request,
    then write ``run.json`` and ``corpus.jsonl`` into ``run_dir`` (what a resume, or a served graph,
    rebuilds the run from). A folder that holds a checkpoint already holds a run, and is refused."""
    check_request(corpus, config)
    if (run_dir / CHECKPOINT).exists():
        raise RunInputError(f"{run_dir} already holds a run. Resume it (goalcluster resume) or pick --out.")
    write_run_files(run_dir, config, corpus.name, corpus.ids, corpus.texts)


def resume_run(
    run_dir: Path,
    *,
    backend: ChatBackend | None = None,
    embedder: Embedder | None = None,
    hidden: HiddenStates | None = None,
    quiet: bool = False,
    executor: str | None = None,
    home: Path | None = None,
) -> ClusteringResult:
    """Continue an interrupted run from its last checkpoint; finished LLM calls are not repeated.
    ``executor`` moves its per-document work elsewhere (a run started on a Ray cluster can finish
    locally), ``home`` its cache of models, embeddings and answers (a run folder copied to another
    machine); None keeps the recorded one."""
    if not (run_dir / RUN_FILE).exists():
        raise RunInputError(f"{run_dir} is not a goalcluster run folder (no {RUN_FILE}).")
    with claimed(run_dir):
        config, corpus_name, ids, texts = read_run_files(run_dir)
        config = as_resumed(config, executor=executor, home=home)
        ws = build_workspace(
            config,
            run_dir,
            corpus_name,
            ids,
            texts,
            quiet=quiet,
            backend=backend,
            embedder=embedder,
            hidden=hidden,
        )
        return _drive(ws, None)


def as_resumed(config: Config, *, executor: str | None = None, home: Path | None = None) -> Config:
    """A run's recorded config with what a resume moves: the executor, the cache folder (None keeps
    the recorded one)."""
    moved = {key: value for key, value in (("executor", executor), ("home", home)) if value is not None}
    return Config.model_validate({**config.model_dump(), **moved}) if moved else config


def _drive(ws: Workspace, start: dict[str, Any] | None) -> ClusteringResult:
    """Invoke the graph from ``start``, or (None) go on from the checkpoint. A checkpoint that cannot
    be gone on from (empty, not a database, or referring to a damaged array) is set aside and the
    run starts again, reusing the cached LLM answers."""
    path = ws.run_dir / CHECKPOINT
    try:
        state = _invoke(ws, path, start)
        result = collect(state, ws)
    except (sqlite3.DatabaseError, _NoState, DamagedFileError) as error:
        if start is not None:
            raise
        aside = path.with_suffix(".damaged")
        if path.exists():
            path.replace(aside)
        ws.say(f"note: cannot go on from {path.name} ({error}); the run starts again, reusing cached answers")
        return _drive(ws, {"config": ws.config})
    write_result(result, ws.run_dir)
    return result


class _NoState(RuntimeError):
    """The checkpoint file holds no state to go on from."""


def _invoke(ws: Workspace, path: Path, start: dict[str, Any] | None) -> RunState:
    connection = sqlite3.connect(path, check_same_thread=False)
    try:
        app = build_graph().compile(checkpointer=SqliteSaver(connection, serde=SERDE))
        if start is None and not app.get_state(THREAD).values:
            raise _NoState("it is empty")
        # "sync": each step's checkpoint is on disk before the next step starts, so a process killed
        # in a step goes on from the step before it, never from two steps back.
        app.invoke(
            start, THREAD, context=RunContext(run_dir=str(ws.run_dir), workspace=ws), durability="sync"
        )
        return RunState.model_validate(app.get_state(THREAD).values)
    finally:
        connection.close()
