"""How the non-LLM path grows with the corpus: load, embed, cluster, assign by embeddings, select.

    python -m evals scale [--sizes 1000,4000,16000] [--executor local,ray] [--store chroma://HOST:PORT]
                          [--llm-sizes 100,400,1600] [--llm M] [--out DIR]

Texts come from the shared labeled sets (pooled, then sampled; past the pool's ~18,000 texts, the
pool and then texts joined from two pool texts, each new to the store); the candidate explanations are
sentences built from their gold label names, so the assign and select stages see as many
candidates as a run would. Embedding goes through a fresh store per size (a new folder, or a new
collection on a Chroma server given by ``--store``, dropped afterwards), so every text is embedded
(the cost a first run pays). Prints seconds and peak memory (the process's resident set, its high
mark reset before each stage where Linux allows) per stage at each size and the fitted growth
exponent (time ~ N^b). With ``--llm-sizes`` it also runs the whole agent (default
configuration, no answer cache, a fresh store: the goal view is computed in the run) at those N and
reports its LLM calls per document and its seconds per 1,000 documents, the goal view included.
With ``--goal-view-sample S`` the goal view is computed on S documents and extended to the rest;
its quality lost is then measured on held-out documents whose full goal view is computed too.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import numpy as np

import goalcluster
from agent.state import ViewChoice
from agent.workspace import open_workspace
from evals.data import load_set
from evals.output import add_common_args, publish
from tools.assign import assign, plausible
from tools.cluster import micro_cluster_count, partition
from tools.corpus import load_corpus
from tools.embed import embed_corpus
from tools.embedders import make_embedder
from tools.executor import Executor, make_executor
from tools.extend import sample_rows
from tools.metrics import agreement
from tools.prototypes import centre
from tools.select import select_clusters
from tools.store import EmbeddingStore, collection_name, server_address

POOL = ("banking77", "clinc150", "massive_en_test", "agnews")
CANDIDATES = 30


def pooled_texts(data_dir: Path) -> tuple[list[str], list[str]]:
    """Texts and their gold label names from the pooled datasets."""
    texts, labels = [], []
    for name in POOL:
        data = load_set(data_dir, name)
        criterion = sorted(data.labels)[0]
        texts += data.texts
        labels += data.labels[criterion]
    return texts, labels


def draw(n: int, texts: list[str], labels: list[str], seed: int) -> tuple[list[str], list[str]]:
    """``n`` distinct texts and their labels: a sample of the pool, or, past the pool's size, the
    whole pool and then texts made by joining two pool texts (distinct pairs, the first one's
    label), so that every document is new to the embedder and the store."""
    rng = np.random.default_rng(seed)
    if n <= len(texts):
        pick = rng.choice(len(texts), size=n, replace=False)
        return [texts[i] for i in pick], [labels[i] for i in pick]
    joined_texts, joined_labels, pairs = list(texts), list(labels), set()
    while len(joined_texts) < n:
        a, b = (int(i) for i in rng.choice(len(texts), size=2, replace=False))
        if (a, b) not in pairs and texts[a] != texts[b]:
            pairs.add((a, b))
            joined_texts.append(f"{texts[a]} {texts[b]}")
            joined_labels.append(labels[a])
    return joined_texts, joined_labels


class StageMeter:
    """Seconds and peak resident memory (MB) of each stage. Linux keeps a process's high-water mark
    (VmHWM) and resets it when 5 is written to /proc/self/clear_refs, so each stage's peak is its
    own; where that is not allowed, the peak is the process's so far (ru_maxrss)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.peak_mb: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        _reset_peak()
        started = time.perf_counter()
        yield
        self.seconds[name] = round(time.perf_counter() - started, 3)
        self.peak_mb[name] = round(peak_rss_mb(), 1)


