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
- Huey's storage module imports psycopg and redis whenever they are installed, for storages
  of its own. The blog never uses Huey's PostgreSQL storage, and Redis only when
  JOB_QUEUE_URL names it; on a SQLite queue the two drivers cost every process that queues or
  runs a job (the job worker, a web worker that saved a post) about 16 MB. So Huey is first
  imported with them hidden (`import_huey`), and given redis if a Redis queue is made later
  in the same process (the tests do).
"""

from __future__ import annotations

import sys
import threading
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


_IMPORT_LOCK = threading.Lock()


def import_huey(redis_wanted: bool):
    """Huey, imported without the drivers of storages this process does not use."""
    with _IMPORT_LOCK:
        hidden = []
        if "huey.storage" not in sys.modules:
            for name in ("psycopg",) if redis_wanted else ("psycopg", "redis"):
                if name not in sys.modules:
                    sys.modules[name] = None  # `import name` raises ImportError meanwhile
                    hidden.append(name)
        try:
            import huey
            import huey.storage
        finally:
            for name in hidden:
                if name in sys.modules and sys.modules[name] is None:
                    del sys.modules[name]
        if redis_wanted and huey.storage.Redis is None:
            _give_redis(huey.storage)
    return huey


def _give_redis(storage) -> None:
    """Huey was first imported for a SQLite queue: hand its storage module the redis names it
    would have imported (reloading the module instead would make new classes, and the
    storages already made, of the old ones, would break)."""
    import redis
    import redis.exceptions

    storage.Redis = storage.RedisStorage.redis_client = redis.Redis
    storage.ConnectionPool = redis.ConnectionPool
    storage.ConnectionError = redis.exceptions.ConnectionError
    storage.TimeoutError = redis.exceptions.TimeoutError


def make_huey(app: Flask):
    url = app.config.get("JOB_QUEUE_URL") or ""
    huey = import_huey(redis_wanted=url.startswith(("redis://", "rediss://", "unix://")))
    name = app.config.get("JOB_QUEUE_NAME", "blog")
    if url.startswith(("redis://", "rediss://", "unix://")):
        return huey.RedisHuey(name, url=url, results=False, utc=True)
    if url and not url.startswith("sqlite:///"):
        raise ValueError(
            f"JOB_QUEUE_URL must be empty, sqlite:///PATH or redis://HOST:PORT/DB, not {url!r}"
        )
    path = url.removeprefix("sqlite:///") or str(Path(app.instance_path) / "queue.sqlite3")
    return huey.SqliteHuey(name, filename=path, results=False, utc=True, timeout=30)


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
