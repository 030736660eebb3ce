"""Cached reader pages on PostgreSQL in alternating rounds: the blog, a bare Flask app, a before.

    .venv/bin/python bench/alternate.py --posts 10000 --data /tmp/bench-data --before /tmp/old
    .venv/bin/python bench/alternate.py --posts 100,100000 --data /tmp/bench-data

`bench/bench.py` drives each page once, between two runs of the bare app; on a shared machine
whose load swings by 2-3x within a minute, the bare app's two runs can differ by half. Here every
server runs at once (the bare app; this checkout's blog on each size's database; with
`--before DIR` the blog of another checkout on the same databases) and wrk drives them in turn,
page by page, round by round, the order rotated each round, so each figure has its baselines a
few seconds away. Per page and server it prints the medians over the rounds of req/s, of the
ratio to the bare app in the same round, and of p99; the generation reads per request (counted
by PostgreSQL's pg_stat_statements); the CPU the workers and PostgreSQL spent per request; and
the load average. With two sizes it also prints each page's p99 at the larger size over its p99
at the smaller, taken round by round.

Seeds (and keeps, in `--data`) the instances and PostgreSQL servers as `bench/bench.py --data`
does. Needs Debian's `wrk` and `postgresql` (with its pg_stat_statements module, which Debian
ships). Everything listens on 127.0.0.1 and is stopped at the end.
"""

import argparse
import json
import os
import shutil
import statistics
import sys
import time
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench  # noqa: E402  (bench/bench.py; it puts the repository on the path)

PAGES = ("article", "home", "category p1", "category last page", "tag", "feed")
GENERATION_READ = "SELECT generation, changed_at FROM site_state%"


class Database:
    """One size's kept PostgreSQL server, started with pg_stat_statements."""

    def __init__(self, posts: int, folder: Path):
        from tests.pg_server import find_bin_dir

        self.posts, self.bin_dir = posts, find_bin_dir()
        self.instance = folder / f"postgresql-{posts}"
        self.server_folder = folder / f"postgresql-{posts}-server"
        marker = self.instance / "bench-scenario.json"
        server = bench.KeptPostgres(self.bin_dir, self.server_folder)
        if not (server.reused and marker.exists()):
            url = server.start()
            try:
                shutil.rmtree(self.instance, ignore_errors=True)
                print(f"Seeding {posts:,} posts (postgresql) ...", flush=True)
                scenario = bench.seed(url, self.instance, posts, "postgresql")
                marker.write_text(json.dumps(asdict(scenario)))
            finally:
                server.stop()
            server = bench.KeptPostgres(self.bin_dir, self.server_folder)
        server.options = "-c shared_preload_libraries=pg_stat_statements"
        self.server = server
        self.url = server.start()
        try:
            self.scenario = bench.Scenario(**json.loads(marker.read_text()))
            self._execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        except BaseException:
            server.stop()
            raise

    def _execute(self, sql: str):
        import psycopg

        with psycopg.connect(self.url.replace("+psycopg", ""), autocommit=True) as connection:
            cursor = connection.execute(sql)
            return cursor.fetchone() if cursor.description else None

    def generation_reads(self) -> int:
        sql = f"SELECT coalesce(sum(calls), 0) FROM pg_stat_statements WHERE query LIKE '{GENERATION_READ}'"  # noqa: E501
        return int(self._execute(sql)[0])

    def cpu_seconds(self) -> float:
        bench.DATABASE_SERVER["data"] = self.server.data
        try:
            return cpu_of(bench.database_pids())
        finally:
            bench.DATABASE_SERVER.clear()

    def stop(self) -> None:
        self.server.stop()


def cpu_of(pids: list[int]) -> float:
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


class Target:
    """A server wrk drives, with the database it reads (None for the bare app)."""

    def __init__(self, label: str, server: bench.Server, database: Database | None):
        self.label, self.server, self.database = label, server, database
        self.runs: dict[str, list[dict]] = {}
        self.miss_ms: dict[str, float | None] = {}  # one request alone, page cache bypassed


def drive(target: Target, page: str, path: str, args) -> dict:
    """One measured wrk run (after a short warm-up), made again once if one worker took most."""
    url = target.server.base + path
    database = target.database
    for _attempt in range(2):
        bench.run_wrk(page, url, args, duration=args.warmup)
        target.server.wait_idle(30)
        reads = database.generation_reads() if database else 0
        workers = target.server.worker_cpu()
        db_cpu = database.cpu_seconds() if database else 0.0
        load = bench.run_wrk(page, url, args)
        after = target.server.worker_cpu()
        spent = [after[pid] - workers[pid] for pid in after if pid in workers]
        run = {
            "rps": load.rps,
            "p50": load.p50_ms,
            "p99": load.p99_ms,
            "requests": load.requests,
            "errors": load.errors + load.non_2xx,
            "worker_us": sum(spent) / max(1, load.requests) * 1e6,
            "db_us": ((database.cpu_seconds() - db_cpu) if database else 0.0)
            / max(1, load.requests)
            * 1e6,
            "reads": ((database.generation_reads() - reads) / max(1, load.requests))
            if database
            else None,
            "load": os.getloadavg()[0],
            "busiest": max(spent) / sum(spent) if len(spent) > 1 and sum(spent) else 1.0,
        }
        target.server.wait_idle(30)
        if run["busiest"] <= bench.SKEW_LIMIT:
            break
    return run


