"""``goalcluster serve`` over a tree run: the main page's Tree section (nested nodes and the report's
icicle chart, each node linked to its page), a node's page (its members page by page, the clusters
within it), every name and text escaped; a flat run shows no tree. Scripted fake LLM, fake embedder,
Starlette's test client."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("starlette")

from fakes import FakeEmbedder, ScriptedBackend
from starlette.testclient import TestClient
from test_report_tree import Page
from test_tree import answer, config
from test_web import csrf_of
from trees import HOSTILE, HOSTILE_EXPLANATION, HOSTILE_TEXT, flag_contradiction, make_hostile, tree_run

from goalcluster.chat.graph import Chat
from goalcluster.chat.session import open_session
from goalcluster.tree import METRICS_FILE, TREE_DIR, TREE_FILE
from goalcluster.web import pages
from goalcluster.web.app import build_app
from goalcluster.web.security import CSP

BASE = "http://127.0.0.1:8765"
HOSTILE_MEMBER = "card-declined-0"


def serve(folder: Path, home: Path) -> tuple[TestClient, Chat]:
    """A client of ``goalcluster serve RUN_DIR`` on ``folder`` (its thread "main")."""
    backend = ScriptedBackend([answer] * 500)
    cfg = config(home, levels=1)
    chat = Chat(open_session(folder, "main", cfg, quiet=True, backend=backend, embedder=FakeEmbedder()))
    return TestClient(build_app(chat), base_url=BASE), chat


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, str]]:
    """A server on a finished two-level tree run: one second-level node's name and explanation made
    hostile, and the text of one of its members; (client, that node's id)."""
    tmp = tmp_path_factory.mktemp("tree")
    folder = tree_run(tmp)
    node = make_hostile(folder)
    corpus = folder / "corpus.jsonl"
    rows = [json.loads(line) for line in corpus.read_text().splitlines()]
    for row in rows:
        if row["id"] == HOSTILE_MEMBER:
            row["text"] = HOSTILE_TEXT
    corpus.write_text("".join(json.dumps(row) + "\n" for row in rows))
    client, _ = serve(folder, tmp)
    with client:
        yield client, node
    client.app.state.web.close()  # type: ignore[attr-defined]


def section(page: str) -> str:
    """The main page's Tree section."""
    start = page.index('<section id="tree"')
    return page[start : page.index("</section>", start)]


def test_tree_run_page_shows_the_tree_and_the_icicle_each_node_linked(
    hostile: tuple[TestClient, str],
) -> None:
    client, _ = hostile
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-security-policy"] == CSP
    assert page.text.count('class="card"') == 2  # the thread's own clusters, as before
    tree = section(page.text)
    parsed = Page(tree)
    shown = [(depth, " ".join(text.split())) for depth, text in parsed.summaries]
    assert [depth for depth, _ in shown] == [1, 2, 2, 1, 2, 2]  # each top node, its two within it
    assert shown[0][1] == "c1 · Card · 16 documents (50.0% of all documents) · P / R 1.00 / 1.00"
    assert shown[4][1] == "c2.c1 · Late · 8 documents (50.0% of c2) · P / R 1.00 / 1.00"
    assert "card card card" in tree and "late delivery waiting slow" in tree  # explanations
    titles = sorted(rect["title"].split()[0] for rect in parsed.rects)  # the report's icicle, one per node
    assert titles == ["c1", "c1.c1", "c1.c2", "c2", "c2.c1", "c2.c2"]
    for node_id in titles:  # the tree and the chart both link to the node's page
        assert tree.count(f'href="/node/{node_id}"') == 2
    assert 'style="' not in tree and "<script" not in tree and "://" not in tree  # what the CSP allows


def test_node_page_lists_its_members_page_by_page_and_its_children(
    hostile: tuple[TestClient, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, _ = hostile
    page = client.get("/node/c1")
    assert page.status_code == 200 and page.headers["content-security-policy"] == CSP
    assert "<h1>c1 · Card</h1>" in page.text and "found by the goal “why the customer wrote”" in page.text
    within = page.text[page.text.index('<section class="within">') : page.text.index("</section>")]
    assert 'href="/node/c1.c1"' in within and 'href="/node/c1.c2"' in within and "Stolen" in within
    assert "stolen thief fraud" in within and "coverage 100.0%, overlap 0.0%, 0 of c1" in within
    assert 'href="/cluster/c1"' in page.text  # where its edits go
    assert "16 documents · page 1 of 1" in page.text and page.text.count('<td class="id">card-stolen-') == 8
    leaf = client.get("/node/c2.c2").text
    assert "Clusters within it" in leaf and "it is on the last level of the tree (2 levels)" in leaf
    assert leaf.count('<td class="id">parcel-damaged-') == 8 and "parcel-late-" not in leaf
    assert '› <a href="/node/c2">c2 Parcel</a> › c2.c2 Damaged' in leaf  # where it sits
    monkeypatch.setattr(pages, "PAGE", 5)
    second = client.get("/node/c1", params={"page": "2"}).text
    assert "16 documents · page 2 of 4" in second
    shown = [f"card-declined-{i}" in second for i in range(8)] + [
        f"card-stolen-{i}" in second for i in range(8)
    ]
    assert sum(shown) == 5 and not any(shown[:5])  # the next five, not the first
    found = client.get("/node/c1", params={"q": "thief"}).text
    assert "8 documents containing “thief” · page 1 of 2" in found


def test_unknown_node_is_a_404_page(hostile: tuple[TestClient, str]) -> None:
    client, _ = hostile
    for missing in ("c9", "c1.c9", "<b>x"):
        page = client.get(f"/node/{missing}")
        assert page.status_code == 404 and page.headers["content-security-policy"] == CSP
        assert (
            "No such cluster in the tree" in page.text
            and "its top level is c1 (Card), c2 (Parcel)" in page.text
        )
        assert "<b>x" not in page.text


def test_hostile_names_explanations_and_member_texts_are_escaped(hostile: tuple[TestClient, str]) -> None:
    client, node = hostile
    escaped_text = HOSTILE_TEXT.replace("<", "&lt;").replace(">", "&gt;")
    main, own, parent = (
        client.get(path).text for path in ("/", f"/node/{node}", f"/node/{node.split('.')[0]}")
    )
    for page in (main, own, parent):
        tags = Page(page).tags
        assert tags.count("script") == 1 and "img" not in tags and "b" not in tags  # only the server's app.js
        assert HOSTILE not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
        assert "The card was declined &amp; &lt;b&gt;refused&lt;/b&gt;." in page
    assert HOSTILE_EXPLANATION not in main
    for page in (own, parent):  # the member's text, as text
        assert (
            HOSTILE_TEXT not in page
            and f'<td class="id">{HOSTILE_MEMBER}</td><td>{escaped_text}</td>' in page
        )


def test_flat_run_shows_no_tree(tmp_path: Path) -> None:
    client, _ = serve(tree_run(tmp_path, levels=1), tmp_path)
    with client:
        page = client.get("/").text
        assert page.count('class="card"') == 2 and 'id="tree"' not in page and "tree-node" not in page
        missing = client.get("/node/c1")
        assert missing.status_code == 404 and "has no tree.json: it is flat" in missing.text
        assert "a cluster's page in the tree needs a run made with --levels 2" in missing.text.replace(
            "&#39;", "'"
        )
        assert "/drill" not in missing.text
    client.app.state.web.close()  # type: ignore[attr-defined]


def test_damaged_tree_files_are_named_and_the_rest_still_shows(tmp_path: Path) -> None:
    folder = tree_run(tmp_path)
    metrics = folder / TREE_DIR / "c1" / METRICS_FILE
    metrics.write_text(metrics.read_text()[:40])
    client, _ = serve(folder, tmp_path)
    with client:
        page = client.get("/node/c1")
        assert page.status_code == 500 and f"{metrics} is damaged" in page.text
        assert f"Fix: goalcluster resume {metrics.parent} writes it again." in page.text
        (folder / TREE_FILE).write_text("{")
        client.post("/chat", data={"csrf": csrf_of(client.get("/").text), "text": "/clusters"})
        main = client.get("/")  # a turn since: the page is computed again
        assert main.status_code == 200 and main.text.count('class="card"') == 2
        assert f"The tree of the run in {folder} cannot be shown: {folder / TREE_FILE} is damaged" in (
            section(main.text)
        )
        assert f"Fix: goalcluster resume {folder} writes it again." in section(main.text)
    client.app.state.web.close()  # type: ignore[attr-defined]


def test_a_child_found_to_contradict_its_parent_says_so_on_the_tree_and_its_page(tmp_path: Path) -> None:
    folder = tree_run(tmp_path)
    node = flag_contradiction(folder, "Stolen")
    client, _ = serve(folder, tmp_path)
    with client:
        main, own = client.get("/").text, client.get(f"/node/{node}").text
    for page in (main, own):
        assert page.count("The model found this explanation contradicts its parent’s.") == 1


def test_the_downloaded_report_of_a_tree_run_shows_the_tree(tmp_path: Path) -> None:
    folder = tree_run(tmp_path)
    client, _ = serve(folder, tmp_path)
    with client:
        page = client.get("/download/report.html")
    assert (
        page.status_code == 200 and 'id="taxonomy"' in page.text and page.text.count('class="tree-node"') == 6
    )
    assert f"These are the clusters of the run in {folder} as it left them" in page.text
    client.app.state.web.close()  # type: ignore[attr-defined]
