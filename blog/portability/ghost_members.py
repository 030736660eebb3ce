"""Ghost's members CSV (Members → Export) as newsletter subscribers.

Ghost's JSON export leaves its members out; its members export is a CSV with the columns id,
email, name, note, subscribed_to_emails, complimentary_plan, stripe_customer_id, created_at,
deleted_at, labels and tiers.

Decisions:
- A member with `subscribed_to_emails` true becomes a confirmed subscriber: they agreed on
  the Ghost site, and the consent reads "imported from Ghost (subscribed <date>)", with the
  date they became a member there.
- A member who gets no emails there is not stored here at all (counted in the summary): the
  newsletter needs nobody's address who does not want it. A deleted member is left out too.
- A subscriber already here (by address) is left as they are, whatever the file says: they
  may have left or come back here since, and this site's record is the newer one. So a
  re-run adds nothing.
- Paid tiers, Stripe ids, labels and notes are not imported (this blog has no paid
  membership); the summary says how many members had a paid tier or a complimentary plan.
- The whole file is read and checked before anything is written; a file without an email
  column is refused.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select

from ..extensions import db
from ..models import Subscriber, SubscriberStatus, utcnow
from .report import ImportFailed, Summary

MAX_MEMBERS_BYTES = 50 * 1024 * 1024
TRUE = {"true", "1", "yes"}


@dataclass
class Member:
    email: str
    name: str
    subscribed: bool
    created: datetime | None
    deleted: bool
    paid: bool


def read_members(path: str | Path) -> list[Member]:
    """The rows of a Ghost members CSV; ImportFailed with a message when it cannot be used."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_MEMBERS_BYTES + 1)
    except OSError as error:
        raise ImportFailed(f"The members file cannot be read: {error}") from None
    if len(data) > MAX_MEMBERS_BYTES:
        raise ImportFailed("The members file is larger than 50 MB.")
    try:
        text = data.decode("utf-8-sig")
        reader = csv.DictReader(io.StringIO(text))
        columns = {(name or "").strip().lower(): name for name in reader.fieldnames or []}
        if "email" not in columns:
            raise ImportFailed(
                "The members file has no email column: use the CSV from Ghost's Members → Export."
            )
        rows = list(reader)
    except (UnicodeDecodeError, csv.Error) as error:
        raise ImportFailed(f"The members file is not a readable CSV: {error}") from None

    def cell(row: dict, name: str) -> str:
        return (row.get(columns.get(name, ""), "") or "").strip()

    return [
        Member(
            email=cell(row, "email"),
            name=cell(row, "name"),
            subscribed=cell(row, "subscribed_to_emails").lower() in TRUE,
            created=ghost_time(cell(row, "created_at")),
            deleted=bool(cell(row, "deleted_at")),
            paid=bool(cell(row, "tiers") or cell(row, "stripe_customer_id"))
            or cell(row, "complimentary_plan").lower() in TRUE,
        )
        for row in rows
    ]


def import_members(members: list[Member], summary: Summary) -> None:
    """Add the members who get emails as confirmed subscribers (see Decisions)."""
    known = set(db.session.scalars(select(Subscriber.email)))
    paid = 0
    for member in members:
        paid += member.paid
        if member.deleted:
            summary.skip_subscriber("deleted on Ghost")
            continue
        try:
            email = validate_email(member.email, check_deliverability=False).normalized.lower()
        except EmailNotValidError:
            summary.skip_subscriber("without a valid email address")
            summary.warn("Members", f"{member.email[:80]!r} is not an email address; skipped.")
            continue
        if email in known:
            summary.subscribers_existing += 1
            continue
        if not member.subscribed:
            summary.skip_subscriber("not subscribed to emails")
            continue
        known.add(email)
        since = member.created or utcnow()
        db.session.add(Subscriber(
            email=email, name=member.name[:100], status=SubscriberStatus.CONFIRMED,
            consent=f"imported from Ghost (subscribed {since:%Y-%m-%d})",
            created_at=since, confirmed_at=since,
        ))  # fmt: skip
        summary.subscribers_imported += 1
    if paid:
        summary.warn(
            "Members",
            f"{paid} member(s) had a paid tier or a complimentary plan on Ghost; this blog has "
            "no paid membership, so only their newsletter subscription was brought over.",
        )
    db.session.flush()


def ghost_time(value: str) -> datetime | None:
    """A time of Ghost's (ISO 8601, in UTC) as naive UTC, or None."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed
