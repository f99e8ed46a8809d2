"""Long chat actions of ``goalcluster serve`` (a new clustering, a discovery) as background jobs: one
at a time, each in a thread of its own. A job keeps its progress lines (what ``say`` and the
progress bars tell a terminal, through :mod:`agent.progress`) for the page's event stream. A stop
asked for takes effect before the job's next LLM call and leaves the thread as it was before the
job; what the job computed on the way (cached answers, stored vectors) stays for the next try."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from agent.llm.budget import Cancelled, stoppable
from agent.progress import listening
from goalcluster.chat.actions import YES, CommandError, parse_command
from goalcluster.chat.graph import Chat
from goalcluster.chat.session import ChatError
from goalcluster.chat.state import ChatState

LONG = {"cluster", "discover"}
KEPT = 400
"""Progress lines a job keeps (the oldest go first)."""
POLL = 0.2
"""Seconds between two looks at a running job's lines, for its event stream."""
NOTES = {
    "cancelled": "Cancelled: the thread is as it was before it; the answers and vectors it computed "
    "are kept for the next try.",
    "failed": "It failed (see the server's terminal); the thread is as it was after its last finished turn.",
}
FINISHED_ANYWAY = "The stop came after its last LLM call: it finished."
Event = tuple[int, str, str]
"""(id, kind, line): kind ``say`` for a progress line, ``bar`` for a progress bar's line."""


def is_long(text: str, state: ChatState) -> bool:
    """Whether ``text`` asks the chat for a long action: ``/cluster GOAL``, ``/discover [N]``, or a
    yes to one that waits for it."""
    text = text.strip()
    if state.pending and text.casefold() in YES:
        return state.pending.get("kind") in LONG
    if not text.startswith("/"):
        return False
    try:
        return parse_command(text).kind in LONG
    except CommandError:
        return False


def _same_bar(previous: Event | None, kind: str, line: str) -> bool:
    """Whether ``line`` is a later line of the bar ``previous`` showed (a bar's line starts with
    its description and ': ')."""
    if previous is None or kind != "bar" or previous[1] != "bar":
        return False
    return previous[2].partition(": ")[0] == line.partition(": ")[0]


@dataclass
class Job:
    """One long action: its command, its progress lines so far, and how it ended."""

    command: str
    first: int = 0
    """The id before its first line: ids go on from the previous job's, so a page never mixes them."""
    stop: threading.Event = field(default_factory=threading.Event)
    outcome: str = ""
    """'' while it runs; then 'finished', 'cancelled' or 'failed'."""
    _events: list[Event] = field(default_factory=list, repr=False)
    _last: int = field(default=-1, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self._last = self.first

    def tell(self, kind: str, line: str) -> None:
        """Keep a progress line; a bar's line replaces the same bar's line just before it."""
        with self._lock:
            self._last += 1
            event = (self._last, kind, line)
            if _same_bar(self._events[-1] if self._events else None, kind, line):
                self._events[-1] = event
            else:
                self._events.append(event)
            del self._events[:-KEPT]

    def end(self, outcome: str) -> None:
        with self._lock:
            self.outcome = outcome

    @property
    def last(self) -> int:
        """The id of its latest line (``first`` before any)."""
        with self._lock:
            return self._last

    def since(self, after: int) -> tuple[list[Event], str]:
        """The lines with an id above ``after``, and the outcome ('' while it runs) at that moment."""
        with self._lock:
            return [e for e in self._events if e[0] > after], self.outcome

    def view(self) -> dict[str, Any]:
        """What the page shows of it."""
        events, outcome = self.since(self.first)
        stopped = self.stop.is_set()
        return {
            "command": self.command,
            "running": not outcome,
            "status": outcome or ("stopping" if stopped else "running"),
            "note": FINISHED_ANYWAY if outcome == "finished" and stopped else NOTES.get(outcome, ""),
            "events": events,
            "last": events[-1][0] if events else self.first,
        }


class Jobs:
    """The long actions on ``chat``'s thread, one at a time; ``current`` is the running or last one."""

    def __init__(self, chat: Chat) -> None:
        self.chat = chat
        self.current: Job | None = None
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self.current is not None and not self.current.outcome

    def check_idle(self) -> None:
        """:class:`ChatError` while a job runs: the thread is the job's until it ends."""
        job = self.current
        if job is not None and not job.outcome:
            raise ChatError(f"{job.command} is still running; wait for it to end, or cancel it")

    def start(self, command: str) -> Job:
        """Start ``command`` in the background and return at once; :class:`ChatError` if a job runs.
        Call it with the app's lock held, so that no other turn starts in between."""
        self.check_idle()
        job = Job(command, first=self.current.last if self.current else 0)
        self.current = job
        self._thread = threading.Thread(target=self._run, args=(job,), name="goalcluster-job", daemon=True)
        self._thread.start()
        return job

    def cancel(self) -> bool:
        """Ask the running job to stop before its next LLM call; False if none runs."""
        job = self.current
        if job is None or job.outcome:
            return False
        job.stop.set()
        return True

    def close(self) -> None:
        """Stop the running job, if any, and wait for it to end."""
        self.cancel()
        if self._thread is not None:
            self._thread.join()

    def _run(self, job: Job) -> None:
        before = self.chat.graph.get_state(self.chat.config)
        outcome = "failed"  # an error goes on to the thread's excepthook, which prints it
        try:
            with listening(job.tell), stoppable(job.stop):
                self.chat.send(job.command)
            outcome = "finished"
        except Cancelled:
            restore(self.chat, before)
            outcome = "cancelled"
        finally:
            job.end(outcome)


def restore(chat: Chat, before: Any) -> None:
    """Make the thread's state ``before`` (a LangGraph state snapshot) its latest again, by copying
    its checkpoint: a cancelled turn's first step (the action read) is left behind in the history.
    A thread that had no checkpoint keeps that step, which changed nothing the pages show."""
    if before.config["configurable"].get("checkpoint_id"):
        chat.graph.update_state(before.config, None, as_node="__copy__")


async def event_stream(job: Job | None, after: int) -> AsyncIterator[str]:
    """The job's lines with an id above ``after`` as server-sent events (``say``, ``bar``) as they
    come, then an ``end`` event with its outcome ('none' when there is no job)."""
    if job is None:
        yield sse("end", "none")
        return
    while True:
        events, outcome = job.since(after)
        for number, kind, line in events:
            yield sse(kind, line, number)
            after = number
        if outcome:
            yield sse("end", outcome)
            return
        await asyncio.sleep(POLL)


def sse(kind: str, text: str, number: int | None = None) -> str:
    """One server-sent event; a line break in ``text`` becomes a second ``data:`` line."""
    fields = [] if number is None else [f"id: {number}"]
    fields.append(f"event: {kind}")
    fields += [f"data: {part}" for part in text.replace("\r", "").split("\n")]
    return "\n".join(fields) + "\n\n"
