"""What every eval command shares: its common flags, and writing and printing its figures."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from evals.data import DEFAULT_DATA_DIR


def add_common_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", default=str(DEFAULT_DATA_DIR), help="folder of labeled datasets")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("runs/evals"), help="where the figures are written")


def publish(out: Path, name: str, figures: dict[str, Any], table: str, *, quiet: bool = False) -> None:
    """Write ``out/<name>.json`` (every figure) and ``out/<name>.md`` (the table), and print the table
    unless ``quiet``."""
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(figures, indent=2, ensure_ascii=False))
    (out / f"{name}.md").write_text(table + "\n")
    if not quiet:
        print(f"\n{table}\n\nwritten to {out}")
