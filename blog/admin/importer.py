"""The admin page that runs a WordPress or Ghost import from uploaded files, for admins only.

The upload is checked (size, safe XML parsing, author map) in the request; the import then
runs as a background job in the job worker (see `blog.portability.jobs`), and the import's
page follows it.
"""

import zipfile

from flask import abort, current_app, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, TextAreaField
from wtforms.validators import Length

from ..accounts import find_user
from ..extensions import db
from ..permissions import admin_required
from ..portability import export_jobs, jobs
from ..portability.report import ImportFailed
from . import bp
from .exporter import ExportForm  # the export button shares the import page

DEFAULT_MAX_BYTES = 256 * 1024 * 1024


class ImportForm(FlaskForm):
    export_file = FileField(
        "WordPress export file (.xml)",
        validators=[FileRequired("Choose the export file from WordPress (Tools → Export).")],
    )
    uploads = FileField("The uploads folder as a zip (optional)")
    author_map = TextAreaField("Author map (optional)", validators=[Length(max=20_000)], default="")
    dry_run = BooleanField("Dry run: check everything, change nothing")
    site_settings = BooleanField("Use the export's site title and tagline, replacing this site's")


class GhostImportForm(FlaskForm):
    export_file = FileField(
        "Ghost export file (.json)",
        validators=[FileRequired("Choose the JSON file from Ghost (Settings → Import/Export).")],
    )
    images = FileField("The content/images folder as a zip (optional)")
    members = FileField("Members CSV (optional)")
    dry_run = BooleanField("Dry run: check everything, change nothing")


def max_bytes() -> int:
    return int(current_app.config.get("IMPORT_MAX_BYTES", DEFAULT_MAX_BYTES))


def render_form(form: ImportForm, status: int = 200, ghost_form: GhostImportForm | None = None):
    return render_template(
        "admin/import.html",
        form=form,
        ghost_form=ghost_form or GhostImportForm(prefix="ghost"),
        jobs=jobs.recent_jobs(),
        max_mb=max_bytes() // (1024 * 1024),
        export_form=ExportForm(),
        exports=export_jobs.recent_exports(),
    ), status


@bp.url_value_preprocessor
def allow_large_import_uploads(endpoint, values):
    """The import form may send more than MAX_CONTENT_LENGTH (an uploads zip).

    URL value preprocessors run before every before_request hook, and one of those already
    reads the form, so this is the last moment to raise the limit for this one endpoint.
    """
    if endpoint in ("admin.start_import", "admin.start_ghost_import"):
        request.max_content_length = max_bytes()


@bp.get("/import")
@admin_required
def import_page():
    return render_form(ImportForm())


@bp.post("/import")
@admin_required
def start_import():
    # heavy (BeautifulSoup, markdownify, defusedxml); only needed when importing
    from ..portability.wordpress import ImportOptions
    from ..portability.wxr import WxrError, parse_wxr

    form = ImportForm()
    if not form.validate_on_submit():
        return render_form(form, 400)
    job_id = jobs.new_job_id()
    saved = [jobs.job_path(job_id, ".xml")]
    form.export_file.data.save(saved[0])
    try:
        mapping = _author_map(form)
        uploads = _uploads(form, job_id, saved)
        with saved[0].open("rb") as handle:
            export = parse_wxr(handle)
    except (WxrError, ImportFailed) as error:
        for path in saved:
            path.unlink(missing_ok=True)
        current_app.logger.warning("Import refused for %s: %s", current_user.email, error)
        form.export_file.errors = [str(error)]
        return render_form(form, 400)
    options = ImportOptions(
        uploads=uploads,
        author_map=mapping,
        dry_run=form.dry_run.data,
        site_settings=form.site_settings.data,
    )
    filename = form.export_file.data.filename or "export.xml"
    job = jobs.create_job(job_id, current_user.email, filename, export, form.dry_run.data)
    jobs.start_job(job, options, saved, created_by=current_user)
    db.session.commit()
    current_app.logger.info("%s started import job %s (%s)", current_user.email, job_id, filename)
    return redirect(url_for("admin.import_job", job_id=job_id), 303)


