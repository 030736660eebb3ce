"""Performance benchmark: the production server on a seeded blog, side by side with a bare app.

    .venv/bin/python bench/bench.py                          # SQLite, 100 and 10,000 posts
    .venv/bin/python bench/bench.py --posts 100,10000,100000 --duration 15
    .venv/bin/python bench/bench.py --database postgresql --posts 10000

For each size it seeds a throwaway instance (realistic Markdown through the real rendering
pipeline, bulk-inserted), starts gunicorn with the repository's gunicorn.conf.py and, next to
it, bench/baseline_app.py (a constant page as large as the article page) under the same worker
settings, drives both with wrk and prints req/s, latency percentiles, errors, memory, start-up,
preview and re-render times, then the targets with MET / NOT MET. Everything listens on
127.0.0.1 and is stopped at the end. Needs Debian's `wrk` (and `postgresql` for
--database postgresql). Not part of the test suite.
"""

import argparse
import contextlib
import http.cookiejar
import json
import math
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.live_servers import deployed_tuning  # noqa: E402

VENV_BIN = Path(sys.executable).parent
GUNICORN_CONF = REPO / "gunicorn.conf.py"
BASELINE_CONF = REPO / "bench" / "baseline.conf.py"
WRK_SCRIPT = REPO / "bench" / "wrk_report.lua"
PASSWORD = "bench password 2026"
EDITOR_EMAIL = "editor@bench.example.org"
BODY_POOL = 200
COMMON_WORD = "harbour"  # in most bodies
RARE_WORD = "quixotic"  # in the title of one post in 5,000
RARE_EVERY = 5000
START_DEADLINE = 60  # seconds a server may take to answer /healthz before the run fails

# Targets ---------------------------------------------------------------------------------------
RATIO_TARGET = 0.8  # article, home and category page at 10,000 posts, as a share of bare req/s
RATIO_SIZE = 10_000
P99_GROWTH_TARGET = 1.5  # p99 at 100,000 posts over p99 at 100 posts
SEARCH_P95_MS = 50  # at 100,000 posts
PSS_TARGET_MB = 120  # the two web workers after the load (MB here: MiB, as printed)
FIRST_ANSWER_S = 1.0
PREVIEW_MS = 50  # for 5,000 words, median of 20

# Words: the most frequent first. Bodies draw from them with Zipf weights. -------------------
FUNCTION_WORDS = """the of and to a in is that it for was on with as be at by this had not are
but from or have an they which one you were her all she there would their we him been has when
who will more no if out so said what up its about into than them can only other""".split()
CONTENT_WORDS = """time people year way day man thing woman life child world school state family
harbour student group country problem hand part place case week company system program question
work government number night point home water room mother area money story fact month lot right
study book eye job word business issue side kind head house service friend father power hour game
line end member law car city community name president team minute idea kid body information back
parent face others level office door health person art war history party result change morning
reason research girl guy moment air teacher force education foot boy age policy music market
sense nation plan college interest death experience effect use class control care field
development role effort rate heart drug show leader light voice wife police mind price report
decision son view relationship town road arm difference value building action model season
society tax director position player record paper space ground form event official matter center
couple site project activity star table need court oil situation cost industry figure street
image phone data picture practice piece land product doctor wall patient worker news test movie
north love support technology step baby computer type attention film tree source organization
hair window evidence population site river island bridge garden kitchen winter summer spring
autumn letter ferry lighthouse quay boat net catch tide storm weather coast cliff beach sand
shell stone wave wind sail anchor rope engine deck cabin crew captain voyage journey chart
compass lantern signal beacon pier dock warehouse crate barrel market stall bakery cafe
library museum theatre gallery concert festival parade council budget plan survey census
archive ledger journal diary essay chapter verse poem novel author editor reader printer
press column headline caption photo camera lens shutter frame print album recipe bread
butter cheese apple pear plum cherry lemon salt pepper sugar honey tea coffee soup stew
oven kettle""".split()
CODE_SNIPPETS = {
    "python": 'def {a}_{b}({c}, {d}=None):\n    """Return the {a} of the {c}."""\n'
    "    total = sum(item.{b} for item in {c})\n    if {d} is not None:\n"
    "        total += len({d})\n    return {{'{a}': total, 'count': len({c})}}\n",
    "javascript": "export function {a}{B}({c}) {{\n  const {d} = {c}.filter((x) => x.{b});\n"
    '  return {d}.map((x) => `${{x.{a}}}: ${{x.{b}}}`).join("\\n");\n}}\n',
    "bash": "#!/bin/sh\nset -eu\nfor {c} in /srv/{a}/*.{b}; do\n"
    '  cp -- "${c}" "/var/backups/{d}/"\ndone\necho "{a} done"\n',
    "sql": "SELECT {a}.id, count({b}.id) AS {d}\n  FROM {a}\n  JOIN {b} ON {b}.{a}_id = {a}.id\n"
    " WHERE {a}.{c} > 10\n GROUP BY {a}.id\n ORDER BY {d} DESC\n LIMIT 20;\n",
}


