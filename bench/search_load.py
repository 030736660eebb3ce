"""Search under load: queries never asked before, 8 connections, 100,000 posts (issue 18, part 4).

    .venv/bin/python bench/search_load.py --data /tmp/search-data             # SQLite
    .venv/bin/python bench/search_load.py --data /tmp/search-data --database postgresql
    .venv/bin/python bench/search_load.py --data /tmp/search-data --tree /tmp/old-checkout

Seeds an instance with bench/bench.py's `seed()` (kept in --data and reused next time; for
PostgreSQL the server's data folder is kept there too and started again), starts gunicorn with
each tree's gunicorn.conf.py (this checkout, and any `--tree`, e.g. an export of an older
commit, against the same database), and drives each with `--connections` keep-alive
connections for `--seconds`, the trees taking turns for `--rounds` rounds, so a shared
machine's load weighs on all alike. Prints p50/p95/p99, req/s and errors, overall and by kind
of query, and the load average; everything listens on 127.0.0.1 and is stopped at the end.

The queries come from the posts' own words: a sample of the published posts is split into
words as the engines do (lower case, runs of letters and digits: `harbour_tide` in a code block
is two words, and typed as one it is a phrase query, which this benchmark leaves out), and each
word's share of the posts
containing it (its document frequency) puts it in a band:

- common: in at least 30% of the posts (the cap of 1,000 newest matches always applies);
- middling: 3-30% (PostgreSQL's planner found this band hardest);
- rare: under 3%;
- two words: any two words, together (AND);
- prefix: the first 3-5 letters of a word and `*`.

No address is ever asked twice, of any server, so the page cache never answers (every answer's
X-Cache is checked: a HIT counts as an error, as does any status but 200, or 404 for a page
past the last one). A band has only so many words, so once each of
its words has been asked, it is asked again as a different query: capitalised, then upper case
(the engines lower-case it, so the work is the same), then on page 2, and so on. Each round
draws a new list of queries and every tree gets the same list, in the same order.

The client is Python threads, one `http.client` keep-alive connection each, rather than wrk:
each answer must be timed and counted under its kind of query, and checked (status, X-Cache),
which wrk's Lua hooks cannot do per request. At the few hundred requests a second that
uncached search can reach on two cores, the client costs a few percent of a core (printed).
"""

import argparse
import contextlib
import http.client
import itertools
import json
import os
import random
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.parse
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# The script's own folder would make bench/bench.py the module `bench`; the repository's
# root makes `bench` the folder, as everywhere else.
sys.path[:] = [str(REPO)] + [p for p in sys.path if Path(p or ".").resolve() != REPO / "bench"]

from bench.bench import DATABASE_SERVER, VENV_BIN, Scenario, Server, seed, server_env  # noqa: E402

P95_TARGET_MS = 100
KINDS = {"common": 0.2, "middling": 0.2, "rare": 0.15, "two words": 0.35, "prefix": 0.1}
COMMON_SHARE, RARE_SHARE = 0.30, 0.03
SAMPLE_EVERY = 37  # the word counts read every 37th post (2,700 of 100,000)
WORD = re.compile(r"[^\W_]+")  # letters and digits, as both engines split words


# Database and instance -------------------------------------------------------------------------


class KeptPostgres:
    """A PostgreSQL server whose data folder lives in --data and outlives the run.

    The first run makes it as tests/pg_server.py does (initdb, trust on 127.0.0.1, fsync off);
    later runs start it again on a free port. Stopped with pg_ctl's fast mode (SIGINT).
    """

    def __init__(self, folder: Path):
        from tests.pg_server import ThrowawayPostgres, find_bin_dir

        bin_dir = find_bin_dir()
        if bin_dir is None:
            raise SystemExit("PostgreSQL binaries not found (apt-get install postgresql)")
        self.server = ThrowawayPostgres(bin_dir)
        shutil.rmtree(self.server.folder, ignore_errors=True)  # the kept folder instead
        self.server.folder = folder
        self.server.data = folder / "data"
        self.data = self.server.data

    @property
    def made(self) -> bool:
        return (self.data / "PG_VERSION").exists()

    def start(self) -> str:
        server = self.server
        if not self.made:
            shutil.rmtree(server.folder, ignore_errors=True)
            server.folder.mkdir(parents=True)
            return server.start()
        options = (
            f"-c listen_addresses=127.0.0.1 -p {server.port} -k {server.folder} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off"
        )
        log = str(server.folder / "server.log")
        server._run("pg_ctl", "-D", str(self.data), "-l", log, "-w", "-t", "60", "start",
                    "-o", options)  # fmt: skip
        return f"postgresql+psycopg://postgres@127.0.0.1:{server.port}/blog_test"

    def stop(self) -> None:
        self.server._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")


