"""The site generation: one number that moves forward with every change a reader could see.

`bump()` runs for every change that can alter a public page, inside the writer's transaction:
`blog.invalidation` calls it from SQLAlchemy's session events, so no writer has to remember it.
A rolled-back change leaves the number alone, a committed one always moves it. Every process
compares the number with the one it last saw, so caches in any number of processes notice a
change made in any other.

A scheduled post appears without any write, when its time comes. So the state that public pages
depend on is the generation *and* the time of the next scheduled publication: `current()` reads
the first on every request (one primary-key look-up) and the second only when the generation
moved or that time has passed (one indexed query).

`remembered(key, compute)` keeps a value per process for as long as that state holds: counts of
long lists, the archive's months, where each page of a list starts.

The generation is read on every request, including the page cache's hits, which answer before
Flask builds a request: so it is read through a connection of its own (`StoredReader`), in
autocommit, without the pool's checkout and ping. That costs about 5 µs on SQLite, against
about 75 µs for a pooled SQLAlchemy connection; on PostgreSQL it is a round trip.

Decisions:
- The threads of a process share reads (`StoredReader.read`): a request takes the result of a
  read that began after it arrived, never one already in flight, so it sees every commit
  finished before it arrived, on any server. Concurrent requests then cost one round trip
  together, and a process needs one reader connection instead of one per thread.
- No LISTEN/NOTIFY or time-based trust instead of the read: a notice can arrive after the next
  request, and "never stale on the very next request, on every server" is the promise.
"""

import contextlib
import os
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from flask import current_app, g
from sqlalchemy import case, event, func, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from .extensions import db
from .models import Post, PostKind, SiteState, utcnow
from .visibility import upcoming_clause

ROW_ID = 1
MEMO_MAX_ENTRIES = 50_000  # a runaway key space empties the memo instead of filling memory
_BUMPED = "blog.site_generation_bumped"
_EXTENSION = "blog.site_generation"
T = TypeVar("T")


# Writing -------------------------------------------------------------------------------------


def bump(session: Session | None = None) -> None:
    """Mark the site as changed, in the session's current transaction (the caller commits).

    `blog.invalidation` calls this for every write that readers could see; nothing else
    should need to. Once per transaction is enough; later calls in the same one cost nothing.
    """
    session = session or db.session()
    transaction = session.get_nested_transaction() or session.get_transaction()
    if transaction is not None and session.info.get(_BUMPED) is transaction:
        return
    with session.no_autoflush:  # this may run inside a flush or a bulk statement's event
        move_past(session.connection(), 0)
    session.info[_BUMPED] = session.get_nested_transaction() or session.get_transaction()


def move_past(connection: Connection, floor: int) -> None:
    """Set the generation above both `floor` and the stored one, creating the row if missing.

    A restore from a backup replaces the row itself, so it passes the generation it replaced.
    """
    now = utcnow()
    table = SiteState.__table__
    counted = table.c.generation + 1  # in SQL, so two writers never both write the same number
    if floor:
        counted = case((table.c.generation > floor, counted), else_=floor + 1)
    result = connection.execute(
        update(table).where(table.c.id == ROW_ID).values(generation=counted, changed_at=now)
    )
    if result.rowcount == 0:  # the very first change: the row does not exist yet
        connection.execute(_insert_first_row(connection, floor + 1, now))


def _insert_first_row(connection: Connection, generation: int, now: datetime):
    """Insert the row, or count up if another transaction inserted it meanwhile."""
    if connection.dialect.name == "postgresql":  # imported here: 2 MB a process on SQLite
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    statement = insert(SiteState.__table__).values(id=ROW_ID, generation=generation, changed_at=now)
    return statement.on_conflict_do_update(
        index_elements=[SiteState.id],
        set_={"generation": SiteState.generation + 1, "changed_at": now},
    )


# Reading -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SiteVersion:
    """What public pages depend on, besides the code: the generation and the next publication."""

    generation: int
    changed_at: object  # as the database driver returns it: compared, never computed with
    next_scheduled_at: datetime | None

    @property
    def stored(self) -> tuple:
        return (self.generation, self.changed_at)

    def holds_at(self, now: datetime) -> bool:
        return self.next_scheduled_at is None or now < self.next_scheduled_at

    @property
    def token(self) -> str:
        """A short text naming this version, the same in every process (for ETags)."""
        changed = str(self.changed_at) if self.changed_at else "-"
        upcoming = self.next_scheduled_at.isoformat() if self.next_scheduled_at else "-"
        return f"{self.generation}/{changed}/{upcoming}"


