"""The job worker: Huey's consumer, plus a heartbeat that keeps running jobs' leases, finds
lost ones (`blog.jobs`) and runs the housekeeping chores (`blog.housekeeping`) every
HOUSEKEEPING_SECONDS.

Three ways to run it, the same code:
- `blog-worker` (`main()` below): its own process, for production
  (deploy/blog-worker.service); SIGTERM or Ctrl+C lets the running jobs finish, then it stops.
  It builds the app as gunicorn's workers do, without Flask's command line, which imports
  every installed command (Flask-Migrate and Alembic: about 9 MB the worker never uses).
- `flask --app blog worker`: the same, from Flask's command line (handy in development).
- inside `flask --app blog serve`: threads of the serving process, so a small site has
  nothing more to start.
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading

from flask import Flask

from . import housekeeping, jobs
from .queue import get_queue, import_huey

import_huey(redis_wanted=False)  # first: Huey then skips psycopg and redis (see blog.queue)
from huey.consumer import Consumer  # noqa: E402

log = logging.getLogger(__name__)


class EmbeddedConsumer(Consumer):
    """Huey's consumer without its signal handlers: the host process keeps its own
    (the development server's Ctrl+C); the host calls `stop()` when it ends."""

    def _set_signal_handlers(self) -> None:
        pass


class Worker:
    """Huey's worker threads and the heartbeat, started and stopped together."""

    def __init__(self, app: Flask, threads: int | None = None, embedded: bool = False) -> None:
        self.app = app
        threads = threads or int(app.config["JOB_WORKER_THREADS"])
        consumer_class = EmbeddedConsumer if embedded else Consumer
        self.consumer = consumer_class(
            get_queue(app).huey,
            workers=threads,
            worker_type="thread",
            periodic=False,
            max_delay=float(app.config["JOB_POLL_MAX_SECONDS"]),
            check_worker_health=not embedded,
            shutdown_timeout=float(app.config["JOB_SHUTDOWN_SECONDS"]),
            graceful_signal="TERM",  # systemd stops services with SIGTERM: finish, then stop
        )
        self._stopping = threading.Event()
        self._heartbeat = threading.Thread(target=self._beat, name="job-heartbeat", daemon=True)

    def start(self) -> None:
        """Start the threads and return (embedded use)."""
        with self.app.app_context():
            jobs.load_handlers()
            self._sweep()
            self._housekeeping()
        self._heartbeat.start()
        self.consumer.start()

    def run(self) -> None:
        """Run until SIGTERM or SIGINT (the worker command), then let running jobs finish."""
        with self.app.app_context():
            jobs.load_handlers()
            self._sweep()
            self._housekeeping()
        self._heartbeat.start()
        try:
            self.consumer.run()
        finally:
            self._stopping.set()

    def stop(self) -> None:
        self._stopping.set()
        self.consumer.stop(graceful=True)

    def _beat(self) -> None:
        """Renew leases often; sweep for lost jobs less often; do the housekeeping seldom."""
        lease = int(self.app.config["JOB_LEASE_SECONDS"])
        sweep_every = float(self.app.config["JOB_SWEEP_SECONDS"])
        chores_every = float(self.app.config["HOUSEKEEPING_SECONDS"])
        interval = max(min(lease / 3, sweep_every, chores_every or sweep_every), 0.2)
        since_sweep = since_chores = 0.0
        while not self._stopping.wait(interval):
            since_sweep += interval
            since_chores += interval
            with self.app.app_context():
                try:
                    jobs.renew_leases()
                    if since_sweep >= sweep_every:
                        since_sweep = 0.0
                        self._sweep()
                    if chores_every and since_chores >= chores_every:
                        since_chores = 0.0
                        self._housekeeping()
                except Exception:  # noqa: BLE001 - the heartbeat must outlive a database blip
                    log.exception("Job heartbeat failed; trying again in %.0f s", interval)
                finally:
                    from .extensions import db

                    db.session.remove()

    def _housekeeping(self) -> None:
        if not float(self.app.config["HOUSEKEEPING_SECONDS"]):
            return
        try:
            housekeeping.run_all()
        except Exception:  # noqa: BLE001 - the schema may be missing on a first start
            log.exception("Housekeeping failed")

    def _sweep(self) -> None:
        try:
            jobs.sweep()
        except Exception:  # noqa: BLE001 - the schema may be missing on a first start
            log.exception("Job sweep failed")


def main(argv: list[str] | None = None) -> None:
    """`blog-worker [--threads N]`: run background jobs until SIGTERM or Ctrl+C."""
    parser = argparse.ArgumentParser(
        prog="blog-worker",
        description="Run the blog's background jobs (emails, imports, deliveries) until "
        "SIGTERM or Ctrl+C; running jobs finish first.",
    )
    parser.add_argument(
        "--threads",
        type=int,
        choices=range(1, 33),
        metavar="1-32",
        help="jobs run at once (default: JOB_WORKER_THREADS, 2)",
    )
    threads = parser.parse_args(argv).threads

    from . import create_app
    from .cli.schema import schema_problem
    from .queue import describe

    app = create_app(cli=False)
    with app.app_context():
        problem = schema_problem()
    if problem:
        sys.exit(f"Error: {problem}")
    print(f"Job worker on the queue in {describe(app)} (SIGTERM or Ctrl+C to stop)", flush=True)
    Worker(app, threads=threads).run()
