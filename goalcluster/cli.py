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

from agent.config import DEFAULT_HOME, Config
from agent.llm.backends import BackendError
from agent.llm.budget import BudgetExceeded
from agent.llm.helper import LLMOutputError
from agent.llm.packaged import ModelIntegrityError
from goalcluster import commands
from tools.corpus import CorpusError
from tools.embedders import EmbedderError

EXPECTED_ERRORS = (
    CorpusError,
    EmbedderError,
    BackendError,
    ModelIntegrityError,
    LLMOutputError,
    BudgetExceeded,
)


def _env_default(name: str, fallback: str) -> str:
    return os.environ.get(name) or fallback


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--home",
        type=Path,
        default=Path(_env_default("GOALCLUSTER_HOME", str(DEFAULT_HOME))),
        help="cache for assembled models, embeddings and LLM answers (env GOALCLUSTER_HOME; "
        "default %(default)s)",
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
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")


def _embedder_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--embedder",
        default=_env_default("GOALCLUSTER_EMBEDDER", "minilm"),
        help="embedder: minilm | sentence-transformers:PATH | openai-compatible:URL@MODEL "
        "(env GOALCLUSTER_EMBEDDER; default %(default)s)",
    )


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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Callable[[argparse.Namespace, Config], dict[str, Any]] = args.handler
    config = Config(home=args.home, embedder=getattr(args, "embedder", "minilm"))
    try:
        result = handler(args, config)
    except EXPECTED_ERRORS as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; finished work is kept.", file=sys.stderr)
        return 130
    if args.json:
        print(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
