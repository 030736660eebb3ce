"""Load test: many readers and a few writing authors against the real server on SQLite.

Run on demand, not part of pytest:

    .venv/bin/python bench/load_test.py --seconds 30

It builds a throwaway instance in a temporary folder (SQLite), migrates it with
`flask --app blog db upgrade`, creates an admin and five authors, seeds the demo content and
about 200 posts, then starts gunicorn exactly as in production
(`gunicorn "blog:create_app()" -w 2 --threads 4 -k gthread`, CSRF on) on a free port of
127.0.0.1. For `--seconds` it runs `--readers` reader threads (home, articles, categories,
search, feed) and `--writers` author threads, each signed in with its own session, writing new
drafts, editing (with the version the editor page shows), publishing and autosaving. Every
acknowledged save is recorded; after the server has stopped the database is opened directly
and each one must be there. Only the standard library is used on the client side.

The exit status is 1 if any 5xx was served, "database is locked" was seen, or an acknowledged
save is missing.
"""

import argparse
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

REPO = Path(__file__).resolve().parent.parent
PASSWORD = "load test password 1"
AUTHORS = 5
SEARCH_WORDS = ["harbour", "council", "market", "weather", "boats", "ferry", "lifeboat", "town"]
LOCKED = "database is locked"
TIMEOUT = 30  # seconds for one request; everything else is bounded by the run's deadline
WORDS = (
    "the boats came back at dawn heavier than they left harbour master counting crates quay "
    "gulls prices morning auction fell restaurant buyers city vans council wall repairs season "
    "lifeboat crew volunteers train twice a week ferry timetable storm warning weekend market"
).split()


# --- the instance ------------------------------------------------------------------------------


def run_flask(env: dict, *args: str) -> None:
    command = [sys.executable, "-m", "flask", "--app", "blog", *args]
    done = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True, timeout=300)
    if done.returncode:
        raise RuntimeError(f"flask {' '.join(args[:2])} failed: {done.stderr.strip()[-500:]}")


def paragraph(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words)).capitalize() + "."


def prepare_instance(folder: Path, posts: int) -> dict:
    """Migrate, create users, seed the demo site and more posts; return the server's env."""
    env = dict(os.environ, BLOG_INSTANCE_PATH=str(folder), PYTHONUNBUFFERED="1")
    env.pop("BLOG_DATABASE_URL", None)
    run_flask(env, "db", "upgrade")
    accounts = [("admin@example.com", "Admin", "admin")] + [
        (f"author{number}@example.com", f"Author {number}", "author") for number in range(AUTHORS)
    ]
    for email, name, role in accounts:
        account = ["users", "create", "--email", email, "--name", name, "--role", role]
        run_flask(env, *account, "--password", PASSWORD)
    run_flask(env, "demo", "--email", "admin@example.com")
    seeding = [sys.executable, __file__, "--seed-posts", str(posts)]
    subprocess.run(seeding, env=env, check=True, cwd=REPO, timeout=600)
    return env


def seed_posts(count: int) -> None:
    """Add `count` published posts by the admin (runs in a child process with the instance env)."""
    from blog import create_app
    from blog.extensions import db
    from blog.models import Category, User
    from blog.posts import Action, PostInput, save_post

    app = create_app()
    rng = random.Random(7)
    with app.app_context():
        admin = db.session.scalar(db.select(User).where(User.email == "admin@example.com"))
        categories = [category.id for category in db.session.scalars(db.select(Category))]
        for number in range(count):
            data = PostInput(
                title=f"Seeded story {number}: {paragraph(rng, 4)}",
                body_md="\n\n".join(paragraph(rng, 60) for _ in range(6)),
                category_id=rng.choice(categories),
                tags=", ".join(rng.sample(["news", "sea", "town", "people"], 2)),
            )
            save_post(None, data, admin, action=Action.PUBLISH)
            if number % 50 == 49:
                db.session.commit()
        db.session.commit()


def reader_paths(database: Path) -> list[str]:
    with sqlite3.connect(database) as connection:
        slugs = [
            row[0] for row in connection.execute("SELECT slug FROM post WHERE status = 'published'")
        ]
        categories = [row[0] for row in connection.execute("SELECT slug FROM category")]
    paths = ["/"] * 10 + ["/feed.xml"] * 5
    paths += [f"/{slug}/" for slug in slugs]
    paths += [f"/category/{slug}/" for slug in categories] * 5
    paths += [f"/search?q={word}" for word in SEARCH_WORDS] * 3
    return paths


# --- the server --------------------------------------------------------------------------------

