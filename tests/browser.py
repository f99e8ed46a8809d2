"""Open a local HTML file in headless Chromium over the DevTools protocol and record what happened:
requests, console messages, exceptions, dialogs, a DOM probe and a screenshot."""

from __future__ import annotations

import base64
import itertools
import json
import re
import shutil
import subprocess
import tempfile
import time
import urllib.request
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
    binary = chromium()
    if binary is None:
        raise RuntimeError("Chromium is not installed (Debian: apt-get install chromium)")
    with tempfile.TemporaryDirectory() as profile:
        process = subprocess.Popen(
            [binary, *FLAGS, "--remote-debugging-port=0", f"--user-data-dir={profile}", "about:blank"],
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            return _drive(_devtools_port(process), page, probe, screenshot, width, height)
        finally:
            process.kill()
            process.wait(timeout=30)


def _devtools_port(process: subprocess.Popen[str]) -> int:
    assert process.stderr is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if match := re.search(r"DevTools listening on ws://[^:]+:(\d+)/", line):
            return int(match.group(1))
        if not line and process.poll() is not None:
            break
    raise RuntimeError("Chromium did not start its DevTools endpoint")


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
