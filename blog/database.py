"""The database lifecycle: engine options, SQLite pragmas, migrations.

Decisions:
- SQLite's page cache is SQLITE_CACHE_KIB (512 KiB) per connection instead of SQLite's 2 MiB.
  A web worker keeps up to 8 connections (one per thread from the pool, and one per thread
  for the site generation), so 2 MiB each could grow a worker by 16 MB after load; the
  operating system caches the database file anyway, so a page missing from SQLite's own
  cache costs a copy, not a disk read (bench/README.md, memory).
"""

import sqlite3
from pathlib import Path

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine

from . import invalidation, jobs
from .extensions import db, login_manager
from .federation import publishing

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def init_app(app: Flask, migrations: bool = True) -> None:
    """Bind the database; with `migrations`, also Flask-Migrate (the `flask db` commands)."""
    options = app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {})
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        options.setdefault("pool_pre_ping", True)
    db.init_app(app)
    invalidation.init_app(db.session)
    jobs.init_app(db.session)  # committed jobs go to the queue
    publishing.init_app(db.session)  # posts readers see are told to fediverse followers
    if migrations:
        from flask_migrate import Migrate  # heavy (Alembic, Mako); web workers never migrate

        Migrate(app, db, directory=str(MIGRATIONS), render_as_batch=True)
    login_manager.user_loader(load_user)


@event.listens_for(Engine, "connect")
def _configure_sqlite(dbapi_connection, connection_record) -> None:
    """Every SQLite connection: write-ahead log, enforced foreign keys, wait when busy."""
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    from flask import current_app, has_app_context

    config = current_app.config if has_app_context() else {}
    timeout = config.get("SQLITE_BUSY_TIMEOUT_MS", 5000)
    cache_kib = config.get("SQLITE_CACHE_KIB", 512)
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {int(timeout)}")
    cursor.execute(f"PRAGMA cache_size = -{int(cache_kib)}")  # negative: KiB, not pages
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA synchronous = NORMAL")
    cursor.execute("PRAGMA foreign_keys = ON")
    # Gather index statistics where they are missing or stale, so the planner picks the list
    # index that matches each page (without them it can pick the general one).
    cursor.execute("PRAGMA optimize = 0x10002")
    cursor.close()


def load_user(token: str):
    """Flask-Login's loader: the identity is a sign-in session's token (blog.user_sessions)."""
    from .user_sessions import load

    return load(token)
