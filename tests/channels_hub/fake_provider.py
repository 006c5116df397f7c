"""A local HTTP server playing a provider's API: tests script its answers per path and
read back every request it received. No test touches the internet."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Answer:
    status: int = 200
    body: Any = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering (timeouts)


@dataclass
class Received:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> dict[str, list[str]]:
        return parse_qs(self.body.decode())


class FakeProvider:
    def __init__(self) -> None:
        self.answers: dict[tuple[str, str], list[Answer]] = {}
        self.requests: list[Received] = []
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                split = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                provider.requests.append(
                    Received(
                        self.command, split.path, parse_qs(split.query), dict(self.headers), body
                    )
                )
                answer = provider._next(self.command, split.path)
                if answer.delay:
                    time.sleep(answer.delay)
                raw = (
                    answer.body
                    if isinstance(answer.body, bytes)
                    else json.dumps(answer.body).encode()
                )
                self.send_response(answer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            do_GET = do_POST = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def answer(self, method: str, path: str, *answers: Answer) -> None:
        """Queue answers for a path; the last one repeats."""
        self.answers[(method, path)] = list(answers)

    def _next(self, method: str, path: str) -> Answer:
        queue = self.answers.get((method, path))
        if not queue:
            return Answer(404, {"error": {"message": f"no scripted answer for {method} {path}"}})
        return queue.pop(0) if len(queue) > 1 else queue[0]

    def received(self, path: str) -> list[Received]:
        return [r for r in self.requests if r.path == path]

    def start(self) -> FakeProvider:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
