"""Headless Chromium over the DevTools protocol: open a local HTML file and record what happened
(requests, console messages, exceptions, dialogs, a DOM probe and a screenshot), or drive a page as a
person would (:class:`Tab`: go to a URL, click, type, reload).

Every browser test goes through :func:`browser`, which owns Chromium's whole lifetime: it starts
the browser in its own process group with a fresh profile, and on the way out closes it over
DevTools (``Browser.close``), ends the group, and waits until no process of it is left before the
profile folder is removed (Chromium's renderer, utility and crash-handler children write to the
profile after the main process has gone).
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from websockets.sync.client import connect

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-breakpad",
    "--disable-crash-reporter",
)


def chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if found := shutil.which(name):
            return found
    return None


@dataclass
class PageVisit:
    requests: list[str] = field(default_factory=list)
    console: list[dict[str, Any]] = field(default_factory=list)
    exceptions: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    probe: Any = None

    @property
    def errors(self) -> list[str]:
        logged = [c["text"] for c in self.console if c["level"] in ("error", "warning")]
        return logged + self.exceptions


def visit(page: Path, probe: str, screenshot: Path, *, width: int = 1200, height: int = 1600) -> PageVisit:
    """Load ``page``; evaluate the JavaScript expression ``probe`` in it (by DevTools, not by the
    page); save a full-page PNG to ``screenshot``."""
    with browser() as running, tab(running, width=width, height=height) as page_tab:
        page_tab.goto(page.resolve().as_uri())
        page_tab.seen.probe = page_tab.evaluate(probe)
        page_tab.screenshot(screenshot)
    return page_tab.seen


@dataclass(frozen=True)
class Browser:
    """A running headless Chromium: its DevTools port and its (temporary) profile folder."""

    port: int
    profile: Path


@contextmanager
def browser(timeout: float = 60.0) -> Iterator[Browser]:
    """A headless Chromium for the ``with`` block; gone, with its profile, when the block ends."""
    binary = chromium()
    if binary is None:
        raise RuntimeError("Chromium is not installed (Debian: apt-get install chromium)")
    with tempfile.TemporaryDirectory(prefix="goalcluster-browser-") as scratch:
        profile, log = Path(scratch) / "profile", Path(scratch) / "chromium.log"
        with log.open("w") as stderr:
            process = subprocess.Popen(
                [binary, *FLAGS, "--remote-debugging-port=0", f"--user-data-dir={profile}", "about:blank"],
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                start_new_session=True,  # its own process group, ended as a whole below
            )
        try:
            port = _devtools_port(process, log, timeout)
            try:
                yield Browser(port, profile)
            finally:
                _close(port)
        finally:
            _end_group(process, profile, timeout)


def _devtools_port(process: subprocess.Popen[bytes], log: Path, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if match := re.search(r"DevTools listening on ws://[^:]+:(\d+)/", log.read_text(errors="replace")):
            return int(match.group(1))
        if process.poll() is not None:
            break
        time.sleep(0.05)
    said = log.read_text(errors="replace")[-500:]
    raise RuntimeError(f"Chromium did not start its DevTools endpoint: {said}")


def _close(port: int) -> None:
    """Ask the browser to close itself (it flushes and ends its children in order)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/version", timeout=10) as answer:
            url = json.load(answer)["webSocketDebuggerUrl"]
        with connect(url, open_timeout=10) as socket:
            socket.send(json.dumps({"id": 1, "method": "Browser.close"}))
            socket.recv(timeout=10)
    except (OSError, TimeoutError, ValueError, KeyError):
        pass  # already gone or not answering: the process group is ended below either way


def _end_group(process: subprocess.Popen[bytes], profile: Path, timeout: float) -> None:
    """Wait for Chromium to exit after ``Browser.close``; if any process of its group (or any other
    process using ``profile``) is still there, end the group: SIGTERM, then SIGKILL."""
    for sig in (None, signal.SIGTERM, signal.SIGKILL):
        if sig is not None:
            with suppress(ProcessLookupError):
                os.killpg(process.pid, sig)
        if _wait_until_gone(process, profile, timeout / 3):
            return
    raise RuntimeError(f"Chromium processes outlived the browser: {_survivors(process.pid, profile)}")


