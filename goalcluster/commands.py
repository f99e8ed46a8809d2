"""What each CLI subcommand does; each returns a JSON-able summary and prints a readable one."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tqdm import tqdm

from agent.config import Config
from agent.llm.packaged import PACKAGED_MODELS, ensure_model, is_assembled, is_installed
from agent.workspace import make_run_embedder, say
from goalcluster.chat.graph import Chat
from goalcluster.chat.session import open_session
from goalcluster.chat.terminal import run_chat
from goalcluster.criteria import discover as find_criteria
from goalcluster.criteria import discovery_markdown
from goalcluster.report import ReportError, write_reports
from goalcluster.results import ClusteringResult, summary_table
from goalcluster.runner import RunInputError
from goalcluster.tree import read_tree, resume_tree, start_tree, tree_lines
from goalcluster.web import MISSING_EXTRA, ServeError
from tools.corpus import Corpus, load_corpus, sample_corpus
from tools.embed import embed_corpus
from tools.embedders import EmbedderError, packaged_minilm_path
from tools.executor import make_executor
from tools.store import EmbeddingStore

BACKENDS = [
    ("llamacpp", "packaged Qwen2.5-Coder-1.5B-Instruct, in-process (default)"),
    ("llamacpp:small", "packaged Qwen2.5-Coder-0.5B-Instruct, in-process (fast, weak judge)"),
    ("llamacpp:/path/to/model.gguf", "any GGUF file (n_gpu_layers for a CUDA build)"),
    ("openai-compatible:http://HOST:PORT/v1@MODEL", "vLLM, llama.cpp server, Ollama, LM Studio, TGI"),
    ("openai:MODEL, anthropic:MODEL, PROVIDER:MODEL", "hosted, through LangChain (extras)"),
]


def progress_to(bar: tqdm) -> Callable[[int, int], None]:
    """A ``progress(done, total)`` callback that moves ``bar``."""

    def update(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)

    return update


def read_corpus(args: argparse.Namespace) -> Corpus:
    corpus = load_corpus(
        args.data,
        text_column=args.text_column,
        id_column=args.id_column,
        fmt=args.fmt,
        encoding=args.encoding,
        on_empty="error" if args.error_on_empty else "drop",
    )
    if corpus.dropped_empty:
        say(f"dropped {corpus.dropped_empty} empty text(s) (use --error-on-empty to fail instead)")
    return sample_corpus(corpus, args.sample, args.seed)


def models(args: argparse.Namespace, config: Config) -> dict[str, Any]:
    rows = []
    for name, model in PACKAGED_MODELS.items():
        installed = is_installed(model)
        if installed and args.prepare:
            with tqdm(unit="B", unit_scale=True, desc=f"assembling {model.key}", file=sys.stderr) as bar:
                ensure_model(model, config.home, progress_to(bar))
        rows.append(
            {
                "llm": "llamacpp" if name == "default" else f"llamacpp:{name}",
                "model": model.title,
                "installed": installed,
                "assembled": is_assembled(model, config.home),
                "install": model.install_hint(),
            }
        )
    try:
        minilm: str | None = str(packaged_minilm_path())
    except EmbedderError:
        minilm = None
    if not args.json:
        print("Chat backends (--llm):")
        for spec, what in BACKENDS:
            print(f"  {spec:48s} {what}")
        print("\nEmbedded chat models:")
        for row in rows:
            state = (
                ("assembled" if row["assembled"] else "installed") if row["installed"] else "not installed"
            )
            print(f"  {row['llm']:16s} {row['model']:40s} {state}")
        print("\nEmbedders (--embedder):")
        print(f"  {'minilm':16s} all-MiniLM-L6-v2 (packaged): {'installed' if minilm else 'not installed'}")
        print(f"  {'sentence-transformers:PATH':28s} any local sentence-transformers folder")
        print(f"  {'openai-compatible:URL@MODEL':28s} an OpenAI-compatible embeddings endpoint")
        print(f"\nCache: {config.home}")
    return {"chat_models": rows, "embedder_minilm": minilm, "home": str(config.home)}


def embed(args: argparse.Namespace, config: Config) -> dict[str, Any]:
    corpus = read_corpus(args)
    embedder = make_run_embedder(config)
    store = EmbeddingStore(config.store_path, embedder.name)
    with tqdm(desc="embedding", unit="doc", file=sys.stderr) as bar:
        vectors, stats = embed_corpus(
            corpus.texts, embedder, store, progress=progress_to(bar), executor=make_executor(config.executor)
        )
    summary = {
        "corpus": corpus.name,
        "documents": len(corpus),
        "embedded": stats.embedded,
        "reused": stats.reused,
        "truncated": stats.truncated,
        "dimensions": int(vectors.shape[1]),
        "seconds": round(stats.seconds, 2),
        "store": str(config.store_path),
    }
    if not args.json:
        print(
            f"{corpus.name}: {len(corpus)} documents, {stats.embedded} embedded, {stats.reused} reused "
            f"from the store, {vectors.shape[1]} dimensions, {stats.seconds:.1f} s"
        )
        if stats.truncated:
            print(
                f"note: {stats.truncated} text(s) are longer than the embedder reads; only their start counts"
            )
    return summary


def run(args: argparse.Namespace, config: Config) -> dict[str, Any]:
    corpus = read_corpus(args)
    out = args.out or Path("runs") / f"{corpus.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    say(f"run folder: {out}")
    result = start_tree(corpus, config, out, quiet=args.quiet)
    return _finished(result, args)


def resume(args: argparse.Namespace, config: Config) -> dict[str, Any]:
    result = resume_tree(args.run_dir, quiet=args.quiet, executor=args.executor, home=args.home)
    return _finished(result, args)


def _finished(result: ClusteringResult, args: argparse.Namespace) -> dict[str, Any]:
    summary = result.model_dump(exclude={"assignments"})
    if args.report:
        if not args.quiet:
            say("writing the reports (html, md)")
        summary["reports"] = [str(path) for path in write_reports(Path(result.run_dir))]
    if not args.json:
        print(summary_table(result))
        if "tree" in result.metrics and (tree := read_tree(Path(result.run_dir))):
            print(tree_lines(tree))
        for path in summary.get("reports", []):
            print(f"report: {path}")
    return summary


def chat(args: argparse.Namespace, config: Config) -> dict[str, Any]:
    session = open_session(args.target, args.thread, config, out=args.out, quiet=args.quiet)
    run_chat(session, first=f"/cluster {args.goal}" if args.goal else "")
    return {"folder": str(session.folder), "thread": args.thread}


def serve(args: argparse.Namespace, config: Config) -> dict[str, Any]:
    try:
        import uvicorn

        from goalcluster.web.app import build_app
        from goalcluster.web.security import check_host
    except ImportError as error:
        raise ServeError(f"{MISSING_EXTRA} ({error})") from None
    check_host(args.host, args.token)  # before the models load
    session = open_session(args.target, args.thread, config, out=args.out, quiet=args.quiet)
    app = build_app(Chat(session), host=args.host, token=args.token)
    if args.goal and not app.state.web.chat.state().clusters:
        app.state.web.chat.send(f"/cluster {args.goal}")
    shown = f"[{args.host}]" if ":" in args.host else args.host
    url = f"http://{shown}:{args.port}/" + (f"?token={args.token}" if args.token else "")
    say(f"serving thread {args.thread!r} of {session.folder} at {url} (Ctrl-C stops)")
    try:
        uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    finally:
        app.state.web.close()
    return {"folder": str(session.folder), "thread": args.thread, "url": url}


def discover(args: argparse.Namespace, config: Config) -> dict[str, Any]:
    if args.goal:
        raise RunInputError("discover finds the goals itself: leave out --goal (or use `goalcluster run`)")
    corpus = read_corpus(args)
    out = args.out or Path("runs") / f"{corpus.name}-discover-{time.strftime('%Y%m%d-%H%M%S')}"
    say(f"discovery folder: {out}")
    found = find_criteria(corpus, config, out, max_criteria=args.max_criteria, quiet=args.quiet)
    if not args.json:
        print(discovery_markdown(found))
    return found.model_dump(exclude={"criteria": {"__all__": {"labels"}}})


def report(args: argparse.Namespace, config: Config) -> dict[str, Any]:
    if args.out is not None and args.format is None:
        raise ReportError("--out names one file: add --format html or --format md")
    formats = (args.format,) if args.format else ("html", "md")
    paths = write_reports(args.run_dir, formats, out=args.out, gold=args.gold)
    if not args.json:
        for path in paths:
            print(f"report: {path}")
    return {"reports": [str(path) for path in paths]}
