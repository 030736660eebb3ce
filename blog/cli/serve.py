"""`flask --app blog serve`: apply pending migrations, then serve the blog and run its jobs."""

import click
from flask import current_app
from flask.cli import with_appcontext
from werkzeug.serving import run_simple

from .. import first_run
from ..config import DEFAULT_SITE_URL


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@with_appcontext
def serve(host: str, port: int) -> None:
    """Apply pending migrations, then serve the blog (a small built-in server)."""
    # heavy (Alembic); only needed to apply migrations
    from flask_migrate import upgrade

    app = current_app._get_current_object()
    if app.config["SITE_URL"] == DEFAULT_SITE_URL:  # not configured: say where we really are
        app.config["SITE_URL"] = f"http://{host}:{port}"
    upgrade()
    first_run.announce(app, site_url_checked=True)
    worker = _start_embedded_worker(app)
    click.echo(f"Serving the blog at http://{host}:{port}/ (Ctrl+C to stop)")
    try:
        run_simple(host, port, app, threaded=True)
    finally:
        if worker is not None:
            click.echo("Stopping the job worker (running jobs finish first)")
            worker.stop()


def _start_embedded_worker(app):
    """Background jobs run in this process too, so a small site has nothing else to start.

    EMBEDDED_WORKER = False leaves them to `flask --app blog worker` (a separate service).
    """
    if not app.config["EMBEDDED_WORKER"]:
        return None
    from ..queue import describe
    from ..worker import Worker

    worker = Worker(app, embedded=True)
    worker.start()
    click.echo(f"Running background jobs here too (queue: {describe(app)})")
    return worker
