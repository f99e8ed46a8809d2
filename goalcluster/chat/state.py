"""The chat's typed state, kept per thread by a LangGraph checkpointer: the conversation, and the
clustering as the user has shaped it (documents are referred to by id; texts stay in the corpus)."""

from __future__ import annotations

import operator
from typing import Annotated, Any

from pydantic import BaseModel, Field


class ChatMessage(BaseModel):
    role: str = Field(description="'user' or 'assistant'.")
    content: str


class ChatCluster(BaseModel):
    id: str
    name: str
    explanation: str
    members: list[str] = Field(default_factory=list, description="Document ids, in corpus order.")


class ChatState(BaseModel):
    """One thread of a chat over a corpus."""

    messages: Annotated[list[ChatMessage], operator.add] = Field(default_factory=list)
    text: str = Field("", description="The user's current message.")
    action: dict[str, Any] = Field(default_factory=dict, description="The typed action it became.")
    reply: str = Field("", description="The answer to the current message.")
    seeded: bool = Field(False, description="Whether the thread has taken the folder's clustering.")
    goal: str = ""
    run_dir: str = Field("", description="The agent run the clustering came from ('' if none).")
    clusters: list[ChatCluster] = Field(default_factory=list)
    drilled: str = Field(
        "",
        description="The node of the run's tree whose clusters /drill shows ('' at the top level); "
        "only /drill and /up read it, edits act on the top-level clusters.",
    )
    pinned: dict[str, str] = Field(default_factory=dict, description="Document id -> cluster id.")
    excluded: list[str] = Field(default_factory=list, description="Documents left out of everything.")
    edits: list[str] = Field(default_factory=list, description="What the user changed, in order.")
    coverage: float = 0.0
    overlap: float = 0.0
    next_id: int = Field(1, description="Number of the next new cluster id (c<next_id>).")
    done: bool = Field(False, description="The user asked to quit.")
    pending: dict[str, Any] = Field(
        default_factory=dict,
        description="An action read from free text (or an overwrite) waiting for the user's yes.",
    )