def prepared_instance(args, folder: Path) -> tuple[Path, str, KeptPostgres | None]:
    """The seeded instance (made on the first run) and its database URL."""
    instance = folder / f"{args.database}-{args.posts}"
    marker = instance / "bench-scenario.json"
    postgres = None
    if args.database == "postgresql":
        postgres = KeptPostgres(folder / f"pg-server-{args.posts}")
        if not postgres.made:
            marker.unlink(missing_ok=True)
        database_url = postgres.start()
        DATABASE_SERVER["data"] = postgres.data
    else:
        database_url = f"sqlite:///{instance / 'blog.sqlite3'}"
    if marker.exists():
        print(f"Reusing the seeded instance in {instance}", flush=True)
    else:
        shutil.rmtree(instance, ignore_errors=True)
        print(f"Seeding {args.posts:,} posts ({args.database}) ...", flush=True)
        scenario = seed(database_url, instance, args.posts, args.database)
        marker.write_text(json.dumps(asdict(scenario)))
        print(f"  seeded in {scenario.seed_seconds:.1f} s {scenario.seed_parts}", flush=True)
    Scenario(**json.loads(marker.read_text()))  # a marker from another version fails here
    return instance, database_url, postgres


# Queries ---------------------------------------------------------------------------------------


def word_bands(database_url: str) -> tuple[dict[str, list[str]], int]:
    """Words of a sample of the published posts, by document frequency band."""
    from sqlalchemy import create_engine, select

    from blog.models import Post
    from blog.visibility import public_clause

    engine = create_engine(database_url)
    with engine.connect() as connection:
        rows = connection.execute(
            select(Post.title, Post.body_text).where(public_clause(), Post.id % SAMPLE_EVERY == 0)
        ).all()
    engine.dispose()
    counts: Counter[str] = Counter()
    for title, body in rows:
        counts.update(set(WORD.findall(f"{title} {body}".lower())))
    sampled = max(1, len(rows))
    bands: dict[str, list[str]] = {"common": [], "middling": [], "rare": []}
    for word, count in sorted(counts.items()):
        share = count / sampled
        band = "common" if share >= COMMON_SHARE else "rare" if share < RARE_SHARE else "middling"
        bands[band].append(word)
    return bands, sampled


class QueryMaker:
    """Endless addresses of searches no server has been asked, drawn kind by kind."""

    def __init__(self, bands: dict[str, list[str]], seed_value: int):
        self.rng = random.Random(seed_value)
        self.bands = bands
        self.vocabulary = sorted(itertools.chain.from_iterable(bands.values()))
        self.prefixable = sorted({w for w in self.vocabulary if len(w) >= 5 and w.isalpha()})
        self.asked: set[tuple[str, int]] = set()
        self.rounds: dict[str, int] = defaultdict(int)
        self.pending: dict[str, list[str]] = defaultdict(list)

    def next(self) -> tuple[str, str]:
        kind = self.rng.choices(list(KINDS), list(KINDS.values()))[0]
        for _ in range(1000):
            query, page = self._draw(kind)
            if (query, page) not in self.asked:
                self.asked.add((query, page))
                return kind, "/search?" + urllib.parse.urlencode(
                    {"q": query} | ({"page": page} if page > 1 else {})
                )
        raise RuntimeError(f"no new {kind} query found")

    def _draw(self, kind: str) -> tuple[str, int]:
        if kind == "two words":
            first, second = self.rng.sample(self.vocabulary, 2)
            return f"{first} {second}", 1
        if kind == "prefix":
            word = self._next_word(kind, self.prefixable)
            return self._variant(kind, word[: self.rng.randint(3, 5)] + "*")
        return self._variant(kind, self._next_word(kind, self.bands[kind]))

    def _next_word(self, kind: str, words: list[str]) -> str:
        """Each word of the band once, in random order, then each again, and so on."""
        if not self.pending[kind]:
            self.pending[kind] = self.rng.sample(words, len(words))
            self.rounds[kind] += 1
        return self.pending[kind].pop()

    def _variant(self, kind: str, word: str) -> tuple[str, int]:
        """The n-th time round a band: as typed, capitalised, upper case, then page 2, ..."""
        turn = self.rounds[kind] - 1
        form = (str.lower, str.capitalize, str.upper)[turn % 3]
        return form(word), 1 + turn // 3


