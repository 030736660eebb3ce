"""Load test: readers alone, then readers while authors save drafts, in one run, on SQLite.

Run on demand, never from pytest:

    .venv/bin/python bench/load_test.py                      # 2 × 60 s, 50 readers, 5 writers
    .venv/bin/python bench/load_test.py --seconds 10 --slices 2   # a short smoke run

It builds a throwaway instance in a temporary folder (SQLite, migrated with
`flask --app blog db upgrade`, an admin and five authors, the demo content and about 200
posts), then starts gunicorn as production does: `gunicorn -c gunicorn.conf.py` from the
repository, bound to a free port of 127.0.0.1 (`BLOG_BIND`), CSRF on.

1. Readers alone: `wrk` keeps `--readers` connections busy for `--seconds` with reader pages
   (home, articles, categories, searches, the feed), each connection sending its next request
   when the previous one is answered.
2. Readers and writers: the same, while `--writers` signed-in authors each save a draft through
   the real editor every `--pause-ms` or so: GET the edit page, take every field of its form
   (hidden ones included: CSRF token, version, whatever is added later), change the title and
   text, POST it back. A 302 is an acknowledged save; a 409 is a refused one and must say so.
   Two of the writers share one draft besides their own, so conflicts do happen.

The two phases alternate in `--slices` slices (6 by default: 10 s of readers alone, 10 s
with writers, and again), so that the other work of a shared machine weighs on both alike;
each phase's figures add its slices up.

Then the server is stopped and the database opened directly: every acknowledged text must be
in the post's revisions, and each post's current text must be its last acknowledged one.

Readers use `wrk` (Debian's package) rather than Python threads: it costs the server's two
cores far less, and counts honestly what we care about: a connection the server closed or
reset before the response was complete is a read (or write) error, never retried or hidden.
Those are reported as dropped connections, apart from error statuses and timeouts.

The exit status is 1 on any 5xx or other error status, timeout, dropped connection or lost
write, or a 409 that does not say why.
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
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlencode

REPO = Path(__file__).resolve().parent.parent
PASSWORD = "load test password 1"
AUTHORS = 5
SEARCH_WORDS = ["harbour", "council", "market", "weather", "boats", "ferry", "lifeboat", "town"]
LOCKED = "database is locked"
TIMEOUT = 30  # seconds for one request, for wrk and the writers alike
# wrk opens its connections at once, and a gunicorn worker that wakes first may take most of
# them for the whole slice, leaving the other worker (and core) idle: such a slice measures the
# luck of the accept, not the blog, so it is made again (as bench/bench.py does).
SKEW_LIMIT = 0.7  # the busiest worker's share of the workers' CPU time
SKEW_ATTEMPTS = 4
CONFLICT_ALERT = 'role="alert"'  # a 409's page says why in an alert (the wording may change)
WORDS = (
    "the boats came back at dawn heavier than they left harbour master counting crates quay "
    "gulls prices morning auction fell restaurant buyers city vans council wall repairs season "
    "lifeboat crew volunteers train twice a week ferry timetable storm warning weekend market"
).split()
SERVER_LOG_MARKERS = {
    "worker timeouts": "WORKER TIMEOUT",
    "workers booted": "Booting worker",
    "workers exited": "Worker exiting",
    "tracebacks": "Traceback",
    "'database is locked'": LOCKED,
}


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
        # the first two are editors: they share a draft, so their saves can conflict
        (f"author{number}@example.com", f"Author {number}", "editor" if number < 2 else "author")
        for number in range(AUTHORS)
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


def reader_paths(database: Path, articles: int) -> list[str]:
    """Reader addresses, repeated by popularity: the home page, the feed, the newest articles,
    the categories and a few searches."""
    with sqlite3.connect(database) as connection:
        slugs = [
            row[0]
            for row in connection.execute(
                "SELECT slug FROM post WHERE status = 'published' "
                "ORDER BY published_at DESC LIMIT ?",
                (articles,),
            )
        ]
        categories = [row[0] for row in connection.execute("SELECT slug FROM category")]
    paths = ["/"] * 10 + ["/feed.xml"] * 5
    paths += [f"/{slug}/" for slug in slugs]
    paths += [f"/category/{slug}/" for slug in categories] * 5
    paths += [f"/search?q={word}" for word in SEARCH_WORDS] * 3
    return paths


# --- the server --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(env: dict, port: int, log: Path, log_level: str | None) -> subprocess.Popen:
    """gunicorn with the repository's gunicorn.conf.py, as production runs it."""
    env = dict(env, BLOG_BIND=f"127.0.0.1:{port}", BLOG_SITE_URL=f"http://127.0.0.1:{port}")
    if log_level:
        env["BLOG_LOG_LEVEL"] = log_level.upper()  # the app reads it too, in capitals
    command = [sys.executable, "-m", "gunicorn", "-c", str(REPO / "gunicorn.conf.py")]
    with open(log, "wb") as out:
        server = subprocess.Popen(
            command,
            env=env,
            cwd=log.parent,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + 60
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
    raise RuntimeError("gunicorn did not answer /healthz within 60 s")


def server_cpu_seconds(server: subprocess.Popen) -> float:
    """CPU time (user + system) used so far by the master and its live workers."""
    return sum(_process_cpu_seconds(server, include_master=True).values())


def worker_cpu_seconds(server: subprocess.Popen) -> dict[int, float]:
    """CPU time used so far by each live worker, by process id."""
    return _process_cpu_seconds(server, include_master=False)


def _process_cpu_seconds(server: subprocess.Popen, include_master: bool) -> dict[int, float]:
    ticks = os.sysconf("SC_CLK_TCK")
    seconds = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid, parent = int(stat.parent.name), int(fields[1])
        if parent == server.pid or (include_master and pid == server.pid):
            seconds[pid] = (int(fields[11]) + int(fields[12])) / ticks
    return seconds


def stop_server(server: subprocess.Popen) -> None:
    if server.poll() is not None:
        return
    server.send_signal(signal.SIGTERM)  # the arbiter stops its workers gracefully
    try:
        server.wait(timeout=40)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=5)


