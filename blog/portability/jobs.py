"""Imports started from the admin page, run in a background thread.

A job is a small JSON file in `instance/imports/<id>.json` (no table): who started it, its
status (queued, running, done, failed), progress counts and, at the end, the summary. Every
process of the site can read it, so the page that polls may be served by another worker
than the one running the import. The uploaded files sit beside it until the job ends.

If the process running a job dies (a restart), the job stays "running" with an old
heartbeat; the page says so, and running the import again is safe (it is idempotent).
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

from flask import Flask, current_app

from ..extensions import db
from ..models import utcnow
from .json_export import timestamp
from .report import ImportFailed, Summary

if TYPE_CHECKING:
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


def create_job(job_id: str, started_by: str, filename: str, export: WxrExport, dry_run: bool):
    # heavy (BeautifulSoup, markdownify, Pillow); only needed when importing
    from .wordpress import planned_steps

    job = {
        "id": job_id,
        "kind": "wordpress",
        "status": "queued",
        "started_by": started_by,
        "filename": filename,
        "dry_run": dry_run,
        "created_at": timestamp(utcnow()),
        "done": 0,
        "total": planned_steps(export),
        "label": "",
        "summary": None,
        "error": None,
    }
    write_job(job)
    return job


def start_job(
    app: Flask, job: dict, export: WxrExport, options: ImportOptions, files: list[Path]
) -> threading.Thread:
    """Run the import in a thread with its own app context (and so its own session)."""
    thread = threading.Thread(
        target=_run, args=(app, dict(job), export, options, files), daemon=True
    )
    thread.start()
    return thread


def _run(app: Flask, job: dict, export: WxrExport, options: ImportOptions, files: list[Path]):
    # heavy (BeautifulSoup, markdownify, Pillow); only needed when importing
    from .wordpress import run_wordpress_import

    with app.app_context():
        last_write = 0.0

        def progress(done: int, total: int, label: str) -> None:
            nonlocal last_write
            job.update(done=done, total=total, label=label)
            if time.monotonic() - last_write >= WRITE_INTERVAL or done == total:
                write_job(job)
                last_write = time.monotonic()

        job["status"] = "running"
        write_job(job)
        try:
            summary = run_wordpress_import(export, options, progress)
        except ImportFailed as error:
            job.update(status="failed", error=str(error))
        except Exception:  # noqa: BLE001 - the job must end, and say so
            app.logger.exception("Import job %s failed", job["id"])
            job.update(status="failed", error="The import failed unexpectedly; see the log.")
        else:
            job.update(status="done", done=job["total"], summary=summary.as_dict())
            app.logger.info("Import job %s by %s: %s", job["id"], job["started_by"],
                            summary.headline())  # fmt: skip
        finally:
            db.session.remove()
            for path in files:
                path.unlink(missing_ok=True)
        write_job(job)


def job_summary(job: dict) -> Summary | None:
    return Summary.from_dict(job["summary"]) if job.get("summary") else None
