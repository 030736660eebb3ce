"""Admin → Comments → Find by email: a commenter's request to see or erase their comments
(admins and editors; the rules are in blog.comment_privacy).

Decisions:
- Every step is a POST with the address in the form, never in the URL: an address in a query
  string would stay in the server's access log, the browser's history and Referer headers.
- Finding shows every comment written with the address, whatever its status, with an export
  (a JSON download) and an erase form that must be confirmed with a tick; erasing answers with
  a redirect (303) and a message that names no address.
- Authors moderate only their own posts' comments, so they cannot act for a person across the
  site: this page is for editors and admins.
"""

import json

from flask import current_app, flash, redirect, render_template, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, StringField
from wtforms.validators import DataRequired, Length

from .. import comment_privacy
from ..extensions import db
from ..models import utcnow
from ..permissions import editor_required
from . import bp


class FindForm(FlaskForm):
    email = StringField(
        "Email address",
        validators=[DataRequired("Give the email address the comments were written with."),
                    Length(max=254)],
    )  # fmt: skip


class EraseForm(FindForm):
    confirm = BooleanField(
        "Delete these comments for good",
        validators=[DataRequired("Tick the box to confirm: erasing cannot be undone.")],
    )


def _page(find_form: FindForm, erase_form: EraseForm | None = None, status: int = 200):
    found = comment_privacy.find(find_form.email.data) if find_form.email.data else None
    if erase_form is None:
        erase_form = EraseForm(formdata=None, data={"email": find_form.email.data})
    page = render_template(
        "admin/comments_by_email.html", form=find_form, erase_form=erase_form, found=found,
        email=comment_privacy.normalise(find_form.email.data or ""),
    )  # fmt: skip
    return page, status


@bp.get("/comments/by-email")
@editor_required
def comments_by_email():
    return _page(FindForm(formdata=None))


@bp.post("/comments/by-email")
@editor_required
def find_comments_by_email():
    form = FindForm()
    if not form.validate_on_submit():
        return _page(form, status=400)
    return _page(form)


@bp.post("/comments/by-email/export")
@editor_required
def export_comments_by_email():
    form = FindForm()
    if not form.validate_on_submit():
        return _page(form, status=400)
    document = comment_privacy.export(form.email.data)
    current_app.logger.info(
        "%s exported %s comments for a data request", current_user.email,
        len(document["comments"]),
    )  # fmt: skip
    name = f"comments-{utcnow():%Y%m%d-%H%M%S}.json"
    return current_app.response_class(
        json.dumps(document, ensure_ascii=False, indent=2) + "\n",
        mimetype="application/json",
        headers={"Content-Disposition": f'attachment; filename="{name}"',
                 "Cache-Control": "no-store"},
    )  # fmt: skip


@bp.post("/comments/by-email/erase")
@editor_required
def erase_comments_by_email():
    form = EraseForm()
    if not form.validate_on_submit():
        return _page(FindForm(formdata=None, data={"email": form.email.data}), form, 400)
    erasure = comment_privacy.erase(form.email.data)
    db.session.commit()
    current_app.logger.info(
        "%s erased %s comments on %s posts for a data request", current_user.email,
        erasure.comments, erasure.posts,
    )  # fmt: skip
    if erasure.comments:
        kept = (
            f" Replies by others were kept in {erasure.threads_kept} thread"
            f"{'s' if erasure.threads_kept != 1 else ''}."
            if erasure.threads_kept
            else ""
        )
        flash(f"Erased {erasure.comments} comment{'s' if erasure.comments != 1 else ''} "
              f"on {erasure.posts} post{'s' if erasure.posts != 1 else ''}.{kept}",
              "success")  # fmt: skip
    else:
        flash("There were no comments to erase with that address.", "info")
    return redirect(url_for("admin.comments_by_email"), 303)