def read_stored() -> tuple:
    """(generation, changed_at) as stored; (0, None) before the first change.

    Read on a connection of its own, so it sees what is committed, not this session's changes.
    """
    return reader_for(current_app._get_current_object(), db.engine).read()


class GenerationUnreadable(SQLAlchemyError):
    """The site_state row could not be read (no table yet, or the database is away)."""


class StoredReader:
    """Reads the stored generation for every thread of a process, one read at a time.

    A request may use any read that *started* after the request arrived: such a read sees
    every commit that finished before it arrived, so "never stale on the very next request"
    holds. So the threads of a process share the reads (a leader and followers): a thread that
    finds no read in flight starts one and hands its result to every thread that arrived
    before that read began; a thread that arrives while a read is in flight waits for it to
    end, then for the next one, which it starts itself unless another waiting thread did. Under
    load that is one round trip for several requests instead of one each (on PostgreSQL the
    round trip, and the server process answering it on the same cores, was the cost of a cache
    hit); alone, a thread reads at once, as before.

    Since reads never overlap, one connection serves the process: detached from the pool, in
    autocommit (it never holds a lock), opened on first use and after a failed read, closed
    when the engine is disposed. A failed read is every waiting follower's failure too; the
    next read opens a new connection.
    """

    SQL = f"SELECT generation, changed_at FROM site_state WHERE id = {ROW_ID}"

    def __init__(self, engine: Engine):
        self.engine = engine
        self._reset()
        self._inherited: list = []  # a parent's connections, never used or closed after fork
        event.listen(engine, "engine_disposed", self._close_all)
        reader = weakref.ref(self)  # the hook must not keep an app's reader alive
        os.register_at_fork(after_in_child=lambda: (r := reader()) and r._after_fork())

    def _reset(self) -> None:
        self._changed = threading.Condition(threading.Lock())
        self._started = 0  # reads begun in this process, numbered from 1
        self._finished = 0  # the number of the last read that ended
        self._in_flight = False
        self._outcome: tuple | GenerationUnreadable = (0, None)
        self._connection = self._cursor = self._statement = None

    def _after_fork(self) -> None:
        """A child must not take a lock another thread held at fork, nor share a socket."""
        if self._connection is not None:
            self._inherited.append(self._connection)
        self._reset()

    def read(self) -> tuple:
        """(generation, changed_at) from a read that started after this call began."""
        with self._changed:
            needed = self._started + 1
            while self._finished < needed:
                if not self._in_flight:
                    break  # no read to wait for: lead the next one
                self._changed.wait()
            else:
                return self._shared_outcome()
            self._started += 1
            number, self._in_flight = self._started, True
        outcome: tuple | GenerationUnreadable = GenerationUnreadable("the read was interrupted")
        try:
            outcome = self._read_now()
        except GenerationUnreadable as error:
            outcome = error
        finally:  # whatever happened, the followers are told and the next read can start
            with self._changed:
                self._finished, self._outcome, self._in_flight = number, outcome, False
                self._changed.notify_all()
        if isinstance(outcome, GenerationUnreadable):
            raise GenerationUnreadable(str(outcome))
        return outcome

    def _shared_outcome(self) -> tuple:
        if isinstance(self._outcome, GenerationUnreadable):
            raise GenerationUnreadable(str(self._outcome))
        return self._outcome

    def _read_now(self) -> tuple:
        """One round trip; only the thread leading a read calls this, so never two at once."""
        if self._cursor is None:
            try:
                self._connection = self._open()
                self._cursor = self._connection.cursor()
            except Exception as error:
                raise GenerationUnreadable(str(error)) from error
        try:
            if self._statement is not None:
                return self._read_prepared()
            self._cursor.execute(self.SQL)
            row = self._cursor.fetchone()
        except Exception as error:  # the driver's own error classes differ per database
            connection, self._connection, self._cursor = self._connection, None, None
            _close_quietly(connection)
            raise GenerationUnreadable(str(error)) from error
        return (row[0], row[1]) if row else (0, None)

    def _read_prepared(self) -> tuple:
        """PostgreSQL: run the statement prepared when the connection opened, through libpq.

        psycopg's cursor spends 60-90 µs of the client's CPU on a read, libpq's prepared
        execution 20-30 µs (bench/README.md). The values come as text: `changed_at` is only
        compared and written into ETags, the same text in every process.
        """
        from psycopg import pq  # loaded already by the connection: a dictionary look-up

        result = self._connection.pgconn.exec_prepared(self._statement, None)
        if result.status != pq.ExecStatus.TUPLES_OK:
            raise GenerationUnreadable(self._connection.pgconn.get_error_message())
        if result.ntuples == 0:
            return (0, None)
        changed_at = result.get_value(0, 1)
        return (int(result.get_value(0, 0)), changed_at and changed_at.decode())

    def _open(self):
        proxy = self.engine.raw_connection()
        proxy.detach()  # ours to keep: it never goes back to the pool
        connection = proxy.dbapi_connection
        self._statement = None
        if self.engine.dialect.name == "postgresql":
            connection.rollback()  # the pool's ping may have opened a transaction
            connection.autocommit = True
            if hasattr(connection, "pgconn"):  # psycopg 3, as the default URL says
                try:
                    self._prepare(connection.pgconn)
                except Exception:
                    _close_quietly(connection)
                    raise
        return connection

    def _prepare(self, pgconn) -> None:
        from psycopg import pq  # not at the top: a SQLite site never loads psycopg (memory)

        result = pgconn.prepare(PREPARED_NAME, self.SQL.encode())
        if result.status != pq.ExecStatus.COMMAND_OK:
            raise GenerationUnreadable(pgconn.get_error_message())
        self._statement = PREPARED_NAME

    def _close_all(self, engine=None) -> None:
        """The engine is disposed: close the connection (a read in flight just fails)."""
        connection, self._connection, self._cursor = self._connection, None, None
        if connection is not None:
            _close_quietly(connection)


