"""``python -m evals rejudge RESULTS_DIR``: judge a finished ``evals run``'s explanations again, on
more documents (or with another judge model), from the run folders it left. Nothing is clustered
again: the rows are the same runs, with a steadier estimate of their explanation precision and
recall. Writes ``rejudged.json`` (every row, with the judging it replaced) and ``rejudged.md``.

Rows of methods that leave no goalcluster run folder (the baselines, llm-classify) and failed rows
keep their figures; the command names each."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from agent.llm.helper import LLM
from agent.workspace import read_run_files
from evals import llm_methods
from evals.output import publish
from evals.scoring import JUDGE_SAMPLES
from evals.table import results_table
from goalcluster.results import read_result
from tools.files import DamagedFileError


def run_folder(results_dir: Path, row: dict[str, Any]) -> Path | None:
    """The goalcluster run folder a row was computed in: under ``results_dir/runs`` (the results
    folder may have moved since), else where the row says; None when the method left none."""
    recorded = (row.get("details") or {}).get("run_dir")
    if not recorded:
        return None
    for folder in (results_dir / "runs" / Path(recorded).name, Path(recorded)):
        if (folder / "metrics.json").exists():
            return folder
    return None


def rejudge_row(llm: LLM, folder: Path, row: dict[str, Any], size: int) -> dict[str, Any]:
    """``row`` with its explanations judged again on ``size`` documents of its run folder."""
    config, _, ids, texts = read_run_files(folder)
    result = read_result(folder)
    if [a.id for a in result.assignments] != ids:
        raise DamagedFileError(f"{folder}: assignments.jsonl does not follow corpus.jsonl")
    clusters = [{"name": c.name, "explanation": c.explanation} for c in result.clusters]
    judged = llm_methods.judge_explanations(
        llm, config.goal, texts, result.members(), clusters, size, int(row["seed"]), quiet=False
    )
    return {**row, "explanation": judged, "explanation_before": row.get("explanation")}


def main(args: argparse.Namespace) -> int:
    if args.judge_samples < 1:
        raise SystemExit("--judge-samples must be at least 1")
    source = Path(args.results)
    try:
        report = json.loads((source / "results.json").read_text())
    except FileNotFoundError:
        raise SystemExit(
            f"{source} has no results.json: point at the folder `python -m evals run --out` wrote"
        ) from None
    out = Path(args.out) if args.out else source
    llm = llm_methods.judge_llm(args.llm, out / "rejudge-llm-trace.jsonl")
    figures = {
        **report,
        "rejudged": {
            "from": str(source),
            "judge_samples": args.judge_samples,
            "llm": args.llm,
            "date": time.strftime("%Y-%m-%d"),
        },
        "rows": [],
    }
    caption = (
        f"Explanation P / R judged again on {args.judge_samples} documents by {args.llm} "
        f"(`python -m evals rejudge`); every other figure is the run's in {source}."
    )

    def write(*, quiet: bool) -> None:
        publish(out, "rejudged", figures, f"{caption}\n\n{results_table(figures['rows'])}", quiet=quiet)

    for row in report["rows"]:
        name = f"{row['dataset']} / {row['criterion']} / {row['method']} / seed {row['seed']}"
        folder = run_folder(source, row)
        if "error" in row or folder is None or not row.get("clusters_found"):
            print(f"== {name}: kept as it was (failed, no explanations, or no run folder)", flush=True)
            figures["rows"].append(row)
            continue
        print(f"== {name}: judging {args.judge_samples} documents of {folder}", flush=True)
        try:
            figures["rows"].append(rejudge_row(llm, folder, row, args.judge_samples))
        except (ValueError, OSError) as error:  # a damaged folder; the other rows are still worth judging
            print(f"   kept as it was: its run folder could not be read ({error})", flush=True)
            figures["rows"].append(row)
        write(quiet=True)  # what is judged so far survives a stop
    write(quiet=False)
    return 0


def add_parser(sub: Any) -> None:
    parser = sub.add_parser("rejudge", help="judge a finished run's explanations again, on more documents")
    parser.add_argument("results", help="the folder `python -m evals run --out` wrote (with results.json)")
    parser.add_argument(
        "--judge-samples",
        type=int,
        default=JUDGE_SAMPLES,
        help=f"documents the judge sorts per row (default {JUDGE_SAMPLES})",
    )
    parser.add_argument("--llm", default="llamacpp", help="the judge's chat model")
    parser.add_argument("--out", help="where rejudged.json and .md go (default: the results folder)")
    parser.set_defaults(handler=main)
