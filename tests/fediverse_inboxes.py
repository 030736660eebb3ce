"""Remote inboxes for delivery tests: a real HTTP server on 127.0.0.1 that records every POST
it is sent and answers what a test scripts (503 a few times, then 202)."""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class RecordingInboxes:
    """Any path is an inbox; `answers[path]` is a queue of statuses to give before 202."""

    def __init__(self):
        self.received: list[tuple[str, dict, dict, float]] = []  # path, activity, headers, time
        self.answers: dict[str, deque[int]] = {}
        self.lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with owner.lock:
                    queued = owner.answers.get(self.path)
                    status = queued.popleft() if queued else 202
                    owner.received.append(
                        (self.path, json.loads(body), dict(self.headers), time.monotonic())
                    )
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def posts(self, path: str | None = None) -> list[dict]:
        """Every activity POSTed (to `path`, if given), in the order they came."""
        with self.lock:
            return [activity for p, activity, _, _ in self.received if path in (None, p)]

    def __enter__(self) -> RecordingInboxes:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()