class Words:
    """Deterministic Markdown from a Zipf-weighted vocabulary."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.vocabulary = FUNCTION_WORDS + CONTENT_WORDS
        self.weights = [1 / (rank + 1) for rank in range(len(self.vocabulary))]
        self.content = CONTENT_WORDS

    def words(self, count: int) -> list[str]:
        return self.rng.choices(self.vocabulary, self.weights, k=count)

    def noun(self) -> str:
        return self.rng.choice(self.content)

    def sentence(self) -> str:
        words = self.words(self.rng.randint(7, 22))
        if self.rng.random() < 0.25:
            spot = self.rng.randrange(len(words))
            style = self.rng.choice(["**{}**", "*{}*", "`{}`", "[{}](https://example.org/{})"])
            words[spot] = style.format(words[spot], words[spot])
        text = " ".join(words)
        return text[0].upper() + text[1:] + self.rng.choice([".", ".", ".", "?", "!"])

    def paragraph(self) -> str:
        return " ".join(self.sentence() for _ in range(self.rng.randint(2, 7)))

    def title(self) -> str:
        words = [self.noun() for _ in range(self.rng.randint(3, 8))]
        return " ".join(words).capitalize()

    def block(self) -> str:
        roll = self.rng.random()
        if roll < 0.70:
            return self.paragraph()
        if roll < 0.78:
            return f"{self.rng.choice(['##', '###'])} {self.title()}"
        if roll < 0.85:
            return "\n".join(f"- {self.sentence()}" for _ in range(self.rng.randint(3, 6)))
        if roll < 0.89:
            return "\n".join(f"{n}. {self.sentence()}" for n in range(1, self.rng.randint(3, 6)))
        if roll < 0.94:
            return "\n>\n".join(f"> {self.paragraph()}" for _ in range(self.rng.randint(1, 2)))
        if roll < 0.98:
            language = self.rng.choice(sorted(CODE_SNIPPETS))
            a, b, c, d = (self.noun() for _ in range(4))
            code = CODE_SNIPPETS[language].format(a=a, b=b, c=c, d=d, B=b.capitalize())
            return f"```{language}\n{code}```"
        rows = [f"| {self.noun()} | {self.rng.randint(1, 999)} | {self.noun()} |" for _ in range(4)]
        return "| name | count | note |\n|---|---:|---|\n" + "\n".join(rows)

    def body(self, target_words: int) -> str:
        blocks, count = [], 0
        while count < target_words:
            block = self.block()
            blocks.append(block)
            count += len(block.split())
        return "\n\n".join(blocks) + "\n"


# Seeding ---------------------------------------------------------------------------------------


@dataclass
class Scenario:
    """What a seeded instance holds and which URLs the benchmark asks for."""

    posts: int
    database: str
    article: str
    category: str
    category_last_page: int
    tag: str
    seed_seconds: float = 0.0
    seed_parts: dict = field(default_factory=dict)
    article_words: int = 0
    reused: bool = False

    def urls(self) -> dict[str, str]:
        return {
            "article": f"/{self.article}/",
            # The same cached article for a client that accepts gzip, as browsers do.
            "article, gzip": f"/{self.article}/",
            "home": "/",
            "category p1": f"/category/{self.category}/",
            "category last page": f"/category/{self.category}/?page={self.category_last_page}",
            "tag": f"/tag/{self.tag}/",
            "feed": "/feed.xml",
            "admin post list": "/admin/posts/",
            # Last: a slow search leaves a queue behind that the server must work off first.
            f"search '{COMMON_WORD}'": f"/search?q={COMMON_WORD}",
            f"search '{RARE_WORD}'": f"/search?q={RARE_WORD}",
            # The same with the page cache bypassed, as if every query were new.
            f"search '{COMMON_WORD}' uncached": f"/search?q={COMMON_WORD}",
            f"search '{RARE_WORD}' uncached": f"/search?q={RARE_WORD}",
        }


def post_state(index: int) -> str:
    """Most posts are public; a few drafts, scheduled and trashed ones, as on a real site."""
    if index % 50 == 7:
        return "draft"
    if index % 1000 == 13:
        return "scheduled"
    if index % 500 == 251:
        return "trashed"
    return "public"


def zipf_choice(rng: random.Random, count: int) -> int:
    return rng.choices(range(count), [1 / (rank + 1) for rank in range(count)])[0]


def seed(
    database_url: str, instance: Path, posts: int, database: str, pool_size: int = BODY_POOL
) -> Scenario:
    """Fill a new instance: schema by migration, users, taxonomy, media, pages and posts.

    `pool_size` distinct bodies are rendered through the real pipeline; posts reuse them.
    """
    from flask_migrate import upgrade
    from sqlalchemy import func, insert, select, text

    from blog import create_app, search
    from blog.accounts import create_user
    from blog.demo import demo_image
    from blog.extensions import db
    from blog.media import save_upload
    from blog.models import Category, Media, Post, PostKind, PostStatus, Role, Tag, post_tag, utcnow
    from blog.posts import Action, PostInput, render_into, save_post
    from blog.visibility import public_clause

    parts: dict[str, float] = {}
    started = time.perf_counter()
    app = create_app(
        {"INSTANCE_PATH": str(instance), "DATABASE_URL": database_url, "SITE_URL": "http://x"}
    )
    rng = random.Random(20261128)
    words = Words(rng)
    with app.app_context():
        upgrade()
        authors = [
            create_user("admin@bench.example.org", "Ada Admin", Role.ADMIN, PASSWORD),
            create_user(EDITOR_EMAIL, "Ed Editor", Role.EDITOR, PASSWORD),
            *(
                create_user(f"author{n}@bench.example.org", f"Author {name}", Role.AUTHOR, PASSWORD)
                for n, name in enumerate(["Bo", "Cy", "Di"])
            ),
        ]
        categories = [
            Category(name=name.capitalize(), slug=name, position=n, description=words.sentence())
            for n, name in enumerate(
                ["harbour", "town", "business", "weather", "culture", "food", "sport", "history",
                 "letters", "photos"]
            )
        ]  # fmt: skip
        tag_names = sorted(set(CONTENT_WORDS[5:]), key=CONTENT_WORDS.index)[:50]
        tags = [Tag(name=name, slug=name) for name in tag_names]
        db.session.add_all(categories + tags)
        db.session.flush()
        real_media = []
        for number in range(4):
            media = save_upload(demo_image(number), authors[0])
            media.alt_text = f"Picture {number}"
            real_media.append(media)
        fake_media = [
            Media(
                filename=f"{rng.getrandbits(128):032x}.jpg", content_type="image/jpeg",
                width=1600, height=1000, size_bytes=250_000, alt_text=words.title(),
                uploader_id=authors[0].id,
                variants=[
                    {"width": w, "height": w * 5 // 8, "filename": f"v{n}-{w}.jpg",
                     "size_bytes": w * 40}
                    for w in (480, 960)
                ],
            )
            for n in range(300)
        ]  # fmt: skip
        db.session.add_all(fake_media)
        db.session.flush()
        media_ids = [m.id for m in real_media] * 5 + [m.id for m in fake_media]
        for title in ("About", "Contact", "Colophon"):
            save_post(None, PostInput(title=title, kind=PostKind.PAGE, body_md=words.body(200)),
                      authors[0], action=Action.PUBLISH)  # fmt: skip
        author_ids = [a.id for a in authors]
        category_ids = [c.id for c in categories]
        tag_ids = [t.id for t in tags]
        category_slug, tag_slug = categories[0].slug, tags[0].slug
        db.session.commit()

        clock = time.perf_counter()
        pool = []
        for _ in range(pool_size):
            target = int(math.exp(rng.uniform(math.log(300), math.log(3000))))
            rendered = Post(body_md=words.body(target), excerpt="")
            render_into(rendered)
            pool.append(rendered)
        parts[f"render {pool_size} bodies"] = time.perf_counter() - clock
        db.session.commit()  # render_into() bumped the site generation
        db.session.close()  # no session transaction may hold SQLite's write lock from here on

        clock = time.perf_counter()
        with db.engine.begin() as connection:
            search.uninstall(connection)  # indexed once, at the end
        first_id = (db.session.scalar(select(func.max(Post.id))) or 0) + 1
        now = utcnow()
        step = timedelta(days=8 * 365) / max(posts, 1)
        for start in range(0, posts, 2000):
            rows, links = [], []
            for index in range(start, min(posts, start + 2000)):
                body = pool[index % pool_size]
                state = post_state(index)
                published = now - timedelta(hours=1) - step * index
                title = words.title()
                if index % RARE_EVERY == 0:
                    title = f"{title} {RARE_WORD}"
                post_id = first_id + index
                rows.append(
                    {
                        "id": post_id, "kind": PostKind.POST, "title": title,
                        "slug": f"{title.lower().replace(' ', '-')}-{post_id}",
                        "body_md": body.body_md, "body_html": body.body_html,
                        "body_text": body.body_text, "excerpt": "", "summary": body.summary,
                        "word_count": body.word_count, "reading_minutes": body.reading_minutes,
                        "render_version": body.render_version,
                        "status": {"draft": PostStatus.DRAFT, "scheduled": PostStatus.SCHEDULED}
                        .get(state, PostStatus.PUBLISHED),
                        "published_at": (
                            None if state == "draft"
                            else now + timedelta(days=3) if state == "scheduled"
                            else published
                        ),
                        "created_at": published - timedelta(days=1),
                        "updated_at": min(now, published + timedelta(minutes=rng.randrange(600))),
                        "deleted_at": now if state == "trashed" else None,
                        "version": 1,
                        "author_id": author_ids[zipf_choice(rng, len(author_ids))],
                        "category_id": (
                            None if index % 50 == 49
                            else category_ids[zipf_choice(rng, len(category_ids))]
                        ),
                        "featured_media_id": (
                            rng.choice(media_ids) if rng.random() < 0.4 else None
                        ),
                        "featured_alt": "", "featured_caption": "",
                    }
                )  # fmt: skip
                chosen = {tag_ids[zipf_choice(rng, len(tag_ids))] for _ in range(rng.randint(0, 4))}
                links.extend({"post_id": post_id, "tag_id": tag_id} for tag_id in chosen)
            with db.engine.begin() as connection:  # one transaction per batch
                connection.execute(insert(Post.__table__), rows)
                if links:
                    connection.execute(insert(post_tag), links)
        if database == "postgresql":
            db.session.execute(
                text(
                    "SELECT setval(pg_get_serial_sequence('post', 'id'), "
                    "(SELECT max(id) FROM post))"
                )
            )
            db.session.commit()
        parts["insert rows"] = time.perf_counter() - clock

        clock = time.perf_counter()
        if database == "sqlite":
            search.rebuild()  # recreates the FTS5 table and triggers, then indexes every post
        else:
            with db.engine.begin() as connection:
                search.install(connection)  # CREATE INDEX builds it; rebuild() would build twice
        db.session.commit()
        parts["search index"] = time.perf_counter() - clock
        if database == "postgresql":
            with db.engine.connect() as connection:
                connection.execution_options(isolation_level="AUTOCOMMIT").execute(
                    text("VACUUM ANALYZE")
                )  # what autovacuum does soon after a bulk load

        public = public_clause()
        biggest = category_ids[0]
        in_category = db.session.scalar(
            select(func.count(Post.id)).where(
                Post.category_id == biggest, Post.kind == PostKind.POST, public
            )
        )
        best = min(
            (i for i in range(min(posts, pool_size)) if post_state(i) == "public"),
            key=lambda i: abs(pool[i].word_count - 1200),
        )
        article = db.session.get(Post, first_id + best)
        scenario = Scenario(
            posts=posts,
            database=database,
            article=article.slug,
            category=category_slug,
            category_last_page=max(1, math.ceil(in_category / 10)),
            tag=tag_slug,
            article_words=article.word_count,
            seed_seconds=time.perf_counter() - started,
            seed_parts=parts,
        )
        db.session.remove()
        db.engine.dispose()
    return scenario


def five_thousand_words() -> str:
    return Words(random.Random(5000)).body(5000)


# Servers ---------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """A gunicorn master started from the repository, with its log in the run's folder."""

    def __init__(self, name: str, args: list[str], env: dict, folder: Path, tree: Path = REPO):
        self.name, self.args, self.env, self.tree = name, args, env, tree
        self.port = free_port()
        self.log_path = folder / f"{name}.log"
        self.process: subprocess.Popen | None = None
        self.startup_seconds = 0.0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "Server":
        return self.launch().wait()

    def launch(self) -> "Server":
        command = [str(VENV_BIN / "gunicorn"), *self.args, "--bind", f"127.0.0.1:{self.port}"]
        # The interpreter's settings of the tree's deploy/blog.service (the bare app gets the
        # same, so the two differ only by their code).
        env = {**self.env, **deployed_tuning("blog.service", self.tree)}
        self._started = time.perf_counter()
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                command, cwd=self.tree, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        return self

    def wait(self) -> "Server":
        """Poll /healthz until it answers 200; the time from launch is `startup_seconds`."""
        deadline = self._started + START_DEADLINE
        while time.perf_counter() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited; see {self.log_path}")
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(f"{self.base}/healthz", timeout=2) as response:
                    if response.status == 200:
                        self.startup_seconds = time.perf_counter() - self._started
                        return self
            time.sleep(0.01)
        raise RuntimeError(f"{self.name} did not answer within {START_DEADLINE} s")

    def wait_idle(self, limit: float) -> float | None:
        """Seconds until the workers stop using CPU (what wrk left queued is done); None after
        `limit`. Each worker has its own queue, so one answering fast proves nothing."""
        started = time.perf_counter()
        quiet, before = 0, self.cpu_seconds()
        while time.perf_counter() - started < limit:
            time.sleep(0.5)
            now = self.cpu_seconds()
            quiet = quiet + 1 if now - before < 0.05 else 0
            before = now
            if quiet >= 2:
                return time.perf_counter() - started
        return None

    def cpu_seconds(self) -> float:
        """User and system CPU time of the master, its workers and the database server."""
        ticks = 0
        for pid in [*self.pids(), *database_pids()]:
            with contextlib.suppress(OSError):
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                ticks += int(fields[11]) + int(fields[12])  # utime, stime
        return ticks / os.sysconf("SC_CLK_TCK")

    def worker_cpu(self) -> dict[int, float]:
        """CPU seconds (user and system) of each worker."""
        seconds = {}
        for pid in self.pids()[1:]:
            with contextlib.suppress(OSError):
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                seconds[pid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return seconds

    def pids(self) -> list[int]:
        """The master, then its workers."""
        master = self.process.pid
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
        return [master, *map(int, children)]

    def pss_mb(self) -> list[float]:
        """Proportional set size of each process (shared pages divided among their users)."""
        sizes = []
        for pid in self.pids():
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
            kb = sum(
                int(line.split()[1]) for line in rollup.splitlines() if line.startswith("Pss:")
            )
            sizes.append(kb / 1024)
        return sizes

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)

    def log_errors(self) -> int:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        markers = ("Traceback", " ERROR ", "[ERROR]", "[CRITICAL]")
        return sum(1 for line in text.splitlines() if any(mark in line for mark in markers))


