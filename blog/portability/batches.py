"""Commits in batches for long imports, or one transaction rolled back for a dry run.

Image files are written before the database row is committed, so the files of rows that
end up rolled back are removed here too.
"""

from __future__ import annotations

from types import SimpleNamespace

from ..extensions import db
from ..media import discard_files
from ..models import Media

BATCH_SIZE = 25


class Batches:
    def __init__(self, dry_run: bool, size: int = BATCH_SIZE):
        self.dry_run = dry_run
        self.size = size
        # The names of files written (kept apart from the rows, which a rollback expunges).
        self.pending: list[SimpleNamespace] = []  # since the last commit
        self.written: list[SimpleNamespace] = []  # by this run
        self.steps = 0

    def wrote(self, media: Media) -> None:
        files = SimpleNamespace(filename=media.filename, variants=list(media.variants or []))
        self.pending.append(files)
        self.written.append(files)

    def step(self) -> None:
        """One item done: commit every `size` items (never in a dry run)."""
        self.steps += 1
        if not self.dry_run and self.steps % self.size == 0:
            self._commit()

    def finish(self) -> None:
        if self.dry_run:
            self.abort()
        else:
            self._commit()

    def abort(self) -> None:
        """Roll back what is not committed and remove its files (a dry run: all of them)."""
        db.session.rollback()
        for files in self.written if self.dry_run else self.pending:
            discard_files(files)
        self.pending.clear()
        if self.dry_run:
            self.written.clear()

    def _commit(self) -> None:
        db.session.commit()
        self.pending.clear()
