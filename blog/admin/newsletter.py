"""Admin → Newsletter (admins and editors): each send's progress, live, with pause, resume
and cancel; and the subscribers: find, filter, add, import, export, delete for good.

Decisions:
- Progress is counted from the deliveries (one grouped query for the page's sends); the page
  asks `newsletter_progress` again every few seconds while a send runs, and works without it.
- An address added by hand or imported without a consent column gets the confirmation email,
  like a reader using the form: only the person can say yes. An import's consent column (any
  non-empty value but no/false/0) makes the row confirmed at once, its value kept as the record.
- Deleting is for good (a data-subject request): the subscriber and their delivery records go.
"""

from __future__ import annotations

import csv
import io

from flask import (
    Response,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from sqlalchemy import func, or_, select
from wtforms import EmailField, StringField
from wtforms.validators import Email, InputRequired, Length

from .. import rate_limits
from ..extensions import db
from ..models import NewsletterSend, Role, Subscriber, SubscriberStatus, utcnow
from ..newsletter import sending, subscribers, test_send
from ..newsletter.subscribers import SubscribeError
from ..pagination import Page, page_number
from ..permissions import role_required
from ..posts import MAX_BODY
from . import bp
from .posts import post_for_editing

PER_PAGE = 50
IMPORT_LIMIT = 5_000_000  # bytes of CSV, some 100,000 addresses
SENDS_SHOWN = 20
CSV_FIELDS = ("email", "name", "status", "consent", "created_at", "confirmed_at")
NO_CONSENT = {"", "no", "false", "0", "n"}
staff_required = role_required(Role.ADMIN, Role.EDITOR)
TEST_FIELDS = ("title", "body", "excerpt", "newsletter", "featured_media_id", "featured_alt",
               "featured_caption")  # fmt: skip


class AddSubscriberForm(FlaskForm):
    email = EmailField(
        "Email",
        validators=[InputRequired(), Email("That does not look like an email address."),
                    Length(max=254)],
    )  # fmt: skip
    name = StringField("Name (optional)", validators=[Length(max=100)])


class ImportForm(FlaskForm):
    file = FileField("CSV file")


# Sends ---------------------------------------------------------------------------------------


@bp.get("/newsletter")
@staff_required
def newsletter():
    sends = db.session.scalars(
        select(NewsletterSend).order_by(NewsletterSend.id.desc()).limit(SENDS_SHOWN)
    ).all()
    return render_template(
        "admin/newsletter.html",
        sends=sends,
        progress=sending.progress([send.id for send in sends]),
        counts=subscribers.counts(),
        offered=sending.offered(),
        per_minute=current_app.config["NEWSLETTER_PER_MINUTE"],
    )


@bp.get("/newsletter/progress")
@staff_required
def newsletter_progress():
    ids = [int(value) for value in request.args.getlist("id") if value.isdigit()][:SENDS_SHOWN]
    sends = db.session.scalars(select(NewsletterSend).where(NewsletterSend.id.in_(ids))).all()
    counts = sending.progress([send.id for send in sends])
    return jsonify(
        {
            str(send.id): {"status": send.status.value, "total": send.total, **counts[send.id]}
            for send in sends
        }
    )


@bp.post("/newsletter/<int:send_id>/<action>")
@staff_required
def newsletter_action(send_id: int, action: str):
    send = db.session.get(NewsletterSend, send_id) or abort(404)
    if action == "pause":
        sending.pause(send)
        message = f"Sending “{send.title}” is paused."
    elif action == "resume":
        sending.resume(send)
        message = f"Sending “{send.title}” goes on."
    elif action == "cancel":
        cancelled = sending.cancel(send)
        message = f"Sending “{send.title}” is cancelled: {cancelled} not sent."
    else:
        abort(404)
    db.session.commit()
    current_app.logger.info("%s: newsletter send %s %s", current_user.email, send.id, action)
    flash(message, "success")
    return redirect(url_for("admin.newsletter", _anchor=f"send-{send.id}"))


# Subscribers ---------------------------------------------------------------------------------


def _subscriber_query():
    query = select(Subscriber)
    status = request.args.get("status", "")
    if status:
        if status not in SubscriberStatus.__members__.values():
            abort(404)
        query = query.where(Subscriber.status == status)
    if search := request.args.get("q", "").strip().lower()[:254]:
        pattern = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(
            or_(
                Subscriber.email.like(pattern, escape="\\"),
                func.lower(Subscriber.name).like(pattern, escape="\\"),
            )
        )
    return query


@bp.get("/newsletter/subscribers")
@staff_required
def subscriber_list():
    query = _subscriber_query().order_by(Subscriber.created_at.desc(), Subscriber.id.desc())
    return render_template(
        "admin/subscribers.html",
        page=Page.of(query, page_number(), PER_PAGE),
        counts=subscribers.counts(),
        by_month=_confirmed_by_month(),
        statuses=list(SubscriberStatus),
        status=request.args.get("status", ""),
        q=request.args.get("q", ""),
        add_form=AddSubscriberForm(formdata=None),
        import_form=ImportForm(formdata=None),
        offered=sending.offered(),
    )


def _confirmed_by_month() -> list[tuple[str, int]]:
    """New confirmed subscribers per month, the last 12 months with any (one grouped query)."""
    month = func.substr(func.cast(Subscriber.confirmed_at, db.String), 1, 7)
    rows = db.session.execute(
        select(month, func.count(Subscriber.id))
        .where(Subscriber.confirmed_at.is_not(None))
        .group_by(month)
        .order_by(month.desc())
        .limit(12)
    )
    return [(label, number) for label, number in rows][::-1]


@bp.post("/newsletter/subscribers/add")
@staff_required
def add_subscriber():
    form = AddSubscriberForm()
    if not form.validate_on_submit():
        flash("Not added: " + " ".join(form.email.errors or ["check the address."]), "error")
        return redirect(url_for("admin.subscriber_list"))
    try:
        subscribers.subscribe(form.email.data, form.name.data or "",
                              consent=f"added by {current_user.email}; confirmed by the "
                                      "subscriber's own click")  # fmt: skip
    except SubscribeError as error:
        db.session.rollback()
        flash(str(error), "error")
        return redirect(url_for("admin.subscriber_list"))
    db.session.commit()
    flash(f"{form.email.data} was sent a link to confirm the subscription.", "success")
    return redirect(url_for("admin.subscriber_list"))


@bp.post("/newsletter/subscribers/<int:subscriber_id>/delete")
@staff_required
def delete_subscriber(subscriber_id: int):
    subscriber = db.session.get(Subscriber, subscriber_id) or abort(404)
    email = subscriber.email
    if request.form.get("confirm") != "yes":
        flash(f"{email} is not deleted: tick the box to confirm first.", "error")
        return redirect(url_for("admin.subscriber_list", q=email))
    db.session.delete(subscriber)
    db.session.commit()
    current_app.logger.info("%s deleted subscriber %s for good", current_user.email, subscriber_id)
    flash(f"{email} is deleted for good, with the record of what was sent to it.", "success")
    return redirect(url_for("admin.subscriber_list"))


@bp.get("/newsletter/subscribers.csv")
@staff_required
def export_subscribers():
    query = _subscriber_query().order_by(Subscriber.id)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_FIELDS)
    for subscriber in db.session.scalars(query):
        writer.writerow([_csv_value(getattr(subscriber, name)) for name in CSV_FIELDS])
    filename = f"subscribers-{utcnow():%Y-%m-%d}.csv"
    return Response(
        buffer.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _csv_value(value) -> str:
    if value is None:
        return ""
    text = getattr(value, "value", value)
    text = text.isoformat(timespec="seconds") + "Z" if hasattr(text, "isoformat") else str(text)
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text  # no formulas in a sheet


@bp.post("/newsletter/subscribers/import")
@staff_required
def import_subscribers():
    form = ImportForm()
    upload = request.files.get("file")
    if not form.validate_on_submit() or upload is None or not upload.filename:
        flash("Choose a CSV file with an email column first.", "error")
        return redirect(url_for("admin.subscriber_list"))
    data = upload.stream.read(IMPORT_LIMIT + 1)
    if len(data) > IMPORT_LIMIT:
        flash("Nothing imported: the file is larger than 5 MB. Split it into smaller files.",
              "error")  # fmt: skip
        return redirect(url_for("admin.subscriber_list"))
    try:
        outcome = import_csv(data.decode("utf-8-sig"), by=current_user.email)
    except (UnicodeDecodeError, csv.Error, SubscribeError) as error:
        db.session.rollback()
        flash(f"Nothing imported: {_import_error(error)}", "error")
        return redirect(url_for("admin.subscriber_list"))
    db.session.commit()
    flash(
        f"Imported: {outcome['confirmed']} confirmed (consent recorded), "
        f"{outcome['asked']} sent a link to confirm, {outcome['skipped']} already on the list, "
        f"{outcome['invalid']} not an email address.",
        "success",
    )
    return redirect(url_for("admin.subscriber_list"))


def _import_error(error: Exception) -> str:
    if isinstance(error, UnicodeDecodeError):
        return "the file is not UTF-8 text. Save it as CSV (UTF-8) and try again."
    return str(error)


def import_csv(text: str, *, by: str) -> dict[str, int]:
    """Add the rows of a CSV (columns: email, and optionally name and consent)."""
    from email_validator import EmailNotValidError, validate_email

    reader = csv.DictReader(io.StringIO(text))
    columns = {(name or "").strip().lower(): name for name in reader.fieldnames or []}
    if "email" not in columns:
        raise SubscribeError("the file has no column named email.")
    outcome = {"confirmed": 0, "asked": 0, "skipped": 0, "invalid": 0}
    known = set(db.session.scalars(select(Subscriber.email)))
    for row in reader:
        raw = (row.get(columns["email"]) or "").strip()
        try:
            email = validate_email(raw, check_deliverability=False).normalized.lower()
        except EmailNotValidError:
            outcome["invalid"] += 1
            continue
        if email in known:
            outcome["skipped"] += 1
            continue
        known.add(email)
        name = (row.get(columns.get("name", ""), "") or "").strip()[:100]
        consent = (row.get(columns.get("consent", ""), "") or "").strip()
        if consent.lower() not in NO_CONSENT:
            db.session.add(Subscriber(
                email=email, name=name, status=SubscriberStatus.CONFIRMED, confirmed_at=utcnow(),
                consent=f"imported by {by}; the file's consent column said: {consent}"[:300],
            ))  # fmt: skip
            outcome["confirmed"] += 1
        else:
            subscribers.subscribe(email, name, consent=f"imported by {by}; confirmed by the "
                                                       "subscriber's own click")  # fmt: skip
            outcome["asked"] += 1
    return outcome


# The editor's test email -----------------------------------------------------------------------


@bp.post("/posts/newsletter-test")
def newsletter_test():
    """Email the post as it stands in the editor (nothing is saved) to the person asking."""
    fields = {name: request.form.get(name, "") for name in TEST_FIELDS}
    post_id = request.form.get("post_id", "")
    saved = post_for_editing(int(post_id)) if post_id.isdigit() else None
    if not sending.offered():
        return jsonify(error="This site cannot send email yet (see Settings → Email)."), 400
    if len(fields["body"]) > MAX_BODY or len(fields["title"]) > 300:
        return jsonify(error="This post is too long to send as a test."), 400
    keys = {"user": str(current_user.id)}
    if rate_limits.exceeded("newsletter_test", keys, {"user": test_send.TESTS_PER_HOUR},
                            test_send.RATE_WINDOW):  # fmt: skip
        return jsonify(error=f"{test_send.TESTS_PER_HOUR} tests were sent within the hour: "
                             "try again later."), 429  # fmt: skip
    rate_limits.record("newsletter_test", keys)
    post = test_send.unsaved_post(fields, saved, current_user)
    test_send.send_test(post, current_user)
    db.session.commit()
    current_app.logger.info("%s sent themselves a newsletter test", current_user.email)
    return jsonify(message=f"A test is on its way to {current_user.email}.")