def start_servers(databases: list[Database], args, folder: Path, targets: list) -> None:
    """The bare app first, then each size's blogs; `targets` fills as they start (to stop)."""
    first = databases[0]
    env = bench.server_env(first.instance, first.url, args.workers, args.threads)
    blogs = []
    for database in databases:
        trees = [("after", bench.REPO)] + (
            [("before", args.before.resolve())] if args.before else []
        )
        for label, tree in trees:
            env = bench.server_env(database.instance, database.url, args.workers, args.threads)
            name = f"{label}-{database.posts}"
            server = bench.Server(name, ["-c", str(tree / "gunicorn.conf.py")], env, folder, tree)
            server.env["BLOG_SITE_URL"] = server.base
            blogs.append(Target(name, server, database))
            targets.append(blogs[-1])
            server.start()
    _, article = bench.Browser(blogs[0].server.base).request(f"/{first.scenario.article}/")
    base_env = dict(env, BENCH_PAGE_BYTES=str(len(article)))
    bare = bench.Server("bare", ["-c", str(bench.BASELINE_CONF)], base_env, folder)
    targets.insert(0, Target("bare", bare, None))
    bare.start()


def measure(targets: list[Target], args) -> None:
    pages = [page for page in PAGES if not args.only or any(word in page for word in args.only)]
    for target in targets:
        for page in pages if target.database else ():
            url = target.server.base + target.database.scenario.urls()[page]
            target.miss_ms[page] = bench.render_ms(url, bench.BYPASS)
            print(f"  {page:<20} {target.label:<14} miss {target.miss_ms[page] or 0:.1f} ms")
    for page in pages:
        for round_ in range(args.rounds):
            shift = round_ % len(targets)
            for target in targets[shift:] + targets[:shift]:
                path = target.database.scenario.urls()[page] if target.database else "/"
                run = target.runs.setdefault(page, [])
                run.append(drive(target, page, path, args))
                last = run[-1]
                print(
                    f"  {page:<20} round {round_ + 1} {target.label:<14} {last['rps']:8.0f} req/s"
                    f"  p99 {last['p99']:6.1f} ms  reads/req {last['reads'] or 0:.2f}"
                    f"  load {last['load']:.1f}",
                    flush=True,
                )


def report(targets: list[Target], args) -> dict:
    bare = targets[0]
    summary: dict = {}
    print("\n page                 server        req/s  ratio to bare (rounds)       p99 ms"
          "  reads/req  worker µs/req  db µs/req  miss ms  load")  # fmt: skip
    for page, bare_runs in bare.runs.items():
        for target in targets:
            runs = target.runs[page]
            ratios = [run["rps"] / base["rps"] for run, base in zip(runs, bare_runs, strict=True)]
            row = {
                "rps": statistics.median(run["rps"] for run in runs),
                "ratio": statistics.median(ratios),
                "ratios": [round(ratio, 2) for ratio in ratios],
                "p99": statistics.median(run["p99"] for run in runs),
                "p99s": [round(run["p99"], 1) for run in runs],
                "reads": statistics.median(run["reads"] or 0 for run in runs),
                "worker_us": statistics.median(run["worker_us"] for run in runs),
                "db_us": statistics.median(run["db_us"] for run in runs),
                "load": (min(run["load"] for run in runs), max(run["load"] for run in runs)),
                "errors": sum(run["errors"] for run in runs),
                "miss_ms": target.miss_ms.get(page),
            }
            summary.setdefault(page, {})[target.label] = row
            print(
                f" {page:<20} {target.label:<12} {row['rps']:6.0f}  {row['ratio']:.2f} "
                f"{str(row['ratios']):<22} {row['p99']:6.1f}  {row['reads']:9.2f}  "
                f"{row['worker_us']:13.0f}  {row['db_us']:9.0f}  {row['miss_ms'] or 0:7.1f}  "
                f"{row['load'][0]:.1f}-{row['load'][1]:.1f}"
                + (f"  errors {row['errors']}" if row["errors"] else "")
            )
    sizes = sorted({t.database.posts for t in targets if t.database})
    if len(sizes) > 1:
        small, large = f"after-{sizes[0]}", f"after-{sizes[-1]}"
        print(f"\n p99 at {sizes[-1]:,} posts over p99 at {sizes[0]:,} (this checkout), per round:")
        for page in bare.runs:
            by_label = {t.label: t.runs[page] for t in targets}
            growth = [
                big["p99"] / little["p99"]
                for big, little in zip(by_label[large], by_label[small], strict=True)
            ]
            summary[page]["p99_growth"] = growth
            print(
                f" {page:<20} median {statistics.median(growth):.2f}  rounds "
                f"{[round(value, 2) for value in growth]}"
            )
    return summary


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--posts", default="10000", help="sizes, comma-separated")
    parser.add_argument("--data", type=Path, required=True, help="kept instances and servers")
    parser.add_argument("--before", type=Path, help="also serve the blog from this checkout")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--wrk-threads", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--only", type=lambda v: v.split(","), help="pages whose name has these")
    parser.add_argument("--json", type=Path, help="also write the summary to this file")
    args = parser.parse_args(argv)
    folder = args.data.resolve()
    folder.mkdir(parents=True, exist_ok=True)
    print(f"Alternating rounds {time.strftime('%Y-%m-%d %H:%M')}; files in {folder}", flush=True)
    databases: list[Database] = []
    targets: list[Target] = []
    try:
        for posts in (int(value.replace("_", "")) for value in args.posts.split(",")):
            databases.append(Database(posts, folder))
        start_servers(databases, args, folder, targets)
        measure(targets, args)
        summary = report(targets, args)
        if args.json:
            args.json.write_text(json.dumps(summary, indent=2))
    finally:
        for target in targets:
            target.server.stop()
        for database in databases:
            database.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
