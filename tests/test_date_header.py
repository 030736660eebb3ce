"""Every response carries exactly one `Date`: the time the server sent it.

Both servers add a `Date` of their own (gunicorn always, werkzeug's through `http.server`), so
a `Date` from the app itself would go out as a second header; on a cached page it would be the
time the page was rendered. The checks read the raw header lines from a socket, since most
clients merge repeated headers. gunicorn runs as a real process with the repository's
`gunicorn.conf.py`; werkzeug's server runs in a thread. The pages come through each way the
page cache has: a miss, a hit in the WSGI fast path (no cookie), a hit answered by Flask (a
cookie that is not a session sends the request there), and a 304.

SQLite only: the header comes from the HTTP layer, whichever database holds the pages.
"""

import email.utils
import http.client
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from blog import create_app
from blog.extensions import db
from tests.live_servers import free_port, prepare_instance

REPO = Path(__file__).resolve().parent.parent
CACHE_AGE = 1.5  # seconds between rendering a page and asking for it again


def raw_get(port: int, path: str, headers: dict | None = None) -> tuple[int, list[tuple]]:
    """Status and every header line as sent, duplicates kept, read from a plain socket."""
    lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        received = b""
        while b"\r\n\r\n" not in received:
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
    head = received.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    status = int(head[0].split()[1])
    fields = [tuple(part.strip() for part in line.split(":", 1)) for line in head[1:]]
    return status, fields


def values(fields: list[tuple], name: str) -> list[str]:
    return [value for key, value in fields if key.lower() == name.lower()]


def assert_one_current_date(fields: list[tuple], asked_at: float) -> None:
    dates = values(fields, "Date")
    assert len(dates) == 1, f"Date headers: {dates}"
    sent = email.utils.parsedate_to_datetime(dates[0])
    # HTTP dates have whole seconds; the page was rendered CACHE_AGE seconds before.
    assert sent.timestamp() >= int(asked_at), f"Date {dates[0]} is older than the request"


def cached_get(port: int, path: str, headers: dict | None = None) -> tuple[int, list[tuple]]:
    """A request answered from the cache; a worker that has not stored the page yet answers
    MISS, so ask again (gunicorn has two workers, each with its own cache)."""
    for _ in range(20):
        asked = time.time()
        status, fields = raw_get(port, path, headers)
        assert_one_current_date(fields, asked)
        if values(fields, "X-Cache") == ["HIT"]:
            return status, fields
    raise AssertionError(f"{path} was never answered from the cache")


def check_every_path(port: int) -> None:
    for _ in range(10):  # rendered now and stored, in every worker
        asked = time.time()
        status, fields = raw_get(port, "/")
        assert status == 200
        assert_one_current_date(fields, asked)
    etag = values(fields, "ETag")[0]
    time.sleep(CACHE_AGE)

    status, _ = cached_get(port, "/")  # no cookie: the WSGI fast path
    assert status == 200
    status, _ = cached_get(port, "/", {"Cookie": "session=not-a-session"})  # through Flask
    assert status == 200
    for cookie in ({}, {"Cookie": "session=not-a-session"}):
        asked = time.time()
        status, fields = raw_get(port, "/", {"If-None-Match": etag, **cookie})
        assert status == 304
        assert_one_current_date(fields, asked)

    asked = time.time()
    status, fields = raw_get(port, "/login")  # never cached
    assert status == 200
    assert_one_current_date(fields, asked)


@pytest.fixture
def instance(tmp_path):
    folder = tmp_path / "instance"
    folder.mkdir()
    prepare_instance(folder, [("admin@example.com", "Ada Admin", "admin")], "date test password")
    return folder


def test_gunicorn_with_the_repository_configuration_sends_one_current_date(instance):
    port = free_port()
    env = dict(
        os.environ,
        BLOG_INSTANCE_PATH=str(instance),
        BLOG_BIND=f"127.0.0.1:{port}",
        BLOG_SITE_URL=f"http://127.0.0.1:{port}",
    )
    env.pop("BLOG_DATABASE_URL", None)
    command = [sys.executable, "-m", "gunicorn", "-c", str(REPO / "gunicorn.conf.py")]
    with open(instance / "server.log", "wb") as log:
        server = subprocess.Popen(
            command, cwd=instance, env=env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        _wait_for(server, port)
        check_every_path(port)
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait(timeout=5)


def test_werkzeug_server_sends_one_current_date(instance):
    app = create_app(
        {
            "INSTANCE_PATH": str(instance),
            "DATABASE_URL": f"sqlite:///{instance / 'blog.sqlite3'}",
            "SITE_URL": "http://127.0.0.1",
        },
        cli=False,
    )
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        check_every_path(server.server_port)
    finally:
        server.shutdown()
        thread.join(timeout=10)
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def _wait_for(server: subprocess.Popen, port: int) -> None:
    deadline = time.monotonic() + 60  # a busy machine: importing the app takes a while
    while time.monotonic() < deadline:
        assert server.poll() is None, "gunicorn exited at start"
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        try:
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                return
        except (OSError, http.client.HTTPException):
            time.sleep(0.1)
        finally:
            connection.close()
    raise AssertionError("gunicorn did not answer within 60 s")
