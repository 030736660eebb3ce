"""Real blog servers in processes of their own, and a small HTTP client that keeps cookies.

Tests that need more than one process (caches in two servers, sessions across servers, crash
safety) start gunicorn here; each server is its own process group, so one `killpg` ends the
master and its workers together. Tests that race requests against one server use `Browser`
with the in-process `LiveServer` of tests/browser_fixtures.py just the same.
"""

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

REPO = Path(__file__).resolve().parent.parent
# The job worker's command, installed by `pip install -e .` beside this Python (pyproject.toml).
BLOG_WORKER = Path(sys.executable).with_name("blog-worker")


def deployed_tuning(unit: str, tree: Path = REPO) -> dict[str, str]:
    """The interpreter's and allocator's settings (PYTHONOPTIMIZE, MALLOC_*) that deploy/UNIT
    gives the service, so the servers that tests and benchmarks start run as deployed."""
    path = tree / "deploy" / unit
    settings = {}
    lines = path.read_text().splitlines() if path.exists() else []
    for line in (line for line in lines if line.startswith("Environment=")):
        for pair in line.removeprefix("Environment=").split():
            name, _, value = pair.partition("=")
            if name.startswith(("PYTHON", "MALLOC_")) and name != "PYTHONUNBUFFERED":
                settings[name] = value
    return settings


FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"


