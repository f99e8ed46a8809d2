"""The Markdown table of ``python -m evals run``: one line per dataset x goal x method, the mean
over seeds."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from evals.scoring import mean_over_seeds

HEAD = (
    "dataset",
    "goal",
    "method",
    "n",
    "k gold / found",
    "ACC",
    "NMI",
    "ARI",
    "NMI vs other criteria",
    "coverage",
    "overlap",
    "unassigned",
    "expl. P / R",
    "LLM calls (per doc)",
    "tokens per doc",
    "s (per 1k docs)",
)


MEANS_HEAD = (
    "method",
    "tasks",
    "ACC",
    "NMI",
    "ARI",
    "coverage",
    "unassigned",
    "LLM calls per doc",
    "s per 1k docs",
)


def results_table(rows: Sequence[dict[str, Any]]) -> str:
    """One line per dataset x goal x method (mean over seeds), then each method's mean over the
    dataset x goal tasks it completed."""
    lines = ["| " + " | ".join(HEAD) + " |", "|" + "---|" * len(HEAD)]
    for (dataset, criterion, method), runs in _groups(rows).items():
        done = [run for run in runs if "error" not in run]
        if not done:
            lines.append(f"| {dataset} | {criterion} | {method} | failed: {runs[0]['error'][:120]} |")
            continue
        lines.append("| " + " | ".join(_cells(dataset, criterion, method, mean_over_seeds(done))) + " |")
    spaces = views_table(rows)
    return "\n".join(lines) + "\n\n" + means_table(rows) + (f"\n\n{spaces}" if spaces else "")


def means_table(rows: Sequence[dict[str, Any]]) -> str:
    """Each method averaged over the dataset x goal tasks it completed (each task its seed mean);
    scores are against the goal's own labels."""
    tasks: dict[str, list[dict[str, Any]]] = {}
    for (_, criterion, method), runs in _groups(rows).items():
        done = [run for run in runs if "error" not in run]
        if done:
            task = mean_over_seeds(done)
            tasks.setdefault(method, []).append({**task["against"][criterion], **task})
    lines = ["| " + " | ".join(MEANS_HEAD) + " |", "|" + "---|" * len(MEANS_HEAD)]
    for method, runs in tasks.items():
        m = mean_over_seeds(runs)
        lines.append(
            f"| {method} | {len(runs)} | {m['acc']:.3f} | {m['nmi']:.3f} | {m['ari']:.3f} "
            f"| {m['coverage']:.2f} | {m['unassigned_share']:.2f} | {m['llm_calls_per_doc']:.2f} "
            f"| {m['seconds_per_1k_docs']:.0f} |"
        )
    return "\n".join(lines)


def views_table(rows: Sequence[dict[str, Any]]) -> str:
    """The working space each goalcluster run chose, and the agreement with the LLM's notes that chose it."""
    lines = [
        "| dataset | goal | method | seed | aspect | space | chosen by | NMI with notes: semantic / goal |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        view = (row.get("details") or {}).get("view")
        if not view or "error" in row:
            continue
        agree = view.get("agreement") or {}
        shares = f"{agree['semantic']:.2f} / {agree['goal']:.2f} ({view['notes']} notes)" if agree else "-"
        lines.append(
            f"| {row['dataset']} | {row['criterion']} | {row['method']} | {row['seed']} "
            f"| {view['aspect'] or '-'} | {view['kind']} | {view['chosen_by']} | {shares} |"
        )
    return "\n".join(lines) if len(lines) > 2 else ""


def _groups(rows: Sequence[dict[str, Any]]) -> dict[tuple[str, str, str], list[dict[str, Any]]]:
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["dataset"], row["criterion"], row["method"]), []).append(row)
    return groups


def _cells(dataset: str, criterion: str, method: str, m: dict[str, Any]) -> list[str]:
    own = m["against"][criterion]
    others = ", ".join(f"{c} {s['nmi']:.2f}" for c, s in m["against"].items() if c != criterion) or "-"
    explanation = m.get("explanation")
    quality = "-"
    if explanation and "precision" in explanation:
        quality = f"{explanation['precision']:.2f} / {explanation['recall']:.2f}"
    return [
        dataset,
        criterion,
        method,
        f"{m['n']:.0f}",
        f"{m['k_gold']:.0f} / {m['clusters']:.3g}",
        f"{own['acc']:.3f}",
        f"{own['nmi']:.3f}",
        f"{own['ari']:.3f}",
        others,
        f"{m['coverage']:.2f}",
        f"{m['overlap']:.2f}",
        f"{m['unassigned_share']:.2f}",
        quality,
        f"{m['llm_calls']:.0f} ({m['llm_calls_per_doc']:.2f})",
        f"{m['tokens_per_doc']:.0f}",
        f"{m['seconds']:.1f} ({m['seconds_per_1k_docs']:.0f})",
    ]


def main(args: argparse.Namespace) -> int:
    rows: list[dict[str, Any]] = []
    for given in args.results:
        path = given / "results.json" if given.is_dir() else given
        if not path.exists():
            raise SystemExit(f"no {path}; pass --out folders of `python -m evals run` (or results.json)")
        rows += json.loads(path.read_text())["rows"]
    print(results_table(rows))
    return 0


def add_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "table", help="print the tables of earlier `python -m evals run`s again (several: rows together)"
    )
    parser.add_argument("results", type=Path, nargs="+", help="their --out folders or results.json files")
    parser.set_defaults(handler=main)
