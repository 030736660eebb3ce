"""Real blog servers in their own processes, and a small HTTP client that keeps cookies.

Tests that need more than one process (caches in two workers, sessions across servers,
crash safety) start gunicorn here; each server is its own process group, so one `killpg`
ends the master and its workers together.
"""

import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(
    folder: Path, log, *, database_url: str | None = None, workers: int = 2, threads: int = 4
) -> tuple[subprocess.Popen, int]:
    """gunicorn on a free port, serving the instance in `folder`; returns (process, port).

    The folder is the working directory, so no gunicorn.conf.py is read.
    """
    port = free_port()
    env = dict(os.environ, BLOG_INSTANCE_PATH=str(folder), BLOG_SITE_URL=f"http://127.0.0.1:{port}")
    env.pop("BLOG_DATABASE_URL", None)
    if database_url:
        env["BLOG_DATABASE_URL"] = database_url
    command = [sys.executable, "-m", "gunicorn", "blog:create_app()", "-b", f"127.0.0.1:{port}",
               "-w", str(workers), "--threads", str(threads), "-k", "gthread",
               "--no-control-socket"]  # fmt: skip
    server = subprocess.Popen(
        command, cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    wait_until_up(server, port)
    return server, port


def wait_until_up(server: subprocess.Popen, port: int, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds  # a busy machine: importing the app takes a while
    while time.monotonic() < deadline:
        assert server.poll() is None, "the server exited at start"
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        try:
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                return
        except (OSError, http.client.HTTPException):
            time.sleep(0.1)
        finally:
            connection.close()
    raise AssertionError(f"the server did not start within {seconds:.0f} s")


def kill(server: subprocess.Popen) -> None:
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=10)


class Browser:
    """One visitor on one keep-alive connection, with its own cookies."""

    def __init__(self, port: int, timeout: float = 30):
        self.port = port
        self.cookies: dict[str, str] = {}
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)

    def request(self, method: str, path: str, form: dict | None = None, headers: dict = None):
        """(status, headers as a dict of lower-case names, body text)."""
        headers = dict(headers or {})
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        self.connection.request(method, path, body=body, headers=headers)
        response = self.connection.getresponse()
        data = response.read()
        for name, value in response.getheaders():
            if name.lower() == "set-cookie":
                key, _, rest = value.partition("=")
                self.cookies[key] = rest.split(";", 1)[0]
        answer = {name.lower(): value for name, value in response.getheaders()}
        return response.status, answer, data.decode()

    def get(self, path: str, **headers):
        return self.request("GET", path, headers=headers)

    def sign_in(self, email: str, password: str) -> None:
        _, _, page = self.get("/login")
        form = {"csrf_token": field(page, "csrf_token"), "email": email, "password": password}
        status, _, _ = self.request("POST", "/login", form)
        assert status == 302, f"sign-in answered {status}"

    def close(self) -> None:
        self.connection.close()


def field(html: str, name: str) -> str:
    """The value of the form field `name` in a page (hidden fields included)."""
    match = re.search(rf'name="{name}"[^>]*value="([^"]*)"', html) or re.search(
        rf'value="([^"]*)"[^>]*name="{name}"', html
    )
    assert match, f"no {name} in the page"
    return match.group(1)
