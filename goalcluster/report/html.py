"""The self-contained HTML report: one file, inline styles and SVG charts, no script and no request
(a Content-Security-Policy forbids both). Every text goes through Jinja's autoescape."""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from goalcluster.report.data import ReportData
from goalcluster.report.icicle import icicle
from tools.text import clip

PALETTE = (
    "#4e79a7",
    "#f28e2b",
    "#e15759",
    "#76b7b2",
    "#59a14f",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#2f4b7c",
    "#a05195",
    "#665191",
)
UNASSIGNED = "#b8b8b8"
MEMBERS_SHOWN = 200
MAP = {"width": 640, "height": 420, "pad": 14}

_env = Environment(
    loader=PackageLoader("goalcluster.report", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


def color(index: int) -> str:
    return PALETTE[index % len(PALETTE)] if index >= 0 else UNASSIGNED


def render_html(data: ReportData) -> str:
    return _env.get_template("report.html.j2").render(**context(data))


def context(data: ReportData) -> dict[str, Any]:
    """The template's variables: the data, plus chart geometry computed here."""
    names = [c.name for c in data.clusters]
    sizes = [c.size for c in data.clusters]
    biggest = max([*sizes, len(data.unassigned), 1])
    width, height, pad = MAP["width"], MAP["height"], MAP["pad"]
    points = [
        {
            "x": round(pad + x * (width - 2 * pad), 1),
            "y": round(pad + (1 - y) * (height - 2 * pad), 1),
            "color": color(c),
            "title": f"{names[c] if c >= 0 else '(unassigned)'}: {clip(text, 200)}",
        }
        for x, y, c, text in data.points
    ]
    most_shared = max([v for i, row in enumerate(data.shared) for j, v in enumerate(row) if i != j] + [1])
    history = data.history
    return {
        "data": data,
        "m": data.metrics,
        "clip": clip,
        "color": color,
        "members_shown": MEMBERS_SHOWN,
        "map": {**MAP, "points": points},
        "bars": [
            {"name": n, "size": s, "width": round(100 * s / biggest, 1), "color": color(i)}
            for i, n, s in [
                *zip(range(len(names)), names, sizes, strict=True),
                (-1, "(unassigned)", len(data.unassigned)),
            ]
        ],
        "heat": [
            [
                {"value": v, "alpha": 0 if i == j else round(v / most_shared, 3), "diagonal": i == j}
                for j, v in enumerate(row)
            ]
            for i, row in enumerate(data.shared)
        ],
        "lines": _history_lines(history),
        "gold_max": max([v for row in data.gold.counts for v in row] + [1]) if data.gold else 1,
        "taxonomy": data.taxonomy,
        "icicle": icicle(data.taxonomy) if data.taxonomy else None,
    }


def _history_lines(history: list[dict[str, Any]]) -> dict[str, Any]:
    """Coverage and overlap per iteration as SVG polylines (0..1 on a 320x160 plot)."""
    width, height, pad = 320, 160, 24
    n = len(history)

    def x(i: int) -> float:
        return round(pad + (i / max(n - 1, 1)) * (width - 2 * pad), 1)

    def y(v: float) -> float:
        return round(height - pad - v * (height - 2 * pad), 1)

    series = {}
    for key in ("coverage", "overlap"):
        series[key] = [
            {"x": x(i), "y": y(float(h[key])), "v": h[key], "i": h["iteration"]}
            for i, h in enumerate(history)
        ]
    return {"width": width, "height": height, "pad": pad, "series": series, "y": y}
