"""`goalcluster serve` over a real run of a few hundred texts (packaged 0.5B model, MiniLM, Chroma on
disk), driven in headless Chromium as a person would: the cards and map render with no console error
and no request leaving the server; a cluster is renamed, a document moved and two clusters merged by
clicking and typing; a question is asked in the chat panel; after a reload every change is there, and
the same thread opened in `goalcluster chat` lists the same clusters. Screenshots of the main page and
a cluster page are saved under test-artifacts/."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from urllib.parse import quote

import pytest
from browser import Tab, browser, chromium, tab
from conftest import GOALCLUSTER, RealRun

pytestmark = pytest.mark.real
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
MODEL = ["--llm", "llamacpp:small", "--max-iterations", "1"]
PAGE = """JSON.stringify({
  cards: [...document.querySelectorAll('.card h2 a')].map((a) => a.textContent),
  points: document.querySelectorAll('.map svg circle').length,
  messages: [...document.querySelectorAll('.messages li')].map((li) => [li.className, li.textContent]),
  history: [...document.querySelectorAll('.history li')].map((li) => li.textContent),
})"""
MEMBERS = """JSON.stringify({
  title: document.querySelector('h1').textContent,
  ids: [...document.querySelectorAll('.members td.id')].map((td) => td.textContent),
  images: document.querySelectorAll('.members img').length,
  links: document.querySelectorAll('.members td a[href^="javascript"]').length,
  text: document.querySelector('.members').textContent,
})"""
# id, size, share, "P / R" (figures or "-"), name — explanation: a row of the terminal chat's /clusters
ROW = re.compile(r"^\s+(c\d+)\s+(\d+)\s+[\d.]+%\s+(?:[\d.]+|-) / (?:[\d.]+|-)\s+(.+?) — ", re.MULTILINE)


def test_serve_a_real_run_in_headless_chromium(banking_run: RealRun) -> None:
    if chromium() is None:
        pytest.fail("Chromium is missing: .ci/run installs Debian's chromium (apt-get install chromium)")
    run_dir, env = banking_run.run_dir, banking_run.env
    clusters = json.loads((run_dir / "clusters.json").read_text())
    assert len(clusters) >= 3, (
        f"the run made {len(clusters)} clusters; the test merges two and renames a third"
    )
    where = {row["id"]: row["cluster_ids"] for row in map(json.loads, (run_dir / "assignments.jsonl").open())}

    port = _free_port()
    url = f"http://127.0.0.1:{port}/"
    log = run_dir.parent / "serve.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            [GOALCLUSTER, "serve", str(run_dir), "--thread", "web", "--port", str(port), *MODEL, "--quiet"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        _wait_until_serving(url, server, log)
        with browser() as running, tab(running) as page:
            before = _explore(page, url, where)
            page.reload()
            after = json.loads(page.evaluate(PAGE))
            errors, requests, dialogs = page.seen.errors, page.seen.requests, page.seen.dialogs
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=60)
    assert errors == [] and dialogs == [], (errors, dialogs, requests)
    outside = [r for r in requests if not r.startswith(url)]
    assert outside == [], outside

    renamed, moved, (kept, gone), names = (
        before["renamed"],
        before["moved"],
        before["merged"],
        before["names"],
    )
    cards = dict(card.split(" · ", 1) for card in after["cards"])
    merged = next(cid for cid, name in cards.items() if name == f"{names[kept]} + {names[gone]}")
    assert cards[renamed] == "Renamed in the browser" and kept not in cards and gone not in cards
    assert len(cards) == len(names) - 1, (names, after)
    assert after["history"][:3] == [
        f"renamed {renamed} to 'Renamed in the browser'",
        f"moved {moved} to {renamed}",
        f"merged {kept} and {gone} into {merged}",
    ], after
    assert [m for m in after["messages"] if m[0] == "user"][-1][1].strip() == "Which cluster is the largest?"
    assert after["messages"][-1][0] == "assistant" and after["messages"][-1][1].strip()

    # the same thread in the terminal chat
    done = subprocess.run(
        [GOALCLUSTER, "chat", str(run_dir), "--thread", "web", *MODEL, "--quiet"],
        input="/clusters\n/quit\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Resumed:" in done.stdout
    assert {cid: name for cid, _, name in ROW.findall(done.stdout)} == cards


def _explore(page: Tab, url: str, where: dict[str, list[str]]) -> dict[str, object]:
    """Rename the first card's cluster and move a document into it on its page, merge the next two
    clusters on the main page, and ask in the chat panel; what was done, for the checks after reload."""
    page.goto(url)
    first = json.loads(page.evaluate(PAGE))
    names = dict(card.split(" · ", 1) for card in first["cards"])
    assert len(names) >= 3 and first["points"] >= 300, first
    page.screenshot(ARTIFACTS / "serve-main.png")

    page.click(".card h2 a", navigates=True)
    renamed = page.evaluate("location.pathname").rsplit("/", 1)[1]
    page.type("form.edit input[name=name]", "Renamed in the browser")
    page.click("form.edit input[name=name] + button", navigates=True)
    moved = (
        "hostile-1"
        if renamed not in where["hostile-1"]
        else next(d for d, c in where.items() if renamed not in c)
    )
    page.type("form.edit input[name=documents]", moved)
    page.click("form.edit input[name=documents] + button", navigates=True)
    page.goto(f"{url}cluster/{quote(renamed)}?q={quote(moved)}")
    shown = json.loads(page.evaluate(MEMBERS))
    assert shown["title"].endswith("Renamed in the browser") and shown["ids"] == [moved]
    page.goto(f"{url}cluster/{quote(renamed)}")
    page.screenshot(ARTIFACTS / "serve-cluster.png")
    page.goto(f"{url}cluster/{quote(renamed)}?q=hostile-1")  # moved there, or there already
    hostile = json.loads(page.evaluate(MEMBERS))
    assert hostile["ids"] == ["hostile-1"] and "<script>alert(1)</script> My card" in hostile["text"]
    assert hostile["images"] == 0 and hostile["links"] == 0

    page.goto(url)
    kept, gone = [cid for cid in names if cid != renamed][:2]
    page.choose(".edits select[name=op]", "merge")
    page.type(".edits input[name=cluster]", kept)
    page.type(".edits input[name=other]", gone)
    page.click(".edits form button", navigates=True)
    page.type(".chat input[name=text]", "Which cluster is the largest?")
    page.click(".chat form button", navigates=True, timeout=600)
    return {
        "names": names,
        "renamed": renamed,
        "moved": moved,
        "merged": (kept, gone),
    }


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_until_serving(url: str, server: subprocess.Popen[bytes], log: Path, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"goalcluster serve exited ({server.returncode}): {log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"goalcluster serve did not answer within {timeout:.0f} s: {log.read_text()[-3000:]}")
