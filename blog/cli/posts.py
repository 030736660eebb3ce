"""`flask --app blog posts rerender` and `flask --app blog demo`: stored posts."""

import click
from flask.cli import AppGroup, with_appcontext
from sqlalchemy import select

from ..extensions import db
from ..models import Post
from ..posts import render_into
from ..rendering import PIPELINE_VERSION
from .schema import needs_current_schema
from .users import user_or_fail

posts = AppGroup("posts", help="Maintain posts.")


@posts.command("rerender")
@click.option("--all", "everything", is_flag=True, help="Also posts already at this version.")
@click.option("--batch-size", default=200, show_default=True, type=int)
@needs_current_schema
def rerender(everything: bool, batch_size: int) -> None:
    """Render stored posts again after the Markdown pipeline changed (PIPELINE_VERSION)."""
    query = select(Post.id).order_by(Post.id)
    if not everything:
        query = query.where(Post.render_version != PIPELINE_VERSION)
    ids = db.session.scalars(query).all()
    changed = 0
    with click.progressbar(length=len(ids), label="Rendering posts") as bar:
        for start in range(0, len(ids), batch_size):
            batch = db.session.scalars(
                select(Post).where(Post.id.in_(ids[start : start + batch_size]))
            )
            for post in batch:
                changed += render_into(post)
            db.session.commit()  # one short transaction per batch keeps the site responsive
            bar.update(min(batch_size, len(ids) - start))
    click.echo(
        f"Rendered {len(ids)} posts with pipeline version {PIPELINE_VERSION}; {changed} changed."
    )


@click.command("demo")
@click.option("--email", required=True, help="The existing user who writes the sample posts.")
@with_appcontext
@needs_current_schema
def demo(email: str) -> None:
    """Fill an empty blog with sample categories, illustrated posts and an About page."""
    from ..demo import seed_demo_site

    user = user_or_fail(email)
    try:
        count = seed_demo_site(user)
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    db.session.commit()
    click.echo(f"Added {count} sample posts and pages by {user.display_name}.")
