"""Limits on requests that cost someone else something (an email in their inbox), counted in
the database so that every process and server sees the same count.

    if not rate_limits.exceeded("password_reset", keys, limits, window):
        rate_limits.record("password_reset", keys)   # keys: {"account": email, "address": ip}

Decisions:
- A request refused by a limit is not recorded: the window ends on its own instead of being
  held open by whoever keeps asking.
- Keys are prefixed with what they name ("account:", "address:"), so one table serves every
  limit without an address ever counting as an account.
- Events older than a day are deleted when new ones are recorded, and by the hourly
  housekeeping (blog.housekeeping) when none are; no limit looks further back.
"""

from datetime import timedelta

from sqlalchemy import delete, func, select

from .extensions import db
from .models import RateEvent, utcnow

KEY_LENGTH = 254
KEPT_FOR = timedelta(days=1)  # longer than any limit's window


def _key(scope: str, value: str) -> str:
    return f"{scope}:{value}"[:KEY_LENGTH]


def count_recent(action: str, scope: str, value: str, window: timedelta) -> int:
    query = select(func.count(RateEvent.id)).where(
        RateEvent.action == action,
        RateEvent.key == _key(scope, value),
        RateEvent.created_at > utcnow() - window,
    )
    return db.session.scalar(query) or 0


def exceeded(
    action: str, keys: dict[str, str], limits: dict[str, int], window: timedelta
) -> list[str]:
    """The scopes (of `keys`) that reached their limit within `window`; empty when allowed."""
    return [
        scope
        for scope, value in keys.items()
        if count_recent(action, scope, value, window) >= limits[scope]
    ]


def record(action: str, keys: dict[str, str]) -> None:
    """Count one request under each key (the caller commits); forget day-old events."""
    for scope, value in keys.items():
        db.session.add(RateEvent(action=action, key=_key(scope, value)))
    prune()


def prune() -> int:
    """Delete events older than any limit looks back (the caller commits); how many went."""
    result = db.session.execute(delete(RateEvent).where(RateEvent.created_at < utcnow() - KEPT_FOR))
    return result.rowcount or 0
