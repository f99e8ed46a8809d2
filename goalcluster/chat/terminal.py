"""The terminal side of ``goalcluster chat``: a prompt with history on a terminal, one command per
line from a pipe; Ctrl-C cancels the request in progress and keeps the thread as it was."""

from __future__ import annotations

import sys
from typing import TextIO

from goalcluster.chat.graph import Chat
from goalcluster.chat.session import ChatSession

HISTORY = ".chat_history"


def header(chat: Chat) -> str:
    session, state = chat.session, chat.state()
    lines = [
        f"goalcluster chat — {session.corpus_name} ({len(session.ws.ids)} documents), "
        f"thread {session.thread!r}"
    ]
    if state.messages:
        lines.append(
            f"Resumed: {len(state.messages) // 2} earlier turn(s), {len(state.clusters)} cluster(s)."
        )
    elif session.base_run is not None:
        lines.append(f"Starting from the clustering in {session.base_run}.")
    lines.append("Ask in plain words, or type /help for the commands and /quit to leave.")
    return "\n".join(lines)


def run_chat(
    session: ChatSession, *, first: str = "", stdin: TextIO | None = None, out: TextIO | None = None
) -> int:
    stdin, out = stdin or sys.stdin, out or sys.stdout
    chat = Chat(session)
    interactive = stdin.isatty()
    history = session.folder / HISTORY
    if interactive:
        import readline

        if history.exists():
            readline.read_history_file(history)
    print(header(chat), file=out, flush=True)
    pending = [first] if first and not chat.state().clusters else []
    try:
        while True:
            if pending:
                line = pending.pop()
                print(f"you> {line}", file=out)
            else:
                try:
                    line = input("you> ") if interactive else stdin.readline()
                except EOFError:
                    break
                except KeyboardInterrupt:
                    print("\n(Ctrl-C: type /quit to leave; the thread is kept)", file=out, flush=True)
                    continue
                if not interactive:
                    if not line:
                        break
                    line = line.rstrip("\n")
                    print(f"you> {line}", file=out)
            if not line.strip():
                continue
            try:
                state = chat.send(line)
            except KeyboardInterrupt:
                print("\n(interrupted: this request changed nothing)", file=out, flush=True)
                continue
            print(state.reply, file=out, flush=True)
            if state.done:
                break
    finally:
        if interactive:
            import readline

            readline.write_history_file(history)
        chat.close()
    return 0
