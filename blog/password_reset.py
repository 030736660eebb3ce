"""Password reset by email: a signed link, valid for an hour, that works once.

    password_reset.request(email, client_address)   # the caller commits; same outcome for all
    user = password_reset.user_for(token)           # or LinkRefused with a message for the page
    password_reset.complete(user, new_password)     # every session of the account ends

Decisions:
- The link carries the user's id and password stamp (`User.password_stamp`), signed with the
  site's secret key (itsdangerous, a salt of its own) and dated. Setting a password changes
  the stamp, so a link works once, and any password change (a reset, Profile, the CLI) voids
  every link sent before it; no table of tokens to keep or clean.
- `request` answers nothing: the page says the same for an unknown address, a deactivated
  account and a throttled request. The costly part of the work (rendering the email) is done
  for unknown addresses too, so the answer takes about as long.
- Throttled per address asked for and per client address (`blog.rate_limits`); a throttled
  request is logged, and its email is not sent.
- Without MAIL_HOST, `request` sends nothing; the CLI's `users reset-link` prints a link.
"""

from datetime import timedelta

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from . import mail, rate_limits
from .accounts import AccountError, change_password, find_user, normalize_email
from .extensions import db
from .models import User
from .urls import absolute_url

SALT = "password-reset"
ACTION = "password_reset"


class LinkRefused(ValueError):
    """The link cannot be used; the message says why and what to do."""


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=SALT)


def link_seconds() -> int:
    return int(current_app.config["PASSWORD_RESET_LINK_SECONDS"])


def make_token(user: User) -> str:
    return _serializer().dumps({"user": user.id, "stamp": user.password_stamp()})


def make_link(user: User) -> str:
    return absolute_url("auth.reset_password", token=make_token(user))


def user_for(token: str) -> User:
    """The user a reset link is for, if it is still good; else LinkRefused saying why."""
    try:
        data = _serializer().loads(token, max_age=link_seconds())
    except SignatureExpired:
        raise LinkRefused(
            "This link has expired: reset links work for one hour. Ask for a new one."
        ) from None
    except BadSignature:
        raise LinkRefused(
            "This link is not valid. Check that you copied all of it, or ask for a new one."
        ) from None
    user = db.session.get(User, data.get("user")) if isinstance(data, dict) else None
    if user is None or not user.active:
        raise LinkRefused("This link is not valid. Ask for a new one.")
    if user.password_stamp() != data.get("stamp"):
        raise LinkRefused(
            "This link has already been used, or the password was changed since it was sent. "
            "Ask for a new one if you still need it."
        )
    return user


def request(email: str, client_address: str) -> None:
    """Send a reset link to `email` if it belongs to an active account and no limit is
    reached (the caller commits). Says nothing either way; the log says what happened."""
    if not mail.is_configured():
        current_app.logger.info("Password reset asked for %s: email is not set up", email[:254])
        return
    try:
        email = normalize_email(email)
    except AccountError:
        return
    keys = {"account": email, "address": client_address}
    config = current_app.config
    limits = {
        "account": config["PASSWORD_RESET_PER_ACCOUNT"],
        "address": config["PASSWORD_RESET_PER_ADDRESS"],
    }
    window = timedelta(seconds=config["PASSWORD_RESET_THROTTLE_WINDOW_SECONDS"])
    reached = rate_limits.exceeded(ACTION, keys, limits, window)
    if reached:
        current_app.logger.warning(
            "Password reset for %s from %s throttled (limit per %s); no email sent",
            email,
            client_address,
            " and ".join(reached),
        )
        return
    rate_limits.record(ACTION, keys)
    user = find_user(email)
    if user is None or not user.active:
        _render_for_nobody(email)
        current_app.logger.info(
            "Password reset asked from %s for %s, which is %s; no email sent",
            client_address,
            email,
            "no account" if user is None else "a deactivated account",
        )
        return
    _send(user)
    current_app.logger.info("Password reset link sent to %s (asked from %s)", email, client_address)


def _context(user_name: str, link: str) -> dict:
    return {"name": user_name, "link": link, "minutes": link_seconds() // 60}


def _send(user: User) -> None:
    mail.send(
        user.email,
        "Reset your password",
        "password_reset",
        purpose="password_reset",
        user=user,
        **_context(user.display_name, make_link(user)),
    )


def _render_for_nobody(email: str) -> None:
    """The same work as composing a real reset email, thrown away: similar timing."""
    token = _serializer().dumps({"user": 0, "stamp": "0" * 32})
    link = absolute_url("auth.reset_password", token=token)
    mail.render_bodies("password_reset", "Reset your password", **_context(email, link))


def complete(user: User, password: str) -> None:
    """Set the new password, ending every session of the account (the caller commits)."""
    change_password(user, password)
