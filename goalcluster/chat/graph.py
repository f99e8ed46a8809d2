"""The chat graph: understand the turn (slash command, or the LLM's typed action), then act on it.
One invocation per user message; a SQLite checkpointer keeps every thread's state."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from pydantic import ValidationError

from agent.llm.backends import BackendError
from agent.llm.budget import BudgetExceeded
from agent.llm.helper import LLMOutputError
from goalcluster.chat import edits, taxonomy, views
from goalcluster.chat.actions import (
    ACTIONS,
    CONFIRM,
    YES,
    Action,
    ActionRequest,
    AskBack,
    CommandError,
    command_line,
    parse_command,
    to_action,
)
from goalcluster.chat.clustering import adopt_run
from goalcluster.chat.session import CHAT_CHECKPOINT, ChatError, ChatSession
from goalcluster.chat.state import ChatMessage, ChatState
from tools.files import DamagedFileError

RECENT = 4
LLM_FAILURES = (LLMOutputError, BudgetExceeded, BackendError)
SERDE = JsonPlusSerializer(
    allowed_msgpack_modules=[
        ("goalcluster.chat.state", "ChatState"),
        ("goalcluster.chat.state", "ChatMessage"),
        ("goalcluster.chat.state", "ChatCluster"),
    ]
)


@dataclass
class ChatContext:
    session: ChatSession


Handler = Callable[[Any, ChatState, ChatSession], tuple[dict[str, Any], str]]
HANDLERS: dict[str, Handler] = {
    "cluster": edits.cluster_by,
    "discover": edits.discover,
    "clusters": lambda _, state, session: views.list_clusters(state, session),
    "show": views.show,
    "drill": taxonomy.drill,
    "up": lambda _, state, session: taxonomy.up(state, session),
    "unassigned": lambda _, state, session: views.unassigned(state, session),
    "search": views.search,
    "why": views.why,
    "split": edits.split,
    "merge": edits.merge,
    "rename": edits.rename,
    "describe": edits.describe,
    "move": edits.move,
    "pin": edits.pin,
    "exclude": edits.exclude,
    "summary": views.summary,
    "export": edits.export,
    "report": lambda _, state, session: edits.report(state, session),
    "help": lambda _a, state, _session: views.help_text(state.drilled),
    "quit": lambda _a, _s, _session: ({"done": True}, "Bye. This thread is kept; reopen it with --thread."),
    "ask": lambda action, _s, _session: ({}, action.question),
}


def understand(state: ChatState, runtime: Runtime[ChatContext]) -> dict[str, Any]:
    """The turn as one typed action; the first turn of a thread also takes the folder's clustering."""
    session = runtime.context.session
    update: dict[str, Any] = {"done": False, "reply": ""}
    if not state.seeded:
        update.update(_seed(state, session))
        state = state.model_copy(update=update)  # a first message in free text reads the run's clusters
    text = state.text.strip()
    update["pending"] = {}  # a waiting action is done with after this turn, whatever it says
    if state.pending and text.casefold() in YES:
        action: Action = ACTIONS.validate_python(state.pending)
    elif text.startswith("/"):
        try:
            action = parse_command(text)
        except CommandError as error:
            action = AskBack(question=f"{error}")
    else:
        action = _from_free_text(text, state, session)
        if action.kind in CONFIRM:
            update["pending"] = action.model_dump()
            action = AskBack(question=f"Shall I do {command_line(action)}? Answer yes to go ahead.")
    return {**update, "action": action.model_dump()}


def _seed(state: ChatState, session: ChatSession) -> dict[str, Any]:
    seed: dict[str, Any] = {"seeded": True}
    if session.base_run is not None:
        seed.update(adopt_run(session.base_run, session.base_goal, state, session))
    return seed


def _from_free_text(text: str, state: ChatState, session: ChatSession) -> Action:
    """The LLM's reading of a message, as a typed action; unclear or dangling references ask back."""
    ws = session.ws
    variables = {
        "documents": len(ws.ids),
        "goal": state.goal,
        "clusters": [{"id": c.id, "name": c.name, "size": len(c.members)} for c in state.clusters],
        "recent": [m.model_dump() for m in state.messages[-RECENT:]],
        "text": text,
    }
    try:
        request = ws.llm.generate("chat_action", variables, ActionRequest)
    except LLM_FAILURES as error:
        return AskBack(
            question=f"I could not read that ({error}). A /command always works: /help lists them."
        )
    try:
        action = to_action(request)
    except ValueError as error:  # a field the action needs is missing
        return AskBack(
            question=f"I could not tell {str(error).removeprefix('missing ')}. Could you say it again?"
        )
    known = {c.id for c in state.clusters}
    # A tree's node ids (/drill c2.c1) are not the thread's cluster ids: /drill names a missing one.
    keys = () if action.kind == "drill" else ("cluster", "other")
    named = [getattr(action, key) for key in keys if getattr(action, key, "")]
    dangling = [cid for cid in named if cid not in known]
    if dangling:
        listing = ", ".join(f"{c.id} ({c.name})" for c in state.clusters) or "none yet"
        return AskBack(question=f"Which cluster do you mean by {dangling[0]!r}? The clusters are: {listing}.")
    return action


def act(state: ChatState, runtime: Runtime[ChatContext]) -> dict[str, Any]:
    session = runtime.context.session
    action = ACTIONS.validate_python(state.action)
    try:
        update, reply = HANDLERS[action.kind](action, state, session)
    except (ChatError, ValidationError, DamagedFileError, *LLM_FAILURES) as error:
        update, reply = {}, f"Cannot do that: {error}"
    messages = [ChatMessage(role="user", content=state.text), ChatMessage(role="assistant", content=reply)]
    return {**update, "reply": reply, "messages": messages}


def build_chat_graph(checkpointer: Any) -> Any:
    builder = StateGraph(ChatState, context_schema=ChatContext)
    builder.add_node("understand", understand)
    builder.add_node("act", act)
    builder.add_edge(START, "understand")
    builder.add_edge("understand", "act")
    builder.add_edge("act", END)
    return builder.compile(checkpointer=checkpointer)


class Chat:
    """A thread of the chat graph over a session, checkpointed in the folder's ``chat.sqlite``."""

    def __init__(self, session: ChatSession) -> None:
        self.session = session
        self._connection = sqlite3.connect(session.folder / CHAT_CHECKPOINT, check_same_thread=False)
        self.graph = build_chat_graph(SqliteSaver(self._connection, serde=SERDE))
        self.config: RunnableConfig = {"configurable": {"thread_id": session.thread}}

    def state(self) -> ChatState:
        values = self.graph.get_state(self.config).values
        return ChatState.model_validate(values) if values else ChatState()

    def send(self, text: str) -> ChatState:
        values = self.graph.invoke(
            {"text": text}, self.config, context=ChatContext(self.session), durability="sync"
        )
        return ChatState.model_validate(values)

    def close(self) -> None:
        self._connection.close()
        self.session.close()