def _reset_peak() -> None:
    with suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def peak_rss_mb() -> float:
    """The resident set's high-water mark since the last reset (MB)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@contextmanager
def fresh_store(location: str | None, embedder: str) -> Iterator[EmbeddingStore]:
    """An empty store: a temporary folder, or a new collection on the Chroma server at ``location``
    (named for this measurement, dropped afterwards)."""
    if location is None:
        with tempfile.TemporaryDirectory() as folder:
            yield EmbeddingStore(Path(folder) / "store", embedder)
        return
    identity = f"{embedder}#scale-{uuid.uuid4().hex[:8]}"
    try:
        yield EmbeddingStore(location, identity)
    finally:
        import chromadb
        from chromadb.config import Settings

        host, port = server_address(location) or ("", 0)
        client = chromadb.HttpClient(host=host, port=port, settings=Settings(anonymized_telemetry=False))
        client.delete_collection(collection_name(identity))


def measure(
    n: int,
    texts: list[str],
    labels: list[str],
    embedder: Any,
    seed: int,
    executor: Executor,
    store: str | None = None,
) -> dict[str, Any]:
    sample, drawn = draw(n, texts, labels, seed)
    ids = [str(i) for i in range(n)]
    names = sorted(set(drawn))[:CANDIDATES]
    meter = StageMeter()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "corpus.jsonl"
        path.write_text(
            "".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in zip(ids, sample, strict=True))
        )
        with meter.stage("load"):
            corpus = load_corpus(path)
        with fresh_store(store, embedder.name) as vectors_store, meter.stage("embed"):
            vectors, _ = embed_corpus(corpus.texts, embedder, vectors_store, executor=executor)
    with meter.stage("cluster"):
        labels_micro = partition(vectors, n_clusters=micro_cluster_count(n, 10), random_state=seed)
    with meter.stage("assign"):
        explanations = embedder.embed([f"The text is about {name.replace('_', ' ')}." for name in names])
        scores = executor.scores(vectors, explanations)
        members = plausible(scores, min_similarity=0.15, margin=0.06)
        assign(scores, min_similarity=0.15, overlap_margin=0.015)
    with meter.stage("select"):
        select_clusters(members, min_clusters=2, max_clusters=10)
    return {
        "n": n,
        "executor": executor.name,
        "store": store or "folder",
        "micro_clusters": len(set(labels_micro.tolist())),
        "candidates": len(names),
        "seconds": meter.seconds,
        "total_seconds": round(sum(meter.seconds.values()), 3),
        "peak_mb": meter.peak_mb,
        "peak_rss_mb": max(meter.peak_mb.values()),
    }


def growth_exponent(rows: list[dict[str, Any]], key: str) -> float:
    """Slope of log(time) against log(N); ``peak_rss_mb`` gives memory's."""
    n = np.log([row["n"] for row in rows])
    whole = {"total": "total_seconds", "peak_rss_mb": "peak_rss_mb"}
    figures = [row[whole[key]] if key in whole else row["seconds"][key] for row in rows]
    t = np.log([max(figure, 1e-6) for figure in figures])
    return float(np.polyfit(n, t, 1)[0])


def measure_llm(n: int, texts: list[str], labels: list[str], args: argparse.Namespace) -> dict[str, Any]:
    """The agent's LLM calls and time on ``n`` pooled texts (goal: what the texts are about)."""
    pick = np.random.default_rng(args.seed).choice(len(texts), size=n, replace=False)
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        result = goalcluster.cluster(
            [texts[i] for i in pick],
            llm=args.llm,
            out=folder,
            seed=args.seed,
            use_cache=False,
            quiet=not args.verbose,
            view=args.view,
            goal_view_sample=args.goal_view_sample,
            store=Path(folder) / "store",
        )
        seconds = time.perf_counter() - started
        view = result.metrics["view"]
        truth = [labels[i] for i in pick]
        lost = extension_quality(Path(folder), ViewChoice(**view), truth, args) if view["sampled"] else None
        stored = checkpoint_sizes(Path(folder) / "checkpoint.sqlite")
    m = result.metrics
    return {
        "n": n,
        "llm_calls": m["llm_calls"],
        "llm_calls_per_doc": round(m["llm_calls"] / n, 3),
        "prompt_tokens": m["prompt_tokens"],
        "completion_tokens": m["completion_tokens"],
        "seconds": round(seconds, 1),
        "seconds_per_1k_docs": round(seconds / n * 1000, 1),
        "stage_seconds": m["stage_seconds"],
        "view": view,
        "extension_quality": lost,
        "checkpoint": stored,
        "iterations": m["iterations"],
        "stop_reason": m["stop_reason"],
    }


