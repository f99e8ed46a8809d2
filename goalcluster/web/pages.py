"""What the pages show, computed from the chat thread's state (no HTTP here): the cards and map of
the main page (read back from the thread's current folder through the report's own loader), a
cluster's members page by page, and the edit form's fields as the chat's slash command."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from goalcluster.chat.actions import Action, parse_command
from goalcluster.chat.clustering import find, write_current
from goalcluster.chat.session import ChatError, ChatSession
from goalcluster.chat.state import ChatState
from goalcluster.report import ReportData, load_report
from goalcluster.report.html import context as report_context
from goalcluster.results import precision_recall
from tools.text import clip

PAGE = 50
MESSAGES = 40
EDITS = ("rename", "describe", "merge", "split", "move", "pin", "exclude")
FIELDS: dict[str, tuple[str, ...]] = {
    "rename": ("cluster", "name"),
    "describe": ("cluster", "explanation"),
    "merge": ("cluster", "other"),
    "split": ("cluster",),
    "move": ("cluster", "documents"),
    "pin": ("document", "cluster"),
    "exclude": ("document",),
}
"""Each edit's form fields, in the order its slash command takes them."""


def current_folder(session: ChatSession) -> Path:
    """Where the thread's clustering is written out (what /report writes and reads)."""
    return session.thread_dir / "current"


def write_folder(state: ChatState, session: ChatSession) -> Path:
    return write_current(state, session, current_folder(session))


def overview(state: ChatState, session: ChatSession) -> dict[str, Any]:
    """The main page's variables: cards, map, coverage, edits and messages."""
    page: dict[str, Any] = {
        "corpus": session.corpus_name,
        "thread": session.thread,
        "documents": len(session.ws.ids),
        "state": state,
        "messages": state.messages[-MESSAGES:],
        "cards": [],
        "map": None,
        "map_note": "",
    }
    if not state.clusters:
        return page
    data = load_report(write_folder(state, session))
    page["cards"] = [_card(c) for c in data.clusters]
    page["unassigned"] = len(data.unassigned)
    page["map"], page["map_note"] = _map(data), data.map_note
    return page


def _card(cluster: Any) -> dict[str, Any]:
    return {
        "id": cluster.id,
        "name": cluster.name,
        "explanation": cluster.explanation,
        "size": cluster.size,
        "share": cluster.share,
        "figures": precision_recall(cluster.precision, cluster.recall),
        "representatives": [(doc_id, clip(text, 240)) for doc_id, text in cluster.representatives],
    }


def _map(data: ReportData) -> dict[str, Any] | None:
    """The report's map (its PCA of the stored vectors), each point linked to its cluster's page."""
    if not data.points:
        return None
    geometry = report_context(data)["map"]
    ids = [c.id for c in data.clusters]
    points = [
        {**drawn, "href": f"/cluster/{quote(ids[c], safe='')}" if c >= 0 else ""}
        for drawn, (_, _, c, _) in zip(geometry["points"], data.points, strict=True)
    ]
    return {**geometry, "points": points}


@dataclass
class Members:
    cluster: Any
    """What the members are of: the thread's cluster, or a node of the run's tree."""
    rows: list[tuple[str, str]]
    total: int
    page: int
    pages: int
    q: str


def members(state: ChatState, session: ChatSession, cluster_id: str, page: int, q: str) -> Members:
    """One page of a cluster's members (id, text), those containing ``q`` (case-blind) if given."""
    cluster = find(state, cluster_id)
    return paged(cluster, member_rows(session, cluster.members), page, q)


def member_rows(session: ChatSession, ids: list[str]) -> list[tuple[str, str]]:
    """(id, text) of each document in ``ids``."""
    return [(doc_id, session.ws.texts[session.position(doc_id)]) for doc_id in ids]


def paged(subject: Any, rows: list[tuple[str, str]], page: int, q: str) -> Members:
    """Page ``page`` (clamped to those there are) of ``rows``, those containing ``q`` (case-blind) in
    their id or text if given."""
    if q.strip():
        needle = q.strip().casefold()
        rows = [(d, t) for d, t in rows if needle in t.casefold() or needle in d.casefold()]
    pages = max(1, -(-len(rows) // PAGE))
    page = min(max(1, page), pages)
    shown = rows[(page - 1) * PAGE : page * PAGE]
    return Members(cluster=subject, rows=shown, total=len(rows), page=page, pages=pages, q=q)


def edit_command(form: dict[str, str]) -> tuple[str, Action]:
    """The slash command an edit form asks for, and the typed action the chat will read from it;
    :class:`ChatError` naming what is missing."""
    op = form.get("op", "")
    if op not in FIELDS:
        raise ChatError(f"unknown edit {op!r}; the edits are {', '.join(EDITS)}")
    words: list[str] = []
    for name in FIELDS[op]:
        value = form.get(name, "").strip()
        if name == "documents":
            words += value.replace(",", " ").split()
        elif value or name != "explanation":
            words.append(value)
    line = " ".join([f"/{op}", *(shlex.quote(word) for word in words)])
    try:
        return line, parse_command(line)
    except ValueError as error:
        raise ChatError(str(error)) from error
