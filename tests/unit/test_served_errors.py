"""A model server's failures become one clear message each (no traceback), and a transient 5xx
neither stops the run nor changes the structured-output dialect. A real HTTP server on loopback
answers with the statuses a vLLM or llama.cpp server sends."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from agent.llm.backends import BackendError, OpenAICompatibleBackend

ANSWER = {
    "id": "x", "object": "chat.completion", "created": 0, "model": "m",
    "choices": [
        {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": '{"a": 1}'}}
    ],
    "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
}  # fmt: skip


class Script:
    """Statuses to answer with, in order (then 200); the response_format of every request seen."""

    def __init__(self) -> None:
        self.statuses: list[int | tuple[int, str]] = []
        self.formats: list[str] = []
        self.hang = 0.0


@pytest.fixture
def server() -> Iterator[tuple[str, Script]]:
    script = Script()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            script.formats.append(body.get("response_format", {}).get("type", ""))
            time.sleep(script.hang)
            planned = script.statuses.pop(0) if script.statuses else 200
            status, message = planned if isinstance(planned, tuple) else (planned, f"status {planned}")
            payload: dict[str, Any] = ANSWER if status == 200 else {"error": {"message": message}}
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("retry-after-ms", "1")  # the SDK's backoff, made short for the test
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1", script
    httpd.shutdown()


def ask(url: str, timeout: float = 30) -> str:
    backend = OpenAICompatibleBackend(url, "m", timeout=timeout)
    return backend.complete([{"role": "user", "content": "hi"}], {"type": "object"}, max_tokens=8).text


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (401, "refused the API key. Name the variable that holds it: --api-key-env"),
        (404, "has no model 'm'"),
        (429, "kept failing after 4 retries"),
        (503, "kept failing after 4 retries"),
    ],
)
def test_each_failure_is_one_message_naming_the_fix(
    server: tuple[str, Script], status: int, message: str
) -> None:
    url, script = server
    script.statuses = [status] * 10
    with pytest.raises(BackendError, match=message) as caught:
        ask(url)
    assert url in str(caught.value)


def test_a_transient_5xx_is_retried_and_keeps_the_dialect(server: tuple[str, Script]) -> None:
    url, script = server
    script.statuses = [500, 502]
    assert ask(url) == '{"a": 1}'
    assert script.formats == ["json_schema"] * 3  # retried twice, never switched to llama.cpp's format


def test_a_refused_dialect_switches_once_and_a_timeout_is_named_as_one(server: tuple[str, Script]) -> None:
    url, script = server
    script.statuses = [422]
    assert ask(url) == '{"a": 1}' and script.formats == ["json_schema", "json_object"]
    script.formats.clear()
    script.statuses = [(500, "response_format.type: Input should be 'text' or 'json_object'")]  # llama_cpp
    assert ask(url) == '{"a": 1}' and script.formats == ["json_schema", "json_object"]  # at once, unretried
    script.hang = 1.0
    with pytest.raises(BackendError, match=r"did not answer within 0\.3 s\. Raise --timeout"):
        ask(url, timeout=0.3)
