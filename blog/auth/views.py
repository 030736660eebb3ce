"""Sign in, sign out, and claiming a new site with the setup token."""

from urllib.parse import urlsplit

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from .. import first_run, throttle
from ..accounts import AccountError, create_user, find_user
from ..extensions import db
from ..models import Role, count_users
from ..user_sessions import sign_in, sign_out
from . import bp, two_factor
from .forms import LoginForm, SetupForm


def safe_next(target: str | None) -> str | None:
    """`target` if it is a path on this site, else None (no open redirects)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or any(ord(char) < 32 for char in target):
        return None
    return target


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("admin.dashboard"))
    form = LoginForm()
    if not form.validate_on_submit():
        return render_template("auth/login.html", form=form)
    email = form.email.data.strip().lower()
    address = request.remote_addr or "unknown"
    verdict = throttle.check(email, address)
    if not verdict.allowed:
        current_app.logger.warning("Login throttled for %s from %s", email, address)
        flash(verdict.message, "error")
        response = render_template("auth/login.html", form=form), 429
        return (*response, {"Retry-After": str(verdict.retry_after_seconds)})
    user = find_user(email)
    if user is None or not user.check_password(form.password.data):
        throttle.record_failure(email, address)
        db.session.commit()
        flash("Wrong email or password.", "error")
        return render_template("auth/login.html", form=form), 401
    if not user.active:
        flash("This account has been deactivated. Ask an admin to reactivate it.", "error")
        return render_template("auth/login.html", form=form), 403
    if user.totp_enabled:  # failures are forgiven only once the code is right too
        next_url = safe_next(request.args.get("next"))
        return two_factor.begin_second_step(user, form.remember.data, next_url)
    throttle.clear_account(email)
    sign_in(user, remember=form.remember.data)  # commits the cleared failures too
    current_app.logger.info("User %s signed in from %s", user.email, address)
    return redirect(safe_next(request.args.get("next")) or url_for("admin.dashboard"))


@bp.post("/logout")
def logout():
    sign_out()
    flash("You are signed out.", "info")
    return redirect(url_for("public.index"))


@bp.route("/setup", methods=["GET", "POST"])
def setup_site():
    """Create the first admin, for whoever holds the token printed in the server's log."""
    if count_users():
        return render_template("auth/setup_done.html"), 403
    first_run.announce(current_app)
    form = SetupForm()
    if request.method == "GET":
        form.token.data = request.args.get("token", "")
        return render_template("auth/setup.html", form=form)
    if not form.validate_on_submit():
        return render_template("auth/setup.html", form=form), 400
    if not first_run.token_matches(current_app, form.token.data):
        current_app.logger.warning("Setup refused: wrong token from %s", request.remote_addr)
        form.token.errors.append("This token does not match the one in the server's log.")
        return render_template("auth/setup.html", form=form), 403
    try:
        user = create_user(form.email.data, form.display_name.data, Role.ADMIN, form.password.data)
    except AccountError as error:
        flash(str(error), "error")
        return render_template("auth/setup.html", form=form), 400
    db.session.commit()
    first_run.discard_token(current_app)
    sign_in(user)
    current_app.logger.info("Site claimed by %s", user.email)
    flash("Welcome! Your blog is ready.", "success")
    return redirect(url_for("admin.dashboard"))