# --- readers: wrk ---------------------------------------------------------------------------


def warm_up(port: int, paths: list[str]) -> None:
    """Each page stored in every worker's cache: a page is asked for on new connections (each
    accepted by whichever worker is free) until it has come from the cache three times in a
    row."""
    for path in paths:
        hits = 0
        for _ in range(20):
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
            try:
                connection.request("GET", path)
                response = connection.getresponse()
                response.read()
                hits = hits + 1 if response.getheader("X-Cache") == "HIT" else 0
            finally:
                connection.close()
            if hits == 3:
                break


# wrk asks for a random page of the list in LOAD_TEST_PATHS (bench/small_box.py uses it too).
RANDOM_PATHS_LUA = r"""
local paths = {}
for line in io.lines(os.getenv("LOAD_TEST_PATHS")) do paths[#paths + 1] = line end
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("seed", counter)
end

function init(args)
  math.randomseed(seed * 7919)
end

function request()
  return wrk.format("GET", paths[math.random(#paths)])
end
"""
WRK_SCRIPT = (
    RANDOM_PATHS_LUA
    + r"""
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '\nLOAD-TEST-RESULT {"requests": %d, "duration_us": %d, "connect": %d, "read": %d, ' ..
    '"write": %d, "status": %d, "timeout": %d, "p50_us": %d, "p99_us": %d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""
)


@dataclass
class ReaderFigures:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    error_statuses: int  # 4xx and 5xx
    timeouts: int
    dropped: int  # closed or reset by the server before a whole response (read/write errors)
    connect_errors: int
    server_cpu: float = 0.0  # seconds of CPU the server used meanwhile

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def run_wrk(port: int, connections: int, seconds: float, folder: Path) -> ReaderFigures:
    script = folder / "readers.lua"
    script.write_text(WRK_SCRIPT)
    threads = max(1, min(2, connections))
    command = [
        "wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s",
        f"--timeout={TIMEOUT}s", "-s", str(script), f"http://127.0.0.1:{port}",
    ]  # fmt: skip
    env = dict(os.environ, LOAD_TEST_PATHS=str(folder / "paths.txt"))
    done = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=seconds + TIMEOUT + 30
    )
    match = re.search(r"LOAD-TEST-RESULT (\{.*\})", done.stdout)
    if not match:
        raise RuntimeError(f"wrk gave no result: {done.stdout[-800:]} {done.stderr[-800:]}")
    result = json.loads(match.group(1))
    return ReaderFigures(
        requests=result["requests"],
        seconds=result["duration_us"] / 1e6,
        p50_ms=result["p50_us"] / 1000,
        p99_ms=result["p99_us"] / 1000,
        error_statuses=result["status"],
        timeouts=result["timeout"],
        dropped=result["read"] + result["write"],
        connect_errors=result["connect"],
    )


# --- writers: signed-in authors in the real editor ---------------------------------------------


class FormFields(HTMLParser):
    """Every form of a page as a list of (name, value) pairs, as a browser would submit them
    (submit buttons left out: the writer picks its action)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms: list[list[list]] = []
        self._textarea: list | None = None
        self._select: list | None = None

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "form":
            self.forms.append([])
            return
        if not self.forms or "name" not in attributes:
            if tag == "option" and self._select is not None:
                self._option(attributes)
            return
        fields = self.forms[-1]
        name = attributes["name"]
        kind = (attributes.get("type") or "text").lower()
        if tag == "input" and kind not in ("submit", "button", "image", "reset", "file"):
            if kind in ("checkbox", "radio") and "checked" not in attributes:
                return
            fields.append([name, attributes.get("value", "on" if kind == "checkbox" else "")])
        elif tag == "textarea":
            self._textarea = [name, ""]
            fields.append(self._textarea)
        elif tag == "select":
            self._select = [name, None]
            fields.append(self._select)

    def _option(self, attributes):
        value = attributes.get("value", "")
        if self._select[1] is None or "selected" in attributes:
            self._select[1] = value

    def handle_data(self, data):
        if self._textarea is not None:
            self._textarea[1] += data

    def handle_endtag(self, tag):
        if tag == "textarea":
            self._textarea = None
        elif tag == "select":
            if self._select is not None and self._select[1] is None:
                self._select[1] = ""
            self._select = None


def form_with(html: bytes, field_name: str) -> dict[str, str] | None:
    parser = FormFields()
    parser.feed(html.decode("utf-8", "replace"))
    for fields in parser.forms:
        if any(name == field_name for name, _ in fields):
            return {name: value.removeprefix("\n") for name, value in fields}
    return None


class Client:
    """One keep-alive connection with a cookie jar, for one writer."""

    def __init__(self, port: int):
        self.port = port
        self.cookies: dict[str, str] = {}
        self.connection: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, form: dict | None = None):
        """(status, headers, body); status None when the connection was closed or reset before
        a whole response came (the request is not repeated)."""
        headers = {}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if self.connection is None:
            self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=TIMEOUT)
        try:
            self.connection.request(method, path, body=body, headers=headers)
            response = self.connection.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException):
            self.close()
            return None, {}, b""
        for name, value in response.getheaders():
            if name.lower() == "set-cookie":
                cookie_name, _, rest = value.partition("=")
                self.cookies[cookie_name.strip()] = rest.split(";", 1)[0]
        if response.getheader("Connection", "").lower() == "close":
            self.close()
        return response.status, dict(response.getheaders()), data

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None


