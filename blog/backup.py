"""Backup and restore: one archive holding the database's rows, the uploaded files and a manifest.

The archive is a gzip-compressed tar file:

    database/<table>.jsonl   one JSON object per row, for every table of the models (but the
                             sign-in sessions), ids kept
    uploads/<name>           every stored upload (the names `blog.uploads` writes)
    manifest.json            written last: format version, creation time, database kind, schema
                             revision, counts, and the sha256 and size of every other member

The rows are a logical dump, the same on SQLite and PostgreSQL, so a backup of one database kind
restores into the other. Each backup is one consistent snapshot, taken while the site runs: on
SQLite the live file is first copied with the online backup API, in one step (so one read
snapshot; writers carry on in WAL mode) and the rows are read from that private copy; on
PostgreSQL every table is read in one REPEATABLE READ, READ ONLY transaction, as pg_dump does.
Upload files are added after the snapshot: a file written later is harmless, and an image whose
row is in the snapshot was already on disk (files are stored before their row is committed).

A restore reads the whole archive into a staging folder and checks every member against the
manifest before it touches anything, then inserts every row in one transaction (all or
nothing), resets PostgreSQL's id sequences, stamps the Alembic revision, rebuilds the search
index (FTS5 or GIN, which are not in the models) and moves the files into UPLOAD_FOLDER.

Sign-in sessions are left out of the archive: a restore would otherwise bring back sessions
that were signed out since the backup. A restore empties that table too, so everyone signs in
again afterwards.
"""

import contextlib
import enum
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import sqlite3
import tarfile
import tempfile
import zlib
from base64 import b64decode, b64encode
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

import sqlalchemy as sa
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import current_app
from sqlalchemy.pool import NullPool

from . import first_run, search
from .database import MIGRATIONS
from .extensions import db
from .generation import move_past
from .uploads import STORED_NAME

FORMAT = "blog-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
TABLES_DIR = "database"
UPLOADS_DIR = "uploads"
SUFFIXES = (".tar.gz", ".tgz")
MAX_MANIFEST_BYTES = 256 * 1024 * 1024
BATCH_ROWS = 500
# Sign-ins, and the work of the moment: a restored site must not send again the emails the
# old one had queued or sent (and the emails carry reset links that must not outlive them),
# nor carry the rate limits of the moment.
NOT_BACKED_UP = frozenset({"user_session", "job", "outgoing_email", "rate_event"})
CHUNK = 1024 * 1024
COUNTED = {"posts": "post", "revisions": "revision", "media": "media", "users": "user"}
_TABLE_MEMBER = re.compile(rf"{TABLES_DIR}/([a-z_][a-z0-9_]*)\.jsonl")
_ALEMBIC_VERSION = sa.Table(
    "alembic_version",
    sa.MetaData(),
    sa.Column("version_num", sa.String(32), primary_key=True),
)


class BackupError(Exception):
    """A backup or restore was refused or failed; str() says why, for the operator."""


# Progress reporting: the CLI passes click.progressbar; the default reports nothing. ---------


class _Silent:
    def update(self, steps: int) -> None:
        pass


def no_progress(label: str, length: int):
    return contextlib.nullcontext(_Silent())


Progress = Callable[[str, int], contextlib.AbstractContextManager]


@dataclass
class BackupResult:
    path: Path
    manifest: dict
    skipped: list[str] = field(default_factory=list)  # files in UPLOAD_FOLDER that are not uploads


@dataclass
class RestoreResult:
    manifest: dict
    removed_files: int = 0  # with --force: old uploads the archive does not have


# Backup --------------------------------------------------------------------------------------


def default_backup_path() -> Path:
    """instance/backups/blog-YYYYmmdd-HHMMSS.tar.gz (UTC), the folder created owner-only."""
    folder = Path(current_app.instance_path) / "backups"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder.chmod(0o700)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    path = folder / f"blog-{stamp}.tar.gz"
    number = 1
    while path.exists():  # two backups in one second
        number += 1
        path = folder / f"blog-{stamp}-{number}.tar.gz"
    return path