# Explicit flags, and started outside the checkout so that a gunicorn.conf.py there is not read.
GUNICORN_FLAGS = [
    "-w",
    "2",
    "--threads",
    "4",
    "-k",
    "gthread",
    "--timeout",
    "60",
    "--graceful-timeout",
    "10",
    "--no-control-socket",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(env: dict, port: int, log: Path) -> subprocess.Popen:
    env = dict(env, BLOG_SITE_URL=f"http://127.0.0.1:{port}")
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "blog:create_app()",
        "-b",
        f"127.0.0.1:{port}",
        *GUNICORN_FLAGS,
    ]
    with open(log, "wb") as out:
        server = subprocess.Popen(
            command,
            env=env,
            cwd=log.parent,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {server.returncode}; see {log}")
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        try:
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                return server
        except (OSError, http.client.HTTPException):
            time.sleep(0.2)
        finally:
            connection.close()
    stop_server(server)
    raise RuntimeError("gunicorn did not answer /healthz within 30 s")


def stop_server(server: subprocess.Popen) -> None:
    if server.poll() is not None:
        return
    server.send_signal(signal.SIGTERM)  # the arbiter stops its workers gracefully
    try:
        server.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=5)


# --- a small HTTP client -----------------------------------------------------------------------


@dataclass
class Stats:
    statuses: Counter = field(default_factory=Counter)
    latency: dict = field(default_factory=lambda: {"read": [], "write": [], "editor": []})
    locked_in_responses: int = 0
    connection_errors: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, status: int, seconds: float, body: bytes, kind: str | None) -> None:
        """Count a response; its latency goes under `kind` (read, write, editor) if given."""
        with self.lock:
            self.statuses[status] += 1
            if kind:
                self.latency[kind].append(seconds)
            if LOCKED.encode() in body:
                self.locked_in_responses += 1


class Client:
    """One keep-alive connection with a cookie jar (enough for Flask's session cookie)."""

    def __init__(self, port: int, stats: Stats):
        self.port, self.stats = port, stats
        self.cookies: dict[str, str] = {}
        self.connection = None

    def request(self, method: str, path: str, body=None, headers=None, kind="read"):
        headers = dict(headers or {})
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        for attempt in range(2):
            if self.connection is None:
                self.connection = http.client.HTTPConnection(
                    "127.0.0.1", self.port, timeout=TIMEOUT
                )
            started = time.perf_counter()
            try:
                self.connection.request(method, path, body=body, headers=headers)
                response = self.connection.getresponse()
                data = response.read()
            except (OSError, http.client.HTTPException):
                self.close()
                with self.stats.lock:
                    self.stats.connection_errors += 1
                if attempt or method != "GET":  # a POST is not retried: it may have happened
                    return None, {}, b""
                continue
            seconds = time.perf_counter() - started
            self.stats.record(response.status, seconds, data, kind)
            for name, value in response.getheaders():
                if name.lower() == "set-cookie":
                    cookie_name, _, rest = value.partition("=")
                    self.cookies[cookie_name.strip()] = rest.split(";", 1)[0]
            if response.getheader("Connection", "").lower() == "close":
                self.close()
            return response.status, dict(response.getheaders()), data
        return None, {}, b""

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None


def form_value(html: bytes, name: str) -> str | None:
    match = re.search(rf'name="{name}"[^>]*value="([^"]*)"'.encode(), html)
    return match.group(1).decode() if match else None


# --- readers and writers -----------------------------------------------------------------------


def reader(port: int, paths: list[str], deadline: float, stats: Stats, seed: int) -> None:
    rng = random.Random(seed)
    client = Client(port, stats)
    try:
        while time.monotonic() < deadline:
            client.request("GET", rng.choice(paths))
    finally:
        client.close()


@dataclass
class Ack:
    post_id: int
    version: int  # the post's version after the save; 0 for an autosave
    body: str
    author: str
    kind: str  # "save" or "autosave"
    sequence: int  # order of acknowledgement, per post


