"""The small box: the whole production setup on one CPU and 512 MB, under a front-page spike.

    .venv/bin/python bench/small_box.py                          # 10,000 posts, 60 s spike
    .venv/bin/python bench/small_box.py --seconds 10 --posts 1000 --subscribers 500   # a try
    .venv/bin/python bench/small_box.py --instance /tmp/box      # seed once, reuse after
    .venv/bin/python bench/small_box.py --instance /tmp/box --rate 200         # open loop
    .venv/bin/python bench/small_box.py --instance /tmp/box --rate 200,400,800,1200   # sweep

Run as root where the cgroup v1 memory controller is writable (run on demand, never from pytest).

The box: gunicorn with the repository's gunicorn.conf.py (its defaults: 2 workers x 4 threads)
and the job worker (as deploy/blog-worker.service starts it), on SQLite in a throwaway instance,
all started through `taskset -c 0` into a memory cgroup limited to 512 MiB (a child of this
process's own cgroup; removed at the end). Without a writable cgroup there is no memory limit
at all, and the output says so in capitals: the peaks are then measured, not enforced.

The instance: bench/bench.py's seeding (10,000 posts through the real Markdown pipeline, users,
taxonomy, media), plus approved comments on every public post, 5,000 confirmed newsletter
subscribers and two author accounts (bench/load_test.py's writers sign in as them). Every run
adds one more published post, the one whose newsletter goes out during the spike.

The spike, for `--seconds`: wrk (pinned to the other CPU, as is this process and its SMTP
server) keeps `--connections` (200) connections on the home page, three articles and a
category page, all served from the page cache (each page is asked for until every worker has
it); meanwhile
- the newsletter of that post goes to the subscribers through the real job worker and a local
  aiosmtpd server on 127.0.0.1 (as bench/newsletter.py does), with NEWSLETTER_PER_MINUTE out
  of the way (`--per-minute`) so the send competes with the readers as hard as it can;
- two authors save drafts through the editor (bench/load_test.py's Writer: GET the edit page,
  POST its form back), one every `--pause-ms` or so each.
Neither may move the site generation: the readers' pages stay cached.

With `--rate R` the readers are bench/open_loop.py instead of wrk: the same connections and
pages, but R requests a second in all on a fixed timetable, each request's latency counted from
when it was due (200 people opening a page every second, not 200 robots each waiting for the
last answer; with wrk the mean latency is connections / throughput whatever the server does).
The client runs in its own process on CPU 1 under SCHED_FIFO (as root) and judges itself: a run
where it could not keep to its timetable gives no verdict on p99. `--rate R1,R2,...` is a
sweep: one spike per rate, one after the other on the same box (the servers, their memory and
the writers' sessions carry over), each with the same background as a single spike: a send of
its own post to every subscriber and the writers. Before the next spike the previous send must
finish (up to `--send-wait`), so two sends never overlap. The sweep ends with the highest rate
that kept p99 under 100 ms with no error. Without `--rate`, wrk's closed loop runs as before.

Memory is sampled every half second: VmHWM and PSS of every process in the box, and the
cgroup's usage; at the end the cgroup's peak (memory.max_usage_in_bytes, page cache included),
memory.failcnt (times the limit was reached: reclaiming the page cache counts too) and
oom_kill. A killed process shows as an OOM kill, a worker booted again in gunicorn's log, or an
exit by signal. The table at the end says MET / NOT MET for each goal; exit status 1 if any is
not met.
"""

import argparse
import contextlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path[:0] = [str(BENCH), str(REPO)]

import load_test  # noqa: E402  (the writers, the warm-up, the write check)
import newsletter  # noqa: E402  (the newsletter's text, VmHWM)
import open_loop  # noqa: E402  (readers at a fixed rate: --rate)

import bench as seeding  # noqa: E402  (bench/bench.py: the seeding helpers)
from tests.live_servers import blog_environment, deployed_tuning  # noqa: E402
from tests.smtp_server import SmtpServer  # noqa: E402

LIMIT_BYTES = 512 * 1024 * 1024
BOX_CPU = 0
CLIENT_CPUS = {1}  # this process, its SMTP server, the writers and wrk
# The open-loop readers run under SCHED_FIFO (as root): they take a fraction of CPU 1 but must
# wake on time, and the SMTP server's parsing in this process (and other people's work on a
# shared machine) delayed their wake-ups by 19 ms at the median without it, and by up to
# 150 ms at nice -10 (measured): a failed measurement (bench/open_loop.py's decisions)
OPEN_LOOP_REALTIME = os.geteuid() == 0
SECRET_KEY = "small box bench secret"
WRITERS = 2
P99_TARGET_MS = 100
WORKERS_PSS_TARGET_MB = 120  # the web workers together, after the load
STACK_PSS_TARGET_MB = 200  # web workers and job worker together
COMMENT_TEXTS = [
    "Thank you, this is *exactly* what the harbour needed.",
    "I was there on Monday: the quay is busier than ever. See [the photos](https://example.org/q).",
    "> the boats came back at dawn\n\nAnd the gulls with them.",
    "Does anyone know whether the ferry runs on Sundays now?",
    "Well written. The council should read this before the next budget.",
]


# --- the instance ------------------------------------------------------------------------------


