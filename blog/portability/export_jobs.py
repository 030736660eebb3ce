"""WordPress exports started from the admin page, run as background jobs (`blog.jobs`).

An export is a small JSON file in `instance/exports/<id>.json` (who started it, its status:
queued, running, done or failed, and at the end what it holds), with the WXR file
`<id>.xml` and the uploads zip `<id>-uploads.zip` beside it once it is done. Every process of
the site can read them, so the page may be served by another process than the worker that
wrote them.

Decisions:
- The export is a job of kind `wordpress_export`, so a large site's export runs in the job
  worker, not in a web request that a proxy would cut off. A worker that dies mid-export
  leaves its job to be taken up again; the export then starts over (the files are written
  under temporary names and renamed when complete, so a half-written file is never offered).
- The files hold commenters' and authors' emails: only admins may start or download them, and
  only the newest KEEP exports are kept; starting another removes the older ones.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import threading
from pathlib import Path

from flask import current_app

from ..models import utcnow
from .json_export import timestamp

EXPORT_ID = re.compile(r"[0-9a-f]{16}")
KEEP = 3


def exports_folder() -> Path:
    folder = Path(current_app.instance_path) / "exports"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def export_path(export_id: str, suffix: str = ".json") -> Path:
    if not EXPORT_ID.fullmatch(export_id or ""):
        raise ValueError("not an export id")
    return exports_folder() / f"{export_id}{suffix}"


def xml_path(export_id: str) -> Path:
    return export_path(export_id, ".xml")


def zip_path(export_id: str) -> Path:
    return export_path(export_id, "-uploads.zip")


def read_export(export_id: str) -> dict | None:
    try:
        with export_path(export_id).open(encoding="utf-8") as handle:
            return json.load(handle)
    except (ValueError, OSError):
        return None


def write_export(record: dict) -> None:
    """Replace the record atomically, so a reader never sees half of it."""
    record["updated_at"] = timestamp(utcnow())
    path = export_path(record["id"])
    temporary = path.with_suffix(f".{threading.get_ident()}.tmp")
    temporary.write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")
    os.replace(temporary, path)


def recent_exports(limit: int = KEEP) -> list[dict]:
    paths = sorted(
        (p for p in exports_folder().glob("*.json") if EXPORT_ID.fullmatch(p.stem)),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    records = [read_export(p.stem) for p in paths[:limit]]
    return [record for record in records if record is not None]


def _remove_old_exports() -> None:
    """Keep the newest KEEP - 1 exports (a new one is about to be added), remove the rest."""
    paths = sorted(
        (p for p in exports_folder().glob("*.json") if EXPORT_ID.fullmatch(p.stem)),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    for path in paths[KEEP - 1 :]:
        for old in (xml_path(path.stem), zip_path(path.stem), path):
            old.unlink(missing_ok=True)


def start_export(started_by) -> dict:
    """Record a new export and queue its job (the caller commits)."""
    from .. import jobs as background

    _remove_old_exports()
    record = {
        "id": secrets.token_hex(8),
        "status": "queued",
        "started_by": started_by.email,
        "created_at": timestamp(utcnow()),
        "headline": "",
        "files": 0,
        "missing_files": [],
        "error": None,
    }
    write_export(record)
    background.enqueue(
        "wordpress_export",
        {"export_id": record["id"]},
        label="WordPress export",
        created_by=started_by,
    )
    return record


def _export_handler():
    from .. import jobs as background

    @background.handler("wordpress_export", max_attempts=3)
    def run_export(payload: dict) -> None:
        """The job: write the WXR file and the uploads zip, recording how it went."""
        from .wxr_export import export_wordpress

        record = read_export(payload["export_id"])
        if record is None:
            raise background.PermanentFailure("The export's record is gone.")
        record.update(status="running", error=None)
        write_export(record)
        try:
            report = export_wordpress(xml_path(record["id"]), zip_path(record["id"]))
        except OSError as error:
            record.update(status="failed", error=f"The export could not be written: {error}")
            write_export(record)
            raise background.TemporaryFailure(record["error"]) from error
        except Exception:
            current_app.logger.exception("WordPress export %s failed", record["id"])
            record.update(status="failed", error="The export failed unexpectedly; see the log.")
            write_export(record)
            raise
        record.update(
            status="done", headline=report.headline(), files=report.files,
            missing_files=report.missing_files,
        )  # fmt: skip
        write_export(record)
        current_app.logger.info("WordPress export %s: %s", record["id"], report.headline())


_export_handler()