def create_backup(path: Path | None = None, progress: Progress = no_progress) -> BackupResult:
    """Write one archive of the database and the uploads; returns where and what it holds.

    `path` may be a folder (the default file name is used inside it) or a new .tar.gz file.
    The archive is written under a temporary name, owner-only, and renamed when complete.
    """
    target = _backup_target(path)
    partial = target.with_name(f".{target.name}.partial")
    with tempfile.TemporaryDirectory(prefix=".blog-backup-", dir=target.parent) as work:
        work_dir = Path(work)
        try:
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise BackupError(f"{partial} exists: is another backup running?") from None
        try:
            with os.fdopen(fd, "wb") as raw:
                with tarfile.open(fileobj=raw, mode="w:gz", compresslevel=6) as archive:
                    manifest, skipped = _write_archive(archive, work_dir, progress)
                raw.flush()
                os.fsync(raw.fileno())
            os.link(partial, target)  # unlike a rename, never replaces a file made meanwhile
        except FileExistsError:
            raise BackupError(f"{target} already exists; choose another name.") from None
        except OSError as error:
            raise BackupError(f"Could not write the backup: {error}") from error
        except sa.exc.SQLAlchemyError as error:
            raise BackupError(f"Could not read the database: {_short(error)}") from error
        finally:
            partial.unlink(missing_ok=True)
    return BackupResult(target, manifest, skipped)


def _backup_target(path: Path | None) -> Path:
    if path is None:
        return default_backup_path()
    path = Path(path)
    if path.is_dir():
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        path = path / f"blog-{stamp}.tar.gz"
    if not path.name.endswith(SUFFIXES):
        raise BackupError(f"Name the backup file …{SUFFIXES[0]} (it is a gzip-compressed tar).")
    if path.exists():
        raise BackupError(f"{path} already exists; choose another name.")
    if not path.parent.is_dir():
        raise BackupError(f"The folder {path.parent} does not exist.")
    return path


def _write_archive(
    archive: tarfile.TarFile, work_dir: Path, progress: Progress
) -> tuple[dict, list[str]]:
    members: dict[str, dict] = {}
    with _snapshot_connection(work_dir) as connection:
        revision = _schema_revision(connection)
        tables = _dump_tables(connection, archive, work_dir, members, progress)
    files, skipped = _add_uploads(archive, members, progress)
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "database": db.engine.dialect.name,
        "schema_revision": revision,
        "counts": {
            **{name: tables[table]["rows"] for name, table in COUNTED.items() if table in tables},
            "files": len(files),
        },
        "tables": tables,
        "members": members,
        "missing_files": _missing_files(work_dir, tables, files),
    }
    data = json.dumps(manifest, indent=1, sort_keys=True).encode()
    info = _file_info(MANIFEST, len(data))
    archive.addfile(info, io.BytesIO(data))
    return manifest, skipped


@contextlib.contextmanager
def _snapshot_connection(work_dir: Path) -> Iterator[sa.Connection]:
    """A connection that sees one consistent state of the whole database, read-only."""
    engine = db.engine
    if engine.dialect.name == "sqlite":
        copy = work_dir / "snapshot.sqlite3"
        _sqlite_online_copy(engine.url.database, copy)
        snapshot = sa.create_engine(f"sqlite:///{copy}", poolclass=NullPool)
        try:
            with snapshot.connect() as connection:
                yield connection
        finally:
            snapshot.dispose()
    elif engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            connection = connection.execution_options(
                isolation_level="REPEATABLE READ", postgresql_readonly=True
            )
            with connection.begin():
                yield connection
    else:
        raise BackupError(f"Backups support SQLite and PostgreSQL, not {engine.dialect.name}.")


def _sqlite_online_copy(database: str | None, copy: Path) -> None:
    """Copy a live SQLite database with the backup API, in one step (one read snapshot)."""
    if not database or database == ":memory:" or not Path(database).is_file():
        raise BackupError(f"There is no SQLite database file to back up ({database}).")
    source = sqlite3.connect(database)
    target = sqlite3.connect(copy)
    try:
        timeout = int(current_app.config.get("SQLITE_BUSY_TIMEOUT_MS", 5000))
        source.execute(f"PRAGMA busy_timeout = {timeout}")
        source.backup(target)  # pages=-1: everything in one step
    except sqlite3.Error as error:
        raise BackupError(f"Could not copy the SQLite database: {error}") from error
    finally:
        target.close()
        source.close()


