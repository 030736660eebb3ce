"""`flask --app blog users ...`: accounts from a shell."""

import click
from flask.cli import AppGroup
from sqlalchemy import select

from .. import invitations, mail, password_reset
from ..accounts import (
    AccountError,
    change_password,
    change_role,
    create_user,
    find_user,
    set_active,
)
from ..extensions import db
from ..models import Role, User
from .schema import creates_missing_schema, needs_current_schema

users = AppGroup("users", help="Manage user accounts.")
ROLE_NAMES = click.Choice([role.value for role in Role], case_sensitive=False)


def _account_change(change, message: str) -> None:
    """Run a change, commit, echo `message`; turn a broken rule into a clear CLI error."""
    try:
        change()
    except AccountError as error:
        db.session.rollback()
        raise click.ClickException(str(error)) from None
    db.session.commit()
    click.echo(message)


def user_or_fail(email: str) -> User:
    user = find_user(email)
    if user is None:
        raise click.ClickException(f"No user has the email {email}.")
    return user


@users.command("create")
@click.option("--email", required=True)
@click.option("--name", "display_name", required=True, help="Display name.")
@click.option("--role", type=ROLE_NAMES, default=Role.AUTHOR.value, show_default=True)
@click.password_option(help="Asked for when not given.")
@creates_missing_schema
def create(email: str, display_name: str, role: str, password: str) -> None:
    """Add a user who can sign in at once (on a fresh checkout, sets up the database first)."""
    _account_change(
        lambda: create_user(email, display_name, role, password),
        f"Created {role} {email.strip().lower()}.",
    )


@users.command("list")
@needs_current_schema
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
@needs_current_schema
def set_role(email: str, role: str) -> None:
    """Change a user's role."""
    user = user_or_fail(email)
    _account_change(lambda: change_role(user, role), f"{user.email} is now {role}.")


@users.command("deactivate")
@click.argument("email")
@needs_current_schema
def deactivate(email: str) -> None:
    """Stop a user from signing in and end their sessions (their posts stay)."""
    user = user_or_fail(email)
    _account_change(lambda: set_active(user, False), f"{user.email} is deactivated.")


@users.command("activate")
@click.argument("email")
@needs_current_schema
def activate(email: str) -> None:
    """Let a deactivated user sign in again."""
    user = user_or_fail(email)
    _account_change(lambda: set_active(user, True), f"{user.email} is active again.")


@users.command("reset-password")
@click.argument("email")
@click.password_option(help="Asked for when not given.")
@needs_current_schema
def reset_password(email: str, password: str) -> None:
    """Set a new password; the user's other sessions end."""
    user = user_or_fail(email)
    _account_change(lambda: change_password(user, password), f"New password set for {user.email}.")


@users.command("reset-link")
@click.argument("email")
@needs_current_schema
def reset_link(email: str) -> None:
    """Print a password reset link for a user (works for an hour, once); sends no email."""
    user = user_or_fail(email)
    if not user.active:
        raise click.ClickException(f"{user.email} is deactivated; activate the account first.")
    click.echo(f"Password reset link for {user.email} (works once, for an hour):")
    click.echo(password_reset.make_link(user))


@users.command("invite")
@click.argument("email")
@click.option("--role", type=ROLE_NAMES, default=Role.AUTHOR.value, show_default=True)
@needs_current_schema
def invite(email: str, role: str) -> None:
    """Invite someone to join with a role: prints the link, and emails it when email is set up."""
    try:
        invitation, link = invitations.invite(email, role, invited_by=None)
        if mail.is_configured():
            invitations.send(invitation, link)
    except AccountError as error:
        db.session.rollback()
        raise click.ClickException(str(error)) from None
    db.session.commit()
    sent = "emailed to them and " if mail.is_configured() else ""
    click.echo(
        f"Invited {invitation.email} as {role}; the link ({sent}valid for "
        f"{invitation_days()} days, once):"
    )
    click.echo(link)


def invitation_days() -> int:
    from flask import current_app

    return current_app.config["INVITATION_DAYS"]
