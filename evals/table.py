"""The Markdown table of ``python -m evals run``: one line per dataset x goal x method, the mean
over seeds."""

from __future__ import annotations

from collections.abc import Sequence
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


def results_table(rows: Sequence[dict[str, Any]]) -> str:
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["dataset"], row["criterion"], row["method"]), []).append(row)
    lines = ["| " + " | ".join(HEAD) + " |", "|" + "---|" * len(HEAD)]
    for (dataset, criterion, method), runs in groups.items():
        done = [run for run in runs if "error" not in run]
        if not done:
            lines.append(f"| {dataset} | {criterion} | {method} | failed: {runs[0]['error'][:120]} |")
            continue
        lines.append("| " + " | ".join(_cells(dataset, criterion, method, mean_over_seeds(done))) + " |")
    return "\n".join(lines)


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