def database_url(folder: Path) -> str:
    return f"sqlite:///{folder / 'blog.sqlite3'}"


def seed_instance(folder: Path, posts: int, subscribers: int) -> None:
    """bench.py's blog, then comments, subscribers and the writers' accounts."""
    from sqlalchemy import func, insert, select, update

    from blog import create_app
    from blog.accounts import create_user
    from blog.extensions import db
    from blog.models import (
        Comment,
        CommentStatus,
        Post,
        PostKind,
        Role,
        Subscriber,
        SubscriberStatus,
        utcnow,
    )
    from blog.rendering import render_comment
    from blog.visibility import public_clause

    print(f"Seeding {posts:,} posts in {folder} (bench/bench.py's seeding) ...", flush=True)
    seeding.seed(database_url(folder), folder, posts, "sqlite")
    app = create_app({"INSTANCE_PATH": str(folder), "DATABASE_URL": database_url(folder),
                      "SECRET_KEY": SECRET_KEY, "SITE_URL": "http://x"})  # fmt: skip
    rendered = [(text, render_comment(text)) for text in COMMENT_TEXTS]
    with app.app_context():
        for number in range(WRITERS):
            create_user(f"author{number}@example.com", f"Writer {number}", Role.AUTHOR,
                        load_test.PASSWORD)  # fmt: skip
        public = db.session.scalars(
            select(Post.id).where(Post.kind == PostKind.POST, public_clause())
            .order_by(Post.published_at.desc())
        ).all()  # fmt: skip
        now = utcnow()
        rows = []
        for rank, post_id in enumerate(public):
            count = 40 if rank < 3 else (post_id * 7) % 9  # the newest three: 40 each
            for n in range(count):
                text, html = rendered[(post_id + n) % len(rendered)]
                rows.append({"post_id": post_id, "author_name": f"Reader {n}",
                             "author_email": f"reader{n}@example.org", "body_md": text,
                             "body_html": html, "status": CommentStatus.APPROVED,
                             "created_at": now, "updated_at": now})  # fmt: skip
        for start in range(0, len(rows), 5000):
            db.session.execute(insert(Comment), rows[start : start + 5000])
        approved = (
            select(func.count(Comment.id))
            .where(Comment.post_id == Post.id, Comment.status == CommentStatus.APPROVED)
            .scalar_subquery()
        )
        db.session.execute(update(Post).values(comment_count=approved))
        db.session.execute(
            insert(Subscriber),
            [{"email": f"subscriber{n:06d}@example.org", "status": SubscriberStatus.CONFIRMED,
              "confirmed_at": now, "consent": "bench"} for n in range(subscribers)],
        )  # fmt: skip
        db.session.commit()
        print(f"  {len(rows):,} approved comments, {subscribers:,} subscribers", flush=True)
        db.session.remove()
        db.engine.dispose()


def box_settings(smtp: SmtpServer, per_minute: int) -> dict:
    return {**smtp.settings(), "NEWSLETTER_PER_MINUTE": per_minute}


def make_app(folder: Path, settings: dict):
    from blog import create_app

    return create_app({"INSTANCE_PATH": str(folder), "DATABASE_URL": database_url(folder),
                       "SECRET_KEY": SECRET_KEY, **settings})  # fmt: skip


def publish_newsletter_post(app) -> int:
    """This run's post, published with its newsletter on (before the servers start)."""
    from blog.extensions import db
    from blog.models import Role, User
    from blog.posts import Action, PostInput, save_post

    with app.app_context():
        author = db.session.scalar(db.select(User).where(User.role == Role.ADMIN))
        title = f"Harbour reopens, {time.strftime('%H:%M:%S')}"
        data = PostInput(title=title, body_md=newsletter.BODY)
        post = save_post(None, data, author, Action.PUBLISH)
        post.newsletter = "full"
        db.session.commit()
        post_id = post.id
        db.session.remove()
    return post_id


def start_send(app, post_id: int) -> None:
    """What saving the post with its newsletter on does: queue the send's start job."""
    from blog.extensions import db
    from blog.models import Post
    from blog.newsletter import sending

    with app.app_context():
        post = db.session.get(Post, post_id)
        if not sending.after_save(post):
            raise RuntimeError("the send was not queued (is mail configured?)")
        db.session.commit()
        db.session.remove()


def spike_paths(folder: Path) -> list[str]:
    """The home page, the three newest articles and the biggest category's first page."""
    with sqlite3.connect(folder / "blog.sqlite3") as connection:
        slugs = [row[0] for row in connection.execute(
            "SELECT slug FROM post WHERE status = 'published' AND kind = 'post' AND "
            "deleted_at IS NULL AND published_at <= datetime('now') "
            "ORDER BY published_at DESC LIMIT 3")]  # fmt: skip
        (category,) = connection.execute(
            "SELECT c.slug FROM category c JOIN post p ON p.category_id = c.id "
            "GROUP BY c.id ORDER BY count(*) DESC LIMIT 1"
        ).fetchone()
    return ["/", *(f"/{slug}/" for slug in slugs), f"/category/{category}/"]


def generation(folder: Path) -> int:
    with sqlite3.connect(f"file:{folder / 'blog.sqlite3'}?mode=ro", uri=True) as connection:
        return connection.execute("SELECT generation FROM site_state WHERE id = 1").fetchone()[0]