def _wait_until_gone(process: subprocess.Popen[bytes], profile: Path, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        process.poll()  # reap the main process once it has exited
        if not _survivors(process.pid, profile):
            return True
        time.sleep(0.05)
    return False


def _survivors(pgid: int, profile: Path) -> list[int]:
    """Live (not zombie) processes in the group ``pgid`` or whose command line names ``profile``."""
    found = []
    needle = str(profile).encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        state, _, group = stat.rpartition(")")[2].split()[:3]  # after "pid (comm)": state ppid pgrp
        if state != "Z" and (int(group) == pgid or needle in cmdline):
            found.append(int(entry.name))
    return found


class Tab:
    """The browser's page, driven over DevTools as a person would: go to a URL, click at an element's
    centre, type into a field; everything the page requests, logs or throws is kept in :attr:`seen`."""

    def __init__(self, socket: Any, width: int, height: int) -> None:
        self.socket, self.seen, self.loads = socket, PageVisit(), 0
        self._ids = itertools.count(1)
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable")
        self.call(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        number = next(self._ids)
        self.socket.send(json.dumps({"id": number, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv(timeout=60))
            if message.get("id") == number:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return dict(message.get("result", {}))
            self._record(message)

    def _record(self, message: dict[str, Any]) -> None:
        method, params, seen = message.get("method"), message.get("params", {}), self.seen
        if method == "Network.requestWillBeSent":
            seen.requests.append(params["request"]["url"])
        elif method == "Runtime.consoleAPICalled":
            text = " ".join(str(a.get("value", a.get("description", ""))) for a in params["args"])
            seen.console.append({"level": params["type"], "text": text})
        elif method == "Log.entryAdded":
            seen.console.append({"level": params["entry"]["level"], "text": params["entry"]["text"]})
        elif method == "Runtime.exceptionThrown":
            seen.exceptions.append(params["exceptionDetails"].get("text", "exception"))
        elif method == "Page.javascriptDialogOpening":
            seen.dialogs.append(params.get("message", ""))
            self.call("Page.handleJavaScriptDialog", accept=True)
        elif method == "Page.loadEventFired":
            self.loads += 1

    def _wait_for_load(self, loads_before: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.loads == loads_before:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"the page did not load within {timeout:.0f} s")
            self._record(json.loads(self.socket.recv(timeout=left)))
        time.sleep(0.3)  # late console messages and requests
        self.call("Runtime.evaluate", expression="1")  # and take in what they sent meanwhile

    def goto(self, url: str, timeout: float = 60) -> None:
        before = self.loads
        self.call("Page.navigate", url=url)
        self._wait_for_load(before, timeout)

    def reload(self, timeout: float = 60) -> None:
        before = self.loads
        self.call("Page.reload", ignoreCache=True)
        self._wait_for_load(before, timeout)

    def evaluate(self, expression: str) -> Any:
        value = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in value:
            raise RuntimeError(f"{expression!r}: {value['exceptionDetails'].get('text')}")
        return value.get("result", {}).get("value")

    def click(self, selector: str, *, navigates: bool = False, timeout: float = 60) -> None:
        """A left click at the centre of the first element matching ``selector`` (scrolled into
        view first); with ``navigates``, wait until the page it leads to has loaded."""
        where = self.evaluate(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)}); if (!e) return null;"
            " e.scrollIntoView({block: 'center'}); const r = e.getBoundingClientRect();"
            " return [r.x + r.width / 2, r.y + r.height / 2]; })()"
        )
        if where is None:
            raise LookupError(f"nothing on the page matches {selector!r}")
        before = self.loads
        x, y = where
        for kind in ("mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1)
        if navigates:
            self._wait_for_load(before, timeout)

    def type(self, selector: str, text: str) -> None:
        """Click into the field and type ``text`` (as keyboard input)."""
        self.click(selector)
        self.call("Input.insertText", text=text)

    def choose(self, selector: str, value: str) -> None:
        """Pick ``value`` in a <select> (its pop-up list is not drawn by a headless browser: the choice
        is set as the keyboard would, with the change event the page would see)."""
        self.evaluate(
            f"(() => {{ const s = document.querySelector({json.dumps(selector)}); s.focus(); s.value = "
            f"{json.dumps(value)}; s.dispatchEvent(new Event('change', {{bubbles: true}})); }})()"
        )

    def screenshot(self, path: Path) -> None:
        shot = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))


@contextmanager
def tab(running: Browser, *, width: int = 1200, height: int = 1600) -> Iterator[Tab]:
    """The running browser's first page, to drive."""
    with urllib.request.urlopen(f"http://127.0.0.1:{running.port}/json/list", timeout=30) as answer:
        targets = json.load(answer)
    url = next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")
    with connect(url, max_size=None, open_timeout=30) as socket:
        yield Tab(socket, width, height)