@bp.post("/import/ghost")
@admin_required
def start_ghost_import():
    # heavy (BeautifulSoup, markdownify); only needed when importing
    from ..portability.ghost import GhostOptions, parse_ghost, planned_steps
    from ..portability.ghost_members import read_members

    form = GhostImportForm(prefix="ghost")
    if not form.validate_on_submit():
        return render_form(ImportForm(), 400, ghost_form=form)
    job_id = jobs.new_job_id()
    saved = [jobs.job_path(job_id, "-ghost.json")]
    form.export_file.data.save(saved[0])
    try:
        export = parse_ghost(saved[0].read_bytes())
        images = _saved_upload(form.images.data, job_id, "-images.zip", saved)
        if images and not zipfile.is_zipfile(images):
            raise ImportFailed("The images file is not a zip file.")
        members = _saved_upload(form.members.data, job_id, "-members.csv", saved)
        if members:
            read_members(members)  # refused now if it is no members CSV
    except ImportFailed as error:
        for path in saved:
            path.unlink(missing_ok=True)
        current_app.logger.warning("Ghost import refused for %s: %s", current_user.email, error)
        form.export_file.errors = [str(error)]
        return render_form(ImportForm(), 400, ghost_form=form)
    options = GhostOptions(images=images, members=members, dry_run=form.dry_run.data)
    filename = form.export_file.data.filename or "ghost.json"
    job = jobs.create_job(job_id, current_user.email, filename, None, form.dry_run.data,
                          kind="ghost", total=planned_steps(export))  # fmt: skip
    jobs.start_ghost_job(job, options, saved, created_by=current_user)
    db.session.commit()
    current_app.logger.info("%s started Ghost import %s (%s)", current_user.email, job_id, filename)
    return redirect(url_for("admin.import_job", job_id=job_id), 303)


def _saved_upload(upload, job_id: str, suffix: str, saved: list) -> str | None:
    if not upload or not upload.filename:
        return None
    path = jobs.job_path(job_id, suffix)
    saved.append(path)
    upload.save(path)
    return str(path)


def _author_map(form: ImportForm) -> dict[str, str]:
    # heavy (BeautifulSoup, markdownify); only needed when importing
    from ..portability.wordpress import parse_author_map

    mapping = parse_author_map(form.author_map.data or "")
    for login, email in mapping.items():
        if find_user(email) is None:
            raise ImportFailed(f"Author map: no user has the email {email} (for {login}).")
    return mapping


def _uploads(form: ImportForm, job_id: str, saved: list) -> str | None:
    upload = form.uploads.data
    if not upload or not upload.filename:
        return None
    path = jobs.job_path(job_id, "-uploads.zip")
    saved.append(path)
    upload.save(path)
    if not zipfile.is_zipfile(path):
        raise ImportFailed("The uploads file is not a zip file.")
    return str(path)


def _job_or_404(job_id: str) -> dict:
    job = jobs.read_job(job_id) if jobs.JOB_ID.fullmatch(job_id) else None
    return job or abort(404)


@bp.get("/import/<job_id>.json")
@admin_required
def import_job_status(job_id: str):
    job = _job_or_404(job_id)
    summary = jobs.job_summary(job)
    return {
        "id": job["id"],
        "status": job["status"],
        "done": job["done"],
        "total": job["total"],
        "label": job.get("label", ""),
        "error": job.get("error"),
        "stale": jobs.is_stale(job),
        "summary": summary.lines() if summary else None,
    }


@bp.get("/import/<job_id>")
@admin_required
def import_job(job_id: str):
    job = _job_or_404(job_id)
    return render_template(
        "admin/import_job.html",
        job=job,
        summary=jobs.job_summary(job),
        stale=jobs.is_stale(job),
    )
