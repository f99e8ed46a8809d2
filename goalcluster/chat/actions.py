"""What a chat turn can ask for: a typed union of actions, from a slash command (deterministic) or
from free text (the LLM answers in this schema, so even a small model yields a valid action)."""

from __future__ import annotations

import shlex
from typing import Annotated, Literal

from pydantic import BaseModel, Field, TypeAdapter


class ClusterBy(BaseModel):
    """Cluster the corpus (again) by a goal."""

    kind: Literal["cluster"] = "cluster"
    goal: str = Field(description="What the clusters are for, in the user's words.")


class Discover(BaseModel):
    """Find the several ways the corpus can be grouped (criteria), one clustering each."""

    kind: Literal["discover"] = "discover"
    max_criteria: int = Field(3, ge=1, le=8, description="Most criteria to try.")


class ListClusters(BaseModel):
    """List the clusters with sizes and explanations."""

    kind: Literal["clusters"] = "clusters"


class ShowCluster(BaseModel):
    """Show example documents of one cluster."""

    kind: Literal["show"] = "show"
    cluster: str = Field(description="Cluster id, e.g. 'c2'.")
    n: int = Field(5, ge=1, le=50, description="How many examples.")


class Drill(BaseModel):
    """Show the clusters found within a cluster of a tree run (one made with --levels)."""

    kind: Literal["drill"] = "drill"
    cluster: str = Field(description="Node id in the tree, e.g. 'c2' or 'c2.c1'.")


class Up(BaseModel):
    """Go back from the clusters shown by /drill to the level above."""

    kind: Literal["up"] = "up"


class ShowUnassigned(BaseModel):
    """Show documents that are in no cluster."""

    kind: Literal["unassigned"] = "unassigned"


class Search(BaseModel):
    """Find documents by meaning (embeddings) or by keyword."""

    kind: Literal["search"] = "search"
    query: str = Field(description="What to look for.")
    by: Literal["meaning", "keyword"] = Field("meaning", description="'meaning' or 'keyword'.")


class Why(BaseModel):
    """Explain why a document is in its clusters."""

    kind: Literal["why"] = "why"
    document: str = Field(description="Document id.")


class Split(BaseModel):
    """Split a cluster into finer ones."""

    kind: Literal["split"] = "split"
    cluster: str = Field(description="Cluster id.")


class Merge(BaseModel):
    """Merge two clusters into one."""

    kind: Literal["merge"] = "merge"
    cluster: str = Field(description="First cluster id.")
    other: str = Field(description="Second cluster id.")


class Rename(BaseModel):
    """Give a cluster a new name."""

    kind: Literal["rename"] = "rename"
    cluster: str = Field(description="Cluster id.")
    name: str = Field(description="The new name.")


class Describe(BaseModel):
    """Re-describe a cluster: with the given explanation, or a new one written from its members."""

    kind: Literal["describe"] = "describe"
    cluster: str = Field(description="Cluster id.")
    explanation: str = Field("", description="The new explanation; empty to have one written.")


class Move(BaseModel):
    """Move documents into a cluster (out of their others)."""

    kind: Literal["move"] = "move"
    documents: list[str] = Field(description="Document ids.", min_length=1)
    cluster: str = Field(description="Target cluster id.")


class Pin(BaseModel):
    """Keep a document in a cluster through later edits."""

    kind: Literal["pin"] = "pin"
    document: str = Field(description="Document id.")
    cluster: str = Field(description="Cluster id.")


class Exclude(BaseModel):
    """Leave a document out of every cluster and of the coverage."""

    kind: Literal["exclude"] = "exclude"
    document: str = Field(description="Document id.")


class Summarize(BaseModel):
    """Summarize the corpus, or one cluster."""

    kind: Literal["summary"] = "summary"
    cluster: str = Field("", description="Cluster id; empty for the whole corpus.")


class Export(BaseModel):
    """Write the assignments to a CSV file."""

    kind: Literal["export"] = "export"
    path: str = Field("", description="File to write; empty for a new file in the thread's folder.")
    overwrite: bool = Field(False, description="Replace an existing file (only after the user said yes).")


class Report(BaseModel):
    """Write the HTML and Markdown report of the current clustering."""

    kind: Literal["report"] = "report"


class Help(BaseModel):
    """List what can be asked."""

    kind: Literal["help"] = "help"