def send_state(folder: Path, post_id: int) -> tuple[str | None, int, int]:
    """(status, total, deliveries sent) of the post's send; (None, 0, 0) before it exists."""
    with sqlite3.connect(f"file:{folder / 'blog.sqlite3'}?mode=ro", uri=True) as connection:
        connection.execute("PRAGMA busy_timeout = 5000")
        row = connection.execute(
            "SELECT id, status, total FROM newsletter_send WHERE post_id = ?", (post_id,)
        ).fetchone()
        if row is None:
            return None, 0, 0
        (sent,) = connection.execute(
            "SELECT count(*) FROM newsletter_delivery WHERE send_id = ? AND status = 'sent'",
            (row[0],),
        ).fetchone()
    return row[1], row[2], sent


# --- the box: one CPU, one memory cgroup -------------------------------------------------------


class Box:
    """A memory cgroup (v1) under this process's own, limited to LIMIT_BYTES, and CPU 0.

    Processes join it through a tiny shell that writes its own id into cgroup.procs and then
    execs the real command, so everything they allocate, and their children, is charged."""

    def __init__(self):
        self.path: Path | None = None
        self.note = ""
        own = next(
            line.split(":", 2)[2]
            for line in Path("/proc/self/cgroup").read_text().splitlines()
            if line.split(":", 2)[1] == "memory"
        )
        path = Path("/sys/fs/cgroup/memory") / own.lstrip("/") / f"blogbox-{os.getpid()}"
        try:
            path.mkdir()
            (path / "memory.limit_in_bytes").write_text(str(LIMIT_BYTES))
            with contextlib.suppress(OSError):  # no swap here; if there were, none for the box
                (path / "memory.memsw.limit_in_bytes").write_text(str(LIMIT_BYTES))
            self.path = path
            self.note = f"cgroup v1 memory limit {LIMIT_BYTES >> 20} MiB ({path})"
        except OSError as error:
            with contextlib.suppress(OSError):
                path.rmdir()
            self.note = (
                f"NO MEMORY LIMIT: the memory cgroup is not writable here ({error}); the peaks "
                "below are measured, not enforced"
            )

    def command(self, *args: str) -> list[str]:
        pinned = ["taskset", "-c", str(BOX_CPU)]
        if self.path is None:
            return [*pinned, *args]
        join = 'echo $$ > "$0" && exec "$@"'
        return [*pinned, "sh", "-c", join, str(self.path / "cgroup.procs"), *args]

    def read(self, name: str) -> str:
        return (self.path / name).read_text() if self.path else ""

    def pids(self) -> list[int]:
        return [int(pid) for pid in self.read("cgroup.procs").split()]

    def stat(self) -> dict[str, int]:
        return {
            k: int(v) for k, v in (line.split() for line in self.read("memory.stat").splitlines())
        }

    def oom_kills(self) -> int:
        for line in self.read("memory.oom_control").splitlines():
            if line.startswith("oom_kill "):
                return int(line.split()[1])
        return 0

    def remove(self) -> None:
        if self.path is None:
            return
        for _ in range(50):  # the last processes may take a moment to leave
            try:
                self.path.rmdir()
                return
            except OSError:
                time.sleep(0.2)
        print(f"could not remove {self.path}", file=sys.stderr)


def worker_command(code: Path) -> list[str]:
    """The job worker as the checkout's deploy/blog-worker.service starts it."""
    unit = (code / "deploy" / "blog-worker.service").read_text()
    if "bin/blog-worker" in unit:  # the venv's script; PYTHONPATH picks the checkout's code
        return [str(Path(sys.executable).with_name("blog-worker"))]
    return [sys.executable, "-m", "flask", "--app", "blog", "worker"]


def box_env(folder: Path, settings: dict, code: Path) -> dict:
    env = {key: value for key, value in os.environ.items() if not key.startswith("BLOG_")}
    env.update(
        BLOG_INSTANCE_PATH=str(folder),
        BLOG_DATABASE_URL=database_url(folder),
        BLOG_SECRET_KEY=SECRET_KEY,
        PYTHONPATH=str(code),  # this checkout's code, whatever the venv's editable install is
        PYTHONUNBUFFERED="1",
        **blog_environment(settings),
    )
    return env


