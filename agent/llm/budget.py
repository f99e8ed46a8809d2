"""Counts LLM calls and tokens against an optional cap."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field


class BudgetExceeded(RuntimeError):
    """The run has spent its LLM budget; work done so far is kept."""


@dataclass
class Budget:
    """Running totals, and the caps they are checked against (None: no cap).

    calls: LLM requests sent (answers replayed from the cache are free).
    prompt_tokens / completion_tokens: as the backend reported them.
    gave_up: items the model gave no valid answer for, where the run fell back and went on.
    """

    max_calls: int | None = None
    max_tokens: int | None = None
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_calls: int = 0
    gave_up: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def exhausted(self) -> bool:
        """True once a cap is reached: the next call would be refused."""
        return (self.max_calls is not None and self.calls >= self.max_calls) or (
            self.max_tokens is not None and self.tokens >= self.max_tokens
        )

    def check(self) -> None:
        """Raise :class:`BudgetExceeded` if no further call may be made."""
        if self.exhausted:
            raise BudgetExceeded(
                f"LLM budget spent: {self.calls} calls (cap {self.max_calls}), "
                f"{self.tokens} tokens (cap {self.max_tokens})"
            )

    def charge(self, prompt_tokens: int, completion_tokens: int) -> None:
        with self._lock:
            self.calls += 1
            self.prompt_tokens += prompt_tokens
            self.completion_tokens += completion_tokens

    def restore(self, usage: dict[str, int]) -> None:
        """Start from what earlier processes of the same run spent (see ``Trace.usage``)."""
        with self._lock:
            self.calls = usage["llm_calls"]
            self.cached_calls = usage["cached_calls"]
            self.prompt_tokens = usage["prompt_tokens"]
            self.completion_tokens = usage["completion_tokens"]
            self.gave_up = usage.get("gave_up", 0)

    def snapshot(self) -> dict[str, int]:
        return {
            "llm_calls": self.calls,
            "cached_calls": self.cached_calls,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "gave_up": self.gave_up,
        }
