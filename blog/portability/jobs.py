"""Imports started from the admin page, run as background jobs (`blog.jobs`).

The import's progress is a small JSON file in `instance/imports/<id>.json`: who started it,
its status (queued, running, done, failed), progress counts and, at the end, the summary.
Every process of the site can read it, so the page that polls may be served by another
process than the worker running the import. The uploaded files sit beside it until it ends.

Decisions:
- The import is a job of kind `wordpress_import` (`ghost_import` for a Ghost site), so it
  runs in the job worker, not in a thread of a web worker: restarting the web server no
  longer ends it. If the worker itself dies mid-import, the job is taken up again (blog.jobs'
  lease and sweep) and the import runs from the start, which is safe: it is idempotent
  (imported items are recognised and kept).
- The worker parses the saved export again; the request parsed it once only to refuse a bad
  file at once, with the admin still on the page.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from flask import current_app

from ..extensions import db
from ..models import utcnow
from .json_export import timestamp
from .report import ImportFailed, Summary

if TYPE_CHECKING:
    from .ghost import GhostOptions
    from .wordpress import ImportOptions
    from .wxr import WxrExport

JOB_ID = re.compile(r"[0-9a-f]{16}")
STALE_SECONDS = 10 * 60
WRITE_INTERVAL = 0.5  # seconds between progress writes


def jobs_folder() -> Path:
    folder = Path(current_app.instance_path) / "imports"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def new_job_id() -> str:
    return secrets.token_hex(8)


def job_path(job_id: str, suffix: str = ".json") -> Path:
    if not JOB_ID.fullmatch(job_id or ""):
        raise ValueError("not a job id")
    return jobs_folder() / f"{job_id}{suffix}"


def read_job(job_id: str) -> dict | None:
    try:
        with job_path(job_id).open(encoding="utf-8") as handle:
            return json.load(handle)
    except (ValueError, OSError):
        return None


def write_job(job: dict) -> None:
    """Replace the job file atomically, so a reader never sees half of it."""
    job["updated_at"] = timestamp(utcnow())
    path = job_path(job["id"])
    temporary = path.with_suffix(f".{threading.get_ident()}.tmp")
    temporary.write_text(json.dumps(job, ensure_ascii=False), encoding="utf-8")
    os.replace(temporary, path)


def recent_jobs(limit: int = 10) -> list[dict]:
    paths = sorted(
        (p for p in jobs_folder().glob("*.json") if JOB_ID.fullmatch(p.stem)),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    jobs = [read_job(p.stem) for p in paths[:limit]]
    return [job for job in jobs if job is not None]


def is_stale(job: dict) -> bool:
    """A running job whose heartbeat stopped: its process is gone."""
    if job.get("status") not in ("queued", "running"):
        return False
    try:
        path = job_path(job["id"])
        return time.time() - path.stat().st_mtime > STALE_SECONDS
    except (ValueError, OSError):
        return True


def create_job(
    job_id: str,
    started_by: str,
    filename: str,
    export: WxrExport | None,
    dry_run: bool,
    *,
    kind: str = "wordpress",
    total: int | None = None,
):
    """The progress file of a new import (`total` steps; a WordPress export counts its own)."""
    if total is None:
        # heavy (BeautifulSoup, markdownify, Pillow); only needed when importing
        from .wordpress import planned_steps

        total = planned_steps(export)
    job = {
        "id": job_id,
        "kind": kind,
        "status": "queued",
        "started_by": started_by,
        "filename": filename,
        "dry_run": dry_run,
        "created_at": timestamp(utcnow()),
        "done": 0,
        "total": total,
        "label": "",
        "summary": None,
        "error": None,
    }
    write_job(job)
    return job


def start_job(job: dict, options: ImportOptions, files: list[Path], created_by=None) -> None:
    """Queue the import as a background job (the caller commits)."""
    from .. import jobs as background

    background.enqueue(
        "wordpress_import",
        {
            "import_id": job["id"],
            "files": [str(path) for path in files],
            "uploads": str(options.uploads) if options.uploads else None,
            "author_map": options.author_map,
            "dry_run": options.dry_run,
            "site_settings": options.site_settings,
        },
        label=f"WordPress import of {job['filename']}" + (" (dry run)" if options.dry_run else ""),
        created_by=created_by,
    )


def _import_handler():
    from .. import jobs as background

    @background.handler("wordpress_import", max_attempts=3)
    def run_import(payload: dict) -> None:
        """The job: parse the saved export and import it, keeping the progress file current."""
        # heavy (BeautifulSoup, markdownify, Pillow); only needed when importing
        from .wordpress import ImportOptions, run_wordpress_import
        from .wxr import WxrError, parse_wxr

        job = read_job(payload["import_id"])
        if job is None:
            raise background.PermanentFailure("The import's progress file is gone.")
        files = [Path(path) for path in payload["files"]]
        options = ImportOptions(
            uploads=payload["uploads"], author_map=payload["author_map"],
            dry_run=payload["dry_run"], site_settings=payload.get("site_settings", False),
        )  # fmt: skip
        try:
            with files[0].open("rb") as handle:
                export = parse_wxr(handle)
            _run(job, export, options, run_wordpress_import)
        except (OSError, WxrError) as error:
            job.update(status="failed", error=f"The uploaded export could not be read: {error}")
            write_job(job)
            raise background.PermanentFailure(job["error"]) from error
        for path in files:
            path.unlink(missing_ok=True)
        if job["status"] == "failed":
            raise background.PermanentFailure(job["error"])


def start_ghost_job(job: dict, options: GhostOptions, files: list[Path], created_by=None) -> None:
    """Queue a Ghost import as a background job (the caller commits)."""
    from .. import jobs as background

    background.enqueue(
        "ghost_import",
        {
            "import_id": job["id"],
            "files": [str(path) for path in files],
            "images": str(options.images) if options.images else None,
            "members": str(options.members) if options.members else None,
            "dry_run": options.dry_run,
        },
        label=f"Ghost import of {job['filename']}" + (" (dry run)" if options.dry_run else ""),
        created_by=created_by,
    )


def _ghost_handler():
    from .. import jobs as background

    @background.handler("ghost_import", max_attempts=3)
    def run_ghost_import_job(payload: dict) -> None:
        """The job: read the saved Ghost export again and import it (as run_import does)."""
        # heavy (BeautifulSoup, markdownify, Pillow); only needed when importing
        from .ghost import GhostOptions, parse_ghost, run_ghost_import

        job = read_job(payload["import_id"])
        if job is None:
            raise background.PermanentFailure("The import's progress file is gone.")
        files = [Path(path) for path in payload["files"]]
        options = GhostOptions(
            images=payload["images"], members=payload["members"], dry_run=payload["dry_run"]
        )
        try:
            export = parse_ghost(files[0].read_bytes())
        except (OSError, ImportFailed) as error:
            job.update(status="failed", error=f"The uploaded export could not be read: {error}")
            write_job(job)
            raise background.PermanentFailure(job["error"]) from error
        _run(job, export, options, run_ghost_import)
        for path in files:
            path.unlink(missing_ok=True)
        if job["status"] == "failed":
            raise background.PermanentFailure(job["error"])


def _run(job: dict, export, options, run_wordpress_import) -> None:
    """Run the import, writing progress now and then; record how it ended in the job file.

    An unexpected error propagates (after being recorded), so the job is tried again with
    the uploaded files still in place.
    """
    last_write = 0.0

    def progress(done: int, total: int, label: str) -> None:
        nonlocal last_write
        job.update(done=done, total=total, label=label)
        if time.monotonic() - last_write >= WRITE_INTERVAL or done == total:
            write_job(job)
            last_write = time.monotonic()

    job.update(status="running", error=None)
    write_job(job)
    try:
        summary = run_wordpress_import(export, options, progress)
    except ImportFailed as error:
        db.session.rollback()
        job.update(status="failed", error=str(error))
    except Exception:
        db.session.rollback()
        current_app.logger.exception("Import job %s failed", job["id"])
        job.update(status="failed", error="The import failed unexpectedly; see the log.")
        write_job(job)
        raise
    else:
        job.update(status="done", done=job["total"], summary=summary.as_dict())
        current_app.logger.info("Import job %s by %s: %s", job["id"], job["started_by"],
                                summary.headline())  # fmt: skip
    write_job(job)


_import_handler()
_ghost_handler()


def job_summary(job: dict) -> Summary | None:
    return Summary.from_dict(job["summary"]) if job.get("summary") else None
