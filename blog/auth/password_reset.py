"""Forgot your password: ask for a link by email, then choose a new password through it.

The pages follow blog.password_reset's rule: the answer to a request never tells whether the
address has an account. The link's page asks for the new password (a GET changes nothing, so a
mail scanner that opens links uses nothing up); after it, the person is signed in, through the
two-factor step when the account has it, and every other session of the account has ended.

Decisions:
- Asking for a known address queues an email (two rows and a queue entry), which takes longer
  than the same work for an unknown one (measured: about 30 ms). Every answer is therefore
  held until PASSWORD_RESET_ANSWER_SECONDS after the request began, so its timing does not
  tell whether the address has an account.
"""

import time

from flask import current_app, flash, redirect, render_template, request, url_for

from .. import mail, password_reset, throttle
from ..accounts import AccountError, normalize_email
from ..extensions import db
from ..user_sessions import sign_in
from . import bp, two_factor
from .forms import ForgotPasswordForm, NewPasswordForm


@bp.route("/login/forgot", methods=["GET", "POST"])
def forgot_password():
    form = ForgotPasswordForm()
    if not mail.is_configured():
        return render_template("auth/forgot.html", form=form, can_send=False)
    if not form.validate_on_submit():
        status = 400 if form.is_submitted() else 200
        return render_template("auth/forgot.html", form=form, can_send=True), status
    try:
        normalize_email(form.email.data)  # a typing mistake is worth saying; it reveals nothing
    except AccountError as error:
        form.email.errors.append(str(error))
        return render_template("auth/forgot.html", form=form, can_send=True), 400
    started = time.monotonic()
    password_reset.request(form.email.data, request.remote_addr or "unknown")
    db.session.commit()
    _wait_until(started + current_app.config["PASSWORD_RESET_ANSWER_SECONDS"])
    return render_template(
        "auth/forgot_sent.html",
        email=form.email.data.strip(),
        minutes=password_reset.link_seconds() // 60,
    )


def _wait_until(moment: float) -> None:
    remaining = moment - time.monotonic()
    if remaining > 0:
        time.sleep(remaining)


def refused(message: str):
    current_app.logger.warning(
        "Password reset link refused from %s: %s", request.remote_addr, message
    )
    return render_template("auth/link_refused.html", message=message, what="reset"), 400


@bp.route("/login/reset/<token>", methods=["GET", "POST"])
def reset_password(token: str):
    try:
        user = password_reset.user_for(token)
    except password_reset.LinkRefused as error:
        return refused(str(error))
    form = NewPasswordForm()
    if not form.validate_on_submit():
        status = 400 if form.is_submitted() else 200
        return render_template("auth/reset.html", form=form, user=user), status
    try:
        password_reset.complete(user, form.password.data)
    except AccountError as error:
        form.password.errors.append(str(error))
        return render_template("auth/reset.html", form=form, user=user), 400
    throttle.clear_account(user.email)
    db.session.commit()
    current_app.logger.info(
        "User %s reset their password by email from %s; every session ended",
        user.email,
        request.remote_addr,
    )
    flash("Your password is changed. Every other session has been signed out.", "success")
    if user.totp_enabled:
        return two_factor.begin_second_step(user, remember=False, next_url=None)
    sign_in(user)
    return redirect(url_for("admin.dashboard"))
