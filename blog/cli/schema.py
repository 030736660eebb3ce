"""What a command does when the database is not at this code's schema.

A fresh checkout has no database until `serve` or `db upgrade` makes one; a `git pull` may bring
migrations the database does not have yet. A command that ran on such a database would end in
a SQLAlchemy traceback (`no such table: user`); each command says instead what it needs, with
one of two decorators placed under its `@command` line.

Decisions:
- `needs_current_schema`: stop with one line saying what to run, exit status 1. The default.
- `creates_missing_schema`: a database with no tables yet (a fresh checkout) is set up by
  applying the migrations first, as `serve` does, for commands that make sense on a new site
  (`users create`, `restore`). A database at an older migration still stops: upgrading a site
  that runs is the operator's step (`db upgrade`, or gunicorn's reload), not a side effect.
- The check is `blog.preflight.schema_state`, the plain driver's few-millisecond look at the
  recorded revision, made when the command runs: `--help` and click's checks of the arguments
  come first and never open the database.
- Doubt is no refusal: a database URL the light check does not read runs the command as before.
"""

import functools

import click
from flask import current_app

from ..preflight import Schema, head_revision, schema_state

SET_UP = "run `flask --app blog db upgrade` (or `flask --app blog serve`, which applies it)"


def needs_current_schema(command):
    """Run the command only on a database at this code's schema; else one line and exit 1."""

    @functools.wraps(command)
    def checked(*args, **kwargs):
        _require_schema(create_missing=False)
        return command(*args, **kwargs)

    return checked


def creates_missing_schema(command):
    """Set up a database without tables first; otherwise as `needs_current_schema`."""

    @functools.wraps(command)
    def checked(*args, **kwargs):
        _require_schema(create_missing=True)
        return command(*args, **kwargs)

    return checked


def _require_schema(create_missing: bool) -> None:
    state, revision = _read_state()
    if state in (Schema.CURRENT, Schema.UNCHECKED):
        return
    if state is Schema.MISSING and create_missing:
        _apply_migrations()
        return
    raise click.ClickException(_explain(state, revision))


def schema_problem() -> str | None:
    """What keeps the current app's database from running a command, in one line; None if
    nothing does. For entry points outside Flask's command line (`blog-worker`)."""
    try:
        state, revision = _read_state()
    except click.ClickException as problem:
        return problem.message
    if state in (Schema.CURRENT, Schema.UNCHECKED):
        return None
    return _explain(state, revision)


def _read_state() -> tuple[Schema, str | None]:
    """The database's state and revision; a database that cannot be opened is a ClickException
    saying why in one line."""
    url = current_app.config["SQLALCHEMY_DATABASE_URI"]
    try:
        return schema_state(url)
    except Exception as error:  # the driver's own error says best what is wrong
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise click.ClickException(f"Cannot open the database: {reason}") from None


def _explain(state: Schema, revision: str | None) -> str:
    if state is Schema.MISSING:
        return f"The database is not set up yet: {SET_UP}."
    if state is Schema.BEHIND:
        return (
            f"The database is at migration {revision}, this version of the blog needs "
            f"{head_revision()}: run `flask --app blog db upgrade` first."
        )
    return (
        f"The database is at migration {revision}, which this version of the blog does not "
        "have (a newer version made it?): run that version, or restore a backup into this one."
    )


def _apply_migrations() -> None:
    # heavy (Alembic); only needed on a fresh database
    from flask_migrate import upgrade

    click.echo("The database is not set up yet: applying the migrations first.", err=True)
    upgrade()
