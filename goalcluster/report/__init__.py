"""Reports of a finished run: a self-contained HTML page and a Markdown summary."""

from __future__ import annotations

from pathlib import Path

from goalcluster.report.data import ReportData, ReportError, load_report
from goalcluster.report.html import render_html
from goalcluster.report.markdown import render_markdown
from tools.files import write_atomic

RENDERERS = {"html": render_html, "md": render_markdown}

__all__ = ["ReportData", "ReportError", "load_report", "render_html", "render_markdown", "write_reports"]


def write_reports(
    run_dir: Path,
    formats: tuple[str, ...] = ("html", "md"),
    *,
    out: Path | None = None,
    gold: Path | None = None,
    tree_from: Path | None = None,
) -> list[Path]:
    """Write ``report.<format>`` into ``run_dir`` (or ``out``, for a single format); return the paths.
    ``tree_from``: the tree run whose taxonomy the report shows (see :func:`load_report`)."""
    data = load_report(run_dir, gold, tree_from)
    written = []
    for fmt in formats:
        path = out if out is not None and len(formats) == 1 else run_dir / f"report.{fmt}"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, RENDERERS[fmt](data))
        written.append(path)
    return written
