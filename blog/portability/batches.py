"""Commits in batches for long imports, or one transaction rolled back for a dry run.

Image files are written before the database row is committed, so the files of rows that
end up rolled back are removed here too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import SimpleNamespace

from flask import current_app

from ..extensions import db
from ..media import discard_files
from ..models import Media
from .report import ImportFailed

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

    @contextmanager
    def stopping_cleanly(self, source: str, where: Callable[[], str]) -> Iterator[None]:
        """An import's steps, the same way for every importer: at the end the last batch is
        committed (a dry run rolled back); on a failure what is not committed is rolled back
        and its files removed, and an unexpected error becomes an ImportFailed that says where
        it stopped (`where()`, read then) and that what was committed is kept."""
        try:
            yield
            self.finish()
        except ImportFailed:
            self.abort()
            raise
        except Exception as error:
            self.abort()
            current_app.logger.exception("%s import stopped at %s", source, where())
            raise ImportFailed(
                f"The import stopped at “{where()}”: {error}. What was imported before it "
                "is kept (unless this was a dry run); running the import again continues."
            ) from error
        except BaseException:
            self.abort()
            raise

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
