"""An on-disk cache of LLM answers (SQLite), keyed by everything that shapes the answer.

An identical request on a rerun is answered from here and makes no new LLM call.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any


def request_key(
    model_id: str, messages: list[dict[str, str]], schema: dict[str, Any], *, max_tokens: int, scope: str = ""
) -> str:
    """A stable key for one structured request: the model (for a file, its weights' hash), every
    message, the schema, the answer's length limit and ``scope`` (the sampling seed and the user's
    cache namespace): everything that can change the answer."""
    payload = json.dumps([model_id, messages, schema, max_tokens, scope], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


class AnswerCache:
    """Raw answers that validated, stored under :func:`request_key`."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False)
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, model TEXT NOT NULL, "
            "prompt TEXT NOT NULL, raw TEXT NOT NULL, created REAL NOT NULL)"
        )
        self._db.commit()

    def get(self, key: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT raw FROM answers WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def put(self, key: str, model_id: str, prompt_name: str, raw: str) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO answers VALUES (?, ?, ?, ?, ?)",
                (key, model_id, prompt_name, raw, time.time()),
            )
            self._db.commit()

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM answers").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()
