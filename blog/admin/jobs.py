"""Admin → Jobs (admins): background work, queued, running, failed and done, with retry;
and the Settings page's "send a test message" button.

Decisions:
- The list reads the `job` table only (the queue engine holds nothing but ids), newest first,
  filtered by status; the failed ones carry their reason.
- A retry gives a failed job a fresh set of attempts; the job's own record keeps it from
  doing twice what it already did (an email accepted by the server is not sent again).
"""

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from .. import jobs, mail
from ..extensions import db
from ..models import Job, JobStatus
from ..pagination import Page, page_number
from ..permissions import admin_required
from ..queue import describe, get_queue
from . import bp

PER_PAGE = 50


@bp.get("/jobs")
@admin_required
def job_list():
    status = request.args.get("status", "")
    query = select(Job).order_by(Job.id.desc())
    if status:
        if status not in JobStatus.__members__.values():
            abort(404)
        query = query.where(Job.status == status)
    page = Page.of(query, page_number(), PER_PAGE)
    return render_template(
        "admin/jobs.html",
        page=page,
        status=status,
        counts=jobs.counts_by_status(),
        statuses=list(JobStatus),
        queue=describe(current_app),
        waiting_in_queue=_waiting_in_queue(),
    )


def _waiting_in_queue() -> int | None:
    """Ids waiting in the queue engine itself; None if it cannot be reached (said on the page)."""
    try:
        return get_queue(current_app).pending()
    except Exception:  # noqa: BLE001 - the page must still show the jobs
        current_app.logger.exception("The job queue could not be read")
        return None


@bp.post("/jobs/<int:background_job>/retry")
@admin_required
def retry_job(background_job: int):
    job = db.session.get(Job, background_job) or abort(404)
    if jobs.retry(job):
        db.session.commit()
        current_app.logger.info("%s retried job %s (%s)", current_user.email, job.id, job.kind)
        flash(f"Job {job.id} is queued again.", "success")
    else:
        flash(f"Job {job.id} is {job.status.value}: only a failed job can be retried.", "error")
    return redirect(url_for("admin.job_list", status=request.form.get("status") or None))


@bp.post("/settings/test-email")
@admin_required
def send_test_email():
    if not mail.is_configured():
        flash("This site cannot send email yet. " + mail.SETTINGS_HELP, "error")
        return redirect(url_for("admin.site_settings"))
    mail.send_test_message(current_user)
    db.session.commit()
    current_app.logger.info("%s asked for a test email", current_user.email)
    flash(
        f"A test message to {current_user.email} is queued. Admin → Jobs shows whether the "
        "server took it.",
        "success",
    )
    return redirect(url_for("admin.site_settings"))
