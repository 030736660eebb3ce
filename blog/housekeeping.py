"""Housekeeping: small chores that keep stored data within its promises, run by the job worker
every `HOUSEKEEPING_SECONDS` (an hour) and once by `flask --app blog housekeeping`.

    CHORES = (..., Chore("what it does", module.function, "{} rows it changed"))

Decisions:
- A chore is a function of no arguments that works through the session and returns how many
  rows it changed. The runner commits after each one, so a chore that fails is rolled back
  and logged alone and the next still runs.
- Chores are cheap when there is nothing to do (an indexed condition) and harmless when run
  twice or at the same moment by two workers: every worker process runs them, with no lock
  and no record of the last run. A worker runs them when it starts and then every interval,
  so one restarted often still does them.
- The list lives here, in one place: a new chore is one line in `CHORES`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from . import comment_privacy, rate_limits
from .extensions import db
from .newsletter import subscribers

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Chore:
    name: str
    run: Callable[[], int]
    done: str  # what it did, with {} for the count


CHORES: tuple[Chore, ...] = (
    Chore(
        "comment addresses",
        comment_privacy.erase_old_addresses,
        "{} commenters' addresses erased (older than COMMENT_ADDRESS_DAYS)",
    ),
    Chore("rate-limit events", rate_limits.prune, "{} old rate-limit events deleted"),
    Chore(
        "unconfirmed subscribers",
        subscribers.forget_unconfirmed,
        "{} newsletter subscribers forgotten (unconfirmed after 7 days)",
    ),
)


@dataclass(frozen=True)
class Outcome:
    chore: Chore
    count: int | None  # None: it failed (logged)

    def __str__(self) -> str:
        if self.count is None:
            return f"{self.chore.name}: failed (see the log)"
        return self.chore.done.format(self.count)


def run_all(chores: tuple[Chore, ...] = CHORES) -> list[Outcome]:
    """Run every chore once, each in its own transaction (needs an app context)."""
    outcomes = []
    for chore in chores:
        try:
            count = chore.run()
            db.session.commit()
        except Exception:  # noqa: BLE001 - one failing chore must not stop the others
            db.session.rollback()
            log.exception("Housekeeping: %s failed", chore.name)
            count = None
        outcomes.append(Outcome(chore, count))
        if count:
            log.info("Housekeeping: %s", outcomes[-1])
    return outcomes