class Writer:
    """An author: sign in, then write drafts, edit with the right version, publish, autosave."""

    def __init__(self, number: int, port: int, stats: Stats, acks: list, failures: list):
        self.email = f"author{number}@example.com"
        self.client = Client(port, stats)
        self.rng = random.Random(1000 + number)
        self.acks, self.failures = acks, failures
        self.posts: list[int] = []
        self.counter = 0

    def sign_in(self) -> None:
        _, _, page = self.client.request("GET", "/login", kind=None)
        token = form_value(page, "csrf_token")
        form = {"csrf_token": token, "email": self.email, "password": PASSWORD}
        status, headers, _ = self.post_form("/login", form)
        if status != 302:
            raise RuntimeError(f"{self.email} could not sign in: {status}")

    def post_form(self, path: str, form: dict):
        body = urlencode(form)
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        kind = None if path == "/login" else "write"  # sign-in is scrypt, not a save
        return self.client.request("POST", path, body=body, headers=headers, kind=kind)

    def run(self, deadline: float) -> None:
        try:
            self.sign_in()
            while time.monotonic() < deadline:
                choice = self.rng.random()
                if not self.posts or choice < 0.35:
                    self.save(None)
                elif choice < 0.85:
                    self.save(self.rng.choice(self.posts))
                else:
                    self.autosave(self.rng.choice(self.posts))
        except Exception as error:  # noqa: BLE001 - reported, the run goes on
            self.failures.append(f"{self.email}: {error!r}")
        finally:
            self.client.close()

    def text(self) -> tuple[str, str]:
        self.counter += 1
        marker = f"{self.email} save {self.counter}"
        body = f"{marker}\n\n" + "\n\n".join(paragraph(self.rng, 50) for _ in range(4))
        return f"Load {self.email.split('@')[0]} {self.counter}", body

    def save(self, post_id: int | None) -> None:
        path = "/admin/posts/new" if post_id is None else f"/admin/posts/{post_id}/edit"
        status, _, page = self.client.request("GET", path, kind="editor")
        if status != 200:
            self.failures.append(f"{self.email}: GET {path} answered {status}")
            return
        version = form_value(page, "version") if post_id is not None else None
        title, body = self.text()
        action = self.rng.choice(["save", "save", "publish"])
        form = {
            "csrf_token": form_value(page, "csrf_token"),
            "title": title,
            "body": body,
            "tags": "load, " + self.rng.choice(["sea", "town", "people"]),
            "kind": "post",
            "action": action,
        }
        if version:
            form["version"] = version
        status, headers, _ = self.post_form(path, form)
        location = headers.get("Location", "")
        match = re.search(r"/admin/posts/(\d+)/edit", location)
        if status == 302 and match:
            saved_id = int(match.group(1))
            new_version = int(version) + 1 if version else 1
            self.acks.append(Ack(saved_id, new_version, body, self.email, "save", len(self.acks)))
            if post_id is None:
                self.posts.append(saved_id)
        elif status is not None:
            self.failures.append(f"{self.email}: POST {path} answered {status}")

    def autosave(self, post_id: int) -> None:
        page = self.editor_page(post_id)
        if page is None:
            return
        token, version = form_value(page, "csrf_token"), form_value(page, "version")
        autosave_id = re.search(rb'data-autosave-id="(\d+)"', page)
        title, body = self.text()
        payload = json.dumps({"title": title, "body": body, "excerpt": "", "version": int(version),
                              "autosave_id": int(autosave_id.group(1))})  # fmt: skip
        headers = {"Content-Type": "application/json", "X-CSRFToken": token}
        path = f"/admin/posts/{post_id}/autosave"
        status, _, data = self.client.request("POST", path, payload, headers, kind="write")
        if status == 200:
            answer = json.loads(data)
            self.acks.append(Ack(answer["id"], 0, body, self.email, "autosave", len(self.acks)))
        elif status is not None:
            self.failures.append(f"{self.email}: autosave answered {status}")

    def editor_page(self, post_id: int) -> bytes | None:
        """The editor: its CSRF token, the post's version and the autosave id it started from."""
        path = f"/admin/posts/{post_id}/edit"
        status, _, page = self.client.request("GET", path, kind="editor")
        return page if status == 200 else None


# --- checking what was acknowledged ------------------------------------------------------------


def check_acknowledged(database: Path, acks: list[Ack]) -> tuple[int, list[str]]:
    """Every acknowledged save must be in the database: the post at that version or later and a
    revision with exactly that text; an autosave must be there unless a later save replaced it."""
    found, missing = 0, []
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        last_save = {}
        for ack in acks:
            if ack.kind == "save":
                last_save[ack.post_id] = ack.sequence
        for ack in acks:
            post = connection.execute(
                "SELECT version FROM post WHERE id = ?", (ack.post_id,)
            ).fetchone()
            if ack.kind == "save":
                revision = connection.execute(
                    "SELECT 1 FROM revision WHERE post_id = ? AND post_version = ? "
                    "AND kind = 'save' AND body_md = ?",
                    (ack.post_id, ack.version, ack.body),
                ).fetchone()
                ok = post is not None and post[0] >= ack.version and revision is not None
            else:
                superseded = last_save.get(ack.post_id, -1) > ack.sequence
                later_autosave = any(
                    other.kind == "autosave"
                    and other.post_id == ack.post_id
                    and other.author == ack.author
                    and other.sequence > ack.sequence
                    for other in acks
                )
                revision = connection.execute(
                    "SELECT 1 FROM revision WHERE post_id = ? AND kind = 'autosave' "
                    "AND body_md = ?",
                    (ack.post_id, ack.body),
                ).fetchone()
                ok = post is not None and (revision is not None or superseded or later_autosave)
            if ok:
                found += 1
            else:
                missing.append(f"{ack.kind} of post {ack.post_id} v{ack.version} by {ack.author}")
        integrity = connection.execute("PRAGMA integrity_check").fetchone()[0]
        if integrity != "ok":
            missing.append(f"integrity_check: {integrity}")
    finally:
        connection.close()
    return found, missing