@dataclass
class Ack:
    post_id: int
    body: str
    author: str
    at: float  # when the 302 came


@dataclass
class WriteLog:
    acks: list[Ack] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)
    latency: list[float] = field(default_factory=list)
    conflicts_unexplained: list[str] = field(default_factory=list)
    dropped: int = 0
    failures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class Writer:
    """An author: signed in, saving drafts through the editor, one every `pause` or so."""

    def __init__(self, number: int, port: int, log: WriteLog, pause: float):
        self.email = f"author{number}@example.com"
        self.client = Client(port)
        self.rng = random.Random(1000 + number)
        self.log, self.pause = log, pause
        self.own_post: int | None = None
        self.shared_post: int | None = None
        self.counter = 0

    def sign_in(self) -> None:
        _, _, page = self.client.request("GET", "/login")
        form = form_with(page, "password")
        form.update(email=self.email, password=PASSWORD)
        status, _, _ = self.client.request("POST", "/login", form)
        if status != 302:
            raise RuntimeError(f"{self.email} could not sign in: {status}")

    def create_draft(self) -> int:
        """A draft of its own, made before the measurement."""
        _, _, page = self.client.request("GET", "/admin/posts/new")
        form = form_with(page, "body")
        form.update(title=f"Draft of {self.email}", body="First words.", action="save")
        status, headers, _ = self.client.request("POST", "/admin/posts/new", form)
        match = re.search(r"/admin/posts/(\d+)/edit", headers.get("Location", ""))
        if status != 302 or not match:
            raise RuntimeError(f"{self.email} could not create a draft: {status}")
        return int(match.group(1))

    def run(self, deadline: float) -> None:
        self.client.close()  # a fresh connection: the old one idled past the keep-alive time
        try:
            while time.monotonic() < deadline:
                shared = self.shared_post is not None and self.rng.random() < 0.3
                self.save(self.shared_post if shared else self.own_post)
                time.sleep(self.rng.uniform(0.5, 1.5) * self.pause)
        except Exception as error:  # noqa: BLE001 - reported, the run goes on
            with self.log.lock:
                self.log.failures.append(f"{self.email}: {error!r}")
        finally:
            self.client.close()

    def save(self, post_id: int) -> None:
        path = f"/admin/posts/{post_id}/edit"
        status, _, page = self.client.request("GET", path)
        if status != 200:
            self.record(status, None, f"GET {path}")
            return
        form = form_with(page, "body")
        self.counter += 1
        marker = f"{self.email} save {self.counter} at {time.time():.3f}"
        form["title"] = f"Draft of {self.email}, {self.counter}"
        form["body"] = f"{marker}\n\n" + "\n\n".join(paragraph(self.rng, 40) for _ in range(3))
        form["action"] = "save"
        started = time.perf_counter()
        status, headers, answer = self.client.request("POST", path, form)
        seconds = time.perf_counter() - started
        if status == 302 and f"/admin/posts/{post_id}/edit" in headers.get("Location", ""):
            with self.log.lock:
                self.log.acks.append(Ack(post_id, form["body"], self.email, time.monotonic()))
        elif status == 409:
            text = answer.decode("utf-8", "replace")
            if CONFLICT_ALERT not in text or marker not in text:  # says why, keeps the text
                with self.log.lock:
                    self.log.conflicts_unexplained.append(f"{self.email} on post {post_id}")
        self.record(status, seconds, f"POST {path}")

    def record(self, status: int | None, seconds: float | None, what: str) -> None:
        with self.log.lock:
            if status is None:
                self.log.dropped += 1
                return
            self.log.statuses[status] += 1
            if seconds is not None:
                self.log.latency.append(seconds)
            if status not in (200, 302, 409):
                self.log.failures.append(f"{self.email}: {what} answered {status}")


