"""Confirming a new email address from the link sent to it.

Outside /admin, so the link works in whichever browser the new address's mail opens in,
signed in or not: the link itself is the proof. A GET asks to confirm, the POST changes.
"""

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from .. import email_change
from ..accounts import AccountError
from ..admin.forms import ActionForm
from ..extensions import db
from . import bp


@bp.route("/email/confirm/<token>", methods=["GET", "POST"])
def confirm_email(token: str):
    try:
        user, new_email = email_change.target(token)
    except email_change.LinkRefused as error:
        current_app.logger.warning(
            "Email change link refused from %s: %s", request.remote_addr, error
        )
        return render_template("auth/link_refused.html", message=str(error), what="email"), 400
    form = ActionForm()
    if not form.validate_on_submit():
        return render_template("auth/confirm_email.html", form=form, user=user, new_email=new_email)
    try:
        email_change.apply(user, new_email)
    except AccountError as error:
        db.session.rollback()
        return render_template("auth/link_refused.html", message=str(error), what="email"), 409
    db.session.commit()
    flash(f"Your email address is now {new_email}.", "success")
    if current_user.is_authenticated:
        return redirect(url_for("admin.profile"))
    return redirect(url_for("auth.login"))