def prepare_instance(folder: Path, accounts: list[tuple[str, str, str]], password: str) -> None:
    """A SQLite instance in `folder`, migrated with Alembic (as `serve` would), with accounts
    given as (email, name, role), all with `password`."""
    from flask_migrate import upgrade

    from blog import create_app
    from blog.accounts import create_user
    from blog.extensions import db
    from blog.models import Role

    app = create_app(
        {
            "INSTANCE_PATH": str(folder),
            "DATABASE_URL": f"sqlite:///{folder / 'blog.sqlite3'}",
            "PASSWORD_HASH_METHOD": "scrypt:1024:8:1",
        }
    )
    with app.app_context():
        upgrade()
        for email, name, role in accounts:
            create_user(email, name, Role(role), password)
        db.session.commit()
        db.session.remove()
        db.engine.dispose()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """The blog under gunicorn (gthread), serving the instance folder `folder`.

    Two servers given the same `database_url` (or the same folder) share one site, as two
    machines behind a load balancer do; they share the secret key as such machines must.
    """

    def __init__(
        self,
        folder: Path,
        database_url: str | None = None,
        *,
        workers: int = 1,
        threads: int = 4,
        log_name: str = "server.log",
        settings: dict | None = None,
    ):
        self.port = free_port()
        folder.mkdir(parents=True, exist_ok=True)
        env = dict(
            os.environ,
            BLOG_INSTANCE_PATH=str(folder),
            BLOG_SECRET_KEY="test-secret-key",
            BLOG_SITE_URL=f"http://127.0.0.1:{self.port}",
            BLOG_PASSWORD_HASH_METHOD="scrypt:1024:8:1",
            PYTHONPATH=str(REPO),
        )
        env.pop("BLOG_DATABASE_URL", None)
        if database_url:
            env["BLOG_DATABASE_URL"] = database_url
        env.update(blog_environment(settings or {}))
        env.update(deployed_tuning("blog.service"))
        command = [sys.executable, "-m", "gunicorn", "blog:create_app(cli=False)",
                   "-b", f"127.0.0.1:{self.port}", "-w", str(workers), "--threads", str(threads),
                   "-k", "gthread", "--no-control-socket"]  # fmt: skip
        self.log_path = folder / log_name
        self.log = self.log_path.open("wb")
        self.process = subprocess.Popen(  # its working directory: no gunicorn.conf.py is read
            command, cwd=folder, env=env, stdout=self.log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip

    def wait_until_up(self, seconds: float = 60) -> "Server":
        deadline = time.monotonic() + seconds  # importing the app takes a while when busy
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"the server exited at start:\n{self.log_text()}"
            try:
                if Browser(self.port, timeout=2).get("/healthz").status == 200:
                    return self
            except (OSError, http.client.HTTPException):
                time.sleep(0.1)
        raise AssertionError(f"the server did not start within {seconds:.0f} s")

    def kill(self) -> None:
        """SIGKILL to the whole process group: no clean-up of any kind."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        self.log.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")


def blog_environment(settings: dict) -> dict[str, str]:
    """Settings as the BLOG_* environment variables the app reads (numbers as digits)."""
    return {f"BLOG_{name}": str(value) for name, value in settings.items()}


class WorkerProcess:
    """`blog-worker`, as deploy/blog-worker.service starts it, in a process group of its own,
    on the site in `folder`."""

    def __init__(
        self,
        folder: Path,
        database_url: str,
        settings: dict,
        name: str = "worker",
        python_options: tuple[str, ...] = (),
    ):
        env = {key: value for key, value in os.environ.items() if not key.startswith("BLOG_")}
        env.update(
            BLOG_INSTANCE_PATH=str(folder),
            BLOG_DATABASE_URL=database_url,
            BLOG_SECRET_KEY="test-secret-key",
            PYTHONPATH=str(REPO),
            **blog_environment(settings),
            **deployed_tuning("blog-worker.service"),
        )
        self.log_path = folder / f"{name}.log"
        self.log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [*((sys.executable, *python_options) if python_options else ()), str(BLOG_WORKER),
             "--threads", "1"],
            cwd=folder, env=env, stdout=self.log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip

    @property
    def pid(self) -> int:
        return self.process.pid

    def kill(self) -> None:
        """SIGKILL: the worker gets no chance to finish or record anything."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        self.log.close()

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM, as systemd stops it: running jobs finish, then it exits."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()
        return self.process.returncode

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")


@dataclass
class Answer:
    status: int
    location: str
    body: str
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names


class Browser:
    """One visitor: its own cookies and the last CSRF token a page gave it.

    A new connection per request, unless `keep_alive`; `connect()` and the `connection`
    argument let a test open connections first and send at an instant of its choosing.
    """

    def __init__(
        self,
        port: int,
        cookies: dict[str, str] | None = None,
        *,
        keep_alive: bool = False,
        timeout: float = 60,
        user_agent: str = FIREFOX,
    ):
        self.port, self.timeout, self.user_agent = port, timeout, user_agent
        self.cookies = dict(cookies or {})
        self.csrf = ""
        self._kept = self.connect() if keep_alive else None

    def on(self, port: int) -> "Browser":
        """The same cookies, sent to another server (as a load balancer would, or a thief)."""
        other = Browser(port, self.cookies, timeout=self.timeout, user_agent=self.user_agent)
        other.csrf = self.csrf
        return other

    def connect(self) -> http.client.HTTPConnection:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
        connection.connect()
        return connection

    def request(self, method, path, form=None, payload=None, headers=None, connection=None):
        """Send one request; a form gets the last CSRF token unless it names one itself."""
        headers = {"User-Agent": self.user_agent, **(headers or {})}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urlencode({"csrf_token": self.csrf, **form})
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif payload is not None:
            body = json.dumps(payload)
            headers["Content-Type"] = headers["Accept"] = "application/json"
        connection = connection or self._kept or self.connect()
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            text = response.read().decode("utf-8", "replace")
        finally:
            if connection is not self._kept:
                connection.close()
        self._keep_cookies(response.getheaders())
        found = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', text)
        if found:
            self.csrf = found.group(1)
        answer_headers = {name.lower(): value for name, value in response.getheaders()}
        return Answer(response.status, response.getheader("Location", ""), text, answer_headers)

    def get(self, path: str, **headers) -> Answer:
        return self.request("GET", path, headers=headers)

    def _keep_cookies(self, headers) -> None:
        for name, value in headers:
            if name.lower() == "set-cookie":
                key, _, rest = value.partition("=")
                value = rest.split(";", 1)[0]
                if value:
                    self.cookies[key] = value
                else:  # an empty value is how the server deletes a cookie
                    self.cookies.pop(key, None)

    def sign_in(self, email: str, password: str, remember: bool = False) -> None:
        self.get("/login")
        form = {"email": email, "password": password, **({"remember": "y"} if remember else {})}
        answer = self.request("POST", "/login", form)
        assert answer.status == 302, f"sign-in answered {answer.status}"

    def close(self) -> None:
        if self._kept is not None:
            self._kept.close()


def field_value(html: str, name: str) -> str:
    """The value of the form field `name` in a page (hidden fields included)."""
    match = re.search(rf'name="{name}"[^>]*value="([^"]*)"', html) or re.search(
        rf'value="([^"]*)"[^>]*name="{name}"', html
    )
    assert match, f"no {name} in the page"
    return match.group(1)
