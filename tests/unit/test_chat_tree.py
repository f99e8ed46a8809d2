"""/drill and /up in a chat over a tree run: the clusters within a cluster, level by level, read
from the run's files; where the user stands is kept with the thread; edits stay on the top level."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fakes import FakeEmbedder, ScriptedBackend
from test_tree import answer, config, nested_corpus
from trees import tree_run

from agent.llm.backends import Message
from goalcluster.chat.actions import Drill, Up, parse_command
from goalcluster.chat.graph import Chat
from goalcluster.chat.session import open_session
from goalcluster.tree import METRICS_FILE, TREE_DIR, TREE_FILE, resume_tree


def chat_on(folder: Path, tmp_path: Path, readings: Sequence[dict[str, Any]] = ()) -> Chat:
    """A chat on ``folder``; the model reads the plain-language messages as ``readings``, in turn."""
    read = iter(readings)

    def reply(messages: Sequence[Message], schema: dict[str, Any]) -> dict[str, Any]:
        if "The actions you can choose from" in messages[1]["content"]:
            return next(read)
        return answer(messages, schema)

    backend = ScriptedBackend([reply] * 500)
    cfg = config(tmp_path, levels=1)
    return Chat(open_session(folder, "main", cfg, quiet=True, backend=backend, embedder=FakeEmbedder()))


def asked(chat: Chat) -> str:
    """The last prompt the chat's model was sent."""
    return str(chat.session.ws.llm.backend.calls[-1][1]["content"])  # type: ignore[attr-defined]


def ids_by_name(folder: Path) -> dict[str, str]:
    return {
        n["name"]: n["id"] for n in json.loads((folder / TREE_FILE).read_text())["nodes"] if n["level"] < 3
    }


def test_drill_and_up_are_slash_commands() -> None:
    assert parse_command("/drill c2.c1") == Drill(cluster="c2.c1")
    assert parse_command("/UP") == Up()


def test_drill_and_up_walk_the_tree_and_a_reopened_thread_is_where_it_was(tmp_path: Path) -> None:
    folder = tree_run(tmp_path, levels=3)
    ids = ids_by_name(folder)
    card, declined, stolen = ids["Card"], ids["Declined"], ids["Stolen"]
    chat = chat_on(folder, tmp_path)
    state = chat.send(f"/drill {card}")
    assert state.drilled == card
    assert state.reply.startswith(
        f"Within {card} Card (16 documents)\nGoal: why the customer wrote, within: Card"
    )
    assert f"  {declined}      8   50.0%  1.00 / 1.00  Declined — declined refused" in state.reply
    assert f"  {stolen}      8   50.0%  1.00 / 1.00  Stolen — stolen thief fraud" in state.reply
    assert "Parcel" not in state.reply and ids["Late"] not in state.reply
    state = chat.send(f"/drill {declined}")
    assert state.drilled == declined and f"Within {declined} Declined (8 documents)" in state.reply
    assert [c.name for c in state.clusters] == ["Card", "Parcel"]  # the thread's clusters are untouched
    chat.close()

    chat = chat_on(folder, tmp_path)  # the position is part of the thread's checkpoint
    assert chat.state().drilled == declined
    assert f"Now showing the clusters within {declined}" in chat.send("/help").reply
    state = chat.send("/up")
    assert state.drilled == card and state.reply.startswith(f"Within {card} Card (16 documents)")
    state = chat.send("/up")
    assert state.drilled == "" and state.reply.startswith(
        "Back at the top level.\nGoal: why the customer wrote"
    )
    assert f"{ids['Parcel']}     16   50.0%" in state.reply
    assert "top level already" in chat.send("/up").reply
    chat.close()


def test_drill_on_a_leaf_says_it_has_none_and_stays(tmp_path: Path) -> None:
    folder = tree_run(tmp_path)
    ids = ids_by_name(folder)
    chat = chat_on(folder, tmp_path)
    chat.send(f"/drill {ids['Parcel']}")
    state = chat.send(f"/drill {ids['Late']}")
    assert state.reply == (
        f"{ids['Late']} Late (8 documents) has no clusters within it: "
        "it is on the last level of the tree (2 levels)."
    )
    assert state.drilled == ids["Parcel"]
    assert "Cannot do that: there is no cluster 'c9' in the run's tree" in chat.send("/drill c9").reply
    assert "usage: /drill ID" in chat.send("/drill").reply
    chat.close()


def test_help_lists_drill_and_up_and_says_edits_stay_on_the_top_level(tmp_path: Path) -> None:
    folder = tree_run(tmp_path)
    ids = ids_by_name(folder)
    chat = chat_on(folder, tmp_path)
    help_text = chat.send("/help").reply
    assert "/drill ID — the clusters within a cluster" in help_text and "/up — back from /drill" in help_text
    assert "edits act on the top-level clusters, whichever level is shown" in help_text
    chat.send(f"/drill {ids['Card']}")
    state = chat.send(f"/describe {ids['Card']} Something went wrong with a card.")
    edited = next(c for c in state.clusters if c.id == ids["Card"])
    assert edited.explanation == "Something went wrong with a card." and state.drilled == ids["Card"]
    again = chat.send(f"/drill {ids['Card']}").reply
    assert f"Note: {ids['Card']} is no longer as the run left it" in again
    chat.close()


