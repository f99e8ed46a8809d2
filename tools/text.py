"""Text helpers shared by prompts, views and reports."""

from __future__ import annotations


def clip(text: str, limit: int) -> str:
    """``text`` on one line, cut to ``limit`` characters (marked with an ellipsis)."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
