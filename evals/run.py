"""Quality, cost and speed of goalcluster and its peers, side by side on the labeled sets.

    python -m evals run [--data-dir D] [--datasets a,b:criterion] [--methods m1,m2] [--n 96]
                        [--llm-n 24] [--seeds 0,1] [--llm llamacpp] [--out DIR]

Every dataset folder under ``--data-dir`` in the shared format can be named. A dataset with
several goals is run once per goal and scored against every criterion's labels. Each run draws a
seeded sample: at most ``--max-labels`` of the goal criterion's labels, ``--n`` documents
stratified over them; the methods that make one LLM call per document or pair (``goalex``,
``llm-classify``) get the first ``--llm-n`` of a stratified draw of that sample. All methods share
one set of MiniLM embeddings. ``results.json`` is rewritten after every method, so an interrupted
eval keeps what it measured.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

from evals import baselines, llm_methods
from evals.data import LabeledSet, load_set, restrict, stratified, subset
from evals.output import add_common_args, publish
from evals.scoring import JUDGE_SAMPLES, score_clustering
from evals.table import results_table
from evals.task import Outcome, Task
from tools.embedders import Embedder, make_embedder

METHODS: dict[str, Callable[[Task], Outcome]] = {
    "kmeans": baselines.kmeans,
    "agglomerative": baselines.agglomerative,
    "hdbscan": baselines.hdbscan,
    "bertopic": baselines.bertopic,
    "goalcluster": llm_methods.goalcluster_default,
    "goalcluster-semantic": llm_methods.goalcluster_semantic,
    "goalcluster-sharpen": llm_methods.goalcluster_sharpen,
    "goalex": llm_methods.goalex,
    "llm-classify": llm_methods.llm_classify,
}
PER_DOCUMENT_LLM = {"goalex", "llm-classify"}
DATASETS = (
    "banking77,clinc150,massive_en_test,goalex_agnews,syngoalex,"
    "multidomain_sentiment:product_domain,multidomain_sentiment:sentiment"
)
VERSIONS = ("scikit-learn", "sentence-transformers", "bertopic", "llama-cpp-python", "torch", "langgraph")


def runs_wanted(data_dir: Path, spec: str) -> list[tuple[str, str | None]]:
    """``name`` or ``name:criterion`` items, checked against the folders under ``data_dir``."""
    wanted = []
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, _, criterion = item.partition(":")
        if not (data_dir / name / "data.jsonl").exists():
            raise SystemExit(
                f"no dataset {name!r} under {data_dir} (a folder with data.jsonl); check --datasets"
            )
        wanted.append((name, criterion or None))
    return wanted


def goal_criteria(data: LabeledSet, criterion: str | None) -> list[str]:
    """The criteria to run: the one asked for, or every criterion that has a goal."""
    if criterion is None:
        if not data.goals:
            raise SystemExit(f"{data.name} has no goals.json; add one or name a criterion")
        return list(data.goals)
    if criterion not in data.labels:
        raise SystemExit(f"{data.name} has no criterion {criterion!r}; it has {', '.join(data.labels)}")
    return [criterion]


def evaluate(
    task: Task, method: str, labels: dict[str, list[str]], args: argparse.Namespace
) -> dict[str, Any]:
    """Run one method on one task and score it; a failing method is recorded, not fatal."""
    row: dict[str, Any] = {
        "dataset": task.dataset,
        "criterion": task.criterion,
        "method": method,
        "seed": task.seed,
        "n": len(task.texts),
        "k_gold": task.k,
    }
    try:
        outcome = METHODS[method](task)
    except Exception as error:  # noqa: BLE001 - one method's failure must not lose the others' figures
        return {**row, "error": f"{type(error).__name__}: {error}"}
    n = len(task.texts)
    cost = outcome.cost
    row.update(score_clustering(outcome.members, labels))
    row.update({key: cost[key] for key in ("llm_calls", "prompt_tokens", "completion_tokens", "seconds")})
    row.update(
        {
            "stage_seconds": cost["stage_seconds"],
            "llm_calls_per_doc": cost["llm_calls"] / n,
            "tokens_per_doc": (cost["prompt_tokens"] + cost["completion_tokens"]) / n,
            "seconds_per_1k_docs": cost["seconds"] / n * 1000,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "explanation": judge(task, outcome, args) if outcome.clusters and args.judge_samples else None,
            "clusters_found": [
                {**cluster, "size": int(size)}
                for cluster, size in zip(outcome.clusters, outcome.members.sum(axis=0), strict=False)
            ],
            "details": outcome.details,
        }
    )
    return row


def judge(task: Task, outcome: Outcome, args: argparse.Namespace) -> dict[str, Any]:
    """Explanation quality on ``--judge-samples`` documents, with what the judging cost."""
    assert task.chat is not None
    return llm_methods.judge_explanations(
        task.chat,
        task.goal,
        task.texts,
        outcome.members,
        outcome.clusters,
        args.judge_samples,
        task.seed,
        quiet=task.quiet,
    )


def tasks_for(
    data: LabeledSet, criterion: str, seed: int, args: argparse.Namespace, embedder: Embedder
) -> tuple[LabeledSet, Task, LabeledSet, Task]:
    """The sample for every method and the smaller one for per-document LLM methods."""
    sample = stratified(restrict(data, criterion, args.max_labels, seed), criterion, args.n, seed)
    started = time.perf_counter()
    vectors = embedder.embed(sample.texts)
    embed_seconds = time.perf_counter() - started
    small_rows = sorted(sample.ids.index(i) for i in stratified(sample, criterion, args.llm_n, seed).ids)
    small = subset(sample, small_rows)
    tasks = []
    for part, rows in ((sample, None), (small, small_rows)):
        tasks.append(
            Task(
                dataset=data.name,
                criterion=criterion,
                goal=data.goals.get(criterion, ""),
                ids=part.ids,
                texts=part.texts,
                vectors=vectors if rows is None else vectors[rows],
                k=len(set(part.labels[criterion])),
                gold=part.labels[criterion],
                seed=seed,
                llm=args.llm,
                out=args.out / "runs",
                embed_seconds=embed_seconds * len(part.ids) / len(sample.ids),
                chat=args.chat,
                budget_calls=args.budget_calls,
                quiet=not args.verbose,
            )
        )
    return sample, tasks[0], small, tasks[1]


def main(args: argparse.Namespace) -> int:
    data_dir = Path(args.data_dir)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        raise SystemExit(f"unknown method(s) {', '.join(unknown)}; choose from {', '.join(METHODS)}")
    wanted = runs_wanted(data_dir, args.datasets)
    seeds = [int(s) for s in str(args.seeds).split(",")]
    args.chat = llm_methods.judge_llm(args.llm, args.out / "evals-llm-trace.jsonl")
    embedder = make_embedder("minilm")
    embedder.embed(["load the model before timing"])
    if "bertopic" in methods:
        baselines.warm_up()
    report: dict[str, Any] = {
        "command": "python -m evals run",
        "config": {k: str(v) for k, v in vars(args).items() if k not in ("handler", "chat")},
        "date": time.strftime("%Y-%m-%d"),
        "cpus": os.cpu_count(),
        "machine": f"{platform.system()} {platform.machine()}",
        "versions": {"python": platform.python_version(), **_versions()},
        "rows": [],
    }
    for name, only in wanted:
        data = load_set(data_dir, name)
        for criterion in goal_criteria(data, only):
            for seed in seeds:
                sample, task, small, small_task = tasks_for(data, criterion, seed, args, embedder)
                for method in methods:
                    on_small = method in PER_DOCUMENT_LLM
                    chosen, labels = (small_task, small.labels) if on_small else (task, sample.labels)
                    chosen.out = args.out / "runs" / f"{name}-{criterion}-{method}-{seed}"
                    shutil.rmtree(chosen.out, ignore_errors=True)
                    print(
                        f"== {name} / {criterion} / {method} / seed {seed} (n={len(chosen.ids)})", flush=True
                    )
                    report["rows"].append(evaluate(chosen, method, labels, args))
                    publish(args.out, "results", report, results_table(report["rows"]), quiet=True)
    publish(args.out, "results", report, results_table(report["rows"]))
    return 0


def _versions() -> dict[str, str]:
    found = {"goalcluster": metadata.version("goalcluster")}
    for name in VERSIONS:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def add_parser(sub: Any) -> None:
    parser = sub.add_parser("run", help="every method on every dataset: quality, cost, speed")
    add_common_args(parser)
    parser.add_argument("--datasets", default=DATASETS, help="comma-separated NAME or NAME:CRITERION")
    parser.add_argument(
        "--methods", default=",".join(METHODS), help=f"comma-separated, from {', '.join(METHODS)}"
    )
    parser.add_argument("--seeds", default="0", help="comma-separated seeds; each is a separate sample")
    parser.add_argument("--n", type=int, default=96, help="documents per sample (default 96)")
    parser.add_argument("--llm-n", type=int, default=24, help="documents for goalex and llm-classify")
    parser.add_argument("--max-labels", type=int, default=8, help="gold labels kept per sample (default 8)")
    parser.add_argument("--llm", default="llamacpp", help="chat model for every LLM method and the judge")
    parser.add_argument("--budget-calls", type=int, help="most LLM calls per goalcluster run")
    parser.add_argument(
        "--judge-samples",
        type=int,
        default=JUDGE_SAMPLES,
        help=f"documents the judge sorts per method (default {JUDGE_SAMPLES}; 0: none)",
    )
    parser.add_argument("--verbose", action="store_true", help="show the agent's progress")
    parser.set_defaults(handler=main)
