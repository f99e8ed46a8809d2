"""The icicle chart of a taxonomy, laid out here and drawn by the template as inline SVG: one row of
rectangles per level, each node as wide as its documents, its children side by side under it.

A node's children share its width by size. Where they hold fewer documents than it (some of its
members are in none of them) a gap is left; where they hold more (a document in two of them) they
are narrowed to fit, so a row never runs past its parent.
"""

from __future__ import annotations

from typing import Any

from goalcluster.report.taxonomy import NodeView, TaxonomyView
from tools.text import clip

WIDTH = 960
ROW = 36
CHAR = 7.0
"""About how wide one character of the labels is, in pixels."""
MIN_LABEL = 36
"""Rectangles narrower than this carry no label (the tooltip still names them)."""


def icicle(taxonomy: TaxonomyView) -> dict[str, Any]:
    """The chart's size and rectangles: each with its node's id, x, y, width, height, its top-level
    ancestor's position (``top``), opacity by depth, a label and a tooltip (raw text: the template
    escapes)."""
    rects: list[dict[str, Any]] = []
    whole = max(taxonomy.documents, sum(n.size for n in taxonomy.roots), 1)
    _lay_out(taxonomy.roots, 0.0, WIDTH / whole, rects)
    depth = max([n.level for n in taxonomy.walk()] + [1])
    return {"width": WIDTH, "height": depth * ROW, "rects": rects}


def _lay_out(nodes: list[NodeView], x: float, per_document: float, rects: list[dict[str, Any]]) -> None:
    """Place ``nodes`` side by side from ``x``, ``per_document`` pixels per document, then each
    one's children within it."""
    for node in nodes:
        width = node.size * per_document
        rects.append(_rect(node, x, width))
        inner = max(node.size, sum(child.size for child in node.children), 1)
        _lay_out(node.children, x, width / inner, rects)
        x += width


def _rect(node: NodeView, x: float, width: float) -> dict[str, Any]:
    room = int((width - 8) / CHAR)
    return {
        "id": node.id,
        "x": round(x, 1),
        "y": (node.level - 1) * ROW,
        "width": round(max(width - 1, 0.5), 1),  # a hairline between neighbours
        "height": ROW - 2,
        "top": node.top,
        "opacity": round(max(0.35, 0.9 - 0.2 * (node.level - 1)), 2),
        "label": clip(node.name, room) if width >= MIN_LABEL else "",
        "title": f"{node.id} {node.name}: {node.size} documents ({100 * node.share:.1f}% of {node.within})"
        f" — {node.explanation}",
    }
