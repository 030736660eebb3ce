"""Command-line tools: `flask --app blog serve`, `flask --app blog users ...`."""

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext
from sqlalchemy import select
from werkzeug.serving import run_simple

from . import backup_cli, setup
from .accounts import (
    AccountError,
    change_password,
    change_role,
    create_user,
    find_user,
    set_active,
)
from .config import DEFAULT_SITE_URL
from .extensions import db
from .models import Post, Role, User
from .portability import cli as portability_cli
from .posts import render_into
from .rendering import PIPELINE_VERSION
from .search_cli import search as search_commands

users = AppGroup("users", help="Manage user accounts.")
posts = AppGroup("posts", help="Maintain posts.")
ROLE_NAMES = click.Choice([role.value for role in Role], case_sensitive=False)


def init_app(app: Flask) -> None:
    app.cli.add_command(users)
    app.cli.add_command(posts)
    app.cli.add_command(demo)
    app.cli.add_command(search_commands)
    for command in [*backup_cli.commands, *portability_cli.commands]:
        app.cli.add_command(command)
    app.cli.add_command(serve)


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
    setup.announce(app)
    click.echo(f"Serving the blog at http://{host}:{port}/ (Ctrl+C to stop)")
    run_simple(host, port, app, threaded=True)


def _account_change(change, message: str) -> None:
    """Run a change, commit, echo `message`; turn a broken rule into a clear CLI error."""
    try:
        change()
    except AccountError as error:
        db.session.rollback()
        raise click.ClickException(str(error)) from None
    db.session.commit()
    click.echo(message)


def _user_or_fail(email: str) -> User:
    user = find_user(email)
    if user is None:
        raise click.ClickException(f"No user has the email {email}.")
    return user


@users.command("create")
@click.option("--email", required=True)
@click.option("--name", "display_name", required=True, help="Display name.")
@click.option("--role", type=ROLE_NAMES, default=Role.AUTHOR.value, show_default=True)
@click.password_option(help="Asked for when not given.")
def create(email: str, display_name: str, role: str, password: str) -> None:
    """Add a user who can sign in at once."""
    _account_change(
        lambda: create_user(email, display_name, role, password),
        f"Created {role} {email.strip().lower()}.",
    )


@users.command("list")
def list_users() -> None:
    """Show every user with role and status."""
    for user in db.session.scalars(select(User).order_by(User.id)):
        status = "active" if user.active else "deactivated"
        click.echo(
            f"{user.id:>4}  {user.email:<40} {user.role.value:<7} {status:<12} {user.display_name}"
        )


@users.command("set-role")
@click.argument("email")
@click.argument("role", type=ROLE_NAMES)
def set_role(email: str, role: str) -> None:
    """Change a user's role."""
    user = _user_or_fail(email)
    _account_change(lambda: change_role(user, role), f"{user.email} is now {role}.")


@users.command("deactivate")
@click.argument("email")
def deactivate(email: str) -> None:
    """Stop a user from signing in and end their sessions (their posts stay)."""
    user = _user_or_fail(email)
    _account_change(lambda: set_active(user, False), f"{user.email} is deactivated.")


@users.command("activate")
@click.argument("email")
def activate(email: str) -> None:
    """Let a deactivated user sign in again."""
    user = _user_or_fail(email)
    _account_change(lambda: set_active(user, True), f"{user.email} is active again.")


@users.command("reset-password")
@click.argument("email")
@click.password_option(help="Asked for when not given.")
def reset_password(email: str, password: str) -> None:
    """Set a new password; the user's other sessions end."""
    user = _user_or_fail(email)
    _account_change(lambda: change_password(user, password), f"New password set for {user.email}.")


@posts.command("rerender")
@click.option("--all", "everything", is_flag=True, help="Also posts already at this version.")
@click.option("--batch-size", default=200, show_default=True, type=int)
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
def demo(email: str) -> None:
    """Fill an empty blog with sample categories, illustrated posts and an About page."""
    from .demo import seed_demo_site

    user = _user_or_fail(email)
    try:
        count = seed_demo_site(user)
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    db.session.commit()
    click.echo(f"Added {count} sample posts and pages by {user.display_name}.")