# --- checking the writes -----------------------------------------------------------------------


def check_writes(database: Path, acks: list[Ack]) -> list[str]:
    """Every acknowledged text is in the post's revisions; each post's text is its last one."""
    lost = []
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        for ack in acks:
            found = connection.execute(
                "SELECT 1 FROM revision WHERE post_id = ? AND body_md = ? LIMIT 1",
                (ack.post_id, ack.body),
            ).fetchone()
            if found is None:
                lost.append(f"post {ack.post_id}: a save by {ack.author} is not in its history")
        last: dict[int, Ack] = {}
        for ack in sorted(acks, key=lambda ack: ack.at):
            last[ack.post_id] = ack
        for post_id, ack in last.items():
            (body,) = connection.execute(
                "SELECT body_md FROM post WHERE id = ?", (post_id,)
            ).fetchone()
            if body != ack.body:
                lost.append(f"post {post_id}: its text is not the last acknowledged save")
        integrity = connection.execute("PRAGMA integrity_check").fetchone()[0]
        if integrity != "ok":
            lost.append(f"integrity_check: {integrity}")
    finally:
        connection.close()
    return lost


def percentile(values: list[float], fraction: float) -> str:
    if not values:
        return "-"
    ordered = sorted(values)
    return f"{ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000:.0f}"


def commit_described() -> str:
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True)
        return done.stdout.strip()

    changed = git("status", "--porcelain", "--untracked-files=no")
    dirty = " (with uncommitted changes)" if changed else ""
    return f"{git('rev-parse', '--short', 'HEAD')}{dirty}"


# --- main --------------------------------------------------------------------------------------


@dataclass
class Run:
    alone: ReaderFigures
    mixed: ReaderFigures
    writes: WriteLog
    lost: list[str]
    server_log: str
    load: tuple[float, float, float]


