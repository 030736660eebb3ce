"""`flask --app blog search rebuild`: rebuild the full-text search index."""

import click
from flask.cli import AppGroup

from ..extensions import db
from ..search import rebuild
from .schema import needs_current_schema

search = AppGroup("search", help="Maintain the full-text search index.")


@search.command("rebuild")
@needs_current_schema
def rebuild_command() -> None:
    """Recreate missing search objects and rebuild the index from every post."""
    count = rebuild()
    db.session.commit()
    click.echo(f"Rebuilt the search index: {count} posts.")