def checkpoint_sizes(path: Path) -> dict[str, int] | None:
    """How big the run's LangGraph checkpoint is: its steps, the largest one step stores (its
    checkpoint or a node's writes, bytes) and the file's size; None without one. Per-document
    arrays live in the run folder, so this should not grow with N."""
    import sqlite3

    if not path.is_file():
        return None
    with sqlite3.connect(path) as db:
        steps = [len(row[0]) for row in db.execute("SELECT checkpoint FROM checkpoints")]
        writes = [len(row[0]) for row in db.execute("SELECT value FROM writes")]
    return {"steps": len(steps), "largest_step_bytes": max(steps + writes), "file_bytes": path.stat().st_size}


def extension_quality(
    run_dir: Path, view: ViewChoice, gold: list[str], args: argparse.Namespace
) -> dict[str, Any]:
    """How much an extended goal view loses against the full one, on ``args.held_out`` documents
    outside the sample: their full goal view is computed here and both are clustered (k-means, k =
    their gold labels, at most 20) and scored against the gold labels and each other."""
    ws = open_workspace(str(run_dir), quiet=True)
    goal = ws.config.goal_text
    extended = ws.space(view, goal)
    sampled = set(sample_rows(len(ws.ids), view.sampled or 0, ws.config.seed))
    rest = [i for i in range(len(ws.ids)) if i not in sampled]
    held = sorted(
        int(i) for i in np.random.default_rng(args.seed).choice(rest, min(args.held_out, len(rest)), False)
    )
    started = time.perf_counter()
    full = centre(ws.goal_vectors(view.aspect, goal, held))
    seconds = (time.perf_counter() - started) / max(1, len(held))
    truth = [gold[i] for i in held]
    k = min(20, len(set(truth)))
    found = {
        name: partition(vectors, n_clusters=k, random_state=args.seed).tolist()
        for name, vectors in (("full", full), ("extended", extended[held]))
    }
    return {
        "held_out": len(held),
        "k": k,
        "full_vs_gold": agreement(truth, found["full"]),
        "extended_vs_gold": agreement(truth, found["extended"]),
        "extended_vs_full_nmi": agreement(found["full"], found["extended"])["nmi"],
        "full_view_s_per_doc": round(seconds, 3),
    }


