"""Edits that cannot silently undo another person's edit (settings, categories, alt text).

A form shows some stored values; if someone else changes them before the form comes back,
saving the form as it stands would put the old values back without anyone noticing. So the
form carries a fingerprint of what it showed, and the save checks it against the row as it
is now, under a lock held until the commit.

Decisions:
- A fingerprint (a hash of the values shown) instead of a version column: no schema change,
  and it also covers settings, which are many rows. The save first takes the lock, then
  reads the row again, then compares: the lock is a no-op UPDATE of the row (PostgreSQL: a
  row lock; SQLite: the database's write lock, taken by the first write of a transaction), or
  for settings the whole table (PostgreSQL: LOCK TABLE, so keys stored for the first time are
  covered too). Readers are never blocked.
- Posts have their own version number (blog.posts): their history needs it anyway.
- Per case. Checked: site settings (every field is sent on each save, so a stale page would
  put back every value changed since), a category (its description is prose), an image's alt
  text (someone's description of it). Last writer wins, on purpose: a tag (only a name and a
  slug; a rename is a complete choice and shows at once in the list), a profile (only its
  owner edits it, and the later save is what they chose last), a user's role and activation
  (single-field commands that overwrite nothing else). The one rule there that a race could
  break, that an active admin remains, counts under a lock (blog.accounts).
"""

import hashlib
import json
from collections.abc import Mapping

from sqlalchemy import Table, false, text, update

from .extensions import db


class EditConflict(Exception):
    """What the form showed was changed elsewhere since the form was loaded."""


class MissingFingerprint(ValueError):
    """The form did not say what it showed."""


def fingerprint(values: Mapping[str, object]) -> str:
    """A short, stable digest of the values a form shows."""
    encoded = json.dumps(values, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(encoded.encode()).hexdigest()[:32]


def fields_of(instance, fields: tuple[str, ...]) -> dict[str, object]:
    return {name: getattr(instance, name) for name in fields}


def check_row_unchanged(instance, fields: tuple[str, ...], shown: str | None) -> None:
    """Lock the instance's row, read `fields` again, and raise EditConflict unless they are
    still what the form showed (`shown`, its fingerprint); MissingFingerprint if none."""
    _require(shown)
    table: Table = type(instance).__table__
    column = table.c[fields[0]]
    db.session.connection().execute(
        update(table).where(table.c.id == instance.id).values({column: column})
    )
    db.session.refresh(instance, attribute_names=list(fields))
    if fingerprint(fields_of(instance, fields)) != shown:
        raise EditConflict()


def lock_table(table: Table) -> None:
    """Hold off other writers of the table until the commit (readers go on)."""
    connection = db.session.connection()
    if connection.dialect.name == "postgresql":
        connection.execute(text(f'LOCK TABLE "{table.name}" IN SHARE ROW EXCLUSIVE MODE'))
    else:
        column = next(iter(table.primary_key.columns))
        connection.execute(update(table).where(false()).values({column: column}))


def check_unchanged(current: Mapping[str, object], shown: str | None) -> None:
    """Raise EditConflict unless `current` (read under a lock) is what the form showed."""
    _require(shown)
    if fingerprint(current) != shown:
        raise EditConflict()


def _require(shown: str | None) -> None:
    if not shown or len(shown) != 32:
        raise MissingFingerprint()
