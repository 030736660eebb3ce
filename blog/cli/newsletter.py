"""`flask --app blog newsletter status|find|delete`: the newsletter from a shell."""

import click
from flask.cli import AppGroup
from sqlalchemy import select

from ..extensions import db
from ..models import NewsletterSend, Subscriber
from ..newsletter import sending, subscribers
from .schema import needs_current_schema

newsletter = AppGroup("newsletter", help="The newsletter: sends, and subscribers by email.")


@newsletter.command("status")
@click.option("--last", default=5, show_default=True, help="How many sends to show.")
@needs_current_schema
def status(last: int) -> None:
    """Subscribers by state, and the latest sends' progress."""
    counts = subscribers.counts()
    click.echo("Subscribers: " + ", ".join(f"{n} {state}" for state, n in counts.items()))
    sends = db.session.scalars(
        select(NewsletterSend).order_by(NewsletterSend.id.desc()).limit(max(last, 0))
    ).all()
    progress = sending.progress([send.id for send in sends])
    for send in sends:
        done = progress[send.id]
        click.echo(
            f"{send.created_at:%Y-%m-%d %H:%M}  {send.status.value:<9}  {send.title}: "
            f"{done['sent']} sent of {send.total}, {done['queued'] + done['sending']} to go, "
            f"{done['bounced']} bounced, {done['failed']} failed"
            + (f", {done['handed_over']} handed over unanswered" if done["handed_over"] else "")
        )
    if not sends:
        click.echo("No post was sent yet.")


@newsletter.command("find")
@click.argument("email")
@needs_current_schema
def find(email: str) -> None:
    """Show what is kept about EMAIL's subscription."""
    subscriber = _subscriber(email)
    if subscriber is None:
        click.echo(f"{subscribers.normalise(email)} is not on the list.")
        return
    for name in ("email", "name", "status", "consent", "bounces", "created_at", "confirmed_at",
                 "unsubscribed_at"):  # fmt: skip
        value = getattr(subscriber, name)
        click.echo(f"{name:>16}: {getattr(value, 'value', value)}")


@newsletter.command("delete")
@click.argument("email")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@needs_current_schema
def delete(email: str, yes: bool) -> None:
    """Delete EMAIL's subscription and the record of what was sent to it, for good."""
    subscriber = _subscriber(email)
    who = subscribers.normalise(email)
    if subscriber is None:
        click.echo(f"{who} is not on the list.")
        return
    if not yes:
        click.confirm(f"Delete {who} and the record of what was sent to it, for good?", abort=True)
    db.session.delete(subscriber)
    db.session.commit()
    click.echo(f"Deleted {who} for good.")


def _subscriber(email: str) -> Subscriber | None:
    return db.session.scalar(
        select(Subscriber).where(Subscriber.email == subscribers.normalise(email))
    )