def server_env(instance: Path, database_url: str, workers: int, threads: int) -> dict:
    env = dict(os.environ)
    env.update(
        BLOG_INSTANCE_PATH=str(instance),
        BLOG_DATABASE_URL=database_url,
        BLOG_WORKERS=str(workers),
        BLOG_THREADS=str(threads),
    )
    return env


DATABASE_SERVER: dict[str, Path] = {}  # "data": the throwaway PostgreSQL's data folder


def database_pids() -> list[int]:
    """The PostgreSQL server's processes (their CPU counts when waiting for quiet), if any."""
    data = DATABASE_SERVER.get("data")
    if data is None:
        return []
    with contextlib.suppress(OSError, ValueError):
        postmaster = int((data / "postmaster.pid").read_text().split()[0])
        children = Path(f"/proc/{postmaster}/task/{postmaster}/children").read_text().split()
        return [postmaster, *map(int, children)]
    return []


# HTTP ------------------------------------------------------------------------------------------

CSRF_FIELD = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


class Browser:
    """Just enough of a browser: a cookie jar and the CSRF token of the last form seen."""

    def __init__(self, base: str):
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        self.csrf = ""

    def request(self, path: str, data: bytes | None = None, headers: dict | None = None):
        req = urllib.request.Request(self.base + path, data=data, headers=headers or {})
        try:
            with self.opener.open(req, timeout=30) as response:
                body = response.read()
                status = response.status
        except urllib.error.HTTPError as error:
            body, status = error.read(), error.code
        found = CSRF_FIELD.search(body.decode("utf-8", "replace"))
        if found:
            self.csrf = found.group(1)
        return status, body

    def login(self, email: str, password: str) -> int:
        self.request("/login")
        form = urllib.parse.urlencode(
            {"csrf_token": self.csrf, "email": email, "password": password}
        ).encode()
        status, _ = self.request("/login", form)
        return status

    def cookie_header(self) -> str:
        return "; ".join(f"{cookie.name}={cookie.value}" for cookie in self.jar)


