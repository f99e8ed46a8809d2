"""Open a local HTML file in headless Chromium over the DevTools protocol and record what happened:
requests, console messages, exceptions, dialogs, a DOM probe and a screenshot.

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
    with browser() as running:
        return _drive(running.port, page, probe, screenshot, width, height)


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


def _drive(port: int, page: Path, probe: str, screenshot: Path, width: int, height: int) -> PageVisit:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=30) as answer:
        targets = json.load(answer)
    url = next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")
    seen = PageVisit()
    ids = itertools.count(1)
    with connect(url, max_size=None, open_timeout=30) as socket:

        def call(method: str, **params: Any) -> dict[str, Any]:
            number = next(ids)
            socket.send(json.dumps({"id": number, "method": method, "params": params}))
            while True:
                message = json.loads(socket.recv(timeout=60))
                if message.get("id") == number:
                    if "error" in message:
                        raise RuntimeError(f"{method}: {message['error']}")
                    return dict(message.get("result", {}))
                record(message)

        def record(message: dict[str, Any]) -> None:
            method, params = message.get("method"), message.get("params", {})
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
                call("Page.handleJavaScriptDialog", accept=True)

        for domain in ("Page", "Runtime", "Log", "Network"):
            call(f"{domain}.enable")
        call(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )
        call("Page.navigate", url=page.resolve().as_uri())
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            message = json.loads(socket.recv(timeout=60))
            record(message)
            if message.get("method") == "Page.loadEventFired":
                break
        time.sleep(0.5)  # late console messages and requests
        value = call("Runtime.evaluate", expression=probe, returnByValue=True)
        seen.probe = value.get("result", {}).get("value")
        shot = call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        screenshot.write_bytes(base64.b64decode(shot["data"]))
    return seen
