"""The graph as a service: what ``langgraph dev`` serves as "goalcluster" (see langgraph.json).

One graph, three parts: ``prepare`` reads a data file on the server and writes the run folder's
``run.json`` and ``corpus.jsonl`` the way ``goalcluster run`` does (:func:`prepare_run`); the
agent's own nodes run (``agent/graph.py``, added unchanged); ``results`` writes ``clusters.json``,
``assignments.jsonl``, ``assignments.csv`` and ``metrics.json`` the way the CLI does. So a served
run and ``goalcluster run`` on the same input and config leave the same files.

The run folder is the run's context, ``context={"run_dir": ...}`` (the agent graph's own context:
nodes rebuild the workspace from the folder). The server's checkpointer holds the state, so a run
stopped by an interrupt or an error goes on from its last finished step when a new run is started
on the same thread with no input (and the same context). Every step holds the run folder while it
works, as ``goalcluster run`` holds it for a whole run: a CLI resume, or a second thread, working
in the same folder at the same moment is refused with :class:`FolderInUse`.

Stage progress reaches a client in LangGraph's "custom" stream mode: ``{"stage": ..., "status":
"started" | "finished", ...}`` from ``prepare``, every agent stage (``agent/nodes/common.py``),
``finish`` and ``results``.

Like the CLI this module is an edge: it reads ``GOALCLUSTER_HOME`` when the options name no home.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, Literal

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from pydantic import BaseModel, Field, ValidationError

from agent.config import DEFAULT_HOME, Config
from agent.graph import add_agent
from agent.state import RunState
from agent.workspace import RUN_FILE, RunContext, read_run_files, workspace_of
from goalcluster.results import collect, write_result
from goalcluster.runner import CHECKPOINT, RunInputError, prepare_run
from tools.corpus import Corpus, load_corpus, sample_corpus
from tools.files import claimed


class ServedInput(BaseModel):
    """A request: a data file and the run's options, as ``goalcluster run DATA [flags]`` takes them.
    Paths are on the server's disk (relative ones start at the server's working folder)."""

    data: str | None = Field(
        None,
        description="CSV, TSV, JSONL, Parquet or text file (one document per line). None: the run folder "
        "is already prepared (it holds run.json and corpus.jsonl).",
    )
    text_column: str | None = Field(None, description="Column holding the text (default: 'text').")
    id_column: str | None = Field(None, description="Column holding unique ids (default: 'id', else rows).")
    format: Literal["csv", "tsv", "jsonl", "parquet", "text"] | None = Field(
        None, description="The file's format (default: from its suffix)."
    )
    encoding: str = Field("utf-8", description="Text encoding of the file.")
    error_on_empty: bool = Field(False, description="Fail on empty texts instead of dropping them.")
    sample: int | None = Field(None, ge=1, description="A seeded random sample of this many documents.")
    clusters: int | None = Field(None, ge=1, description="Exactly this many clusters (sets min and max).")
    options: dict[str, Any] = Field(
        default_factory=dict,
        description="Config fields (goal, llm, min_clusters, max_clusters, max_iterations, seed, view, "
        "assign_mode, ...: see agent/config.py); 'home' defaults to the server's GOALCLUSTER_HOME.",
    )


class ServedOutput(BaseModel):
    """What a finished run returns; per-document assignments stay in the run folder's files."""

    run_dir: str = Field("", description="The run folder, where every result file is.")
    clusters: list[dict[str, Any]] = Field(
        default_factory=list, description="The clusters, as in clusters.json."
    )
    metrics: dict[str, Any] = Field(
        default_factory=dict, description="The run's figures, as in metrics.json."
    )


class ServedState(RunState, ServedInput, ServedOutput):
    """The agent's state, with the request it was prepared from and the result it returns."""


def run_folder(runtime: Runtime[RunContext]) -> Path:
    """The run folder the run's context names (absolute)."""
    context = runtime.context
    if context is None or not context.run_dir:
        raise RunInputError(
            'the run folder is not named: start the run with context={"run_dir": "/path/on/the/server"}'
        )
    return Path(context.run_dir).expanduser().resolve()