@dataclass
class Load:
    """One wrk run."""

    name: str
    url: str
    requests: int = 0
    seconds: float = 0.0
    rps: float = 0.0
    p50_ms: float = 0.0
    p95_ms: float = 0.0
    p99_ms: float = 0.0
    non_2xx: int = 0
    errors: int = 0
    response_bytes: int = 0
    ratio: float | None = None
    drain_seconds: float = 0.0  # how long the server stayed busy after wrk stopped
    busiest_share: float | None = None  # the busiest worker's share of the workers' CPU time
    attempts: int = 1  # runs made; a run where one worker did most of the work is made again
    uncached_ms: float | None = None  # one request at a time, the page cache bypassed


# An anonymous visitor with a "remember me" cookie is not served from the page cache (the
# cookie might sign them in); this one signs in nobody, so the page is rendered as for a miss.
BYPASS = "remember_token=bench"
UNCACHED_BUDGET = 20  # seconds per page at most
SKEW_LIMIT = 0.7  # a run where one worker did more than this share of the work is made again
SKEW_ATTEMPTS = 3


def render_ms(url: str, cookie: str) -> float | None:
    """Median time of up to 5 sequential requests (after one more to warm up), cache bypassed."""
    timings: list[float] = []
    started = time.perf_counter()
    for attempt in range(6):
        request = urllib.request.Request(url, headers={"Cookie": cookie})
        clock = time.perf_counter()
        with urllib.request.urlopen(request, timeout=300) as response:
            response.read()
            if response.headers.get("X-Cache") == "HIT":
                return None  # the bypass no longer works: say nothing rather than mislead
        if attempt:
            timings.append((time.perf_counter() - clock) * 1000)
        if time.perf_counter() - started > UNCACHED_BUDGET:
            break
    return statistics.median(timings) if timings else (time.perf_counter() - clock) * 1000