# Load ------------------------------------------------------------------------------------------


@dataclass
class Answer:
    kind: str
    ms: float
    status: int
    cache: str
    later_page: bool = False  # page 2 or more: a 404 there is an answer (past the end)

    @property
    def failed(self) -> bool:
        past_the_end = self.status == 404 and self.later_page
        return (self.status != 200 and not past_the_end) or self.cache == "HIT"


@dataclass
class Run:
    tree: str
    round: int
    seconds: float = 0.0
    answers: list[Answer] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # connection errors, timeouts
    client_cpu: float = 0.0
    server_cpu: float = 0.0  # CPU seconds of the workers (and PostgreSQL's processes) in the run
    busiest_share: float | None = None
    load_average: str = ""


class QueryList:
    """One round's queries, drawn as they are needed: every tree is given the same ones, in
    the same order, and no more are drawn than the fastest tree asks."""

    def __init__(self, maker: QueryMaker):
        self.maker, self.drawn, self.lock = maker, [], threading.Lock()

    def reader(self):
        """A fresh pass from the start; `next()` on it is safe from many threads."""
        position = itertools.count()

        def next_query() -> tuple[str, str]:
            with self.lock:
                index = next(position)
                while len(self.drawn) <= index:
                    self.drawn.append(self.maker.next())
                return self.drawn[index]

        return next_query


def drive(base: str, queries, connections: int, seconds: float) -> Run:
    """`connections` threads, each with one keep-alive connection, asking the next unasked
    query (`queries()`) as soon as its previous answer is read, until `seconds` have passed."""
    host, port = urllib.parse.urlsplit(base).netloc.split(":")
    run = Run(tree="", round=0)
    deadline = time.perf_counter() + seconds

    def worker():
        connection = http.client.HTTPConnection(host, int(port), timeout=30)
        while time.perf_counter() < deadline:
            kind, path = queries()
            started = time.perf_counter()
            try:
                connection.request("GET", path)
                response = connection.getresponse()
                response.read()
            except (OSError, http.client.HTTPException) as error:
                run.failures.append(f"{kind}: {type(error).__name__}")
                connection.close()
                connection = http.client.HTTPConnection(host, int(port), timeout=30)
                continue
            elapsed = (time.perf_counter() - started) * 1000
            cache = response.getheader("X-Cache", "")
            later = "&page=" in path or "?page=" in path
            run.answers.append(Answer(kind, elapsed, response.status, cache, later))
        connection.close()

    cpu, clock = time.process_time(), time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    run.seconds = time.perf_counter() - clock
    run.client_cpu = (time.process_time() - cpu) / run.seconds
    run.load_average = " ".join(f"{value:.1f}" for value in os.getloadavg())
    return run


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def summary(answers: list[Answer], seconds: float) -> dict:
    times = [a.ms for a in answers]
    return {
        "requests": len(answers),
        "rps": len(answers) / seconds if seconds else 0.0,
        "p50": percentile(times, 0.50),
        "p95": percentile(times, 0.95),
        "p99": percentile(times, 0.99),
        "errors": sum(1 for a in answers if a.failed),
    }


