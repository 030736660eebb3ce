"""A quick look at the database before the server starts: is there anything to do?

Every start of gunicorn (and every reload) first forks a child that applies pending migrations
and, while the site has no account, logs the setup address (see gunicorn.conf.py). Doing that
through the app costs its whole import and Alembic's, about two seconds on a small server,
before any worker may start. On almost every start there is nothing to do, and this module
finds that out with the standard library and the database driver alone: the schema revision
stored by Alembic against the newest migration file, and whether any account exists.

The command-line tools ask the same question before they touch the database (`schema_state`):
a fresh checkout has no database at all, and a command then says what to run instead of
failing on a missing table.

It must stay light: no Flask, no SQLAlchemy, no module of the app but this one (importing
`blog` itself is cheap, since `create_app` imports what it needs when it runs).
"""

import contextlib
import enum
import os
import re
import runpy
import sqlite3
from pathlib import Path

VERSIONS = Path(__file__).resolve().parent / "migrations" / "versions"
_ASSIGNMENT = re.compile(r"""^(revision|down_revision)\s*=\s*(?:["']([^"']+)["']|None)""", re.M)


def known_revisions(versions: Path = VERSIONS) -> dict[str, str | None]:
    """Every migration's revision id and the one it builds on, read from the files' text."""
    known = {}
    for path in versions.glob("*.py"):
        found = dict(_ASSIGNMENT.findall(path.read_text()))
        if "revision" in found:
            known[found["revision"]] = found.get("down_revision") or None
    return known


def head_revision(versions: Path = VERSIONS) -> str | None:
    """The migration no other one builds on; None if that is not exactly one (let Alembic judge)."""
    known = known_revisions(versions)
    heads = set(known) - set(known.values())
    return heads.pop() if len(heads) == 1 else None


class Schema(enum.Enum):
    """Where a database stands against this code's migrations."""

    CURRENT = "current"  # at the newest migration, or built from the models (as the tests do)
    MISSING = "missing"  # no database yet, or one without the blog's tables
    BEHIND = "behind"  # at an older migration
    UNKNOWN_REVISION = "unknown revision"  # at a migration this code does not have (newer code?)
    UNCHECKED = "unchecked"  # a database URL this light check does not read: let the app try


def schema_state(url: str) -> tuple[Schema, str | None]:
    """The database's state and its recorded revision, read with the plain driver.

    A database the driver cannot open raises the driver's error: the caller says so.
    A database with the tables but no recorded revision was built from the models
    (`create_all`, as the tests do) and counts as current, as `blog.backup` counts it.
    """
    head = head_revision()
    if head is None:
        return Schema.UNCHECKED, None
    path = _sqlite_path(url)
    if path is not None and not path.is_file():
        return Schema.MISSING, None
    dialect = _dialect(url)
    found = _query(url, [_TABLES[dialect]]) if dialect else None
    if found is None:
        return Schema.UNCHECKED, None
    tables = {name for (name,) in found[0]}
    if "alembic_version" not in tables:
        return (Schema.CURRENT if "user" in tables else Schema.MISSING), None
    [rows] = _query(url, ["SELECT version_num FROM alembic_version"])
    revision = rows[0][0] if len(rows) == 1 else None
    if revision is None:
        return Schema.MISSING, None
    if revision == head:
        return Schema.CURRENT, revision
    if revision in known_revisions():
        return Schema.BEHIND, revision
    return Schema.UNKNOWN_REVISION, revision


_TABLES = {  # the names of the tables in the database the URL names
    "sqlite": "SELECT name FROM sqlite_master WHERE type = 'table'",
    "postgresql": "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()",
}


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
    dialect = _dialect(url)
    if dialect == "sqlite":
        path = _sqlite_path(url)
        if not path.is_file():
            return None
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as connection:
            return [connection.execute(statement).fetchall() for statement in statements]
    if dialect == "postgresql":
        import psycopg  # the driver the blog installs for PostgreSQL

        address = url.partition("://")[2]
        with psycopg.connect(f"postgresql://{address}", connect_timeout=10) as connection:
            return [connection.execute(statement).fetchall() for statement in statements]
    return None


def _dialect(url: str) -> str | None:
    """`sqlite` (a file named by an absolute path), `postgresql`, or None for anything else."""
    scheme = url.partition("://")[0]
    if scheme == "sqlite":
        return "sqlite" if _sqlite_path(url) is not None else None
    return "postgresql" if scheme in ("postgresql", "postgresql+psycopg", "postgres") else None


def _sqlite_path(url: str) -> Path | None:
    """The file of a `sqlite:////absolute/path` URL; None for memory, relative paths, others."""
    scheme, _, rest = url.partition("://")
    if scheme == "sqlite" and rest.startswith("//") and len(rest) > 2:
        return Path(rest[1:].split("?", 1)[0])
    return None
