"""The run's LLM trace: one JSON line per attempt (prompt, raw answer, parse, tokens, latency).

It never holds a secret: backends' model ids carry no keys or URL credentials.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

from tools.text import text_lines


class Trace:
    """Appends records to ``path`` (JSONL); with ``path=None`` it only keeps them in memory."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = None if path is None else Path(path)
        self.records: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)

    def record(self, **fields: Any) -> None:
        entry = {"time": time.time(), **fields}
        with self._lock:
            self.records.append(entry)
            if self.path is not None:
                with self.path.open("a", encoding="utf-8") as out:
                    out.write(json.dumps(entry, ensure_ascii=False, default=str) + "\n")

    def readable(self) -> list[dict[str, Any]]:
        """The trace file's records; a damaged line (a process killed mid-write) is skipped, as a
        trace only informs: it must never stop a resume."""
        if self.path is None or not self.path.exists():
            return []
        entries = []
        for line in text_lines(self.path.read_text(encoding="utf-8", errors="replace")):
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(entry, dict):
                entries.append(entry)
        return entries

    def usage(self) -> dict[str, int]:
        """Totals over the trace file (earlier processes of the same run included)."""
        totals = {"llm_calls": 0, "cached_calls": 0, "prompt_tokens": 0, "completion_tokens": 0, "gave_up": 0}
        if self.path is None or not self.path.exists():
            return totals
        for entry in self.readable():
            if entry.get("gave_up"):  # a failed item, not a call: its attempts are records of their own
                totals["gave_up"] += 1
                continue
            totals["cached_calls" if entry.get("cached") else "llm_calls"] += 1
            totals["prompt_tokens"] += int(entry.get("prompt_tokens", 0))
            totals["completion_tokens"] += int(entry.get("completion_tokens", 0))
        return totals
