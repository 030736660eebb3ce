"""A quick look at the database before the server starts: is there anything to do?

Every start of gunicorn (and every reload) first forks a child that applies pending migrations
and, while the site has no account, logs the setup address (see gunicorn.conf.py). Doing that
through the app costs its whole import and Alembic's, about two seconds on a small server,
before any worker may start. On almost every start there is nothing to do, and this module
finds that out with the standard library and the database driver alone: the schema revision
stored by Alembic against the newest migration file, and whether any account exists.

It must stay light: no Flask, no SQLAlchemy, no module of the app but this one (importing
`blog` itself is cheap, since `create_app` imports what it needs when it runs).
"""

import contextlib
import os
import re
import runpy
import sqlite3
from pathlib import Path

VERSIONS = Path(__file__).resolve().parent / "migrations" / "versions"
_ASSIGNMENT = re.compile(r"""^(revision|down_revision)\s*=\s*(?:["']([^"']+)["']|None)""", re.M)


def head_revision(versions: Path = VERSIONS) -> str | None:
    """The migration no other one builds on; None if that is not exactly one (let Alembic judge)."""
    revisions, parents = set(), set()
    for path in versions.glob("*.py"):
        found = dict(_ASSIGNMENT.findall(path.read_text()))
        if "revision" in found:
            revisions.add(found["revision"])
            if found.get("down_revision"):
                parents.add(found["down_revision"])
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def database_url(instance: Path) -> str:
    """DATABASE_URL as `blog.config.load_config` resolves it: environment, config.py, default."""
    if os.environ.get("BLOG_DATABASE_URL"):
        return os.environ["BLOG_DATABASE_URL"]
    config_file = instance / "config.py"
    if config_file.is_file():
        value = runpy.run_path(str(config_file)).get("DATABASE_URL")
        if value:
            return str(value)
    return f"sqlite:///{instance / 'blog.sqlite3'}"


def nothing_to_do(instance: Path | None = None) -> bool:
    """True when the schema is at the newest revision and an account exists.

    Any doubt (an unknown driver, a missing table, an unreachable database) answers False, and
    the caller takes the full path, which reports the problem properly.
    """
    from .config import instance_path

    instance = instance or instance_path()
    head = head_revision()
    if head is None:
        return False
    try:
        rows = _query(
            database_url(instance),
            ["SELECT version_num FROM alembic_version", 'SELECT 1 FROM "user" LIMIT 1'],
        )
    except Exception:  # whatever went wrong, the full path will say it better
        return False
    if rows is None:
        return False
    versions, accounts = rows
    return versions == [(head,)] and bool(accounts)


def _query(url: str, statements: list[str]) -> list[list[tuple]] | None:
    """Run read-only statements with the plain driver; None for a URL this does not handle."""
    scheme, _, rest = url.partition("://")
    if scheme == "sqlite" and rest.startswith("/") and rest != "/":
        path = Path(rest[1:].split("?", 1)[0])
        if not path.is_file():
            return None
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as connection:
            return [connection.execute(statement).fetchall() for statement in statements]
    if scheme in ("postgresql", "postgresql+psycopg", "postgres"):
        import psycopg  # the driver the blog installs for PostgreSQL

        with psycopg.connect(f"postgresql://{rest}", connect_timeout=10) as connection:
            return [connection.execute(statement).fetchall() for statement in statements]
    return None