GZIP_CLIENT = "gzip, deflate, br"  # Accept-Encoding of the pages whose name ends in "gzip"


def run_wrk(name: str, url: str, args, cookie: str = "", duration: float | None = None) -> Load:
    seconds = duration if duration is not None else args.duration
    command = [
        "wrk", f"-t{args.wrk_threads}", f"-c{args.connections}", f"-d{seconds}s",
        "--latency", "--timeout", "10s", "-s", str(WRK_SCRIPT), url,
    ]  # fmt: skip
    if cookie:
        command[1:1] = ["-H", f"Cookie: {cookie}"]
    if name.endswith("gzip"):
        command[1:1] = ["-H", f"Accept-Encoding: {GZIP_CLIENT}"]
    output = subprocess.run(
        command, capture_output=True, text=True, timeout=seconds + 60, check=True
    ).stdout
    line = next(line for line in output.splitlines() if line.startswith("BENCH "))
    values = dict(item.split("=") for item in line.split()[1:])
    numbers = {key: int(value) for key, value in values.items()}
    duration_s = numbers["duration_us"] / 1e6
    load = Load(
        name=name,
        url=url,
        requests=numbers["requests"],
        seconds=duration_s,
        rps=numbers["requests"] / duration_s,
        p50_ms=numbers["p50"] / 1000,
        p95_ms=numbers["p95"] / 1000,
        p99_ms=numbers["p99"] / 1000,
        non_2xx=numbers["status"],
        errors=numbers["connect"] + numbers["read"] + numbers["write"] + numbers["timeout"],
        response_bytes=numbers["bytes"] // max(1, numbers["requests"]),
    )
    return load


# One size --------------------------------------------------------------------------------------


@dataclass
class SizeResult:
    scenario: Scenario
    loads: list[Load]
    baseline_rps: list[float]
    startup_seconds: float
    startup_all: list[float]
    baseline_startup_seconds: float
    pss_mb: list[float]
    preview_ms: float
    preview_words: int
    rerender_seconds: float | None
    rerender_note: str
    server_errors: int
    page_bytes: int
    pss_note: str = ""

    def load(self, name: str) -> Load | None:
        return next((load for load in self.loads if load.name == name), None)


def KeptPostgres(bin_dir: Path, folder: Path):
    """A PostgreSQL server whose data folder stays in `folder` (`--data`) for the next run.

    Seeding 100,000 posts takes minutes on PostgreSQL; a kept server is started again as it was.
    """
    from tests.pg_server import ThrowawayPostgres

    class Kept(ThrowawayPostgres):
        def __init__(self):
            super().__init__(bin_dir)
            shutil.rmtree(self.folder, ignore_errors=True)  # the temporary one is not needed
            self.folder, self.data = folder, folder / "data"
            self.reused = (self.data / "PG_VERSION").exists()
            self.options = ""  # more server settings when started again (bench/alternate.py)

        def start(self) -> str:
            if not self.reused:
                shutil.rmtree(self.folder, ignore_errors=True)
                self.folder.mkdir(parents=True)
                return super().start()
            (self.data / "postmaster.pid").unlink(missing_ok=True)  # left by a killed run
            options = (
                f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.folder} -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off " + self.options
            )
            log = str(self.folder / "server.log")
            self._run(
                "pg_ctl", "-D", str(self.data), "-l", log, "-w", "-t", "60", "start", "-o", options
            )
            return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/blog_test"

        def stop(self) -> None:
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    return Kept()


