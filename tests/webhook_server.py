"""A local HTTP server that stands in for the group bots' webhooks (企业微信, 钉钉, 飞书) in tests.

``running_webhook_server()`` (and the ``webhook_server`` fixture of tests/conftest.py) listens
on 127.0.0.1 on an ephemeral port, in a daemon thread, records every request and answers
``{"errcode": 0, "errmsg": "ok", "code": 0, "msg": "success"}`` (OK for every provider) unless
told otherwise::

    def test_retry(webhook_server):
        webhook_server.answer(status=500, times=2)           # two failures, then OK
        webhook_server.answer(json={"errcode": 310000, "errmsg": "sign not match"})
        webhook_server.answer(delay=1.0)                     # sleeps (for timeouts)
        url = webhook_server.url("/robot/send?access_token=t")
        ...
        [request] = webhook_server.requests                  # path, query, headers, json

It stops when the block (or the test) ends; a handler still sleeping wakes up at once.
"""

from __future__ import annotations

import json
import socket
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

OK = {"errcode": 0, "errmsg": "ok", "code": 0, "msg": "success"}


@dataclass
class Recorded:
    """One request the server received."""

    method: str
    path: str  # without the query
    query: dict[str, str]  # each parameter's last value
    headers: dict[str, str]
    body: bytes
    json: object  # the parsed body, None when it is not JSON


@dataclass
class Answer:
    status: int = 200
    json: object = field(default_factory=lambda: dict(OK))
    delay: float = 0.0


class WebhookServer:
    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self._answers: deque[Answer] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def url(self, path: str = "/hook") -> str:
        """An address on this server (``path`` may carry a query)."""
        return f"http://127.0.0.1:{self.port}{path}"

    def answer(
        self, *, status: int = 200, json: object = None, delay: float = 0.0, times: int = 1
    ) -> None:
        """Answer the next ``times`` requests (after those already queued) with ``status``
        and ``json`` (the OK answer when None, an empty body when ``""``),
        after sleeping ``delay`` seconds. Later requests get the OK answer."""
        with self._lock:
            for _ in range(times):
                self._answers.append(Answer(status, dict(OK) if json is None else json, delay))

    def _next_answer(self) -> Answer:
        with self._lock:
            return self._answers.popleft() if self._answers else Answer()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                try:
                    parsed = json.loads(body.decode("utf-8"))
                except ValueError:
                    parsed = None
                parts = urlsplit(self.path)
                with server._lock:
                    server.requests.append(
                        Recorded(
                            method=self.command,
                            path=parts.path,
                            query={k: v[-1] for k, v in parse_qs(parts.query).items()},
                            headers=dict(self.headers.items()),
                            body=body,
                            json=parsed,
                        )
                    )
                answer = server._next_answer()
                if answer.delay and server._stopping.wait(answer.delay):
                    return  # stopping: drop the connection without an answer
                data = b"" if answer.json == "" else json.dumps(answer.json).encode("utf-8")
                try:
                    self.send_response(answer.status)
                    self.send_header("Content-Type", "application/json; charset=utf-8")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the client gave up (its timeout): nothing to answer

            do_GET = do_POST

            def log_message(self, format, *args) -> None:
                pass  # keep the test output quiet

        return Handler

    def start(self) -> WebhookServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


@contextmanager
def running_webhook_server() -> Iterator[WebhookServer]:
    server = WebhookServer().start()
    try:
        yield server
    finally:
        server.stop()


def closed_port_url(path: str = "/hook") -> str:
    """An address on 127.0.0.1 where nothing listens (connection refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"
