"""`flask --app blog serve`: apply pending migrations, then serve the blog for trying it out."""

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
    click.echo(f"Serving the blog at http://{host}:{port}/ (Ctrl+C to stop)")
    run_simple(host, port, app, threaded=True)