def test_drill_on_a_flat_clustering_says_so_and_a_new_clustering_starts_at_the_top(tmp_path: Path) -> None:
    flat = tree_run(tmp_path / "flat", levels=1)
    chat = chat_on(flat, tmp_path)
    assert "has no tree.json: it is flat" in chat.send("/drill c1").reply
    chat.close()
    folder = tree_run(tmp_path)
    chat = chat_on(folder, tmp_path)
    assert chat.send("/drill c1").drilled == "c1"
    state = chat.send("/cluster why the customer wrote")  # a new, flat run of the chat's own
    assert state.drilled == "" and "has no tree.json: it is flat" in chat.send("/drill c1").reply
    chat.close()


def test_drill_names_a_damaged_child_metrics_file_with_its_fix_and_the_fix_works(tmp_path: Path) -> None:
    folder = tree_run(tmp_path)
    card = ids_by_name(folder)["Card"]
    metrics = folder / TREE_DIR / card / METRICS_FILE
    metrics.write_text(metrics.read_text()[:40])  # cut, as a crash or a full disk leaves it
    chat = chat_on(folder, tmp_path)
    reply = chat.send(f"/drill {card}").reply
    assert reply == (
        f"Cannot do that: {metrics} is damaged: it is not valid JSON (Unterminated string starting at). "
        f"Fix: goalcluster resume {metrics.parent} writes it again."
    )
    chat.close()
    backend = ScriptedBackend([answer] * 500)
    resume_tree(metrics.parent, backend=backend, embedder=FakeEmbedder(), quiet=True)  # the fix named
    chat = chat_on(folder, tmp_path)
    assert "coverage 100.0%, overlap 0.0%, 0 of" in chat.send(f"/drill {card}").reply
    chat.close()


def test_a_chat_with_levels_clusters_into_a_tree_it_can_drill(tmp_path: Path) -> None:
    corpus, _ = nested_corpus()
    data = tmp_path / "messages.jsonl"
    data.write_text(
        "".join(
            json.dumps({"id": i, "text": t}) + "\n" for i, t in zip(corpus.ids, corpus.texts, strict=True)
        )
    )
    backend = ScriptedBackend([answer] * 500)
    chat = Chat(
        open_session(data, "main", config(tmp_path), quiet=True, backend=backend, embedder=FakeEmbedder())
    )
    state = chat.send("/cluster why the customer wrote")
    assert (Path(state.run_dir) / TREE_FILE).exists() and [c.name for c in state.clusters] == [
        "Card",
        "Parcel",
    ]
    card = next(c.id for c in state.clusters if c.name == "Card")
    state = chat.send(f"/drill {card}")
    assert "Declined — declined refused" in state.reply and "Stolen — stolen thief fraud" in state.reply
    assert chat.session.ws.llm.budget.calls == len(backend.calls)  # the tree's calls are the chat's
    chat.close()


def test_drill_and_up_from_plain_language(tmp_path: Path) -> None:
    folder = tree_run(tmp_path)
    card = ids_by_name(folder)["Card"]
    chat = chat_on(folder, tmp_path, [{"action": "drill", "cluster": card}, {"action": "up"}])
    state = chat.send("what is inside the card cluster?")
    assert state.drilled == card and state.reply.startswith(f"Within {card} Card (16 documents)")
    assert "- drill: show the clusters found within a cluster" in asked(chat)
    assert chat.send("go back up").drilled == ""
    chat.close()


def test_a_first_message_in_free_text_knows_the_run_s_clusters(tmp_path: Path) -> None:
    chat = chat_on(tree_run(tmp_path, levels=1), tmp_path, [{"action": "show", "cluster": "c1"}])
    state = chat.send("show me some of the card messages")
    assert "- c1: Card (16 texts)" in asked(chat)
    assert "Which cluster do you mean" not in state.reply and "card" in state.reply.lower()
    chat.close()


def test_the_chat_s_report_of_a_tree_run_shows_the_run_s_tree(tmp_path: Path) -> None:
    folder = tree_run(tmp_path)
    chat = chat_on(folder, tmp_path)
    chat.send("/rename c1 Payments")  # the thread's clusters change; the tree stays as the run left it
    reply = chat.send("/report").reply
    html, text = (Path(p).read_text() for p in reply.removeprefix("Wrote ").split(" and "))
    assert 'id="taxonomy"' in html and html.count('class="tree-node"') == 6 and "Payments" in html
    note = f"These are the clusters of the run in {folder} as it left them"
    assert note in html and "## Taxonomy: clusters within clusters (2 levels)" in text
    assert "as it left them: edits in the chat change the clusters above, not these." in text  # path escaped
    chat.close()
    flat = tree_run(tmp_path / "flat", levels=1)
    chat = chat_on(flat, tmp_path / "flat")
    reply = chat.send("/report").reply
    assert "Taxonomy" not in Path(reply.removeprefix("Wrote ").split(" and ")[1]).read_text()
    chat.close()