def print_run(run: Run) -> None:
    overall = summary(run.answers, run.seconds)
    busiest = f"{run.busiest_share:.0%}" if run.busiest_share is not None else "-"
    cpu_ms = run.server_cpu * 1000 / max(1, len(run.answers))
    print(
        f"  round {run.round} {run.tree:<10} {overall['rps']:7.1f} req/s  "
        f"p50 {overall['p50']:6.1f}  p95 {overall['p95']:6.1f}  p99 {overall['p99']:6.1f} ms  "
        f"errors {overall['errors'] + len(run.failures)}  server CPU {cpu_ms:.1f} ms a request  "
        f"client {run.client_cpu:.0%} CPU  "
        f"busiest worker {busiest}  load {run.load_average}",
        flush=True,
    )


def report(runs: list[Run], trees: list[str]) -> dict:
    """Every tree's answers of all rounds together: overall, then by kind."""
    print()
    header = f"  {'tree':<10}{'kind':<11}{'requests':>9}{'req/s':>8}{'p50':>8}{'p95':>8}"
    print(header + f"{'p99':>8}{'errors':>8}   (ms; all rounds together)")
    results = {}
    for tree in trees:
        mine = [run for run in runs if run.tree == tree]
        seconds = sum(run.seconds for run in mine)
        answers = [a for run in mine for a in run.answers]
        failures = sum(len(run.failures) for run in mine)
        results[tree] = {}
        for kind in ["all", *KINDS]:
            chosen = [a for a in answers if kind == "all" or a.kind == kind]
            figures = summary(chosen, seconds)
            if kind == "all":
                figures["errors"] += failures
            results[tree][kind] = figures
            print(
                f"  {tree:<10}{kind:<11}{figures['requests']:>9}{figures['rps']:>8.1f}"
                f"{figures['p50']:>8.1f}{figures['p95']:>8.1f}{figures['p99']:>8.1f}"
                f"{figures['errors']:>8}"
            )
        cpu_ms = sum(run.server_cpu for run in mine) * 1000 / max(1, len(answers))
        results[tree]["server_cpu_ms"] = cpu_ms
        print(f"  {tree:<10}server CPU {cpu_ms:.1f} ms a request (workers and database server)")
        statuses = Counter(a.status for a in answers)
        caches = Counter(a.cache for a in answers)
        print(f"  {tree:<10}statuses {dict(statuses)}, X-Cache {dict(caches)}")
    return results


class TreeServer(Server):
    """bench.py's gunicorn server, started from another checkout (its code, its conf)."""

    def __init__(self, name: str, tree: Path, env: dict, folder: Path):
        super().__init__(name, ["-c", str(tree / "gunicorn.conf.py")], env, folder)
        self.tree = tree

    def launch(self) -> "TreeServer":
        command = [str(VENV_BIN / "gunicorn"), *self.args, "--bind", f"127.0.0.1:{self.port}"]
        self._started = time.perf_counter()
        env = dict(self.env, PYTHONPATH=str(self.tree))  # the tree's `blog`, not the venv's
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                command, cwd=self.tree, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        return self