def percentile(values: list[float], fraction: float) -> str:
    """The value below which `fraction` of the latencies fall, in whole milliseconds."""
    if not values:
        return "-"
    ordered = sorted(values)
    return f"{ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000:.0f}"


# --- main --------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--readers", type=int, default=200)
    parser.add_argument("--writers", type=int, default=AUTHORS, choices=range(1, AUTHORS + 1))
    parser.add_argument("--posts", type=int, default=193, help="seeded besides the 7 demo ones")
    parser.add_argument("--keep", action="store_true", help="keep the temporary instance")
    parser.add_argument("--seed-posts", type=int, help=argparse.SUPPRESS)  # the child's job
    args = parser.parse_args()
    if args.seed_posts is not None:
        seed_posts(args.seed_posts)
        return 0

    folder = Path(tempfile.mkdtemp(prefix="blog-load-"))
    log = folder / "server.log"
    server = None
    try:
        print(f"Preparing an instance in {folder} ({args.posts + 7} posts) ...", flush=True)
        env = prepare_instance(folder, args.posts)
        database = folder / "blog.sqlite3"
        paths = reader_paths(database)
        port = free_port()
        load_before = f"{os.getloadavg()[0]:.1f}"
        server = start_server(env, port, log)
        print(
            f"gunicorn {' '.join(GUNICORN_FLAGS)} on 127.0.0.1:{port}; "
            f"{args.readers} readers, {args.writers} writers, {args.seconds:g} s",
            flush=True,
        )

        stats, acks, failures = Stats(), [], []
        started = time.monotonic()
        deadline = started + args.seconds
        threads = [
            threading.Thread(target=reader, args=(port, paths, deadline, stats, n), daemon=True)
            for n in range(args.readers)
        ]
        writers = [Writer(n, port, stats, acks, failures) for n in range(args.writers)]
        threads += [threading.Thread(target=w.run, args=(deadline,), daemon=True) for w in writers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()) + TIMEOUT + 5)
        elapsed = time.monotonic() - started
        stragglers = sum(thread.is_alive() for thread in threads)
    except BaseException:
        if server is not None:
            stop_server(server)
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
        raise
    finally:
        if server is not None:
            stop_server(server)  # returns at once if already stopped

    server_log = log.read_text(errors="replace") if log.exists() else ""
    found, missing = check_acknowledged(database, acks)
    total = sum(stats.statuses.values())
    errors_5xx = sum(count for status, count in stats.statuses.items() if status >= 500)
    locked_in_log = server_log.count(LOCKED)
    saves = sum(ack.kind == "save" for ack in acks)

    histogram = ", ".join(f"{code}: {n}" for code, n in sorted(stats.statuses.items()))
    report = [
        (
            "machine",
            f"{os.cpu_count()} CPUs, load average {load_before} before, "
            f"{os.getloadavg()[0]:.1f} after",
        ),
        ("server", f"gunicorn {' '.join(GUNICORN_FLAGS)}"),
        ("clients", f"{args.readers} readers, {args.writers} writers"),
        ("requests served", total),
        ("duration", f"{elapsed:.1f} s"),
        ("req/s", f"{total / elapsed:.1f}"),
        ("status codes", histogram),
        ("5xx", errors_5xx),
        ("connection errors", stats.connection_errors),
        (f"'{LOCKED}'", f"{stats.locked_in_responses} in responses, {locked_in_log} in the log"),
        ("writes acknowledged", f"{len(acks)} ({saves} saves, {len(acks) - saves} autosaves)"),
        ("writes found", found),
    ]
    for kind, label in [("read", "readers"), ("write", "writer saves"), ("editor", "editor pages")]:
        values = stats.latency[kind]
        report.append(
            (
                f"{label} latency ms",
                f"p50 {percentile(values, 0.5)}  p99 {percentile(values, 0.99)}  (n={len(values)})",
            )
        )
    print()
    for label, value in report:
        print(f"{label:<28}{value}")
    for line in (failures + missing)[:20]:
        print(f"  problem: {line}")
    if stragglers:
        print(f"  problem: {stragglers} client threads still running at the end")
    if args.keep:
        print(f"instance kept in {folder}")
    else:
        shutil.rmtree(folder, ignore_errors=True)
    bad = errors_5xx or stats.locked_in_responses or locked_in_log or missing or found != len(acks)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
