"""Does the goal steer the clustering? Run the agent once per goal of a multi-criteria dataset and
score each run against every criterion's gold labels (NMI, ACC, ARI).

    python -m evals goalsteer [--dataset syngoalex] [--n 96] [--views auto,semantic] [--llm M] [--out DIR]

Each goal runs once per ``--views`` entry (``auto``: the default, the agent chooses its working
space; ``semantic``: the behaviour before goal views), each with a fresh embedding store, so the
two are measured side by side in one run.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import time
from pathlib import Path
from typing import Any

import goalcluster
from evals.data import LabeledSet, load_set, stratified
from evals.output import add_common_args, publish
from tools.metrics import agreement

FIGURES = (
    "coverage",
    "overlap",
    "clusters",
    "llm_calls",
    "prompt_tokens",
    "completion_tokens",
    "stop_reason",
)


def run_goal(full: LabeledSet, criterion: str, view: str, args: argparse.Namespace) -> dict[str, Any]:
    data = stratified(full, criterion, args.n, args.seed)
    dataset = full.name
    out = args.out / f"{dataset}-{criterion}-{view}-{args.seed}"
    shutil.rmtree(out, ignore_errors=True)
    started = time.perf_counter()
    result = goalcluster.cluster(
        data.texts,
        ids=data.ids,
        goal=data.goals[criterion],
        llm=args.llm,
        name=f"{dataset}-{args.n}",
        out=out,
        quiet=not args.verbose,
        seed=args.seed,
        max_clusters=args.max_clusters or len(set(data.labels[criterion])),
        max_iterations=args.max_iterations,
        view=view,
        store=out / "store",
        use_cache=False,
    )
    seconds = time.perf_counter() - started
    predicted = result.labels()
    return {
        "dataset": dataset,
        "goal_criterion": criterion,
        "view": view,
        "space": result.metrics["view"],
        "n": len(data.ids),
        **{key: result.metrics[key] for key in FIGURES},
        "seconds": round(seconds, 1),
        "against": {c: agreement(gold, predicted) for c, gold in data.labels.items()},
        "clusters_found": [
            {"name": c.name, "explanation": c.explanation, "size": c.size} for c in result.clusters
        ],
    }


def table(rows: list[dict[str, Any]]) -> str:
    criteria = sorted({c for row in rows for c in row["against"]})
    head = ["goal", "view", "space", "n", "coverage", "overlap", "k", "LLM calls", "seconds"]
    head += [f"NMI/ACC vs {c}" for c in criteria] + ["own goal wins?"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        scores = row["against"]
        own = scores[row["goal_criterion"]]["nmi"]
        wins = all(own > scores[c]["nmi"] for c in criteria if c != row["goal_criterion"])
        space = row["space"]
        cells = [
            row["goal_criterion"],
            row["view"],
            f"goal ({space['aspect']})" if space["kind"] == "goal" else "semantic",
            row["n"],
            f"{row['coverage']:.2f}",
            f"{row['overlap']:.2f}",
            row["clusters"],
            row["llm_calls"],
            row["seconds"],
        ]
        cells += [f"{scores[c]['nmi']:.3f} / {scores[c]['acc']:.3f}" for c in criteria]
        cells.append("yes" if wins else "**no**")
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    data_dir = Path(args.data_dir)
    full = load_set(data_dir, args.dataset)
    goals = full.goals
    rows = []
    wanted = args.goals.split(",") if args.goals else list(goals)
    unknown = sorted(set(wanted) - set(goals))
    if unknown:
        raise SystemExit(
            f"{args.dataset} has no goal for {', '.join(unknown)}; its goals: {', '.join(goals)}"
        )
    views = [v.strip() for v in args.views.split(",") if v.strip()]
    for criterion in wanted:
        for view in views:
            print(f"== {args.dataset}: goal '{criterion}', view {view}", flush=True)
            rows.append(run_goal(full, criterion, view, args))
            print(table(rows[-1:]), flush=True)
    report = {
        "dataset": args.dataset,
        "llm": args.llm,
        "n": args.n,
        "seed": args.seed,
        "date": time.strftime("%Y-%m-%d"),
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
        "goalcluster": goalcluster.__version__,
        "rows": rows,
    }
    publish(args.out, "goalsteer", report, table(rows))
    return 0


def add_parser(sub: Any) -> None:
    parser = sub.add_parser("goalsteer", help="one run per goal of a dataset, scored against every criterion")
    add_common_args(parser)
    parser.add_argument("--dataset", default="syngoalex")
    parser.add_argument("--goals", help="comma-separated criteria to run (default: every goal)")
    parser.add_argument("--n", type=int, default=96, help="stratified sample size per goal (default 96)")
    parser.add_argument("--llm", default="llamacpp")
    parser.add_argument(
        "--views",
        default="auto,semantic",
        help="views to run each goal in, side by side: auto, goal, semantic (default %(default)s)",
    )
    parser.add_argument(
        "--max-clusters",
        type=int,
        help="most clusters (default: the goal's number of gold labels, as in evals run)",
    )
    parser.add_argument("--max-iterations", type=int, default=3)
    parser.add_argument("--verbose", action="store_true", help="show the agent's progress")
    parser.set_defaults(handler=main)
