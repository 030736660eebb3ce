"""Login throttling: failed attempts per account and per client address, kept in the database."""

import math
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from sqlalchemy import delete, func, select

from .extensions import db
from .models import LoginAttempt, utcnow


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after_seconds: int = 0

    @property
    def message(self) -> str:
        minutes = max(1, math.ceil(self.retry_after_seconds / 60))
        unit = "minute" if minutes == 1 else "minutes"
        return f"Too many failed sign-in attempts. Try again in {minutes} {unit}."


def _window() -> timedelta:
    return timedelta(seconds=current_app.config["LOGIN_THROTTLE_WINDOW_SECONDS"])


def _blocked_until(column, value: str, limit: int):
    """When the oldest failure that keeps `value` at its limit leaves the window, or None."""
    since = utcnow() - _window()
    recent = (
        select(LoginAttempt.created_at)
        .where(column == value, LoginAttempt.created_at > since)
        .order_by(LoginAttempt.created_at.desc())
        .limit(limit)
    ).subquery()
    count, oldest = db.session.execute(select(func.count(), func.min(recent.c.created_at))).one()
    return oldest + _window() if count >= limit else None


def check(email: str, address: str) -> Verdict:
    config = current_app.config
    limits = [
        (LoginAttempt.email, email, config["LOGIN_THROTTLE_PER_ACCOUNT"]),
        (LoginAttempt.address, address, config["LOGIN_THROTTLE_PER_ADDRESS"]),
    ]
    blocked = [until for until in (_blocked_until(*limit) for limit in limits) if until]
    if not blocked:
        return Verdict(True)
    wait = (max(blocked) - utcnow()).total_seconds()
    return Verdict(False, max(1, math.ceil(wait)))


def record_failure(email: str, address: str) -> None:
    """Record a failure and forget failures older than a day (the caller commits)."""
    db.session.add(LoginAttempt(email=email[:254], address=address[:64]))
    db.session.execute(
        delete(LoginAttempt).where(LoginAttempt.created_at < utcnow() - timedelta(days=1))
    )


def clear_account(email: str) -> None:
    """A successful login forgives the account's failures, not the address's."""
    db.session.execute(delete(LoginAttempt).where(LoginAttempt.email == email))
