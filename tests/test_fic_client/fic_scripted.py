"""Helpers for the FiC client's tests: a scripted FiC on 127.0.0.1 and fast client settings.

The scripted server is a real HTTP server whose next answers a test queues (status, headers,
body, or a misbehaviour: answer late, drop the connection). It exists for what the sandbox
cannot be asked precisely (exact headers, FiC's error codes, OAuth token answers); behaviour
that the sandbox's fault injection covers is tested against the sandbox.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import attrs

from fic_plugin.fic.ratelimit import RateLimits
from fic_plugin.fic.transport import Backoff, Timeouts

TOKEN = "a/scripted-access-token-93d1f0c2"
FAST_BACKOFF = Backoff(attempts=4, initial=0.01, max=0.05, jitter=0.01)
FAST_TIMEOUTS = Timeouts(connect=1.0, read=0.5)
RELAXED_LIMITS = RateLimits(hourly=100_000, short_term=100_000, max_wait=10.0)


def openapi_dir() -> Path | None:
    """The shared FiC spec folder, if this machine has it (tests skip cleanly otherwise)."""
    env = os.environ.get("FIC_OPENAPI_DIR")
    path = Path(env) if env else Path(__file__).resolve().parents[2] / ".." / "shared" / "fic-openapi"
    return path if path.is_dir() else None


@attrs.define
class Answer:
    status: int = 200
    body: Any = None  # dict/list -> JSON; str/bytes -> as is
    headers: dict[str, str] = attrs.field(factory=dict)
    delay: float = 0.0  # answer this late (to provoke read timeouts)
    drop: bool = False  # read the request, then close the socket without answering


@attrs.define
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class ScriptedFic(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.answers: deque[Answer] = deque()
        self.routes: dict[tuple[str, str], Answer] = {}
        self.seen: list[Seen] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def queue(self, *answers: Answer) -> None:
        with self.lock:
            self.answers.extend(answers)

    def route(self, method: str, path: str, answer: Answer) -> None:
        """A standing answer for one endpoint (used when the queue is empty)."""
        self.routes[(method, path)] = answer

    def reset(self) -> None:
        with self.lock:
            self.answers.clear()
            self.routes.clear()
            self.seen.clear()

    def next_answer(self, method: str, path: str) -> Answer:
        with self.lock:
            if self.answers:
                return self.answers.popleft()
        return self.routes.get((method, path), Answer(599, {"error": {"message": "nothing scripted"}}))


class _Handler(BaseHTTPRequestHandler):
    server: ScriptedFic
    protocol_version = "HTTP/1.1"

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        with self.server.lock:
            self.server.seen.append(Seen(self.command, parts.path, parse_qs(parts.query),
                                         dict(self.headers.items()), body))
        answer = self.server.next_answer(self.command, parts.path)
        if answer.delay:
            time.sleep(answer.delay)
        if answer.drop:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        if isinstance(answer.body, (dict, list)):
            payload = json.dumps(answer.body).encode()
            content_type = "application/json"
        elif isinstance(answer.body, str):
            payload, content_type = answer.body.encode(), "text/html; charset=utf-8"
        else:
            payload, content_type = answer.body or b"", "application/json"
        self.send_response(answer.status)
        headers = {"Content-Type": content_type, **answer.headers}
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = _handle

    def log_message(self, format: str, *args: Any) -> None:
        return


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