def measure(args, folder: Path) -> Run:
    database = folder / "blog.sqlite3"
    if database.exists():
        env = dict(os.environ, BLOG_INSTANCE_PATH=str(folder), PYTHONUNBUFFERED="1")
        env.pop("BLOG_DATABASE_URL", None)
    else:
        print(f"Preparing an instance in {folder} ({args.posts + 7} posts) ...", flush=True)
        env = prepare_instance(folder, args.posts)
    paths = reader_paths(database, args.articles)
    (folder / "paths.txt").write_text("\n".join(paths) + "\n")
    port = free_port()
    log = folder / "server.log"
    server = start_server(env, port, log, args.log_level)
    writes = WriteLog()
    try:
        writers = [Writer(n, port, writes, args.pause_ms / 1000) for n in range(args.writers)]
        for writer in writers:
            writer.sign_in()
            writer.own_post = writer.create_draft()
        for writer in writers[:2]:
            writer.shared_post = writers[0].own_post
        writes.acks.clear()
        warm_up(port, sorted(set(paths)))
        alone, mixed = [], []
        length = args.seconds / args.slices
        for number in range(1, args.slices + 1):
            alone.append(
                balanced(server, lambda: read_alone(server, port, args.readers, length, folder))
            )
            mixed.append(
                balanced(
                    server,
                    lambda: read_with_writers(server, port, args.readers, length, folder, writers),
                )
            )
            print(
                f"slice {number}/{args.slices} ({length:g} s each): readers alone "
                f"{alone[-1].rate:.0f} req/s, with writers {mixed[-1].rate:.0f} req/s",
                flush=True,
            )
        load = os.getloadavg()
    finally:
        stop_server(server)
    lost = check_writes(database, writes.acks)
    server_log = log.read_text(errors="replace")
    return Run(combined(alone), combined(mixed), writes, lost, server_log, load)


def balanced(server: subprocess.Popen, run) -> ReaderFigures:
    """`run()`, made again while one worker did more than SKEW_LIMIT of the work."""
    for attempt in range(1, SKEW_ATTEMPTS + 1):
        before = worker_cpu_seconds(server)
        figures = run()
        after = worker_cpu_seconds(server)
        spent = [after[pid] - before[pid] for pid in after if pid in before]
        busiest = max(spent) / sum(spent) if len(spent) > 1 and sum(spent) > 0 else 0.0
        if busiest <= SKEW_LIMIT:
            return figures
        print(
            f"  (one worker did {busiest:.0%} of the work at {figures.rate:.0f} req/s: "
            f"slice made again, attempt {attempt + 1})",
            flush=True,
        )
    return figures


def read_alone(server, port: int, readers: int, seconds: float, folder: Path) -> ReaderFigures:
    cpu = server_cpu_seconds(server)
    figures = run_wrk(port, readers, seconds, folder)
    figures.server_cpu = server_cpu_seconds(server) - cpu
    return figures


def read_with_writers(server, port, readers, seconds, folder, writers) -> ReaderFigures:
    """Readers for `seconds` while the writers save; the writers stop with them."""
    cpu = server_cpu_seconds(server)
    deadline = time.monotonic() + seconds
    threads = [threading.Thread(target=w.run, args=(deadline,), daemon=True) for w in writers]
    for thread in threads:
        thread.start()
    figures = run_wrk(port, readers, seconds, folder)
    for thread in threads:
        thread.join(timeout=TIMEOUT + 5)
    figures.server_cpu = server_cpu_seconds(server) - cpu
    return figures