class Quit(BaseModel):
    """End the session (the thread is kept)."""

    kind: Literal["quit"] = "quit"


class AskBack(BaseModel):
    """The request is unclear: ask the user a question instead of guessing."""

    kind: Literal["ask"] = "ask"
    question: str = Field(description="The question to ask the user.")


Action = Annotated[
    ClusterBy
    | Discover
    | ListClusters
    | ShowCluster
    | Drill
    | Up
    | ShowUnassigned
    | Search
    | Why
    | Split
    | Merge
    | Rename
    | Describe
    | Move
    | Pin
    | Exclude
    | Summarize
    | Export
    | Report
    | Help
    | Quit
    | AskBack,
    Field(discriminator="kind"),
]
ACTIONS: TypeAdapter[Action] = TypeAdapter(Action)
ACTION_TYPES: dict[str, type[BaseModel]] = {
    model.model_fields["kind"].default: model
    for model in (
        ClusterBy, Discover, ListClusters, ShowCluster, Drill, Up, ShowUnassigned, Search, Why, Split, Merge,
        Rename, Describe, Move, Pin, Exclude, Summarize, Export, Report, Help, Quit, AskBack,
    )
}  # fmt: skip


class ActionRequest(BaseModel):
    """The action the user's message asks for, and what it is about."""

    # A short flat form (small models fill it reliably); to_action() turns it into a typed Action.

    action: Literal[
        "cluster", "discover", "clusters", "show", "drill", "up", "unassigned", "search", "find", "why",
        "split", "merge", "rename", "describe", "move", "pin", "exclude", "summary", "export", "report",
        "help", "quit", "ask",
    ] = Field(description="The one action that does what the user asks; 'ask' if it is unclear.")  # fmt: skip
    cluster: str = Field("", description="The cluster id the action is about (such as c2), or ''.")
    other: str = Field("", description="The second cluster id (merge only), or ''.")
    documents: list[str] = Field(default_factory=list, description="Document ids the action is about.")
    text: str = Field("", description="The goal, search query, new name, explanation or question, or ''.")


def to_action(request: ActionRequest) -> Action:
    """The typed action; :class:`ValueError` naming what is missing."""
    kind, text, cluster = request.action, request.text.strip(), request.cluster.strip()
    documents = [d.strip() for d in request.documents if d.strip()]
    document = documents[0] if documents else ""
    if kind == "ask":
        return AskBack(question=text or "What would you like to do? /help lists the commands.")
    if kind in ("search", "find"):
        return Search(
            query=_required(text, "what to search for"), by="keyword" if kind == "find" else "meaning"
        )
    if kind == "cluster":
        return ClusterBy(goal=_required(text, "the goal"))
    if kind in ("show", "drill", "split", "describe"):
        _required(cluster, "which cluster")
    if kind in ("why", "exclude"):
        _required(document, "which document")
    if kind == "merge":
        return Merge(
            cluster=_required(cluster, "which clusters"), other=_required(request.other, "which clusters")
        )
    if kind == "rename":
        return Rename(cluster=_required(cluster, "which cluster"), name=_required(text, "the new name"))
    if kind == "move":
        return Move(cluster=_required(cluster, "which cluster"), documents=_required_list(documents))
    if kind == "pin":
        return Pin(
            cluster=_required(cluster, "which cluster"), document=_required(document, "which document")
        )
    # A path is never taken from free text (a document quoted back could name one): /export PATH.
    values = {"cluster": cluster, "document": document, "explanation": text}
    fields = {name: values[name] for name in ACTION_TYPES[kind].model_fields if name in values}
    return ACTIONS.validate_python({**fields, "kind": kind})


CONFIRM = {"cluster", "discover", "split", "merge", "rename", "describe", "move", "pin", "exclude", "export"}
"""Actions that change the clustering, spend LLM calls or write files: read from free text, each
waits for the user's yes (typed as a slash command, it runs at once)."""
YES = {"y", "yes", "yes.", "yes!", "ok", "okay", "sure", "do it", "go ahead", "please do"}


