"""`flask --app blog worker`: run background jobs (emails, imports) until stopped; and
`flask --app blog housekeeping`: the chores the worker runs every hour, once, now."""

import click
from flask import current_app
from flask.cli import with_appcontext

from ..queue import describe
from .schema import needs_current_schema


@click.command()
@click.option(
    "--threads",
    type=click.IntRange(1, 32),
    default=None,
    help="Jobs run at once (default: JOB_WORKER_THREADS, 2).",
)
@with_appcontext
@needs_current_schema
def worker(threads: int | None) -> None:
    """Run background jobs until SIGTERM or Ctrl+C; running jobs finish first."""
    from ..worker import Worker

    app = current_app._get_current_object()
    click.echo(f"Job worker on the queue in {describe(app)} (SIGTERM or Ctrl+C to stop)")
    Worker(app, threads=threads).run()


@click.command("housekeeping")
@with_appcontext
@needs_current_schema
def housekeeping_command() -> None:
    """Run the housekeeping chores once (the job worker runs them every hour)."""
    from .. import housekeeping

    outcomes = housekeeping.run_all()
    for outcome in outcomes:
        click.echo(str(outcome))
    if any(outcome.count is None for outcome in outcomes):
        raise click.ClickException("A chore failed; the log says why.")