def tree_label(tree: Path) -> str:
    """The tree's commit, when it is a git checkout or says so in a COMMIT file."""
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        if (tree / "COMMIT").exists():
            return (tree / "COMMIT").read_text().strip()[:10]
        head = subprocess.run(
            ["git", "-C", str(tree), "rev-parse", "--short", "HEAD"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        dirty = subprocess.run(
            ["git", "-C", str(tree), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        return head + ("+" if dirty else "")
    return tree.name[:10]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--posts", type=int, default=100_000)
    parser.add_argument("--data", type=Path, required=True, help="seeded instances kept here")
    parser.add_argument("--seconds", type=float, default=20, help="per tree and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=float, default=5, help="seconds of queries first")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--tree", type=Path, action="append", default=[], help="also measure")
    parser.add_argument("--workers", type=int, default=int(os.environ.get("BLOG_WORKERS", 2)))
    parser.add_argument("--threads", type=int, default=int(os.environ.get("BLOG_THREADS", 4)))
    parser.add_argument(
        "--tree-data",
        type=Path,
        help="the --tree servers use the seeded instance kept here (SQLite), e.g. the same "
        "posts before a migration of this checkout's copy in --data",
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--seed-only", action="store_true", help="prepare the instance, stop")
    args = parser.parse_args(argv)

    folder = args.data.resolve()
    folder.mkdir(parents=True, exist_ok=True)
    print(f"Search under load {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} CPUs", flush=True)
    trees = [REPO, *(tree.resolve() for tree in args.tree)]
    labels = [f"{'AB'[n] if n < 2 else n}:{tree_label(tree)}" for n, tree in enumerate(trees)]
    instance, database_url, postgres = prepared_instance(args, folder)
    servers: list[TreeServer] = []
    runs: list[Run] = []
    try:
        if args.seed_only:
            return 0
        bands, sampled = word_bands(database_url)
        counts = ", ".join(f"{band} {len(words)}" for band, words in bands.items())
        print(f"  words from {sampled:,} sampled posts: {counts}", flush=True)
        env = server_env(instance, database_url, args.workers, args.threads)
        tree_env = env
        if args.tree_data and args.database == "sqlite":
            tree_instance, tree_url, _ = prepared_instance(args, args.tree_data.resolve())
            tree_env = server_env(tree_instance, tree_url, args.workers, args.threads)
            print(f"  the --tree servers use {tree_instance}", flush=True)
        for label, tree in zip(labels, trees, strict=True):
            name = f"search-{args.database}-{label}"
            tree_folder = folder if tree == REPO else (args.tree_data or folder).resolve()
            server_environment = env if tree == REPO else tree_env
            servers.append(TreeServer(name, tree, server_environment, tree_folder).start())
            print(f"  {label}: gunicorn from {tree} on {servers[-1].base}", flush=True)
        maker = QueryMaker(bands, seed_value=20261207)
        for label, server in zip(labels, servers, strict=True):
            warm = drive(server.base, QueryList(maker).reader(), 8, args.warmup)
            print(f"  {label} warmed up: {len(warm.answers)} queries", flush=True)
        for number in range(1, args.rounds + 1):
            queries = QueryList(maker)
            order = list(zip(labels, servers, strict=True))
            if number % 2 == 0:
                order.reverse()  # neither tree always goes first
            for label, server in order:
                before, cpu = server.worker_cpu(), server.cpu_seconds()
                run = drive(server.base, queries.reader(), args.connections, args.seconds)
                after, run.server_cpu = server.worker_cpu(), server.cpu_seconds() - cpu
                spent = [after[pid] - before[pid] for pid in after if pid in before]
                if len(spent) > 1 and sum(spent) > 0:
                    run.busiest_share = max(spent) / sum(spent)
                run.tree, run.round = label, number
                runs.append(run)
                print_run(run)
                server.wait_idle(30)
        for label, server in zip(labels, servers, strict=True):
            if server.log_errors():
                print(f"  {label}: {server.log_errors()} error lines in {server.log_path}")
    finally:
        for server in servers:
            server.stop()
        if postgres is not None:
            DATABASE_SERVER.clear()
            postgres.stop()
    results = report(runs, labels)
    print()
    for label in labels:
        p95 = results[label]["all"]["p95"]
        verdict = "MET" if p95 < P95_TARGET_MS else "NOT MET"
        print(f"  {label}: p95 {p95:.1f} ms against {P95_TARGET_MS} ms: {verdict}")
    if len(labels) > 1:
        for label in labels[1:]:
            ratio = results[labels[0]]["all"]["p95"] / results[label]["all"]["p95"]
            cpu = results[labels[0]]["server_cpu_ms"] / results[label]["server_cpu_ms"]
            print(f"  p95 {labels[0]} / {label}: {ratio:.2f}; server CPU a request: {cpu:.2f}")
    if args.json:
        args.json.write_text(json.dumps({"results": results, "labels": labels}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
