"""Counts LLM calls and tokens against an optional cap; and stops the work on request before its
next LLM call (see :func:`stoppable`)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any


class BudgetExceeded(RuntimeError):
    """The run has spent its LLM budget; work done so far is kept."""


class Cancelled(RuntimeError):
    """The user asked the work to stop; it stopped before its next LLM call. Not a
    :class:`BudgetExceeded`: no step goes on without the model, the whole request ends."""


_stop: ContextVar[threading.Event | None] = ContextVar("goalcluster_stop", default=None)


@contextmanager
def stoppable(stop: threading.Event) -> Iterator[None]:
    """Within this block, once ``stop`` is set, the next budget check (made before every LLM call,
    by every budget: nested runs build their own, and LangGraph runs each step in a copy of its
    caller's context) raises :class:`Cancelled`."""
    token = _stop.set(stop)
    try:
        yield
    finally:
        _stop.reset(token)


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
        """Raise :class:`BudgetExceeded` if no further call may be made, :class:`Cancelled` if the
        work was asked to stop."""
        stop = _stop.get()
        if stop is not None and stop.is_set():
            raise Cancelled("stopped on request, before its next LLM call")
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

    def left(self) -> dict[str, int | None]:
        """The caps a nested run may spend (``budget_calls``/``budget_tokens`` of its config), so
        that a command's nested runs share its one budget."""
        with self._lock:
            calls = None if self.max_calls is None else max(0, self.max_calls - self.calls)
            tokens = None if self.max_tokens is None else max(0, self.max_tokens - self.tokens)
        return {"budget_calls": calls, "budget_tokens": tokens}

    def absorb(self, usage: dict[str, Any]) -> None:
        """Add what a nested run spent (its metrics' or snapshot's counts) to these totals."""
        with self._lock:
            self.calls += int(usage.get("llm_calls", 0))
            self.cached_calls += int(usage.get("cached_calls", 0))
            self.prompt_tokens += int(usage.get("prompt_tokens", 0))
            self.completion_tokens += int(usage.get("completion_tokens", 0))
            self.gave_up += int(usage.get("gave_up", 0))

    def snapshot(self) -> dict[str, int]:
        return {
            "llm_calls": self.calls,
            "cached_calls": self.cached_calls,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "gave_up": self.gave_up,
        }