def llm_table(rows: list[dict[str, Any]]) -> str:
    head = (
        "| N | space | LLM calls | calls per doc | tokens | view s | seconds | s per 1k docs | rounds | stop "
        "| checkpoint: steps, largest step KB |"
    )
    lines = [head, "|---|---|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        tokens = row["prompt_tokens"] + row["completion_tokens"]
        view = row["view"]
        space = f"goal ({view['aspect']})" if view["kind"] == "goal" else "semantic"
        if view.get("sampled"):
            space += f", sampled {view['sampled']}"
        lines.append(
            f"| {row['n']} | {space} | {row['llm_calls']} | {row['llm_calls_per_doc']} | {tokens} "
            f"| {row['stage_seconds'].get('view', 0)} | {row['seconds']} | {row['seconds_per_1k_docs']} "
            f"| {row['iterations']} | {row['stop_reason']} | {_checkpoint_cell(row.get('checkpoint'))} |"
        )
    extended = [row for row in rows if row.get("extension_quality")]
    return "\n".join(lines) + (f"\n\n{extension_table(extended)}" if extended else "")


def _checkpoint_cell(stored: dict[str, int] | None) -> str:
    return "-" if not stored else f"{stored['steps']}, {stored['largest_step_bytes'] / 1024:.1f}"


def extension_table(rows: list[dict[str, Any]]) -> str:
    """What the extended goal view loses against the full one, on held-out documents."""
    lines = [
        "| N | sample | held-out | NMI / ACC vs gold: full view | extended view | NMI extended vs full "
        "| full view s per doc |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        q = row["extension_quality"]
        full, ext = q["full_vs_gold"], q["extended_vs_gold"]
        lines.append(
            f"| {row['n']} | {row['view']['sampled']} | {q['held_out']} "
            f"| {full['nmi']:.3f} / {full['acc']:.3f} | {ext['nmi']:.3f} / {ext['acc']:.3f} "
            f"| {q['extended_vs_full_nmi']:.3f} | {q['full_view_s_per_doc']} |"
        )
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    texts, labels = pooled_texts(Path(args.data_dir))
    rows: list[dict[str, Any]] = []
    exponents: dict[str, dict[str, float]] = {}
    tables: list[str] = []
    sizes = [int(size) for size in args.sizes.split(",") if size.strip()]
    if sizes:
        embedder = make_embedder(args.embedder)
        embedder.embed(["load the model before timing"])
        for spec in args.executor.split(","):
            executor, done = make_executor(spec), []
            for n in sizes:
                done.append(measure(n, texts, labels, embedder, args.seed, executor, args.store))
                row = done[-1]
                print(
                    f"{spec} N={n}: {row['seconds']} total {row['total_seconds']} s, "
                    f"peak RSS {row['peak_rss_mb']} MB",
                    flush=True,
                )
            exponents[spec], table = stage_table(done)
            tables.append(f"Executor {spec}, store {args.store or 'a folder'}:\n\n{table}")
            rows += done
    llm_rows = []
    for n in (int(size) for size in args.llm_sizes.split(",") if size.strip()):
        print(f"agent with {args.llm} on N={n} ...", flush=True)
        llm_rows.append(measure_llm(n, texts, labels, args))
        print(llm_table(llm_rows[-1:]), flush=True)
    if llm_rows:
        tables.append(f"The agent's LLM path ({args.llm}):\n\n" + llm_table(llm_rows))
    figures = {"rows": rows, "exponents": exponents, "llm_rows": llm_rows, "cpus": os.cpu_count()}
    publish(args.out, "scale", figures, "\n\n".join(tables))
    return 0


def stage_table(rows: list[dict[str, Any]]) -> tuple[dict[str, float], str]:
    """Growth exponents per stage (and of peak memory), and the table of seconds and peak MB per
    stage at each N."""
    stages = ["load", "embed", "cluster", "assign", "select", "total"]
    keys = [*stages, "peak_rss_mb"]
    exponents = {key: round(growth_exponent(rows, key), 2) for key in keys} if len(rows) > 1 else {}
    lines = [
        "| N | " + " | ".join(f"{s} s (peak MB)" for s in stages[:-1]) + " | total s | peak RSS MB |",
        "|" + "---|" * (len(stages) + 2),
    ]
    for row in rows:
        peaks = row.get("peak_mb", {})
        cells = [f"{row['seconds'][s]} ({peaks.get(s, '-')})" for s in stages[:-1]]
        cells += [str(row["total_seconds"]), str(row["peak_rss_mb"])]
        lines.append(f"| {row['n']} | " + " | ".join(cells) + " |")
    if exponents:
        figures = " | ".join(str(exponents[key]) for key in keys)
        lines.append(f"| growth exponent b (time, memory ~ N^b) | {figures} |")
    return exponents, "\n".join(lines)


def add_parser(sub: Any) -> None:
    parser = sub.add_parser("scale", help="time and memory of the non-LLM path at growing N")
    add_common_args(parser)
    parser.add_argument("--sizes", default="1000,4000,16000", help="N for the non-LLM path ('' to skip it)")
    parser.add_argument("--embedder", default="minilm")
    parser.add_argument(
        "--executor",
        default="local",
        help="comma-separated executors for the non-LLM path, each measured in turn (e.g. local,ray)",
    )
    parser.add_argument(
        "--store",
        help="a Chroma server chroma://HOST:PORT to embed into (a new collection per size, dropped after); "
        "default: a fresh folder per size",
    )
    parser.add_argument("--llm-sizes", default="", help="N at which to run the agent and count LLM calls")
    parser.add_argument("--llm", default="llamacpp", help="chat model for --llm-sizes")
    parser.add_argument(
        "--view",
        default="auto",
        choices=["auto", "goal", "semantic"],
        help="the agent's --view (default auto)",
    )
    parser.add_argument("--goal-view-sample", type=int, help="the agent's --goal-view-sample")
    parser.add_argument(
        "--held-out",
        type=int,
        default=300,
        help="documents the extended goal view is checked on (default 300)",
    )
    parser.add_argument("--verbose", action="store_true", help="show the agent's progress")
    parser.set_defaults(handler=main)
