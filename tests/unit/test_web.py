"""``goalcluster serve``: the pages and forms over a chat thread, with the scripted fake LLM and the
fake embedder, driven through Starlette's test client; long actions as background jobs (progress
streamed, cancel); and the server's safety rules."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("starlette")

from fakes import FakeEmbedder, ScriptedBackend, answer_by_prompt, corpus_of_topics
from starlette.testclient import TestClient

from agent.config import Config
from agent.llm.backends import Message
from goalcluster.chat.graph import Chat
from goalcluster.chat.session import ChatSession, open_session
from goalcluster.web import ServeError
from goalcluster.web.app import build_app

BASE = "http://127.0.0.1:8765"
WAIT = 20.0  # seconds a test waits for a background job at most
HOSTILE = ["<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "javascript:alert(1)"]


class Scripted:
    """The agent's prompts answered by content; the chat's free-text form answers 'ask'."""

    def __init__(self) -> None:
        self.agent = answer_by_prompt(judge="words")

    def __call__(self, messages: Sequence[Message], schema: dict[str, Any]) -> dict[str, Any]:
        if "The user now says" in messages[1]["content"]:
            return {"action": "ask", "text": "Which cluster do you mean?"}
        return self.agent(messages, schema)


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, Config, ScriptedBackend]:
    ids, texts, _ = corpus_of_topics(8)
    texts[0] = f"{texts[0]} {' '.join(HOSTILE)}"
    data = tmp_path / "messages.jsonl"
    data.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in zip(ids, texts, strict=True)))
    config = Config(
        home=tmp_path / "home",
        view="semantic",
        assign_mode="embeddings",
        annotate_samples=False,
        use_cache=False,
        max_clusters=4,
    )
    return data, config, ScriptedBackend([Scripted()] * 500)


def session_for(setup: tuple[Path, Config, ScriptedBackend]) -> ChatSession:
    data, config, backend = setup
    return open_session(
        data, "main", config, out=data.parent / "chat", quiet=True, backend=backend, embedder=FakeEmbedder()
    )


@pytest.fixture
def clustered(setup: Any) -> Iterator[TestClient]:
    """A client on a thread clustered through the chat, the way a user would ask for it."""
    app = build_app(Chat(session_for(setup)))
    with TestClient(app, base_url=BASE) as client:
        page = client.get("/")
        client.post("/chat", data={"csrf": csrf_of(page.text), "text": "/cluster why the customer wrote"})
        assert events_of(client)[-1] == ("end", "finished")
        yield client
    app.state.web.close()


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "the page has no CSRF field"
    return found.group(1)


def events_of(client: TestClient) -> list[tuple[str, str]]:
    """The running (or last) job's event stream, read to its end: (event, data) pairs."""
    answer = client.get("/progress")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/event-stream")
    events = []
    for block in answer.text.strip().split("\n\n"):
        fields = [line.partition(": ") for line in block.splitlines()]
        event = next(value for name, _, value in fields if name == "event")
        events.append((event, "\n".join(value for name, _, value in fields if name == "data")))
    return events