def benchmark_size(posts: int, args, folder: Path) -> SizeResult:
    instance = folder / f"{args.database}-{posts}"
    marker = instance / "bench-scenario.json"
    postgres = None
    try:
        if args.database == "postgresql":
            from tests.pg_server import ThrowawayPostgres, find_bin_dir

            bin_dir = find_bin_dir()
            if bin_dir is None:
                raise SystemExit("PostgreSQL binaries not found (apt-get install postgresql)")
            kept = folder / f"postgresql-{posts}-server" if args.data else None
            postgres = KeptPostgres(bin_dir, kept) if kept else ThrowawayPostgres(bin_dir)
            database_url = postgres.start()
            DATABASE_SERVER["data"] = postgres.data
        else:
            database_url = f"sqlite:///{instance / 'blog.sqlite3'}"
        if marker.exists() and (args.database == "sqlite" or getattr(postgres, "reused", False)):
            scenario = Scenario(**json.loads(marker.read_text()))
            scenario.reused = True
            print(f"Reusing the seeded instance in {instance}", flush=True)
        else:
            shutil.rmtree(instance, ignore_errors=True)
            print(f"Seeding {posts:,} posts ({args.database}) ...", flush=True)
            scenario = seed(database_url, instance, posts, args.database)
            marker.write_text(json.dumps(asdict(scenario)))
            print(f"  seeded in {scenario.seed_seconds:.1f} s {scenario.seed_parts}", flush=True)
        return measure(scenario, instance, database_url, args, folder)
    finally:
        if postgres is not None:
            DATABASE_SERVER.clear()
            postgres.stop()


def measure(scenario: Scenario, instance: Path, database_url: str, args, folder: Path):
    env = server_env(instance, database_url, args.workers, args.threads)
    tree = (args.tree or REPO).resolve()  # --tree: the blog of another checkout, for a before/after
    blog = Server(
        f"blog-{scenario.database}-{scenario.posts}",
        ["-c", str(tree / GUNICORN_CONF.name)],
        env,
        folder,
        tree,
    )
    baseline = None
    try:
        blog.env["BLOG_SITE_URL"] = blog.base
        blog.start()
        print(f"  blog answered {blog.startup_seconds:.2f} s after start", flush=True)
        browser = Browser(blog.base)
        status, article = browser.request(f"/{scenario.article}/")
        if status != 200:
            raise RuntimeError(f"the article answered {status}")
        page_bytes = len(article)
        base_env = dict(env, BENCH_PAGE_BYTES=str(page_bytes))
        baseline = Server("baseline", ["-c", str(BASELINE_CONF)], base_env, folder).start()
        if browser.login(EDITOR_EMAIL, PASSWORD) != 200:
            raise RuntimeError("could not sign in as the editor")
        cookie = browser.cookie_header()
        for name, path in scenario.urls().items():
            status, _ = (
                browser.request(path)
                if name == "admin post list"
                else Browser(blog.base).request(path)
            )
            if status != 200:
                print(f"  warning: {name} {path} answered {status}", flush=True)
        uncached = {
            name: render_ms(blog.base + path, cookie if name.startswith("admin") else BYPASS)
            for name, path in scenario.urls().items()
            if not args.only or any(word in name for word in args.only)
        }

        loads, baseline_rps = [], []

        def drive(server: Server, name: str, url: str, with_cookie: str = "") -> Load:
            """One wrk run, made again (up to SKEW_ATTEMPTS) when the connections were shared
            unevenly: wrk opens them all at once, and a gunicorn worker that wakes first may
            take most of them for the whole run, leaving the other worker (and core) idle."""
            for attempt in range(1, SKEW_ATTEMPTS + 1):
                if args.warmup:
                    run_wrk(name, url, args, with_cookie, duration=args.warmup)
                    settle(server)
                before = server.worker_cpu()
                load = run_wrk(name, url, args, with_cookie)
                after = server.worker_cpu()
                load.drain_seconds = settle(server)
                load.attempts = attempt
                spent = [after[pid] - before[pid] for pid in after if pid in before]
                if len(spent) > 1 and sum(spent) > 0:
                    load.busiest_share = max(spent) / sum(spent)
                print(
                    f"  {name:<24} {load.rps:8.1f} req/s  p50 {load.p50_ms:7.1f} ms  "
                    f"p99 {load.p99_ms:7.1f} ms  non-2xx {load.non_2xx}  errors {load.errors}  "
                    f"(idle again after {load.drain_seconds:.1f} s; busiest worker "
                    f"{(load.busiest_share or 1):.0%} of the CPU)",
                    flush=True,
                )
                if load.busiest_share is None or load.busiest_share <= SKEW_LIMIT:
                    break
            return load

        def settle(server: Server) -> float:
            """Wait until the server has worked off what wrk left queued; restart if it can't."""
            waited = server.wait_idle(args.drain_max)
            if waited is None:
                print(f"  {server.name} still busy after {args.drain_max} s: restarting it")
                server.stop()
                server.start()
                restarts.append(server.name)
                return float(args.drain_max)
            return waited

        restarts: list[str] = []
        baseline_rps.append(drive(baseline, "bare Flask", baseline.base + "/").rps)
        pss = []
        for name, path in scenario.urls().items():
            if name.startswith("search") and not pss:
                pss = blog.pss_mb()  # every page but search has been under load
            if args.only and not any(word in name for word in args.only):
                continue
            with_cookie = cookie if name.startswith("admin") else ""
            if name.endswith("uncached"):
                with_cookie = BYPASS
            loads.append(drive(blog, name, blog.base + path, with_cookie))
            loads[-1].uncached_ms = uncached.get(name)
        baseline_rps.append(drive(baseline, "bare Flask", baseline.base + "/").rps)
        pss_note = "after every page's load, search included"
        if not restarts:
            pss = blog.pss_mb()
        else:
            pss_note = "after every page's load but search's (the server was restarted then)"
        bare = statistics.mean(baseline_rps)
        for load in loads:
            load.ratio = load.rps / bare if bare else None

        body = json.dumps({"body": five_thousand_words()}).encode()
        headers = {
            "Content-Type": "application/json",
            "X-CSRFToken": browser.csrf,
            "Accept": "application/json",
        }
        timings, words = [], 0
        for attempt in range(21):
            clock = time.perf_counter()
            status, answer = browser.request("/admin/posts/preview", body, headers)
            elapsed = time.perf_counter() - clock
            if status != 200:
                raise RuntimeError(f"preview answered {status}: {answer[:200]!r}")
            if attempt:  # the first one warms up
                timings.append(elapsed * 1000)
            words = json.loads(answer)["words"]
        preview_ms = statistics.median(timings)
        errors = blog.log_errors()
        baseline.stop()
        starts = [blog.startup_seconds]
        for _ in range(args.starts - 1):  # start-up time is noisy: start again, take the median
            blog.stop()
            starts.append(blog.start().startup_seconds)
    finally:
        for server in (baseline, blog):
            if server is not None:
                server.stop()

    rerender_seconds, note = None, ""
    if scenario.posts <= args.rerender_max:
        clock = time.perf_counter()
        subprocess.run(
            [str(VENV_BIN / "flask"), "--app", "blog", "posts", "rerender", "--all"],
            cwd=REPO, env=env, check=True, capture_output=True,
            timeout=600 + scenario.posts,
        )  # fmt: skip
        rerender_seconds = time.perf_counter() - clock
    else:
        note = f"skipped above {args.rerender_max:,} posts (--rerender-max)"
    return SizeResult(
        scenario=scenario,
        loads=loads,
        baseline_rps=baseline_rps,
        startup_seconds=statistics.median(starts),
        startup_all=starts,
        baseline_startup_seconds=baseline.startup_seconds if baseline else 0.0,
        pss_mb=pss,
        preview_ms=preview_ms,
        preview_words=words,
        rerender_seconds=rerender_seconds,
        rerender_note=note,
        server_errors=errors,
        page_bytes=page_bytes,
        pss_note=pss_note,
    )