def _close_quietly(connection) -> None:
    with contextlib.suppress(Exception):  # already broken or closed: nothing left to release
        connection.close()


READER = "blog.site_generation_reader"
PREPARED_NAME = b"blog_site_generation"


def reader_for(app, engine: Engine) -> StoredReader:
    reader = app.extensions.get(READER)
    if reader is None or reader.engine is not engine:
        reader = StoredReader(engine)
        app.extensions[READER] = reader
    return reader


def next_scheduled_at(now: datetime) -> datetime | None:
    """When the next post that is not public yet, but will be without a write, goes public.

    Few posts wait in the future, so this reads a short range of the listing index.
    """
    return db.session.scalar(
        select(func.min(Post.published_at)).where(
            Post.kind.in_(tuple(PostKind)),  # spelled out, so the listing index applies
            upcoming_clause(now),
        )
    )


def current() -> SiteVersion:
    """The site's version for this request: read once, then kept on `g`."""
    if "site_version" not in g:
        g.site_version = _tracker().refresh(read_stored(), utcnow())
    return g.site_version


def remembered(key, compute: Callable[[], T]) -> T:
    """`compute()`, kept in this process until the site's version changes."""
    value = recall(key)
    if value is None:
        value = compute()
        remember(key, value)
    return value


def recall(key):
    """What `remember` kept under `key` for the current version, or None."""
    return _tracker().recall(current(), key)


def remember(key, value) -> None:
    _tracker().remember(current(), key, value)


class Tracker:
    """One per app and process: the last version seen and what was remembered under it."""

    def __init__(self):
        self._lock = threading.Lock()
        self.version: SiteVersion | None = None
        self._memo: dict = {}
        self._listeners: list[Callable[[], None]] = []

    def on_change(self, listener: Callable[[], None]) -> None:
        """Call `listener` whenever the version changes (the page cache empties itself)."""
        self._listeners.append(listener)

    def refresh(self, stored: tuple, now: datetime) -> SiteVersion:
        known = self.version
        if known is not None and known.stored == stored and known.holds_at(now):
            return known
        version = SiteVersion(*stored, next_scheduled_at=next_scheduled_at(now))
        with self._lock:
            self.version = version
            self._memo = {}
        for listener in self._listeners:
            listener()
        return version

    def recall(self, version: SiteVersion, key):
        return self._memo.get((version, key))

    def remember(self, version: SiteVersion, key, value) -> None:
        with self._lock:
            if self.version != version:  # never keep a value computed under an older version
                return
            if len(self._memo) >= MEMO_MAX_ENTRIES:
                self._memo = {}
            self._memo[(version, key)] = value


def _tracker() -> Tracker:
    return tracker_for(current_app._get_current_object())


def tracker_for(app) -> Tracker:
    tracker = app.extensions.get(_EXTENSION)
    if tracker is None:
        tracker = app.extensions.setdefault(_EXTENSION, Tracker())
    return tracker