def combined(slices: list[ReaderFigures]) -> ReaderFigures:
    """One phase from its slices: counts and times added; latency as the slices' median p50
    and worst p99 (wrk reports percentiles, not the raw times)."""
    p50s = sorted(figures.p50_ms for figures in slices)
    return ReaderFigures(
        requests=sum(figures.requests for figures in slices),
        seconds=sum(figures.seconds for figures in slices),
        p50_ms=p50s[len(p50s) // 2],
        p99_ms=max(figures.p99_ms for figures in slices),
        error_statuses=sum(figures.error_statuses for figures in slices),
        timeouts=sum(figures.timeouts for figures in slices),
        dropped=sum(figures.dropped for figures in slices),
        connect_errors=sum(figures.connect_errors for figures in slices),
        server_cpu=sum(figures.server_cpu for figures in slices),
    )


def report(args, run: Run, load_before: float) -> bool:
    """Print the figures; True if the run met every requirement."""
    alone, mixed, writes = run.alone, run.mixed, run.writes
    ratio = mixed.rate / alone.rate if alone.rate else 0.0
    lines = [
        ("commit", commit_described()),
        ("date", time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())),
        ("machine", f"{os.cpu_count()} CPUs, load average {load_before:.1f} before, "
                    f"{run.load[0]:.1f} at the end"),  # fmt: skip
        ("server", "gunicorn -c gunicorn.conf.py (BLOG_WORKERS/BLOG_THREADS: "
                   f"{os.environ.get('BLOG_WORKERS', '2')}/{os.environ.get('BLOG_THREADS', '4')})"),
        ("clients", f"{args.readers} reader connections (wrk), {args.writers} writers, "
                    f"pause {args.pause_ms} ms, {args.seconds:g} s a phase in {args.slices} "
                    "alternating slices"),
    ]  # fmt: skip
    for label, figures in (("readers alone", alone), ("readers + writers", mixed)):
        lines.append(
            (
                label,
                f"{figures.rate:.0f} req/s ({figures.requests} in {figures.seconds:.1f} s), "
                f"p50 {figures.p50_ms:.1f} ms, p99 {figures.p99_ms:.1f} ms (worst slice), "
                f"error statuses {figures.error_statuses}, timeouts {figures.timeouts}, "
                f"dropped connections {figures.dropped}, connect errors {figures.connect_errors}, "
                f"server CPU {figures.server_cpu / figures.seconds:.2f} cores",
            )
        )
    lines += [
        ("reader throughput ratio", f"{ratio:.2f} (with writers / alone; goal >= 0.8)"),
        ("writer requests", ", ".join(f"{k}: {v}" for k, v in sorted(writes.statuses.items()))),
        (
            "writer saves",
            f"{len(writes.acks)} acknowledged, {writes.statuses[409]} refused (409), "
            f"dropped {writes.dropped}, save p50 {percentile(writes.latency, 0.5)} ms "
            f"p99 {percentile(writes.latency, 0.99)} ms",
        ),  # fmt: skip
        ("lost writes", len(run.lost)),
        ("409 not saying why", len(writes.conflicts_unexplained)),
    ]
    lines += [(f"server log: {k}", run.server_log.count(v)) for k, v in SERVER_LOG_MARKERS.items()]
    print()
    for label, value in lines:
        print(f"{label:<28}{value}")
    problems = writes.failures + run.lost + writes.conflicts_unexplained
    for line in problems[:20]:
        print(f"  problem: {line}")
    booted = run.server_log.count("Booting worker")
    bad_log = any(
        run.server_log.count(SERVER_LOG_MARKERS[marker])
        for marker in ("worker timeouts", "tracebacks", "'database is locked'")
    )
    readers_bad = any(
        f.error_statuses or f.timeouts or f.dropped or f.connect_errors for f in (alone, mixed)
    )
    return not (readers_bad or problems or writes.dropped or bad_log or booted > 2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="length of each phase")
    parser.add_argument(
        "--slices", type=int, default=6, help="the phases alternate in this many slices each"
    )
    parser.add_argument("--readers", type=int, default=50, help="reader connections")
    parser.add_argument("--writers", type=int, default=AUTHORS, choices=range(0, AUTHORS + 1))
    parser.add_argument("--pause-ms", type=int, default=300, help="a writer's mean pause")
    parser.add_argument("--articles", type=int, default=40, help="newest articles read")
    parser.add_argument("--posts", type=int, default=193, help="seeded besides the 7 demo ones")
    parser.add_argument("--log-level", help="gunicorn's and the app's (DEBUG shows closes)")
    parser.add_argument("--instance", type=Path, help="prepare here once, reuse after (kept)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary instance")
    parser.add_argument("--seed-posts", type=int, help=argparse.SUPPRESS)  # the child's job
    args = parser.parse_args()
    if args.seed_posts is not None:
        seed_posts(args.seed_posts)
        return 0
    if shutil.which("wrk") is None:
        print("wrk is needed for the readers: apt-get install wrk", file=sys.stderr)
        return 2

    folder = args.instance or Path(tempfile.mkdtemp(prefix="blog-load-"))
    folder.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()[0]
    try:
        run = measure(args, folder)
        ok = report(args, run, load_before)
    finally:
        if args.keep or args.instance:
            print(f"instance kept in {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
