"""Two-factor authentication: the sign-in step, enrolment, recovery codes, the admin requirement.

After the right password, an account with two-factor on is not signed in yet: the session
holds who is waiting (with a stamp of the account's password, so a password change in between
voids it), whether to remember them and where they were going, and the next page asks for a
code. Wrong codes count towards the same throttling as wrong passwords.
"""

import time

from flask import (
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from .. import throttle
from .. import two_factor as service
from ..errors import render_error
from ..extensions import db
from ..models import User
from ..user_sessions import sign_in
from . import bp

PENDING_KEY = "two_factor_pending"
PENDING_SECONDS = 10 * 60
WRONG_CODE = "That code is not right. Check the time on your phone and try the newest code."


class CodeForm(FlaskForm):
    code = StringField(
        "Authentication code",
        validators=[DataRequired("Enter the code from your app."), Length(max=64)],
    )


class PasswordConfirmForm(FlaskForm):
    password = PasswordField("Your password", validators=[DataRequired(), Length(max=200)])


# Signing in -------------------------------------------------------------------------------
def begin_second_step(user: User, remember: bool, next_url: str | None):
    """Called by the login view once the password is right: ask for the code next."""
    session[PENDING_KEY] = {
        "user_id": user.id,
        "password": user.password_stamp(),
        "remember": bool(remember),
        "next": next_url,
        "since": int(time.time()),
    }
    return redirect(url_for("auth.two_factor"))


def pending_user() -> User | None:
    """The user who gave the right password and owes a code, if that is still valid."""
    pending = session.get(PENDING_KEY)
    if not isinstance(pending, dict) or time.time() - pending.get("since", 0) > PENDING_SECONDS:
        return None
    user = db.session.get(User, pending.get("user_id"))
    if (
        user is None
        or not user.active
        or not user.totp_enabled
        or user.password_stamp() != pending.get("password")
    ):
        return None
    return user


@bp.route("/login/two-factor", methods=["GET", "POST"])
def two_factor():
    if current_user.is_authenticated:
        return redirect(url_for("admin.dashboard"))
    user = pending_user()
    if user is None:
        session.pop(PENDING_KEY, None)
        flash("Please sign in again.", "info")
        return redirect(url_for("auth.login"))
    form = CodeForm()
    if not form.validate_on_submit():
        status = 400 if form.is_submitted() else 200
        return render_template("auth/two_factor.html", form=form), status
    address = request.remote_addr or "unknown"
    verdict = throttle.check(user.email, address)
    if not verdict.allowed:
        current_app.logger.warning("Two-factor step throttled for %s from %s", user.email, address)
        flash(verdict.message, "error")
        response = render_template("auth/two_factor.html", form=form), 429
        return (*response, {"Retry-After": str(verdict.retry_after_seconds)})
    by_recovery_code = not service.looks_like_app_code(form.code.data)
    if by_recovery_code:
        accepted = service.use_recovery_code(user, form.code.data)
    else:
        accepted = service.verify_app_code(user, form.code.data)
    if not accepted:
        throttle.record_failure(user.email, address)
        db.session.commit()
        current_app.logger.warning("Wrong two-factor code for %s from %s", user.email, address)
        form.code.errors.append(WRONG_CODE)
        return render_template("auth/two_factor.html", form=form), 401
    throttle.clear_account(user.email)
    pending = session.pop(PENDING_KEY)
    sign_in(user, remember=pending.get("remember", False))  # commits the cleared failures too
    current_app.logger.info(
        "User %s signed in from %s with %s",
        user.email,
        address,
        "a recovery code" if by_recovery_code else "a two-factor code",
    )
    if by_recovery_code:
        left = service.recovery_codes_left(user)
        flash(
            f"You signed in with a recovery code; {left} left. "
            "Make new ones on the two-factor page of your profile if you are running low.",
            "info",
        )
    return redirect(pending.get("next") or url_for("admin.dashboard"))


# Enrolment and management -----------------------------------------------------------------
def no_store(response):
    """Pages that show a secret or recovery codes must not be kept by any cache."""
    response.headers["Cache-Control"] = "no-store"
    return response


def setup_page(form: CodeForm | None = None, status: int = 200):
    user = current_user._get_current_object()
    secret = service.start_enrolment(user)
    db.session.commit()
    qr_uri, qr_size = service.qr_code_data_uri(service.provisioning_uri(user, secret))
    page = render_template(
        "admin/two_factor_setup.html",
        form=form or CodeForm(),
        secret=service.grouped(secret),
        qr_uri=qr_uri,
        qr_size=qr_size,
    )
    return no_store(current_app.make_response((page, status)))


def manage_page(codes_form=None, disable_form=None, status: int = 200):
    page = render_template(
        "admin/two_factor.html",
        codes_form=codes_form or PasswordConfirmForm(prefix="codes"),
        disable_form=disable_form or PasswordConfirmForm(prefix="disable"),
        codes_left=service.recovery_codes_left(current_user),
    )
    return page, status


def codes_page(codes: list[str]):
    page = render_template("admin/two_factor_codes.html", codes=codes)
    return no_store(current_app.make_response(page))


@bp.route("/admin/profile/two-factor", methods=["GET", "POST"])
@login_required
def two_factor_setup():
    """Set up two-factor (QR code, confirm a code, recovery codes), or manage it once on."""
    user = current_user._get_current_object()
    if user.totp_enabled:
        if request.method == "POST":
            return redirect(url_for("auth.two_factor_setup"))
        return manage_page()
    form = CodeForm()
    if not form.validate_on_submit():
        return setup_page(form, 400 if form.is_submitted() else 200)
    codes = service.confirm_enrolment(user, form.code.data)
    if codes is None:
        current_app.logger.info("Wrong code while %s set up two-factor", user.email)
        form.code.errors.append(WRONG_CODE)
        return setup_page(form, 400)
    db.session.commit()
    current_app.logger.info("User %s turned two-factor authentication on", user.email)
    flash("Two-factor authentication is on.", "success")
    return codes_page(codes)


def password_checked(form: PasswordConfirmForm, action: str) -> bool:
    if not form.validate_on_submit():
        return False
    if not current_user.check_password(form.password.data):
        current_app.logger.warning(
            "Wrong password from %s to %s two-factor", current_user.email, action
        )
        form.password.errors.append("That is not your password.")
        return False
    return True


@bp.post("/admin/profile/two-factor/recovery-codes")
@login_required
def two_factor_recovery_codes():
    """Replace the recovery codes (the old ones stop working); needs the password."""
    if not current_user.totp_enabled:
        return redirect(url_for("auth.two_factor_setup"))
    form = PasswordConfirmForm(prefix="codes")
    if not password_checked(form, "renew the recovery codes of"):
        return manage_page(codes_form=form, status=400)
    codes = service.new_recovery_codes(current_user)
    db.session.commit()
    current_app.logger.info("User %s made new recovery codes", current_user.email)
    flash("New recovery codes are ready; the old ones no longer work.", "success")
    return codes_page(codes)


@bp.post("/admin/profile/two-factor/disable")
@login_required
def two_factor_disable():
    """Turn two-factor off; needs the password."""
    if not current_user.totp_enabled:
        return redirect(url_for("auth.two_factor_setup"))
    form = PasswordConfirmForm(prefix="disable")
    if not password_checked(form, "turn off"):
        return manage_page(disable_form=form, status=400)
    service.disable(current_user)
    db.session.commit()
    current_app.logger.info("User %s turned two-factor authentication off", current_user.email)
    flash("Two-factor authentication is off.", "success")
    return redirect(url_for("admin.profile"))


# The admin requirement ------------------------------------------------------------------------
def require_admin_two_factor():
    """With `require_admin_2fa` on, an admin without two-factor can only enrol (or sign out).

    Runs on the app so it needs no hook in the admin blueprint; it only looks at admin pages.
    """
    if request.blueprint != "admin" or not current_user.is_authenticated:
        return None
    if not service.must_enrol(current_user):
        return None
    message = "This site requires two-factor authentication for admins. Set it up to go on."
    if request.accept_mimetypes.best == "application/json":
        return render_error(403, message)
    flash(message, "info")
    return redirect(url_for("auth.two_factor_setup"))