def code_head_revision() -> str | None:
    return ScriptDirectory(str(MIGRATIONS)).get_current_head()


def database_revision(connection: sa.Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def _schema_revision(connection: sa.Connection) -> str | None:
    """The database's Alembic revision; a database built from the models without Alembic
    (create_all, as the tests do) has the code's head schema."""
    current, head = database_revision(connection), code_head_revision()
    if current is not None and current != head:
        raise BackupError(
            f"The database is at schema revision {current}, this code expects {head}: "
            "run `flask --app blog db upgrade` first."
        )
    return head


def _dump_tables(
    connection: sa.Connection,
    archive: tarfile.TarFile,
    work_dir: Path,
    members: dict[str, dict],
    progress: Progress,
) -> dict[str, dict]:
    tables = {}
    sorted_tables = [t for t in db.metadata.sorted_tables if t.name not in NOT_BACKED_UP]
    with progress("Dumping tables", len(sorted_tables)) as bar:
        for table in sorted_tables:
            name = f"{TABLES_DIR}/{table.name}.jsonl"
            dump = work_dir / f"{table.name}.jsonl"
            rows = _dump_table(connection, table, dump)
            with open(dump, "rb") as handle:
                members[name] = _add_file(archive, name, handle, os.fstat(handle.fileno()).st_size)
            if table.name == "media":
                dump.replace(work_dir / "media-rows.jsonl")  # kept to check the files
            else:
                dump.unlink()
            tables[table.name] = {"rows": rows, "columns": [c.name for c in table.columns]}
            bar.update(1)
    return tables


def _dump_table(connection: sa.Connection, table: sa.Table, path: Path) -> int:
    query = sa.select(table).order_by(*table.primary_key.columns)
    rows = 0
    with open(path, "wb") as out:
        result = connection.execution_options(yield_per=1000).execute(query)
        for row in result.mappings():
            line = json.dumps(dict(row), default=_encode, ensure_ascii=False)
            out.write(line.encode() + b"\n")
            rows += 1
    return rows


def _encode(value: Any):
    """JSON for the column values json does not know: times as ISO 8601, enums as values."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return b64encode(value).decode()
    raise TypeError(f"cannot store {type(value).__name__} in a backup")


def _add_uploads(
    archive: tarfile.TarFile, members: dict[str, dict], progress: Progress
) -> tuple[set[str], list[str]]:
    """Add every stored upload; return the names added and the other files that were skipped."""
    folder = Path(current_app.config["UPLOAD_FOLDER"])
    names, skipped = [], []
    if folder.is_dir():
        for entry in sorted(os.scandir(folder), key=lambda entry: entry.name):
            if entry.is_file(follow_symlinks=False) and STORED_NAME.fullmatch(entry.name):
                names.append(entry.name)
            elif not entry.name.startswith("."):  # dot files are uploads being written
                skipped.append(entry.name)
    added = set()
    with progress("Adding uploads", len(names)) as bar:
        for name in names:
            try:
                fd = os.open(folder / name, os.O_RDONLY | os.O_NOFOLLOW)
            except FileNotFoundError:  # deleted since the listing: its row is gone too
                bar.update(1)
                continue
            with os.fdopen(fd, "rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                member = f"{UPLOADS_DIR}/{name}"
                members[member] = _add_file(archive, member, handle, size)
            added.add(name)
            bar.update(1)
    return added, skipped


def _missing_files(work_dir: Path, tables: dict, files: set[str]) -> list[str]:
    """Files named by media rows of the snapshot that the archive lacks (deleted meanwhile)."""
    path = work_dir / "media-rows.jsonl"
    missing = set()
    if "media" in tables and path.exists():
        with open(path, "rb") as handle:
            for line in handle:
                row = json.loads(line)
                wanted = [row["filename"]] + [
                    variant["filename"] if isinstance(variant, dict) else variant
                    for variant in row.get("variants") or []
                ]
                missing.update(name for name in wanted if name not in files)
    return sorted(missing)


def _file_info(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = 0o600
    info.mtime = int(datetime.now(UTC).timestamp())
    info.type = tarfile.REGTYPE
    return info


def _add_file(archive: tarfile.TarFile, name: str, handle: IO[bytes], size: int) -> dict:
    reader = _HashingReader(handle)
    archive.addfile(_file_info(name, size), reader)
    if reader.size != size:
        raise BackupError(f"{name} changed size while it was being backed up; try again.")
    return {"sha256": reader.hexdigest(), "size": size}


class _HashingReader:
    """A file wrapper that hashes and counts what tarfile reads through it."""

    def __init__(self, handle):
        self._handle = handle
        self._hash = hashlib.sha256()
        self.size = 0

    def read(self, size: int = -1) -> bytes:
        chunk = self._handle.read(size)
        self._hash.update(chunk)
        self.size += len(chunk)
        return chunk

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


# Restore -------------------------------------------------------------------------------------


def site_contents() -> tuple[int, int]:
    """(users, posts) in the database; (0, 0) when it has no tables yet."""
    inspector = sa.inspect(db.engine)
    if not (inspector.has_table("user") and inspector.has_table("post")):
        return 0, 0
    users = db.session.scalar(sa.text('SELECT count(*) FROM "user"')) or 0
    posts = db.session.scalar(sa.text("SELECT count(*) FROM post")) or 0
    db.session.rollback()  # end the read transaction
    return users, posts


def restore_backup(
    path: Path,
    force: bool = False,
    progress: Progress = no_progress,
    echo: Callable[[str], None] = lambda message: None,
) -> RestoreResult:
    """Restore an archive into this instance; refuse a non-empty one unless `force`."""
    _refuse_unless_empty(force)
    staging_parent = Path(current_app.instance_path)
    staging_parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".blog-restore-", dir=staging_parent) as work:
        staging = Path(work)
        manifest = _unpack_and_verify(Path(path), staging, progress)
        echo(
            f"The archive is intact: {describe(manifest)}, "
            f"made {manifest.get('created_at')} on {manifest.get('database')}."
        )
        _prepare_schema()
        removed = _restore_rows_and_files(manifest, staging, force, progress)
    if manifest["counts"].get("users"):
        first_run.discard_token(current_app)
    return RestoreResult(manifest, removed)


def describe(manifest: dict) -> str:
    """'7 posts, 9 revisions, 6 media, 1 users, 24 files' from a manifest."""
    counts = manifest.get("counts", {})
    return ", ".join(
        f"{counts.get(key, 0)} {key}" for key in ("posts", "revisions", "media", "users", "files")
    )


def _refuse_unless_empty(force: bool) -> None:
    users, posts = site_contents()
    if (users or posts) and not force:
        raise BackupError(
            f"This blog is not empty ({users} users, {posts} posts): restore fills an empty "
            "blog only. Nothing was changed. To replace everything in it with the backup, "
            "run restore again with --force (take a backup of it first)."
        )


def _unpack_and_verify(path: Path, staging: Path, progress: Progress) -> dict:
    """Read the archive once into `staging`, refusing anything unsafe or not as the manifest
    says. Nothing outside `staging` is touched."""
    if not path.is_file():
        raise BackupError(f"{path} is not a file.")
    found: dict[str, dict] = {}
    manifest_bytes = None
    (staging / TABLES_DIR).mkdir()
    (staging / UPLOADS_DIR).mkdir()
    try:
        with (
            open(path, "rb") as raw,
            gzip.GzipFile(fileobj=raw, mode="rb") as unzipped,
            progress("Checking the archive", path.stat().st_size) as bar,
            tarfile.open(fileobj=unzipped, mode="r|") as archive,
        ):
            position = 0
            for member in archive:
                if not _member_is_wanted(member):
                    continue
                if member.name in found:
                    raise BackupError(f"The archive holds {member.name} twice; refused.")
                source = archive.extractfile(member)
                if member.name == MANIFEST:
                    if manifest_bytes is not None:
                        raise BackupError("The archive holds two manifests; refused.")
                    if member.size > MAX_MANIFEST_BYTES:
                        raise BackupError("The archive's manifest is implausibly large; refused.")
                    manifest_bytes = source.read()
                else:
                    found[member.name] = _stage(source, staging / member.name)
                bar.update(raw.tell() - position)
                position = raw.tell()
            # tarfile stops at the first unreadable header without a word: read to the end, so
            # gzip checks its CRC and length and any damage is reported as such.
            while unzipped.read(CHUNK):
                pass
    except BackupError:
        raise
    except (tarfile.TarError, EOFError, zlib.error, OSError) as error:
        raise BackupError(
            f"The archive is damaged or truncated ({error}); nothing was restored."
        ) from None
    if manifest_bytes is None:
        raise BackupError(
            "The archive has no manifest: it is truncated or not a blog backup; nothing was "
            "restored."
        )
    manifest = _parse_manifest(manifest_bytes)
    _compare_with_manifest(manifest, found)
    return manifest


def _member_is_wanted(member: tarfile.TarInfo) -> bool:
    """Refuse links, devices and paths that leave the archive; skip our two folders."""
    name = member.name
    if member.issym() or member.islnk():
        raise BackupError(f"The archive holds a link ({name}); refused, nothing was restored.")
    parts = name.split("/")
    if name.startswith(("/", "\\")) or ".." in parts or "\\" in name or re.match("[A-Za-z]:", name):
        raise BackupError(
            f"The archive holds a path outside its folder ({name}); refused, nothing was restored."
        )
    if member.isdir() and name.rstrip("/") in (TABLES_DIR, UPLOADS_DIR):
        return False
    if not member.isreg():
        raise BackupError(f"The archive holds {name}, which is not a plain file; refused.")
    is_upload = len(parts) == 2 and parts[0] == UPLOADS_DIR and STORED_NAME.fullmatch(parts[1])
    if name == MANIFEST or _TABLE_MEMBER.fullmatch(name) or is_upload:
        return True
    raise BackupError(f"The archive holds {name}, which no blog backup contains; refused.")


def _stage(source: IO[bytes], target: Path) -> dict:
    digest, size = hashlib.sha256(), 0
    with open(target, "xb") as out:
        while chunk := source.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
            try:
                out.write(chunk)
            except OSError as error:  # not the archive's fault: say so
                raise BackupError(f"Could not unpack into {target.parent}: {error}") from error
    return {"sha256": digest.hexdigest(), "size": size}


def _parse_manifest(data: bytes) -> dict:
    try:
        manifest = json.loads(data)
    except ValueError:
        raise BackupError("The archive's manifest is not valid JSON; refused.") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError("This archive is not a blog backup (its manifest says otherwise).")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise BackupError(
            f"This backup has format version {manifest.get('format_version')}; this version "
            f"of the blog reads version {FORMAT_VERSION}."
        )
    for key in ("members", "tables", "counts"):
        if not isinstance(manifest.get(key), dict):
            raise BackupError(f"The archive's manifest has no valid {key!r}; refused.")
    head = code_head_revision()
    if manifest.get("schema_revision") != head:
        raise BackupError(
            f"This backup was made at schema revision {manifest.get('schema_revision')}, this "
            f"version of the blog is at {head}. Restore it with the version of the blog that "
            "made it, then upgrade."
        )
    return manifest


def _compare_with_manifest(manifest: dict, found: dict[str, dict]) -> None:
    expected = manifest["members"]
    problems = []
    for name, facts in sorted(expected.items()):
        if name not in found:
            problems.append(f"{name} is missing")
        elif found[name] != {"sha256": facts.get("sha256"), "size": facts.get("size")}:
            problems.append(f"{name} does not match its checksum")
    problems += [f"{name} is not in the manifest" for name in found if name not in expected]
    if problems:
        shown = "; ".join(problems[:5]) + (
            f"; and {len(problems) - 5} more" if problems[5:] else ""
        )
        raise BackupError(f"The archive is damaged: {shown}. Nothing was restored.")
    known = {table.name: table for table in db.metadata.sorted_tables}
    for name, facts in manifest["tables"].items():
        table = known.get(name)
        if table is None:
            raise BackupError(f"The backup has a table {name!r} this blog does not know.")
        unknown = set(facts.get("columns", [])) - set(table.columns.keys())
        if unknown or f"{TABLES_DIR}/{name}.jsonl" not in found:
            raise BackupError(f"The backup's table {name!r} does not fit this blog's schema.")


def _prepare_schema() -> None:
    """Create the tables in a database that has none; refuse one at another schema revision."""
    from flask_migrate import upgrade

    if not sa.inspect(db.engine).has_table("post"):
        upgrade()
        return
    with db.engine.connect() as connection:
        current = database_revision(connection)
    head = code_head_revision()
    if current is not None and current != head:
        raise BackupError(
            f"This database is at schema revision {current}, the blog at {head}: run "
            "`flask --app blog db upgrade` first. Nothing was restored."
        )


def _restore_rows_and_files(manifest: dict, staging: Path, force: bool, progress) -> int:
    """One transaction for every row; files go in just before the commit, old ones after it."""
    folder = Path(current_app.config["UPLOAD_FOLDER"])
    uploads = sorted(path.name for path in (staging / UPLOADS_DIR).iterdir())
    added: list[Path] = []
    try:
        connection = db.session.connection()
        generation = _current_generation(connection)
        if not force:
            _refuse_unless_still_empty(connection)
        # An empty blog may still hold settings, categories, failed sign-ins or the site
        # generation: the backup's replace them, or their ids would collide.
        for table in reversed(db.metadata.sorted_tables):
            connection.execute(table.delete())
        total_rows = sum(int(facts.get("rows", 0)) for facts in manifest["tables"].values())
        later: list[tuple[sa.Table, list[dict]]] = []
        with progress("Restoring rows", total_rows) as bar:
            for table in db.metadata.sorted_tables:
                if table.name in manifest["tables"]:
                    columns = manifest["tables"][table.name].get("columns", [])
                    later.append((table, _insert_rows(connection, table, columns, staging, bar)))
        for table, links in later:
            _fill_in_links(connection, table, links)
        _reset_sequences(connection)
        move_past(connection, generation)  # nothing cached before the restore is served
        _stamp_head(connection)
        search.rebuild()
        folder.mkdir(parents=True, exist_ok=True)
        with progress("Copying uploads", len(uploads)) as bar:
            for name in uploads:
                destination = folder / name
                if not destination.exists():
                    added.append(destination)
                shutil.move(staging / UPLOADS_DIR / name, destination)
                bar.update(1)
        db.session.commit()
    except BaseException as error:
        db.session.rollback()
        for path in added:
            path.unlink(missing_ok=True)
        if isinstance(error, BackupError):
            raise
        if isinstance(error, sa.exc.SQLAlchemyError | ValueError | KeyError | OSError):
            raise BackupError(f"Nothing was restored: {_short(error)}") from error
        raise
    return _remove_other_uploads(folder, set(uploads)) if force else 0


def _short(error: BaseException) -> str:
    text = str(getattr(error, "orig", None) or error)
    return text.splitlines()[0][:300] if text else type(error).__name__


def _refuse_unless_still_empty(connection: sa.Connection) -> None:
    """Someone may have signed up between the first check and now."""
    users = connection.scalar(sa.text('SELECT count(*) FROM "user"'))
    posts = connection.scalar(sa.text("SELECT count(*) FROM post"))
    if users or posts:
        raise BackupError("The blog stopped being empty while restoring; nothing was restored.")


def _insert_rows(connection, table: sa.Table, columns: list[str], staging: Path, bar) -> list[dict]:
    """Insert the table's rows; returns the links that must wait (see `_links_closing_a_cycle`)."""
    decoders = {name: _decoder(table.columns[name]) for name in columns}
    expected = set(columns)
    waiting = _links_closing_a_cycle(table) & expected
    keys = [column.name for column in table.primary_key.columns]
    links = []
    batch = []
    with open(staging / TABLES_DIR / f"{table.name}.jsonl", "rb") as handle:
        for number, line in enumerate(handle, start=1):
            row = json.loads(line)
            if not isinstance(row, dict) or set(row) != expected:
                raise BackupError(f"Row {number} of table {table.name} has the wrong columns.")
            batch.append(
                {
                    name: (
                        value if value is None or decoders[name] is None else decoders[name](value)
                    )
                    for name, value in row.items()
                }
            )
            if any(batch[-1][name] is not None for name in waiting):
                links.append({name: batch[-1][name] for name in [*keys, *waiting]})
                batch[-1].update(dict.fromkeys(waiting))
            if len(batch) >= BATCH_ROWS:
                connection.execute(table.insert(), batch)
                bar.update(len(batch))
                batch = []
    if batch:
        connection.execute(table.insert(), batch)
        bar.update(len(batch))
    return links


def _links_closing_a_cycle(table: sa.Table) -> set[str]:
    """Columns of the foreign keys that close a cycle between tables (`use_alter`, e.g. a
    user's photo, a media row, whose row points back at its uploader): whichever table goes
    first cannot point at the other yet, so these are filled in once every row is in. A table
    pointing at itself (a category's parent, which may be a newer row) waits the same way."""
    return {
        element.parent.name
        for constraint in table.foreign_key_constraints
        if constraint.use_alter or constraint.referred_table is table
        for element in constraint.elements
    }


def _fill_in_links(connection, table: sa.Table, links: list[dict]) -> None:
    if not links:
        return
    keys = [column.name for column in table.primary_key.columns]
    values = [name for name in links[0] if name not in keys]
    statement = (
        table.update()
        .where(*(table.c[name] == sa.bindparam(f"key_{name}") for name in keys))
        .values({name: sa.bindparam(f"value_{name}") for name in values})
    )
    connection.execute(
        statement,
        [
            {
                f"key_{name}" if name in keys else f"value_{name}": value
                for name, value in link.items()
            }
            for link in links
        ],
    )


def _decoder(column: sa.Column) -> Callable[[Any], Any] | None:
    """Turn a JSON value back into what the column's type takes (None: as it is)."""
    kind = column.type
    if isinstance(kind, sa.Enum) and kind.enum_class is not None:
        return kind.enum_class
    if isinstance(kind, sa.DateTime):
        return datetime.fromisoformat
    if isinstance(kind, sa.Date):
        return date.fromisoformat
    if isinstance(kind, sa.Numeric) and kind.asdecimal:
        return Decimal
    if isinstance(kind, sa.LargeBinary):
        return b64decode
    return None


def _reset_sequences(connection: sa.Connection) -> None:
    """After inserting explicit ids, PostgreSQL's sequences must continue past the largest."""
    if connection.dialect.name != "postgresql":
        return
    quote = connection.dialect.identifier_preparer
    for table in db.metadata.sorted_tables:
        column = table.autoincrement_column
        if column is None:
            continue
        connection.execute(
            sa.text(
                f"SELECT setval(pg_get_serial_sequence(:table, :column), "
                f"coalesce(max({quote.quote(column.name)}), 0) + 1, false) "
                f"FROM {quote.format_table(table)}"
            ),
            {"table": quote.format_table(table), "column": column.name},
        )


def _current_generation(connection: sa.Connection) -> int:
    table = db.metadata.tables.get("site_state")
    if table is None:
        return 0
    return connection.scalar(sa.select(sa.func.max(table.c.generation))) or 0


def _stamp_head(connection: sa.Connection) -> None:
    """Record the schema revision in the restore's own transaction (not Alembic's stamp)."""
    _ALEMBIC_VERSION.create(connection, checkfirst=True)
    connection.execute(_ALEMBIC_VERSION.delete())
    connection.execute(_ALEMBIC_VERSION.insert().values(version_num=code_head_revision()))


def _remove_other_uploads(folder: Path, kept: set[str]) -> int:
    """With --force, the replaced site's uploads that the backup does not have go too."""
    removed = 0
    for entry in os.scandir(folder):
        if STORED_NAME.fullmatch(entry.name) and entry.name not in kept:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry.path)
                removed += 1
    return removed