def command_line(action: Action) -> str:
    """The slash command that does ``action`` (what the user is asked to confirm)."""
    fields = action.model_dump()
    kind = fields.pop("kind")
    order = {
        "cluster": ["goal"],
        "discover": ["max_criteria"],
        "split": ["cluster"],
        "merge": ["cluster", "other"],
        "rename": ["cluster", "name"],
        "describe": ["cluster", "explanation"],
        "move": ["cluster", "documents"],
        "pin": ["document", "cluster"],
        "exclude": ["document"],
        "export": ["path"],
    }.get(kind, [])
    words = []
    for name in order:
        value = fields[name]
        words += [str(v) for v in value] if isinstance(value, list) else [str(value)] if value != "" else []
    return " ".join([f"/{kind}", *words])


COMMANDS: dict[str, tuple[str, str]] = {
    "/cluster": ("GOAL", "cluster the corpus by a goal (again)"),
    "/discover": ("[N]", "find up to N ways to group the corpus, one clustering each"),
    "/clusters": ("", "list the clusters"),
    "/show": ("ID [N]", "examples of a cluster"),
    "/drill": ("ID", "the clusters within a cluster, in a run made with --levels"),
    "/up": ("", "back from /drill to the level above"),
    "/unassigned": ("", "documents in no cluster"),
    "/search": ("QUERY", "documents close in meaning"),
    "/find": ("WORDS", "documents containing the words"),
    "/why": ("DOC", "why a document is where it is"),
    "/split": ("ID", "split a cluster"),
    "/merge": ("A B", "merge two clusters"),
    "/rename": ("ID NAME", "rename a cluster"),
    "/describe": ("ID [TEXT]", "set, or have written, a cluster's explanation"),
    "/move": ("ID DOC...", "move documents into a cluster"),
    "/pin": ("DOC ID", "keep a document in a cluster"),
    "/exclude": ("DOC", "leave a document out"),
    "/summary": ("[ID]", "summary of the corpus or a cluster"),
    "/export": ("[PATH]", "write the assignments as CSV"),
    "/report": ("", "write report.html and report.md"),
    "/help": ("", "this list"),
    "/quit": ("", "leave (the thread is kept)"),
}


class CommandError(ValueError):
    """A slash command that cannot be understood; the message shows its usage."""


def usage(command: str) -> str:
    args, what = COMMANDS[command]
    return f"{command} {args}".strip() + f" — {what}"


def parse_command(line: str) -> Action:
    """A slash command as an action; :class:`CommandError` with the usage when it is malformed."""
    head, _, rest = line.strip().partition(" ")
    command, rest = head.lower(), rest.strip()
    if command not in COMMANDS:
        raise CommandError(f"unknown command {head}; /help lists them")
    try:
        words = shlex.split(rest)
    except ValueError:
        words = rest.split()
    try:
        return _build(command, rest, words)
    except (IndexError, ValueError) as error:
        raise CommandError(f"usage: {usage(command)}") from error


def _build(command: str, rest: str, words: list[str]) -> Action:
    if command in ("/clusters", "/up", "/unassigned", "/report", "/help", "/quit"):
        return ACTIONS.validate_python({"kind": command[1:]})
    if command == "/cluster":
        return ClusterBy(goal=_required(rest))
    if command == "/discover":
        return Discover(max_criteria=int(words[0]) if words else 3)
    if command == "/show":
        return ShowCluster(cluster=words[0], n=int(words[1]) if len(words) > 1 else 5)
    if command == "/drill":
        return Drill(cluster=words[0])
    if command in ("/search", "/find"):
        return Search(query=_required(rest), by="meaning" if command == "/search" else "keyword")
    if command == "/why":
        return Why(document=words[0])
    if command == "/split":
        return Split(cluster=words[0])
    if command == "/merge":
        return Merge(cluster=words[0], other=words[1])
    if command == "/rename":
        return Rename(cluster=words[0], name=_required(" ".join(words[1:])))
    if command == "/describe":
        return Describe(cluster=words[0], explanation=" ".join(words[1:]))
    if command == "/move":
        return Move(cluster=words[0], documents=_required_list(words[1:]))
    if command == "/pin":
        return Pin(document=words[0], cluster=words[1])
    if command == "/exclude":
        return Exclude(document=words[0])
    if command == "/summary":
        return Summarize(cluster=words[0] if words else "")
    return Export(path=words[0] if words else "")


def _required(text: str, what: str = "an argument") -> str:
    if not text.strip():
        raise ValueError(f"missing {what}")
    return text.strip()


def _required_list(items: list[str]) -> list[str]:
    if not [item for item in items if item.strip()]:
        raise ValueError("missing which documents")
    return [item.strip() for item in items if item.strip()]
