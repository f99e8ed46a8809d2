"""The ``goalcluster`` command line: one entry point, subcommands, ``--help`` everywhere.

This is the edge where environment variables are read (``GOALCLUSTER_HOME``,
``GOALCLUSTER_LLM``, ``GOALCLUSTER_EMBEDDER``); an explicit flag always wins.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from agent.config import DEFAULT_HOME, BackendOptions, Config
from agent.llm.backends import BackendError
from agent.llm.budget import BudgetExceeded
from agent.llm.helper import LLMOutputError
from agent.llm.packaged import ModelIntegrityError
from goalcluster import commands
from goalcluster.chat.session import ChatError
from goalcluster.report import ReportError
from goalcluster.runner import RunInputError
from goalcluster.web import ServeError
from tools.corpus import CorpusError
from tools.embedders import EmbedderError
from tools.executor import ExecutorError
from tools.files import DamagedFileError, FolderInUse
from tools.store import StoreError

EXPECTED_ERRORS = (
    CorpusError,
    DamagedFileError,
    FolderInUse,
    StoreError,
    EmbedderError,
    ExecutorError,
    BackendError,
    ModelIntegrityError,
    LLMOutputError,
    BudgetExceeded,
    RunInputError,
    ReportError,
    ChatError,
    ServeError,
)


def _env_default(name: str, fallback: str) -> str:
    return os.environ.get(name) or fallback


def _common(parser: argparse.ArgumentParser, *, recorded_home: bool = False) -> None:
    """``--home`` and ``--json``; with ``recorded_home`` (resume), no ``--home`` and no
    GOALCLUSTER_HOME keep the home the run recorded."""
    env_home = os.environ.get("GOALCLUSTER_HOME")
    parser.add_argument(
        "--home",
        type=Path,
        default=Path(env_home) if env_home else None if recorded_home else DEFAULT_HOME,
        help="cache for assembled models, embeddings and LLM answers (env GOALCLUSTER_HOME; default "
        + ("the run's own" if recorded_home else "%(default)s")
        + ")",
    )
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")


def _corpus_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "data", type=Path, help="CSV, TSV, JSONL, Parquet or text file (one document per line)"
    )
    parser.add_argument("--text-column", help="column holding the text (default: 'text')")
    parser.add_argument("--id-column", help="column holding unique ids (default: 'id', else row numbers)")
    parser.add_argument("--format", dest="fmt", choices=["csv", "tsv", "jsonl", "parquet", "text"])
    parser.add_argument("--encoding", default="utf-8", help="text encoding of the file (default utf-8)")
    parser.add_argument(
        "--error-on-empty", action="store_true", help="fail on empty texts instead of dropping them"
    )
    parser.add_argument("--sample", type=int, help="use a seeded random sample of this many documents")
    parser.add_argument(
        "--seed", type=int, default=_default(Config, "seed"), help="random seed (%(default)s)"
    )


def _default(model: type[BaseModel], field: str) -> Any:
    """A flag's default is the config field's own, so the two cannot drift apart."""
    return model.model_fields[field].default


def _embedder_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--embedder",
        default=_env_default("GOALCLUSTER_EMBEDDER", _default(Config, "embedder")),
        help="embedder: minilm | sentence-transformers:PATH | openai-compatible:URL@MODEL "
        "(env GOALCLUSTER_EMBEDDER; default %(default)s)",
    )
    parser.add_argument(
        "--embedder-api-key-env", help="environment variable holding the embeddings server's API key"
    )
    parser.add_argument(
        "--store",
        default=_env_default("GOALCLUSTER_STORE", "") or None,
        help="embedding store: a folder, or a Chroma server chroma://HOST:PORT (env GOALCLUSTER_STORE; "
        "default HOME/embeddings)",
    )
    parser.add_argument(
        "--executor",
        default=_env_default("GOALCLUSTER_EXECUTOR", _default(Config, "executor")),
        help="where per-document work runs: local | ray (RAY_ADDRESS, or a local Ray) | ray:HOST:PORT "
        "(env GOALCLUSTER_EXECUTOR; default %(default)s; ray needs goalcluster[ray])",
    )


def _llm_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--llm",
        default=_env_default("GOALCLUSTER_LLM", _default(Config, "llm")),
        help="chat model: llamacpp | llamacpp:small | llamacpp:PATH.gguf | openai-compatible:URL@MODEL | "
        "PROVIDER:MODEL (env GOALCLUSTER_LLM; default %(default)s)",
    )
    parser.add_argument(
        "--n-ctx",
        type=int,
        default=_default(BackendOptions, "n_ctx"),
        help="llama.cpp context size (%(default)s)",
    )
    parser.add_argument(
        "--n-gpu-layers",
        type=int,
        default=_default(BackendOptions, "n_gpu_layers"),
        help="llama.cpp layers on the GPU (-1: all; default %(default)s)",
    )
    parser.add_argument(
        "--threads", type=int, help="llama.cpp CPU threads for generating (default: half the cores)"
    )
    parser.add_argument("--api-key-env", help="environment variable holding the model server's API key")
    parser.add_argument(
        "--timeout",
        type=float,
        default=_default(BackendOptions, "timeout"),
        help="seconds to wait for one answer from a served or hosted model (%(default)s)",
    )
    parser.add_argument("--no-cache", action="store_true", help="do not reuse cached LLM answers")
    parser.add_argument(
        "--cache-namespace",
        default=_default(Config, "cache_namespace"),
        help="part of every answer-cache key: change it when a server's weights changed under the same name",
    )


def _run_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--goal", default="", help="what the clusters are for (default: by topic)")
    parser.add_argument("--out", type=Path, help="run folder (default runs/CORPUS-TIME)")
    parser.add_argument(
        "--coverage", type=float, default=_default(Config, "coverage"), help="target coverage (%(default)s)"
    )
    parser.add_argument(
        "--max-overlap",
        type=float,
        default=_default(Config, "max_overlap"),
        help="most overlap (%(default)s)",
    )
    parser.add_argument("--clusters", type=int, help="exactly this many clusters")
    parser.add_argument(
        "--min-clusters",
        type=int,
        default=_default(Config, "min_clusters"),
        help="fewest clusters (%(default)s)",
    )
    parser.add_argument(
        "--max-clusters",
        type=int,
        default=_default(Config, "max_clusters"),
        help="most clusters (%(default)s)",
    )
    parser.add_argument(
        "--max-iterations",
        type=int,
        default=_default(Config, "max_iterations"),
        help="most rounds (%(default)s)",
    )
    parser.add_argument(
        "--sharpen",
        action="store_true",
        help="as the run stops, contrast each cluster with its nearest and keep a sharper explanation "
        "where checks on unseen members prefer it (more LLM calls)",
    )
    parser.add_argument(
        "--levels",
        type=_positive,
        default=_default(Config, "levels"),
        help="levels of the taxonomy: above 1, each big cluster is clustered again (default %(default)s)",
    )
    parser.add_argument(
        "--min-node-size",
        type=_positive,
        default=_default(Config, "min_node_size"),
        help="fewest documents a cluster needs to be clustered again (default %(default)s)",
    )
    parser.add_argument("--budget-calls", type=int, help="most LLM calls (the whole taxonomy's)")
    parser.add_argument("--budget-tokens", type=int, help="most LLM tokens")
    parser.add_argument(
        "--assign-mode",
        choices=["auto", "embeddings", "llm", "goalex"],
        default=_default(Config, "assign_mode"),
        help="who decides uncertain memberships (default %(default)s; goalex: the LLM judges every pair)",
    )
    parser.add_argument(
        "--cluster-method",
        choices=["kmeans", "agglomerative", "hdbscan"],
        default=_default(Config, "cluster_method"),
    )
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    _view_args(parser)


def _view_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--view",
        choices=["auto", "goal", "semantic"],
        default=_default(Config, "view"),
        help="the space the agent works in: the goal view (the chat model's hidden states under the goal's "
        "aspect), the semantic view (the sentence embedder's, the behaviour before goal views), or 'auto': "
        "whichever clusters a probe sample more like the LLM's notes on its aspect (default %(default)s)",
    )
    parser.add_argument(
        "--aspect", default="", help="the property the goal groups by (default: the LLM names it)"
    )
    parser.add_argument(
        "--view-model", help="model for the goal view's hidden states, as for --llm (default: the chat model)"
    )
    parser.add_argument(
        "--view-prompt",
        choices=["goal_view", "goal_view_text_first"],
        default=_default(Config, "view_prompt"),
        help="the goal view's prompt: the question before the text (read once for all texts) or the "
        "text first (slower; default %(default)s)",
    )
    parser.add_argument(
        "--goal-view-sample",
        type=int,
        help="compute the goal view on this many documents, extend it to the rest (large corpora on a CPU)",
    )
    parser.add_argument(
        "--assign-by",
        choices=["prototypes", "explanations"],
        help="how documents join clusters (default: prototypes; explanations with --view semantic)",
    )


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return number


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="goalcluster",
        description="Cluster texts the way you mean it, and say in plain language what each cluster is.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    models = sub.add_parser("models", help="show the model backends and the embedded models")
    _common(models)
    models.add_argument(
        "--prepare", action="store_true", help="assemble and verify the installed embedded models now"
    )
    models.set_defaults(handler=commands.models)

    embed = sub.add_parser("embed", help="embed a corpus into the store (only new or changed texts)")
    _common(embed)
    _corpus_args(embed)
    _embedder_arg(embed)
    embed.set_defaults(handler=commands.embed)

    run = sub.add_parser("run", help="cluster a corpus by a goal, explaining each cluster")
    _common(run)
    _corpus_args(run)
    _embedder_arg(run)
    _llm_args(run)
    _run_args(run)
    run.add_argument(
        "--report", action="store_true", help="write report.html and report.md into the run folder at the end"
    )
    run.set_defaults(handler=commands.run)

    resume = sub.add_parser("resume", help="continue an interrupted run without repeating finished LLM calls")
    _common(resume, recorded_home=True)
    resume.add_argument("run_dir", type=Path, help="the run folder")
    resume.add_argument("--quiet", action="store_true", help="no progress output")
    resume.add_argument("--report", action="store_true", help="write report.html and report.md at the end")
    resume.add_argument(
        "--executor", help="where per-document work runs from now on (default: as the run recorded)"
    )
    resume.set_defaults(handler=commands.resume)

    report = sub.add_parser("report", help="write a run's report: self-contained HTML, or Markdown")
    _common(report)
    report.add_argument("run_dir", type=Path, help="a finished run folder")
    report.add_argument("--format", choices=["html", "md"], help="one format only (default: both)")
    report.add_argument(
        "--out", type=Path, help="file to write (with --format; default RUN_DIR/report.FORMAT)"
    )
    report.add_argument(
        "--gold", type=Path, help="gold labels for a confusion table: a file with id and label"
    )
    report.set_defaults(handler=commands.report)

    chat = sub.add_parser("chat", help="explore a corpus or a run in conversation, and steer its clustering")
    _common(chat)
    chat.add_argument("target", type=Path, help="a data file, or a run or chat folder")
    chat.add_argument("--thread", default="main", help="conversation to open or resume (default %(default)s)")
    chat.add_argument("--seed", type=int, default=_default(Config, "seed"), help="random seed (%(default)s)")
    _embedder_arg(chat)
    _llm_args(chat)
    _run_args(chat)
    chat.set_defaults(handler=commands.chat)

    serve = sub.add_parser("serve", help="explore and steer a chat thread in the browser (the web extra)")
    _common(serve)
    serve.add_argument("target", type=Path, help="a data file, or a run or chat folder")
    serve.add_argument("--thread", default="main", help="chat thread to open or resume (default %(default)s)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default %(default)s)")
    serve.add_argument("--port", type=_positive, default=8765, help="port (default %(default)s)")
    serve.add_argument(
        "--token", help="password needed by every request (required with a --host beyond this machine)"
    )
    serve.add_argument("--seed", type=int, default=_default(Config, "seed"), help="random seed (%(default)s)")
    _embedder_arg(serve)
    _llm_args(serve)
    _run_args(serve)
    serve.set_defaults(handler=commands.serve)

    discover = sub.add_parser(
        "discover", help="no goal? find the ways the corpus can be grouped, one clustering each"
    )
    _common(discover)
    _corpus_args(discover)
    _embedder_arg(discover)
    _llm_args(discover)
    _run_args(discover)
    discover.add_argument(
        "--max-criteria", type=_positive, default=4, help="most criteria to cluster by (%(default)s)"
    )
    discover.set_defaults(handler=commands.discover)
    return parser


def config_from(args: argparse.Namespace) -> Config:
    """The Config the flags describe (flag defaults are Config's defaults)."""
    values: dict[str, Any] = {"home": args.home} if args.home is not None else {}
    if hasattr(args, "embedder"):
        values.update(
            embedder=args.embedder,
            embedder_api_key_env=args.embedder_api_key_env,
            store=args.store,
            executor=args.executor,
        )
    if hasattr(args, "llm"):
        values.update(
            llm=args.llm,
            use_cache=not args.no_cache,
            cache_namespace=args.cache_namespace,
            backend=BackendOptions(
                n_ctx=args.n_ctx,
                n_gpu_layers=args.n_gpu_layers,
                n_threads=args.threads,
                seed=args.seed,
                api_key_env=args.api_key_env,
                timeout=args.timeout,
            ),
        )
    if hasattr(args, "goal"):
        low, high = (
            (args.clusters, args.clusters)
            if args.clusters is not None
            else (args.min_clusters, args.max_clusters)
        )
        values.update(
            goal=args.goal,
            coverage=args.coverage,
            max_overlap=args.max_overlap,
            min_clusters=low,
            max_clusters=high,
            max_iterations=args.max_iterations,
            budget_calls=args.budget_calls,
            budget_tokens=args.budget_tokens,
            seed=args.seed,
            assign_mode=args.assign_mode,
            cluster_method=args.cluster_method,
            view=args.view,
            aspect=args.aspect,
            view_model=args.view_model,
            view_prompt=args.view_prompt,
            goal_view_sample=args.goal_view_sample,
            sharpen=args.sharpen,
            levels=args.levels,
            min_node_size=args.min_node_size,
        )
        if args.assign_by:
            values["assign_by"] = args.assign_by
    return Config.model_validate(values)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Callable[[argparse.Namespace, Config], dict[str, Any]] = args.handler
    try:
        result = handler(args, config_from(args))
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        print(f"error: invalid option: {problems}", file=sys.stderr)
        return 2
    except EXPECTED_ERRORS as error:
        print(f"error: {error}", file=sys.stderr)
        if getattr(args, "command", "") in ("run", "resume") and isinstance(
            error, BackendError | LLMOutputError
        ):
            print(
                "the run folder keeps all finished work: continue with `goalcluster resume RUN_DIR`",
                file=sys.stderr,
            )
        return 2
    except KeyboardInterrupt:
        print("interrupted; finished work is kept.", file=sys.stderr)
        return 130
    if args.json:
        print(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
