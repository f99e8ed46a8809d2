"""Text helpers shared by prompts, views and reports."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tools.files import DamagedFileError


def clip(text: str, limit: int) -> str:
    """``text`` on one line, cut to ``limit`` characters (marked with an ellipsis)."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def text_lines(text: str) -> list[str]:
    """The lines of ``text``, split at "\\n" only (a "\\r" before it dropped; no empty last line for
    a final newline). ``str.splitlines`` also splits at U+2028, U+2029, U+0085, form feeds and
    \\x1c-\\x1e, which JSON writes raw inside strings and which texts may hold."""
    if text.endswith("\n"):
        text = text[:-1]
    return [line[:-1] if line.endswith("\r") else line for line in text.split("\n")] if text else []


def read_jsonl(path: Path, *, fix: str = "write it again") -> list[Any]:
    """The JSON value on each non-blank line of the UTF-8 file ``path``; a damaged line raises
    :class:`DamagedFileError` naming the file, the line and ``fix``."""
    rows = []
    for number, line in enumerate(text_lines(path.read_text(encoding="utf-8", errors="replace")), start=1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as error:
            raise DamagedFileError(
                f"{path} is damaged: line {number} is not valid JSON ({error.msg}). Fix: {fix}."
            ) from error
    return rows


def spreadsheet_safe(value: object) -> object:
    """``value`` for a CSV cell: text a spreadsheet would run as a formula (starting with = + - @,
    a tab or a carriage return) is prefixed with a single quote, as OWASP recommends."""
    if isinstance(value, str) and value.startswith(("=", "+", "-", "@", "\t", "\r")):
        return "'" + value
    return value


def strip_credentials(url: str) -> str:
    """``http://user:secret@host/v1`` -> ``http://host/v1``: URLs go into traces and messages."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    host, slash, path = rest.partition("/")
    return f"{scheme}://{host.rpartition('@')[2]}{slash}{path}"