# Report ----------------------------------------------------------------------------------------


def print_size(result: SizeResult, args) -> None:
    s = result.scenario
    seeded = f"{s.seed_seconds:.1f} s" + (" (earlier run, reused)" if s.reused else "")
    parts = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in s.seed_parts.items())
    print()
    print(f"== {s.database}, {s.posts:,} posts: seeded in {seeded} ({parts})")
    pss = result.pss_mb
    print(
        f"   gunicorn {args.workers} workers x {args.threads} threads (gthread); "
        f"wrk -t{args.wrk_threads} -c{args.connections} -d{args.duration}s; "
        f"article {result.page_bytes:,} bytes, {s.article_words:,} words; "
        f"category last page = {s.category_last_page}"
    )
    print(
        f"   bare Flask: {result.baseline_rps[0]:.1f} req/s before, "
        f"{result.baseline_rps[1]:.1f} after; ratios use the mean"
    )
    header = (
        f"   {'page':<26}{'req/s':>9}{'ratio':>7}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}"
        f"{'non-2xx':>9}{'errors':>8}{'bytes':>9}{'miss ms':>9}{'busiest':>9}{'runs':>6}"
    )
    print(header)
    print("   " + "-" * (len(header) - 3))
    for load in result.loads:
        ratio = f"{load.ratio:.2f}" if load.ratio is not None else "-"
        if load.requests:
            latency = f"{load.p50_ms:>9.1f}{load.p95_ms:>9.1f}{load.p99_ms:>9.1f}"
        else:
            latency = f"{'none answered in time':>27}"
        miss = f"{load.uncached_ms:.1f}" if load.uncached_ms is not None else "-"
        busiest = f"{load.busiest_share:.0%}" if load.busiest_share is not None else "-"
        print(
            f"   {load.name:<26}{load.rps:>9.1f}{ratio:>7}{latency}"
            f"{load.non_2xx:>9}{load.errors:>8}{load.response_bytes:>9,}{miss:>9}"
            f"{busiest:>9}{load.attempts:>6}"
        )
    print(
        "   miss ms: one request at a time with the page cache bypassed (median of up to 5),"
        " as when a page is not cached yet"
    )
    print(
        f"   busiest: the busier worker's share of the CPU during the run; above"
        f" {SKEW_LIMIT:.0%} the run is made again (runs), up to {SKEW_ATTEMPTS} times"
    )
    busy = [
        f"{load.name} {load.drain_seconds:.0f} s" for load in result.loads if load.drain_seconds > 2
    ]
    if busy:
        print(f"   still busy after wrk stopped: {', '.join(busy)}")
    processes = " + ".join(f"{mb:.1f}" for mb in pss)
    print(f"   memory: {sum(pss):.1f} MB PSS (master + workers: {processes}), {result.pss_note}")
    each = ", ".join(f"{seconds:.2f}" for seconds in result.startup_all)
    print(
        f"   first answer {result.startup_seconds:.2f} s after start, median of {each} "
        f"(bare Flask: {result.baseline_startup_seconds:.2f} s)"
    )
    print(
        f"   preview of {result.preview_words:,} words: {result.preview_ms:.1f} ms (median of 20)"
    )
    if result.rerender_seconds is not None:
        per_post = result.rerender_seconds / max(1, s.posts) * 1000
        print(
            f"   re-render all posts: {result.rerender_seconds:.1f} s ({per_post:.1f} ms a post, "
            "process start included)"
        )
    else:
        print(f"   re-render all posts: {result.rerender_note}")
    print(f"   server log: {result.server_errors} error lines")


