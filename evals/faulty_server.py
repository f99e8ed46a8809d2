"""An OpenAI-compatible chat server on loopback that answers with a real GGUF model (in process,
llama-cpp-python) and injects faults into a seeded share of the requests: a refused connection, a
hang past the client's timeout, a 500, a 429, or a well-formed answer whose content is garbage."""

from __future__ import annotations

import json
import random
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

FAULTS = ("refuse", "hang", "500", "429", "garbage")


class FaultyServer:
    """``with FaultyServer(model, fault, share) as url:`` serves ``url`` (``http://127.0.0.1:P/v1``)
    until the block ends; ``injected`` counts the faults sent, ``answered`` the real answers."""

    def __init__(self, model: Path, fault: str, share: float, *, hang_s: float = 8.0, seed: int = 0) -> None:
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; choose from {', '.join(FAULTS)}")
        self.model, self.fault, self.share, self.hang_s = model, fault, share, hang_s
        self.injected = self.answered = 0
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._llama: Any = None
        self._httpd: ThreadingHTTPServer | None = None

    def __enter__(self) -> str:
        from llama_cpp import Llama

        self._llama = Llama(model_path=str(self.model), n_ctx=4096, seed=0, verbose=False)
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.handle_error = lambda *_: None  # type: ignore[method-assign]  # a client gave up
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def __exit__(self, *exc: object) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()

    def _draw(self) -> bool:
        with self._lock:
            return self._random.random() < self.share

    def _complete(self, body: dict[str, Any]) -> dict[str, Any]:
        schema = (body.get("response_format") or {}).get("json_schema", {}).get("schema")
        with self._lock:  # one model, one request at a time
            out = self._llama.create_chat_completion(
                messages=body["messages"],
                response_format={"type": "json_object", "schema": schema} if schema else None,
                temperature=0.0,
                max_tokens=body.get("max_tokens", 512),
                seed=0,
            )
            self.answered += 1
        return dict(out)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fault = server.fault if server._draw() else ""
                if fault:
                    with server._lock:
                        server.injected += 1
                if fault == "refuse":
                    self.close_connection = True
                    self.connection.close()  # no status line: the client sees a dropped connection
                    return
                if fault == "hang":
                    time.sleep(server.hang_s)
                    self.close_connection = True
                    return
                if fault in ("500", "429"):
                    self._send(int(fault), {"error": {"message": f"injected {fault}"}})
                    return
                answer = server._complete(body)
                if fault == "garbage":
                    answer["choices"][0]["message"]["content"] = '{"name": "half an answ'
                self._send(200, answer)

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("retry-after-ms", "50")
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        return Handler
