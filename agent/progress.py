"""Where a run's progress goes besides the terminal: a listener that a caller (the web app's
background job) sets for the work it starts, and that every progress line and bar in that work
also reaches, nested runs included.

The listener is a context variable, not a field of the workspace: ``/cluster`` and ``/discover``
build their own runs' workspaces, and LangGraph runs each step in a copy of its caller's context,
so a listener set around a chat turn reaches every step of the runs it starts.
"""

from __future__ import annotations

import io
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from tqdm import tqdm

Listener = Callable[[str, str], None]
"""``listener(kind, line)``: kind ``"say"`` for a progress line, ``"bar"`` for a progress bar's
current line (a later one replaces it)."""
BAR_EVERY = 0.5
"""Seconds between two lines of one bar sent to the listener (its last line is always sent)."""

_listener: ContextVar[Listener | None] = ContextVar("goalcluster_progress_listener", default=None)


@contextmanager
def listening(listener: Listener) -> Iterator[None]:
    """Within this block, progress lines and bars also go to ``listener`` (quiet or not)."""
    token = _listener.set(listener)
    try:
        yield
    finally:
        _listener.reset(token)


def tell(kind: str, line: str) -> None:
    """Send ``line`` to the listener, if one is set."""
    listener = _listener.get()
    if listener is not None:
        listener(kind, line)


def progress_bar(description: str, total: int, unit: str, *, quiet: bool) -> tqdm:
    """A tqdm bar on stderr (none when ``quiet``) that also reaches the listener, if one is set."""
    listener = _listener.get()
    if listener is None:
        return tqdm(total=total, desc=description, unit=unit, file=sys.stderr, disable=quiet, leave=False)
    shown = _Nowhere() if quiet else sys.stderr
    return ToldBar(listener, total=total, desc=description, unit=unit, file=shown, leave=False)


class ToldBar(tqdm):
    """A tqdm bar that also tells ``listener`` its line, at most every ``BAR_EVERY`` seconds and
    once more when it closes."""

    def __init__(self, listener: Listener, **kwargs: Any) -> None:
        self._listener, self._told, self._line = listener, 0.0, ""
        super().__init__(**kwargs)

    def update(self, n: float | None = 1) -> bool | None:
        shown = super().update(n)
        if time.monotonic() - self._told >= BAR_EVERY:
            self._tell()
        return shown

    def close(self) -> None:
        if not self.disable:  # the first close only
            self._tell()
        super().close()

    def _tell(self) -> None:
        self._told, line = time.monotonic(), str(self)
        if line != self._line:
            self._line = line
            self._listener("bar", line)


class _Nowhere(io.TextIOBase):
    """Where a quiet bar draws itself: nowhere (it still counts, for the listener)."""

    def write(self, text: str) -> int:
        return len(text)