def verdicts(results: list[SizeResult]) -> list[tuple[str, str, str]]:
    by_size = {r.scenario.posts: r for r in results}
    rows = []

    ratio_run = by_size.get(RATIO_SIZE)
    for page in ("article", "home", "category p1"):
        label = f"{page} at {RATIO_SIZE:,} posts >= {RATIO_TARGET} x bare req/s"
        load = ratio_run.load(page) if ratio_run else None
        if load is None or load.ratio is None:
            rows.append((label, "not measured", "-"))
        else:
            rows.append((label, f"{load.ratio:.2f}", verdict(load.ratio >= RATIO_TARGET)))

    small, large = by_size.get(100), by_size.get(100_000)
    label = f"p99 at 100,000 posts <= {P99_GROWTH_TARGET} x p99 at 100 (each page)"
    if small and large:
        growth = []
        for load in large.loads:
            if load.name.startswith("search"):
                continue  # a target of its own
            before = small.load(load.name)
            if before and before.p99_ms:
                p99 = load.p99_ms if load.requests else math.inf  # none answered: as bad as it gets
                growth.append((p99 / before.p99_ms, load.name))
        worst = max(growth)
        failing = [name for ratio, name in growth if ratio > P99_GROWTH_TARGET]
        measured = f"worst {worst[0]:.2f} ({worst[1]})" + (
            f"; over: {', '.join(failing)}" if failing else ""
        )
        rows.append((label, measured, verdict(not failing)))
    else:
        rows.append((label, "not measured (needs 100 and 100,000)", "-"))

    for uncached in (False, True):
        label = f"search at 100,000 posts p95 < {SEARCH_P95_MS} ms" + (
            ", cache bypassed" if uncached else ", repeated queries"
        )
        if not large:
            rows.append((label, "not measured", "-"))
            continue
        searches = [
            load
            for load in large.loads
            if load.name.startswith("search") and load.name.endswith("uncached") == uncached
        ]
        measured = ", ".join(
            f"{load.name} {load.p95_ms:.1f} ms" if load.requests else f"{load.name}: none answered"
            for load in searches
        )
        ok = all(s.requests and s.p95_ms < SEARCH_P95_MS for s in searches)
        rows.append((label, measured or "not measured", verdict(bool(searches) and ok)))

    for result in results:
        n = result.scenario.posts
        master, *workers = result.pss_mb or [0.0]
        rows.append(  # issue 18's wording: the web workers, the master apart (it is printed)
            (
                f"{len(workers)} web workers <= {PSS_TARGET_MB} MB PSS after load ({n:,} posts)",
                f"{sum(workers):.1f} MB (master {master:.1f} more)",
                verdict(sum(workers) <= PSS_TARGET_MB),
            )
        )
        rows.append(
            (
                f"first request within {FIRST_ANSWER_S:.0f} s of start ({n:,} posts)",
                f"{result.startup_seconds:.2f} s",
                verdict(result.startup_seconds <= FIRST_ANSWER_S),
            )
        )
        plain, packed = result.load("article"), result.load("article, gzip")
        if plain and packed and plain.rps:
            rows.append(
                (
                    f"gzip article: bytes a response, req/s vs plain ({n:,} posts)",
                    f"{packed.response_bytes:,} vs {plain.response_bytes:,} B, "
                    f"{packed.rps / plain.rps:.2f}",
                    verdict(packed.response_bytes < plain.response_bytes / 2)
                    + ("" if packed.rps >= 0.9 * plain.rps else " (slower)"),
                )
            )
        rows.append(
            (
                f"preview of 5,000 words < {PREVIEW_MS} ms ({n:,} posts)",
                f"{result.preview_ms:.1f} ms",
                verdict(result.preview_ms < PREVIEW_MS),
            )
        )
    return rows


def verdict(ok: bool) -> str:
    return "MET" if ok else "NOT MET"


def print_targets(results: list[SizeResult]) -> None:
    rows = verdicts(results)
    width = max(len(row[0]) for row in rows) + 2
    measured_width = max(len(row[1]) for row in rows) + 2
    print()
    print("== Targets")
    for label, measured, result in rows:
        print(f"   {label:<{width}}{measured:<{measured_width}}{result}")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--posts", default="100,10000", help="sizes, comma-separated")
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of wrk before each run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--wrk-threads", type=int, default=2)
    parser.add_argument("--workers", type=int, default=int(os.environ.get("BLOG_WORKERS", 2)))
    parser.add_argument("--threads", type=int, default=int(os.environ.get("BLOG_THREADS", 4)))
    parser.add_argument(
        "--drain-max", type=int, default=300, help="seconds to wait for a busy server"
    )
    parser.add_argument("--starts", type=int, default=3, help="server starts timed")
    parser.add_argument("--rerender-max", type=int, default=10_000, help="skip re-render above")
    parser.add_argument("--only", type=lambda v: v.split(","), help="pages whose name has these")
    parser.add_argument(
        "--data", type=Path, help="keep seeded instances (and PostgreSQL servers) here for reuse"
    )
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument(
        "--tree", type=Path, help="serve the blog from this checkout (a before/after comparison)"
    )
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found (apt-get install wrk)")
    sizes = [int(value.replace("_", "")) for value in args.posts.split(",")]
    keep = args.data is not None
    folder = args.data.resolve() if keep else Path(tempfile.mkdtemp(prefix="blog-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    print(
        f"Benchmark {time.strftime('%Y-%m-%d %H:%M')} on {os.cpu_count()} CPUs; files in {folder}",
        flush=True,
    )
    results = []
    try:
        for posts in sizes:
            results.append(benchmark_size(posts, args, folder))
            print_size(results[-1], args)
    finally:
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)
    print_targets(results)
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
