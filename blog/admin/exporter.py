"""Export for leaving, from the admin: a WordPress export (WXR) and the images as a zip.

Admins only. The button sits on the import page; the export runs as a background job (see
`blog.portability.export_jobs`) and its page offers the two files once they are written.
"""

from flask import abort, current_app, redirect, render_template, send_file, url_for
from flask_login import current_user
from flask_wtf import FlaskForm

from ..extensions import db
from ..permissions import admin_required
from ..portability import export_jobs
from . import bp

DOWNLOADS = {
    "wordpress.xml": (export_jobs.xml_path, "application/xml", "wordpress-export-{date}.xml"),
    "uploads.zip": (export_jobs.zip_path, "application/zip", "wordpress-uploads-{date}.zip"),
}


class ExportForm(FlaskForm):
    """No fields: the CSRF token is the point."""


def _export_or_404(export_id: str) -> dict:
    valid = export_jobs.EXPORT_ID.fullmatch(export_id)
    record = export_jobs.read_export(export_id) if valid else None
    return record or abort(404)


@bp.post("/export/wordpress")
@admin_required
def start_wordpress_export():
    if not ExportForm().validate_on_submit():
        abort(400)
    record = export_jobs.start_export(current_user)
    db.session.commit()
    current_app.logger.info("%s started WordPress export %s", current_user.email, record["id"])
    return redirect(url_for("admin.wordpress_export", export_id=record["id"]), 303)


@bp.get("/export/<export_id>")
@admin_required
def wordpress_export(export_id: str):
    return render_template("admin/export_job.html", export=_export_or_404(export_id))


@bp.get("/export/<export_id>/wordpress.xml")
@admin_required
def wordpress_export_xml(export_id: str):
    return _download(export_id, "wordpress.xml")


@bp.get("/export/<export_id>/uploads.zip")
@admin_required
def wordpress_export_zip(export_id: str):
    return _download(export_id, "uploads.zip")


def _download(export_id: str, name: str):
    record = _export_or_404(export_id)
    if record["status"] != "done":
        abort(404)
    path_of, mimetype, download_name = DOWNLOADS[name]
    path = path_of(export_id)
    if not path.is_file():
        abort(404)
    current_app.logger.info("%s downloaded %s of export %s", current_user.email, name, export_id)
    return send_file(
        path,
        mimetype=mimetype,
        as_attachment=True,
        download_name=download_name.format(date=record["created_at"][:10]),
        max_age=0,
    )
