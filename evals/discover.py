"""Does criteria discovery find the criteria the data is labeled by?

    python -m evals discover [--datasets syngoalex,multidomain_sentiment] [--n 64] [--max-criteria 4]

For each dataset with several criteria, runs ``goalcluster.discover`` on a seeded sample (stratified
by the first criterion) and reports, per gold criterion, the best NMI of any kept discovered
clustering with it; how many gold criteria were recovered (best NMI at least ``--threshold``); how
many kept criteria match no gold criterion (spurious); and the LLM calls and time it took.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path
from typing import Any

from sklearn.metrics import normalized_mutual_info_score

import goalcluster
from evals.data import load_set, stratified
from evals.output import add_common_args, publish
from goalcluster.criteria import Discovery


def score(gold: dict[str, list[str]], found: Discovery, threshold: float) -> dict[str, Any]:
    kept = found.kept
    nmi = {
        g: {c.name: float(normalized_mutual_info_score(labels, c.labels)) for c in kept}
        for g, labels in gold.items()
    }
    best = {
        g: max(scores.items(), key=lambda item: item[1]) if scores else ("-", 0.0)
        for g, scores in nmi.items()
    }
    spurious = [c.name for c in kept if all(nmi[g][c.name] < threshold for g in gold)]
    return {
        "best": {g: {"criterion": name, "nmi": round(value, 4)} for g, (name, value) in best.items()},
        "recovered": sum(1 for _, value in best.values() if value >= threshold),
        "spurious": spurious,
    }


def table(rows: list[dict[str, Any]], threshold: float) -> str:
    lines = [
        "| dataset | n | criteria found (kept) | gold criterion: best match, NMI | recovered "
        f"(NMI >= {threshold}) | spurious | LLM calls | seconds |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        best = "; ".join(f"{g}: {b['criterion']} {b['nmi']:.2f}" for g, b in row["best"].items())
        found = ", ".join(c["name"] + ("" if c["kept"] else " (dropped)") for c in row["criteria"])
        lines.append(
            f"| {row['dataset']} | {row['n']} | {found} | {best} | {row['recovered']} of {len(row['best'])} "
            f"| {len(row['spurious'])} | {row['llm_calls']} | {row['seconds']:.0f} |"
        )
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    rows = []
    for name in args.datasets.split(","):
        full = load_set(Path(args.data_dir), name)
        data = stratified(full, sorted(full.labels)[0], args.n, args.seed)
        gold = {c: v for c, v in data.labels.items() if not args.criteria or c in args.criteria.split(",")}
        print(f"== {name}: discovering criteria on {len(data.ids)} texts", flush=True)
        found = goalcluster.discover(
            data.texts,
            ids=data.ids,
            llm=args.llm,
            name=f"{name}-{args.n}",
            out=args.out / f"discover-{name}-{args.seed}",
            max_criteria=args.max_criteria,
            quiet=not args.verbose,
            seed=args.seed,
            use_cache=False,
        )
        rows.append(
            {
                "dataset": name,
                "n": len(data.ids),
                "criteria": [
                    {"name": c.name, "goal": c.goal, "kept": c.kept, "dropped_because": c.dropped_because}
                    for c in found.criteria
                ],
                **score(gold, found, args.threshold),
                "llm_calls": found.llm_calls,
                "seconds": found.seconds,
            }
        )
        print(table(rows[-1:], args.threshold), flush=True)
    report = {
        "llm": args.llm,
        "n": args.n,
        "seed": args.seed,
        "threshold": args.threshold,
        "date": time.strftime("%Y-%m-%d"),
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
        "rows": rows,
    }
    publish(args.out, "discover", report, table(rows, args.threshold))
    return 0


def add_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "discover", help="criteria discovery against the gold criteria of multi-criteria sets"
    )
    add_common_args(parser)
    parser.add_argument("--datasets", default="syngoalex,multidomain_sentiment")
    parser.add_argument("--criteria", default="topic,language,style,product_domain,sentiment",
                        help="gold criteria scored (others in the data are ignored)")  # fmt: skip
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--max-criteria", type=int, default=4)
    parser.add_argument(
        "--threshold", type=float, default=0.3, help="NMI at which a gold criterion counts as found"
    )
    parser.add_argument("--llm", default="llamacpp")
    parser.add_argument("--verbose", action="store_true")
    parser.set_defaults(handler=main)