def wait_for(condition: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + WAIT
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


class Gate:
    """Holds the backend's next LLM call until opened, so that a test can act while a job runs."""

    def __init__(self, backend: ScriptedBackend) -> None:
        self.reached, self.opened = threading.Event(), threading.Event()
        answer = Scripted()

        def held(messages: Sequence[Message], schema: dict[str, Any]) -> dict[str, Any]:
            self.reached.set()
            self.opened.wait(WAIT)
            return answer(messages, schema)

        backend.queue[:] = [held] + [answer] * 500


def start_held(client: TestClient, setup: Any, goal: str) -> tuple[Gate, str]:
    """Ask for a clustering by ``goal``; the job is held at its first LLM call. The page's CSRF token."""
    gate = Gate(setup[2])
    csrf = csrf_of(client.get("/").text)
    answer = client.post("/chat", data={"csrf": csrf, "text": f"/cluster {goal}"}, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "./#progress"  # at once
    assert wait_for(gate.reached.is_set)
    return gate, csrf


def ids_by_name(client: TestClient) -> dict[str, str]:
    state = client.app.state.web.chat.state()  # type: ignore[attr-defined]
    return {c.name: c.id for c in state.clusters}


def test_main_page_shows_cards_map_and_conversation(clustered: TestClient) -> None:
    page = clustered.get("/")
    assert page.status_code == 200
    for name in ("Card payments", "Parcel delivery", "Password login"):
        assert name in page.text
    assert page.text.count('class="card"') == 3
    assert "coverage 100.0%" in page.text and "P / R 1.00 / 1.00" in page.text
    assert "<svg" in page.text and page.text.count("<circle") == 24  # one point per document
    card = ids_by_name(clustered)["Card payments"]
    assert f'href="/cluster/{card}"' in page.text  # cards and points link to the cluster's page
    assert "/cluster why the customer wrote" in page.text  # the thread's messages
    members = clustered.get(f"/cluster/{card}", params={"q": "card"})
    assert members.status_code == 200 and "8 documents" in members.text
    why = clustered.get("/why", params={"doc": "card-0"})
    assert why.status_code == 200 and "In: " in why.text and "Card payments" in why.text


def test_edits_change_the_thread_and_persist(clustered: TestClient, setup: Any) -> None:
    csrf = csrf_of(clustered.get("/").text)
    ids = ids_by_name(clustered)
    card, parcel, password = ids["Card payments"], ids["Parcel delivery"], ids["Password login"]
    edit = {"csrf": csrf, "op": "rename", "cluster": password, "name": "Log-in trouble"}
    answer = clustered.post("/edit", data=edit, follow_redirects=False)
    assert answer.status_code == 303
    clustered.post("/edit", data={"csrf": csrf, "op": "merge", "cluster": card, "other": parcel})
    merged = ids_by_name(clustered)["Card payments + Parcel delivery"]
    clustered.post(
        "/edit", data={"csrf": csrf, "op": "move", "cluster": password, "documents": "card-0 card-1"}
    )
    bad = clustered.post("/edit", data={"csrf": csrf, "op": "merge", "cluster": card, "other": ""})
    assert bad.status_code == 200 and "Cannot do that" in bad.text and "Traceback" not in bad.text
    clustered.app.state.web.close()  # type: ignore[attr-defined]

    app = build_app(Chat(session_for(setup)))  # a new server on the same thread
    with TestClient(app, base_url=BASE) as again:
        page = again.get("/").text
        assert "Log-in trouble" in page and "Card payments + Parcel delivery" in page
        assert "merged" in page  # the edit history
    app.state.web.close()
    chat = Chat(session_for(setup))
    state = chat.state()
    members = {c.name: c.members for c in state.clusters}
    assert {"card-0", "card-1"} <= set(members["Log-in trouble"])
    assert "card-0" not in members["Card payments + Parcel delivery"]
    assert len(members["Card payments + Parcel delivery"]) == 14
    assert any(c.id == merged for c in state.clusters)
    chat.close()


def test_document_text_is_escaped(clustered: TestClient) -> None:
    card = ids_by_name(clustered)["Card payments"]
    for page in (clustered.get("/").text, clustered.get(f"/cluster/{card}").text):
        assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
        assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
        assert 'href="javascript:' not in page and "javascript:alert(1)" in page


def test_cross_site_posts_are_refused(clustered: TestClient) -> None:
    csrf = csrf_of(clustered.get("/").text)
    card = ids_by_name(clustered)["Card payments"]
    rename = {"op": "rename", "cluster": card, "name": "Stolen"}
    assert clustered.post("/edit", data=rename).status_code == 403
    assert clustered.post("/edit", data={**rename, "csrf": "guess"}).status_code == 403
    foreign = {"Origin": "http://evil.example"}
    assert clustered.post("/edit", data={**rename, "csrf": csrf}, headers=foreign).status_code == 403
    referer = {"Referer": "http://evil.example/page"}
    assert clustered.post("/chat", data={"csrf": csrf, "text": "/quit"}, headers=referer).status_code == 403
    assert "Stolen" not in ids_by_name(clustered)
    same = {"Origin": BASE}
    assert clustered.post("/edit", data={**rename, "csrf": csrf}, headers=same).status_code == 200
    assert "Stolen" in ids_by_name(clustered)


def test_hosts_tokens_and_headers(setup: Any) -> None:
    chat = Chat(session_for(setup))
    with pytest.raises(ServeError, match="--token"):
        build_app(chat, host="0.0.0.0")
    app = build_app(chat, host="0.0.0.0", token="s3cret")
    with TestClient(app, base_url="http://192.0.2.7:8765") as client:
        assert client.get("/").status_code == 401
        assert client.get("/", params={"token": "wrong"}).status_code == 401
        page = client.get("/", params={"token": "s3cret"})
        assert page.status_code == 200 and "token=" not in str(page.url)  # now a cookie
        assert "httponly" in page.history[0].headers["set-cookie"].lower()
        assert "samesite=strict" in page.history[0].headers["set-cookie"].lower()
        assert client.get("/").status_code == 200
        csp = page.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert page.headers["x-content-type-options"] == "nosniff"
    chat.close()


def test_loopback_server_refuses_other_host_names(setup: Any) -> None:
    app = build_app(Chat(session_for(setup)))
    with TestClient(app, base_url="http://rebound.example") as client:
        assert client.get("/").status_code == 403  # DNS rebinding
    app.state.web.close()


def test_downloads_come_from_the_threads_folder(clustered: TestClient) -> None:
    folder = clustered.app.state.web.chat.session.thread_dir / "current"  # type: ignore[attr-defined]
    for name in ("report.html", "report.md", "assignments.csv", "assignments.jsonl"):
        answer = clustered.get(f"/download/{name}")
        assert answer.status_code == 200 and (folder / name).exists()
    assert "Card payments" in clustered.get("/download/assignments.csv").text
    assert clustered.get("/download/..%2Frun.json").status_code == 404


def test_long_action_runs_in_the_background_and_streams_its_progress(
    clustered: TestClient, setup: Any
) -> None:
    web = clustered.app.state.web  # type: ignore[attr-defined]
    gate, _ = start_held(clustered, setup, "what went wrong")
    assert web.jobs.running  # the request came back while the job waits for its LLM answer
    page = clustered.get("/")
    assert 'class="status">running<' in page.text and 'action="/cancel"' in page.text
    assert "Card payments" in page.text  # the clusters shown meanwhile are the thread's, as they were
    gate.opened.set()
    events = events_of(clustered)
    kinds = [kind for kind, _ in events]
    assert "say" in kinds and any("round 1" in data for _, data in events)  # the agent's progress lines
    assert kinds[-1] == "end" and events[-1][1] == "finished" and kinds.count("end") == 1
    state = web.chat.state()
    assert state.goal == "what went wrong" and "Clustered by: what went wrong" in state.messages[-1].content
    page = clustered.get("/")
    assert 'class="status">finished<' in page.text and 'action="/cancel"' not in page.text
    assert events_of(clustered) == events  # a stream opened later replays the finished job


def test_cancelled_job_leaves_the_thread_as_it_was(clustered: TestClient, setup: Any) -> None:
    web = clustered.app.state.web  # type: ignore[attr-defined]
    before = web.chat.state()
    gate, csrf = start_held(clustered, setup, "what went wrong")
    page = clustered.post("/cancel", data={"csrf": csrf})
    assert page.status_code == 200 and 'class="status">stopping<' in page.text
    gate.opened.set()
    assert events_of(clustered)[-1] == ("end", "cancelled")
    assert web.chat.state() == before  # clusters, goal, messages, pending: nothing half-applied
    assert web.chat.graph.get_state(web.chat.config).next == ()
    page = clustered.get("/")
    assert 'class="status">cancelled<' in page.text and "as it was before it" in page.text
    trace = web.chat.session.thread_dir / "run-2" / "trace.jsonl"
    assert trace.read_text().count("\n") == 1  # the answer it had is kept; no call after the cancel
    clustered.post("/chat", data={"csrf": csrf, "text": "/clusters"})
    assert len(web.chat.state().messages) == len(before.messages) + 2  # the thread goes on


def test_second_action_is_refused_while_a_job_runs(clustered: TestClient, setup: Any) -> None:
    web = clustered.app.state.web  # type: ignore[attr-defined]
    gate, csrf = start_held(clustered, setup, "what went wrong")
    refused = clustered.post("/chat", data={"csrf": csrf, "text": "/discover 2"})
    assert "/cluster what went wrong is still running" in refused.text
    card = ids_by_name(clustered)["Card payments"]
    rename = {"csrf": csrf, "op": "rename", "cluster": card, "name": "Meanwhile"}
    assert "still running" in clustered.post("/edit", data=rename).text
    gate.opened.set()
    assert events_of(clustered)[-1] == ("end", "finished")
    state = web.chat.state()
    assert state.goal == "what went wrong" and not any(c.name == "Meanwhile" for c in state.clusters)
    assert not (web.chat.session.thread_dir / "discover-1").exists()


def test_cross_site_cancel_is_refused(clustered: TestClient, setup: Any) -> None:
    web = clustered.app.state.web  # type: ignore[attr-defined]
    gate, csrf = start_held(clustered, setup, "what went wrong")
    foreign = clustered.post("/cancel", data={"csrf": csrf}, headers={"Origin": "http://evil.example"})
    assert foreign.status_code == 403
    assert clustered.post("/cancel", data={"csrf": "guess"}).status_code == 403
    assert not web.jobs.current.stop.is_set()
    gate.opened.set()
    assert events_of(clustered)[-1] == ("end", "finished")
    assert web.chat.state().goal == "what went wrong"


def test_failed_job_ends_its_stream_and_is_reported(
    clustered: TestClient, setup: Any, monkeypatch: Any
) -> None:
    web = clustered.app.state.web  # type: ignore[attr-defined]
    before = web.chat.state()
    raised: list[BaseException | None] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: raised.append(args.exc_value))

    def crash(messages: Sequence[Message], schema: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("the model crashed")

    setup[2].queue[:] = [crash]
    csrf = csrf_of(clustered.get("/").text)
    clustered.post("/chat", data={"csrf": csrf, "text": "/cluster what went wrong"})
    assert events_of(clustered)[-1] == ("end", "failed")  # the stream ends; the page is not left waiting
    assert wait_for(lambda: bool(raised)) and "the model crashed" in str(raised[0])  # not swallowed
    assert 'class="status">failed<' in clustered.get("/").text
    assert web.chat.state().clusters == before.clusters
    clustered.post("/chat", data={"csrf": csrf, "text": "/clusters"})
    assert len(web.chat.state().messages) == len(before.messages) + 2  # the thread goes on


def test_serve_command_refuses_an_open_host_without_a_token(
    setup: Any, capsys: Any, monkeypatch: Any
) -> None:
    from goalcluster.cli import main

    data, config, _ = setup
    monkeypatch.chdir(data.parent)
    code = main(["serve", str(data), "--host", "0.0.0.0", "--home", str(config.home)])
    assert code == 2
    error = capsys.readouterr().err
    assert "--host 0.0.0.0" in error and "--token" in error
    assert not (data.parent / "runs").exists()  # refused before anything was opened or written


def test_serve_command_names_the_extra_when_starlette_is_missing(
    setup: Any, capsys: Any, monkeypatch: Any
) -> None:
    import sys

    from goalcluster.cli import main

    data, config, _ = setup
    monkeypatch.chdir(data.parent)
    monkeypatch.setitem(sys.modules, "goalcluster.web.app", None)  # as if starlette were not installed
    assert main(["serve", str(data), "--home", str(config.home)]) == 2
    assert '-e ".[web]"' in capsys.readouterr().err
