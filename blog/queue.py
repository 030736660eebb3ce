"""The queue engine under the jobs: Huey, on a SQLite file in instance/ or on Redis.

    JOB_QUEUE_URL = ""                          # default: instance/queue.sqlite3, one server
    JOB_QUEUE_URL = "redis://127.0.0.1:6379/0"  # several app servers share one queue

Decisions:
- Huey carries only job ids (`blog.jobs` keeps the jobs themselves in the site's database),
  so the queue can be lost or switched without losing work: the sweep refills it.
- One Huey task, `run_job`, runs any job; a retry is the same task scheduled for later, which
  Huey keeps in its storage until it is due.
- The SQLite queue is its own file, not the site's database: the worker polls it, and those
  reads and writes stay out of the site's write-ahead log.
- Huey's result store is off: the job row is where outcomes are kept.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from flask import Flask

EXTENSION = "blog_job_queue"


class JobQueue:
    """One app's Huey instance and its single task."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.huey = make_huey(app)
        self._run_job = self.huey.task(name="run_job")(self._run_in_app)

    def _run_in_app(self, job_id: int) -> None:
        from . import jobs

        with self.app.app_context():
            jobs.run(job_id)

    def push(self, job_id: int, eta: datetime | None = None) -> None:
        if eta is None:
            self._run_job(job_id)
        else:
            self._run_job.schedule(args=(job_id,), eta=eta)

    def pending(self) -> int:
        """How many ids wait in the queue now (not counting those scheduled for later)."""
        return self.huey.pending_count()

    def scheduled(self) -> int:
        return self.huey.scheduled_count()


def make_huey(app: Flask):
    from huey import RedisHuey, SqliteHuey

    url = app.config.get("JOB_QUEUE_URL") or ""
    name = app.config.get("JOB_QUEUE_NAME", "blog")
    if url.startswith(("redis://", "rediss://", "unix://")):
        return RedisHuey(name, url=url, results=False, utc=True)
    if url and not url.startswith("sqlite:///"):
        raise ValueError(
            f"JOB_QUEUE_URL must be empty, sqlite:///PATH or redis://HOST:PORT/DB, not {url!r}"
        )
    path = url.removeprefix("sqlite:///") or str(Path(app.instance_path) / "queue.sqlite3")
    return SqliteHuey(name, filename=path, results=False, utc=True, timeout=30)


def get_queue(app: Flask) -> JobQueue:
    """The app's queue, made on first use (web workers that never queue a job skip it)."""
    app = getattr(app, "_get_current_object", lambda: app)()  # the app, not the proxy
    queue = app.extensions.get(EXTENSION)
    if queue is None:
        queue = app.extensions.setdefault(EXTENSION, JobQueue(app))
    return queue


def describe(app: Flask) -> str:
    """Where the queue is, for people: the SQLite path or the Redis address (no password)."""
    url = app.config.get("JOB_QUEUE_URL") or ""
    if url.startswith(("redis://", "rediss://", "unix://")):
        from urllib.parse import urlsplit

        parts = urlsplit(url)
        return f"Redis at {parts.hostname or parts.path}:{parts.port or 6379}"
    path = url.removeprefix("sqlite:///") or str(Path(app.instance_path) / "queue.sqlite3")
    return f"SQLite file {path}"