def holding_folder(node: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
    """Wrap a node so that it holds the run folder while it works."""

    @wraps(node)
    def run(state: Any, runtime: Runtime[RunContext]) -> dict[str, Any]:
        with claimed(run_folder(runtime)):
            return node(state, runtime)

    return run


def served_config(request: ServedInput) -> Config:
    """The Config of a request, as ``goalcluster run``'s flags would make it: the backend's sampling
    seed follows ``seed``, and ``clusters`` fixes the number of clusters."""
    options = dict(request.options)
    options.setdefault("home", os.environ.get("GOALCLUSTER_HOME") or DEFAULT_HOME)
    seed = options.get("seed", Config.model_fields["seed"].default)
    options["backend"] = {"seed": seed, **options.get("backend", {})}
    if request.clusters is not None:
        options.update(min_clusters=request.clusters, max_clusters=request.clusters)
    try:
        return Config.model_validate(options)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        raise RunInputError(f"invalid option: {problems}") from None


def read_request_corpus(request: ServedInput, data: str, seed: int) -> Corpus:
    """The corpus in ``data``, read and sampled as ``goalcluster run`` reads it."""
    corpus = load_corpus(
        data,
        text_column=request.text_column,
        id_column=request.id_column,
        fmt=request.format,
        encoding=request.encoding,
        on_empty="error" if request.error_on_empty else "drop",
    )
    return sample_corpus(corpus, request.sample, seed)


def prepare(request: ServedInput, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Write the run folder's run.json and corpus.jsonl from the request (or find them written)."""
    run_dir = run_folder(runtime)
    runtime.stream_writer({"stage": "prepare", "status": "started"})
    if request.data is None:
        if not (run_dir / RUN_FILE).exists():
            raise RunInputError(
                f"{run_dir} holds no prepared run (no {RUN_FILE}). Name a data file on the server as 'data'."
            )
        config = read_run_files(run_dir)[0]
    else:
        config = served_config(request)
        corpus = read_request_corpus(request, request.data, config.seed)
        if (run_dir / CHECKPOINT).exists():
            raise RunInputError(
                f"{run_dir} holds a run of `goalcluster run`: continue it with `goalcluster resume`, "
                "or name another run_dir."
            )
        if (run_dir / RUN_FILE).exists() and read_run_files(run_dir) != (
            config,
            corpus.name,
            corpus.ids,
            corpus.texts,
        ):
            raise RunInputError(
                f"{run_dir} already holds another run. Continue that one on its thread (a run with no "
                "input), or name another run_dir."
            )
        prepare_run(corpus, config, run_dir)
    runtime.stream_writer({"stage": "prepare", "status": "finished", "run_dir": str(run_dir)})
    return {"config": config, "run_dir": str(run_dir)}


def results(state: ServedState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Write the result files as ``goalcluster run`` does, and return the clusters and figures."""
    ws = workspace_of(runtime.context)
    runtime.stream_writer({"stage": "results", "status": "started"})
    result = collect(state, ws)
    write_result(result, ws.run_dir)
    runtime.stream_writer({"stage": "results", "status": "finished", "run_dir": str(ws.run_dir)})
    return {"clusters": [c.model_dump() for c in result.clusters], "metrics": result.metrics}


def build_served_graph() -> StateGraph[Any, Any, Any, Any]:
    builder: StateGraph[Any, Any, Any, Any] = StateGraph(
        ServedState, context_schema=RunContext, input_schema=ServedInput, output_schema=ServedOutput
    )
    builder.add_node("prepare", holding_folder(prepare), input_schema=ServedInput)
    builder.add_node("results", holding_folder(results))
    builder.add_edge(START, "prepare")
    add_agent(builder, entry="prepare", exit="results", wrap=holding_folder)
    builder.add_edge("results", END)
    return builder


graph = build_served_graph().compile()
