"""A real webhook receiver for tests with worker processes: an HTTP server on 127.0.0.1 in a background thread that
answers with a scripted status (or holds the request unanswered) and keeps every request."""
from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from agents.sinks.webhook import IDEMPOTENCY_HEADER

TOKEN = "token=abc"
HOLD = 0  # a scripted "status": keep the request unanswered until the receiver stops (the sender is stuck in the POST)


@dataclass(frozen=True)
class Request:
    """One POST the receiver got, and the status it answered."""

    headers: dict[str, str]
    body: bytes
    status: int

    @property
    def key(self) -> str:
        return self.headers[IDEMPOTENCY_HEADER]


class Receiver(ThreadingHTTPServer):
    """A webhook receiver: answers request n with `statuses[n]` (the last entry repeats; `HOLD` answers nothing until
    the receiver stops) and keeps every request, a held one as soon as it arrived."""

    def __init__(self, statuses: list[int]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)  # port 0: the OS picks a free one
        self.statuses = statuses
        self.requests: list[Request] = []
        self.lock = threading.Lock()
        self.released = threading.Event()  # set when the receiver stops: held requests end unanswered

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        assert isinstance(host, str)
        return f"http://{host}:{port}/hook?{TOKEN}"

    def answer(self, headers: dict[str, str], body: bytes) -> int:
        with self.lock:
            status = self.statuses[min(len(self.requests), len(self.statuses) - 1)]
            self.requests.append(Request(headers, body, status))
        return status

    def snapshot(self) -> list[Request]:
        with self.lock:
            return list(self.requests)


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        status = self.server.answer(dict(self.headers.items()), body)
        if status == HOLD:
            self.server.released.wait()
            self.close_connection = True
            return
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def webhook_receiver() -> Iterator[Callable[[list[int]], Receiver]]:
    """Start receivers in background threads; all are shut down after the test."""
    started: list[Receiver] = []

    def start(statuses: list[int]) -> Receiver:
        server = Receiver(statuses)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.released.set()
        server.shutdown()
        server.server_close()