def start_web(box: Box, env: dict, port: int, log: Path, code: Path) -> subprocess.Popen:
    env = dict(env, BLOG_BIND=f"127.0.0.1:{port}", BLOG_SITE_URL=f"http://127.0.0.1:{port}")
    env.update(deployed_tuning("blog.service", code))
    command = box.command(sys.executable, "-m", "gunicorn", "-c", str(code / "gunicorn.conf.py"))
    with open(log, "wb") as out:
        server = subprocess.Popen(command, env=env, cwd=log.parent, stdout=out,
                                  stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {server.returncode}; see {log}")
        with contextlib.suppress(OSError):
            import urllib.request

            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as answer:
                if answer.status == 200:
                    return server
        time.sleep(0.2)
    load_test.stop_server(server)
    raise RuntimeError("gunicorn did not answer /healthz within 90 s")


def start_job_worker(box: Box, env: dict, log: Path, code: Path) -> subprocess.Popen:
    """The job worker as deploy/blog-worker.service runs it (its default threads)."""
    env = dict(env, **deployed_tuning("blog-worker.service", code))
    command = box.command(*worker_command(code))
    with open(log, "wb") as out:
        return subprocess.Popen(command, env=env, cwd=log.parent, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip


def stop_job_worker(worker: subprocess.Popen) -> None:
    if worker.poll() is None:
        os.killpg(worker.pid, signal.SIGTERM)  # running jobs finish, then it exits
        try:
            worker.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(timeout=10)


# --- memory sampling ---------------------------------------------------------------------------


def process_role(pid: int, web: subprocess.Popen, worker: subprocess.Popen) -> str:
    if pid == web.pid:
        return "gunicorn master"
    if pid == worker.pid:
        return "job worker"
    with contextlib.suppress(OSError):
        parent = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        if parent == web.pid:
            return "web worker"
    return "other"


def pss_kib(pid: int) -> int:
    rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
    return sum(int(line.split()[1]) for line in rollup.splitlines() if line.startswith("Pss:"))


def process_tree(root: int) -> list[int]:
    pids, queue = [], [root]
    while queue:
        pid = queue.pop()
        pids.append(pid)
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{pid}/task").iterdir():
                queue.extend(int(c) for c in (task / "children").read_text().split())
    return pids


@dataclass
class Peak:
    role: str
    pss_kib: int = 0
    hwm_kib: int = 0
    last_pss_kib: int = 0


@dataclass
class Sampler:
    """Every `interval` s: VmHWM and PSS of every process in the box, and the cgroup's usage."""

    box: Box
    web: subprocess.Popen
    worker: subprocess.Popen
    interval: float = 0.5
    peaks: dict[int, Peak] = field(default_factory=dict)
    stack_pss_kib: int = 0  # the largest sum of the web and job workers' PSS in one sample
    cgroup_rss_bytes: int = 0  # the largest rss + shmem of the cgroup seen in one sample
    _stop: threading.Event = field(default_factory=threading.Event)

    def pids(self) -> list[int]:
        if self.box.path is not None:
            return self.box.pids()
        return [*process_tree(self.web.pid), *process_tree(self.worker.pid)]

    def sample(self) -> None:
        stack = 0
        for pid in self.pids():
            try:
                pss = pss_kib(pid)
                hwm = newsletter.peak_kib(pid)
            except OSError:
                continue  # gone in between
            if pid not in self.peaks:
                self.peaks[pid] = Peak(process_role(pid, self.web, self.worker))
            peak = self.peaks[pid]
            peak.pss_kib, peak.hwm_kib = max(peak.pss_kib, pss), max(peak.hwm_kib, hwm)
            peak.last_pss_kib = pss
            if peak.role in ("web worker", "job worker"):
                stack += pss
        self.stack_pss_kib = max(self.stack_pss_kib, stack)
        if self.box.path is not None:
            stat = self.box.stat()
            rss = stat.get("total_rss", 0) + stat.get("total_shmem", 0)
            self.cgroup_rss_bytes = max(self.cgroup_rss_bytes, rss)

    def run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def start(self) -> "Sampler":
        self.sample()
        self._thread = threading.Thread(target=self.run, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self.sample()


# --- the spike ---------------------------------------------------------------------------------


@dataclass
class Spike:
    mode: str = "closed loop: wrk"
    requests: int = 0
    seconds: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    statuses: int = 0  # non-2xx/3xx answers
    connect: int = 0
    read: int = 0
    write: int = 0
    timeouts: int = 0
    # the open loop's own figures (None for wrk): unsent requests, answers not from the cache,
    # and whether the client kept to its timetable
    open: open_loop.Summary | None = None

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def errors(self) -> int:
        return self.statuses + self.connect + self.read + self.write + self.timeouts


def cpu_seconds(pids: list[int]) -> float:
    """User and system CPU time used so far by these processes (those still alive)."""
    ticks = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def cpu_busy_seconds(cpu: int) -> float:
    """Time CPU `cpu` spent on anything but idling, from /proc/stat."""
    line = next(
        x for x in Path("/proc/stat").read_text().splitlines() if x.startswith(f"cpu{cpu} ")
    )
    user, nice, system, idle, iowait, irq, softirq, steal = map(int, line.split()[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def run_wrk(port: int, connections: int, seconds: int, folder: Path) -> Spike:
    script = folder / "spike.lua"
    script.write_text(load_test.RANDOM_PATHS_LUA + (BENCH / "wrk_report.lua").read_text())
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout",
               "10s", "-s", str(script), f"http://127.0.0.1:{port}"]  # fmt: skip
    env = dict(os.environ, LOAD_TEST_PATHS=str(folder / "spike-paths.txt"))
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=seconds + 60)
    line = next((x for x in done.stdout.splitlines() if x.startswith("BENCH ")), None)
    if line is None:
        raise RuntimeError(f"wrk gave no result: {done.stdout[-800:]} {done.stderr[-800:]}")
    values = {k: int(v) for k, v in (item.split("=") for item in line.split()[1:])}
    return Spike(requests=values["requests"], seconds=values["duration_us"] / 1e6,
                 p50_ms=values["p50"] / 1000, p99_ms=values["p99"] / 1000,
                 statuses=values["status"], connect=values["connect"], read=values["read"],
                 write=values["write"], timeouts=values["timeout"])  # fmt: skip


def run_open_loop(port: int, connections: int, rate: float, seconds: int,
                  paths: list[str]) -> Spike:  # fmt: skip
    """The spike's readers from bench/open_loop.py, in a process of their own on CPU 1:
    `rate` requests a second in all over `connections`, pages at random, each answer expected
    from the page cache."""
    load = open_loop.Load(f"http://127.0.0.1:{port}", paths, connections, rate, seconds,
                          expect_header="X-Cache: HIT", order="random",
                          timeout=10)  # fmt: skip
    summary = open_loop.measure_in_process(load, CLIENT_CPUS, OPEN_LOOP_REALTIME)
    errors = summary.errors
    return Spike(mode=f"open loop: {rate:,.0f} req/s", requests=summary.answered_in_run,
                 seconds=summary.seconds, p50_ms=summary.p("p50"), p99_ms=summary.p("p99"),
                 statuses=errors["status"], connect=errors["connect"], read=errors["read"],
                 timeouts=errors["timeout"], open=summary)  # fmt: skip


def all_cached(port: int, paths: list[str], in_a_row: int = 8, tries: int = 40) -> bool:
    """Each spike page comes from the cache `in_a_row` times in a row, on new connections (so
    from whichever worker takes each one), within `tries` requests. Before the spike this
    also fills the cache of a worker the warm-up missed; after it, both have every page."""
    import http.client

    for path in paths:
        hits = 0
        for _ in range(tries):
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            try:
                connection.request("GET", path)
                response = connection.getresponse()
                response.read()
                hit = response.status == 200 and response.getheader("X-Cache") == "HIT"
            finally:
                connection.close()
            hits = hits + 1 if hit else 0
            if hits == in_a_row:
                break
        else:
            return False
    return True


@dataclass
class SpikeRun:
    """One spike: its readers' figures and what happened around it."""

    spike: Spike
    box_cpu: float  # share of one CPU the box's processes used during the spike
    cpu0_busy: float  # share of CPU 0 busy with anything (the box and everyone else)
    cached_before: bool
    cached_after: bool
    generation_moved: int
    send_status: str | None = None
    send_total: int = 0
    send_sent: int = 0
    send_seconds: float | None = None
    received: int = 0  # distinct recipients of this send at the SMTP server
    load: tuple = ()  # load average at the spike's end


@dataclass
class Result:
    spikes: list[SpikeRun]
    sampler: Sampler
    box: Box
    writes: load_test.WriteLog
    lost: list[str]
    web_log: str
    worker_log: str
    worker_exit: int | None
    web_exit: int | None
    max_usage: int
    failcnt: int
    oom_kills: int
    load: tuple


@dataclass
class Spiking:
    """What every spike of a run shares: the box's servers, the writers, the pages."""

    args: argparse.Namespace
    folder: Path
    app: object
    port: int
    paths: list[str]
    writers: list
    sampler: Sampler
    smtp: SmtpServer


def run_spike(run: Spiking, rate: float | None, post_id: int, cached_before: bool) -> SpikeRun:
    """One spike at `rate` req/s from the open-loop client (None: wrk's closed loop), with the
    send of `post_id` and the writers, then the checks after it."""
    args, folder = run.args, run.folder
    before = generation(folder)
    others = "readers only" if args.readers_only else \
        f"newsletter to {args.subscribers_now:,}, {WRITERS} writers"  # fmt: skip
    how = f"open loop at {rate:,.0f} req/s" if rate else "closed loop (wrk)"
    print(f"Spike, {how}: {args.connections} connections on {', '.join(run.paths)} for "
          f"{args.seconds} s, {others} ...", flush=True)  # fmt: skip
    envelopes_before = len(run.smtp.envelopes)
    started = time.monotonic()
    if not args.readers_only:
        start_send(run.app, post_id)
    deadline = started + args.seconds
    threads = [threading.Thread(target=w.run, args=(deadline,), daemon=True)
               for w in run.writers]  # fmt: skip
    for thread in threads:
        thread.start()
    done_at: list[float] = []
    watcher_stop = threading.Event()

    def watch_send() -> None:
        while not watcher_stop.wait(0.5):
            if send_state(folder, post_id)[0] == "done":
                done_at.append(time.monotonic())
                return

    watcher = threading.Thread(target=watch_send, daemon=True)
    if not args.readers_only:
        watcher.start()
    box_pids = run.sampler.pids()
    clock, box_before, busy_before = time.monotonic(), cpu_seconds(box_pids), \
        cpu_busy_seconds(BOX_CPU)  # fmt: skip
    if rate:
        spike = run_open_loop(run.port, args.connections, rate, args.seconds, run.paths)
    else:
        spike = run_wrk(run.port, args.connections, args.seconds, folder)
    elapsed = time.monotonic() - clock
    box_cpu = (cpu_seconds(box_pids) - box_before) / elapsed
    cpu0_busy = (cpu_busy_seconds(BOX_CPU) - busy_before) / elapsed
    for thread in threads:
        thread.join(timeout=load_test.TIMEOUT + 5)
    generation_moved = generation(folder) - before
    cached_after = all_cached(run.port, run.paths, tries=8)  # no miss allowed now
    if not args.readers_only:
        watcher.join(timeout=args.send_wait)  # the send may finish after the spike
    watcher_stop.set()
    status, total, sent = send_state(folder, post_id)
    received = len({rcpt for _, rcpts in list(run.smtp.envelopes)[envelopes_before:]
                    for rcpt in rcpts})  # fmt: skip
    return SpikeRun(
        spike=spike, box_cpu=box_cpu, cpu0_busy=cpu0_busy, cached_before=cached_before,
        cached_after=cached_after, generation_moved=generation_moved, send_status=status,
        send_total=total, send_sent=sent, received=received, load=os.getloadavg(),
        send_seconds=done_at[0] - started if done_at else None,
    )  # fmt: skip


def measure(args, folder: Path) -> Result:
    rates = args.rate or [None]  # None: wrk's closed loop
    with SmtpServer() as smtp:
        settings = box_settings(smtp, args.per_minute)
        app = make_app(folder, settings)
        # every spike's post is published before the servers start: the spikes' pages are the
        # same for all of them, and no publication moves the generation during the run
        post_ids = [publish_newsletter_post(app) for _ in rates]
        paths = spike_paths(folder)
        (folder / "spike-paths.txt").write_text("\n".join(paths) + "\n")
        os.sched_setaffinity(0, CLIENT_CPUS)  # clients off the box's CPU (children inherit it)
        box = Box()
        print(box.note, flush=True)
        env = box_env(folder, settings, args.code)
        port = load_test.free_port()
        web = worker = sampler = None
        try:
            web = start_web(box, env, port, folder / "gunicorn.log", args.code)
            worker = start_job_worker(box, env, folder / "job-worker.log", args.code)
            sampler = Sampler(box, web, worker).start()
            writes = load_test.WriteLog()
            writers = [load_test.Writer(n, port, writes, args.pause_ms / 1000)
                       for n in range(0 if args.readers_only else WRITERS)]  # fmt: skip
            for writer in writers:
                writer.sign_in()
                writer.own_post = writer.create_draft()
            writes.acks.clear()
            load_test.warm_up(port, paths)
            cached = all_cached(port, paths)
            run = Spiking(args, folder, app, port, paths, writers, sampler, smtp)
            spikes = []
            for rate, post_id in zip(rates, post_ids, strict=True):
                spikes.append(run_spike(run, rate, post_id, cached))
                cached = spikes[-1].cached_after
            load = os.getloadavg()
        finally:
            if sampler is not None:
                sampler.stop()
            if web is not None:
                load_test.stop_server(web)
            if worker is not None:
                stop_job_worker(worker)
            max_usage = int(box.read("memory.max_usage_in_bytes") or 0)
            failcnt, oom_kills = int(box.read("memory.failcnt") or 0), box.oom_kills()
            box.remove()  # also when something above failed
    lost = load_test.check_writes(folder / "blog.sqlite3", writes.acks)
    return Result(
        spikes=spikes, sampler=sampler, box=box, writes=writes, lost=lost,
        web_log=(folder / "gunicorn.log").read_text(errors="replace"),
        worker_log=(folder / "job-worker.log").read_text(errors="replace"),
        worker_exit=worker.returncode, web_exit=web.returncode,
        max_usage=max_usage, failcnt=failcnt, oom_kills=oom_kills, load=load,
    )  # fmt: skip


# --- the report --------------------------------------------------------------------------------


def mib(kib: int) -> str:
    return f"{kib / 1024:.1f}"


def describe_spike(args, run: SpikeRun) -> None:
    """The readers' figures of one spike, and the send that went with it."""
    spike = run.spike
    print()
    print(f"spike            {spike.mode}, {args.connections} connections, load average "
          f"{' '.join(f'{x:.2f}' for x in run.load)} at its end")  # fmt: skip
    print(
        f"CPU {BOX_CPU} in the spike  the box used {run.box_cpu:.0%} of it; busy in all "
        f"{run.cpu0_busy:.0%} (the rest: other people's work on a shared machine)"
    )
    if spike.open is not None:
        for line in open_loop.describe(spike.open):
            print(f"  {line}")
    print(
        f"readers          {spike.rate:,.0f} req/s ({spike.requests:,} in "
        f"{spike.seconds:.1f} s), "
        f"p50 {spike.p50_ms:.1f} ms, p99 {spike.p99_ms:.1f} ms"
    )
    print(
        f"reader errors    {spike.statuses} non-2xx/3xx, {spike.connect} connect, "
        f"{spike.read} read, {spike.write} write, {spike.timeouts} timeouts"
    )
    print(
        f"page cache       spike pages all HIT before: {run.cached_before}, after: "
        f"{run.cached_after}; site generation moved by {run.generation_moved}"
    )
    if args.readers_only:
        return
    took = f"{run.send_seconds:.1f} s" if run.send_seconds is not None else "not finished"
    print(
        f"newsletter       status {run.send_status}, {run.send_sent:,}/"
        f"{run.send_total:,} deliveries sent, {run.received:,} distinct recipients at "
        f"the SMTP server, {took} from the start of the spike"
    )


def spike_goals(args, run: SpikeRun) -> list[tuple[str, str, bool | None]]:
    """This spike's goals: (name, measured, met; None when the measurement failed)."""
    spike, at = run.spike, run.spike.mode
    not_cached = spike.open.errors["header"] if spike.open else 0
    p99: bool | None = spike.p99_ms < P99_TARGET_MS
    if spike.open is not None and spike.open.client_problems:
        p99 = None  # the client could not keep to its timetable: no verdict either way
    took = f"{run.send_seconds:.1f} s" if run.send_seconds is not None else "not finished"
    goals = [
        (f"0 reader errors ({at})", f"{spike.errors}", spike.errors == 0),
        (f"p99 < {P99_TARGET_MS} ms, cached pages ({at})", f"{spike.p99_ms:.1f} ms", p99),
        (f"the send finishing ({at})", took,
         run.send_status == "done" and run.received == run.send_total),
        (f"readers' pages stay cached ({at})",
         f"generation +{run.generation_moved}" + (f", {not_cached} misses" if spike.open else ""),
         run.generation_moved == 0 and run.cached_before and run.cached_after
         and not not_cached),
    ]  # fmt: skip
    if args.readers_only:  # nothing was sent: that goal was not tried
        goals = [goal for goal in goals if not goal[0].startswith("the send")]
    return goals


def report(args, result: Result) -> bool:
    sampler, writes = result.sampler, result.writes
    print()
    print(f"commit           {load_test.commit_described()}")
    print(f"date             {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(f"load average     {' '.join(f'{x:.2f}' for x in result.load)} (at the end)")
    if args.code.resolve() != REPO:
        print(f"code             the box ran {args.code} (not this checkout)")
    print(f"box              CPU {BOX_CPU} (taskset); {result.box.note}")
    policy = "SCHED_FIFO" if OPEN_LOOP_REALTIME else "normal priority: not root"
    readers = " and ".join(
        ["wrk -t2"] * (not args.rate or None in args.rate)
        + [f"open loop (bench/open_loop.py, {policy})"] * any(args.rate or [])
    )
    print(
        f"clients          CPU {','.join(map(str, CLIENT_CPUS))}: {readers}, "
        f"{args.connections} connections, {0 if args.readers_only else WRITERS} writers every "
        f"~{args.pause_ms} ms, SMTP server"
    )
    for run in result.spikes:
        describe_spike(args, run)
    print()
    statuses = ", ".join(f"{k}: {v}" for k, v in sorted(writes.statuses.items()))
    print(
        f"draft saves      {len(writes.acks)} acknowledged (302); requests {statuses}; "
        f"dropped {writes.dropped}; failures {len(writes.failures)}; lost {len(result.lost)}; "
        f"save p50 {load_test.percentile(writes.latency, 0.5)} ms, "
        f"p99 {load_test.percentile(writes.latency, 0.99)} ms"
    )
    for line in (writes.failures + result.lost)[:10]:
        print(f"  problem: {line}")
    print()
    print(f"{'process':<18}{'pid':>8}{'peak PSS MiB':>14}{'PSS at end':>12}{'VmHWM MiB':>11}")
    for pid, peak in sorted(sampler.peaks.items(), key=lambda item: (item[1].role, item[0])):
        print(
            f"{peak.role:<18}{pid:>8}{mib(peak.pss_kib):>14}{mib(peak.last_pss_kib):>12}"
            f"{mib(peak.hwm_kib):>11}"
        )
    web_end = sum(p.last_pss_kib for p in sampler.peaks.values() if p.role == "web worker")
    web_peak = sum(p.pss_kib for p in sampler.peaks.values() if p.role == "web worker")
    print(
        f"web workers together: peak {mib(web_peak)} MiB PSS (sum of each one's peak), "
        f"{mib(web_end)} MiB at the end; web and job workers in one sample at most "
        f"{mib(sampler.stack_pss_kib)} MiB"
    )
    if result.box.path is not None:
        print(
            f"cgroup           peak {result.max_usage / 2**20:.1f} MiB (max_usage_in_bytes, page "
            f"cache included), peak rss+shmem {sampler.cgroup_rss_bytes / 2**20:.1f} MiB; "
            f"failcnt {result.failcnt}; oom_kill {result.oom_kills}"
        )
    boots = result.web_log.count("Booting worker")
    timeouts = result.web_log.count("WORKER TIMEOUT")
    signalled = result.web_log.count("was sent SIGKILL") + result.web_log.count("was sent code")
    tracebacks = result.web_log.count("Traceback") + result.worker_log.count("Traceback")
    print(
        f"server log       {boots} workers booted, {timeouts} worker timeouts, {signalled} "
        f"workers killed by signal, {tracebacks} tracebacks (web and job worker logs)"
    )
    print(
        f"exits            gunicorn {result.web_exit}, job worker {result.worker_exit} "
        "(after SIGTERM at the end; negative: killed by that signal)"
    )
    workers = int(os.environ.get("BLOG_WORKERS", "2"))
    killed = (result.oom_kills or boots > workers or timeouts or signalled
              or (result.worker_exit or 0) < 0 or (result.web_exit or 0) < 0)  # fmt: skip
    goals = [goal for run in result.spikes for goal in spike_goals(args, run)]
    goals += [
        ("nothing killed", "yes" if killed else "no", not killed),
        (f"web workers <= {WORKERS_PSS_TARGET_MB} MB PSS after load", f"{mib(web_end)} MiB",
         web_end / 1024 <= WORKERS_PSS_TARGET_MB),
        (f"web + job workers <= {STACK_PSS_TARGET_MB} MB PSS", f"{mib(sampler.stack_pss_kib)} MiB",
         sampler.stack_pss_kib / 1024 <= STACK_PSS_TARGET_MB),
    ]  # fmt: skip
    if not args.readers_only:
        answered = sum(writes.statuses.get(status, 0) for status in (302, 409))
        goals.insert(-2, ("every draft save acknowledged", f"{len(writes.acks)} of {answered}",
                          bool(writes.acks) and not writes.failures and not writes.dropped
                          and not result.lost and not writes.statuses.get(409)))  # fmt: skip
    print()
    width = max(len(name) for name, _, _ in goals) + 2
    print(f"{'goal':<{width}}{'measured':>22}  verdict")
    verdicts = {True: "MET", False: "NOT MET", None: "FAILED MEASUREMENT (the client)"}
    for name, value, ok in goals:
        print(f"{name:<{width}}{value:>22}  {verdicts[ok]}")
    if len(result.spikes) > 1:
        print_capacity(result.spikes)
    return all(ok for _, _, ok in goals)


def print_capacity(spikes: list[SpikeRun]) -> None:
    """A sweep's answer: the highest rate whose spike kept p99 under the goal with no error,
    the pages cached and the client on its timetable."""
    good = [
        run.spike.open.intended_rate
        for run in spikes
        if run.spike.open is not None and not run.spike.open.client_problems
        and run.spike.errors == 0 and run.spike.p99_ms < P99_TARGET_MS
        and not run.spike.open.errors["header"] and not run.spike.open.saturated
    ]  # fmt: skip
    failed = [run.spike.mode for run in spikes if run.spike.open and run.spike.open.client_problems]
    print()
    if good:
        print(f"capacity         the highest rate with p99 < {P99_TARGET_MS} ms and no error: "
              f"{max(good):,.0f} req/s (of {', '.join(r.spike.mode for r in spikes)})")  # fmt: skip
    else:
        print(f"capacity         no rate of the sweep kept p99 < {P99_TARGET_MS} ms with no error")
    if failed:
        print(f"                 not judged (the client could not keep up): {', '.join(failed)}")


def rates(text: str) -> list[float | None]:
    """`--rate`: rates in requests a second, separated by commas; "wrk" for a closed-loop
    spike among them (None)."""
    try:
        values = [None if part.strip() == "wrk" else float(part)
                  for part in text.split(",") if part.strip()]  # fmt: skip
    except ValueError:
        values = []
    if not values or min((v for v in values if v is not None), default=1) <= 0:
        raise argparse.ArgumentTypeError(
            'one or more rates > 0 (or "wrk" for a closed-loop spike), separated by commas'
        )
    return values


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=60, help="length of the spike")
    parser.add_argument("--connections", type=int, default=200,
                        help="the readers' connections (wrk's, or the open loop's)")  # fmt: skip
    parser.add_argument(
        "--rate", type=rates, metavar="R[,R2,...]",
        help="readers from bench/open_loop.py at R requests a second in all (a fixed arrival "
        "rate, latency from each request's due time) instead of wrk's closed loop; a list "
        "makes a sweep, one spike per rate on the same box, each with its own send and the "
        'writers; "wrk" in the list is a closed-loop spike (e.g. wrk,200,600)',
    )  # fmt: skip
    parser.add_argument("--posts", type=int, default=10_000)
    parser.add_argument("--subscribers", type=int, default=5000)
    parser.add_argument("--pause-ms", type=int, default=1000, help="a writer's mean pause")
    parser.add_argument("--per-minute", type=int, default=10**9,
                        help="NEWSLETTER_PER_MINUTE (default: out of the way)")  # fmt: skip
    parser.add_argument("--send-wait", type=float, default=600,
                        help="seconds to wait after the spike for the send to finish")  # fmt: skip
    parser.add_argument(
        "--readers-only", action="store_true",
        help="the spike alone: no send, no writers (to see what they cost the readers)",
    )  # fmt: skip
    parser.add_argument("--instance", type=Path, help="seed here once, reuse after (kept)")
    parser.add_argument(
        "--code", type=Path, default=REPO,
        help="the checkout the box runs (default: this one); e.g. an older commit's "
        "`git archive` to compare with, on the same instance",
    )  # fmt: skip
    args = parser.parse_args()
    args.code = args.code.resolve()
    for tool in ("wrk", "taskset"):
        if shutil.which(tool) is None:
            print(f"{tool} is needed (Debian: apt-get install {tool})", file=sys.stderr)
            return 2
    folder = args.instance or Path(tempfile.mkdtemp(prefix="blog-small-box-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        if not (folder / "blog.sqlite3").exists():
            seed_instance(folder, args.posts, args.subscribers)
        with sqlite3.connect(folder / "blog.sqlite3") as connection:
            (args.subscribers_now,) = connection.execute(
                "SELECT count(*) FROM subscriber WHERE status = 'confirmed'"
            ).fetchone()
        ok = report(args, measure(args, folder))
    finally:
        if args.instance:
            print(f"instance kept in {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
