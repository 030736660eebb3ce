"""Changing one's email address: confirmed from the new address, told to the old one.

    email_change.request(user, new_email)   # the caller commits; emails both addresses
    user, new = email_change.target(token)  # or LinkRefused saying why
    email_change.apply(user, new)           # the address changes; the old one is told

Decisions:
- The link is signed (itsdangerous, a salt of its own), dated, and names the user, the
  address it replaces and the new one. Once the address has changed the link no longer
  matches, so it works once; a newer request does not void an older link, but following
  either first voids the other.
- The old address is told at once that a change was asked for, and again once it is made.
  Neither email carries a link that could undo anything: it says to contact an admin if it
  was not them, since whoever asked was signed in with the password.
- The new address must still be free when the link is followed, not only when it was asked.
"""

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from . import mail
from .accounts import AccountError, find_user, normalize_email
from .extensions import db
from .models import User
from .urls import absolute_url

SALT = "email-change"


class LinkRefused(ValueError):
    """The link cannot be used; the message says why."""


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=SALT)


def _hours() -> int:
    return int(current_app.config["EMAIL_CHANGE_LINK_SECONDS"]) // 3600


def make_link(user: User, new_email: str) -> str:
    token = _serializer().dumps({"user": user.id, "old": user.email, "new": new_email})
    return absolute_url("auth.confirm_email", token=token)


def request(user: User, new_email: str) -> str:
    """Email a confirmation link to the new address and a notice to the old one (the caller
    commits); returns the normalised new address. AccountError for an unusable address."""
    new_email = normalize_email(new_email)
    if new_email == user.email:
        raise AccountError("That is already your email address.")
    if find_user(new_email) is not None:
        raise AccountError("Another account uses that email address.")
    mail.send(
        new_email,
        "Confirm your new email address",
        "email_change_confirm",
        purpose="email_change",
        user=user,
        auto_submitted=True,
        name=user.display_name,
        old_email=user.email,
        link=make_link(user, new_email),
        hours=_hours(),
    )
    _tell_old_address(user, user.email, new_email, done=False)
    return new_email


def _tell_old_address(user: User, old_email: str, new_email: str, *, done: bool) -> None:
    """A notice with no link in it: nothing that could undo the change without an admin."""
    mail.send(
        old_email,
        "Your email address was changed" if done else "A change of your email address",
        "email_change_notice",
        purpose="email_change_notice",
        user=user,
        name=user.display_name,
        new_email=new_email,
        done=done,
    )


def target(token: str) -> tuple[User, str]:
    """The user and new address a link is for, if it still applies; else LinkRefused."""
    try:
        data = _serializer().loads(token, max_age=current_app.config["EMAIL_CHANGE_LINK_SECONDS"])
    except SignatureExpired:
        raise LinkRefused(
            "This link has expired. Ask for the change again in your profile."
        ) from None
    except BadSignature:
        raise LinkRefused("This link is not valid. Check that you copied all of it.") from None
    user = db.session.get(User, data.get("user")) if isinstance(data, dict) else None
    if user is None or not user.active:
        raise LinkRefused("This link is not valid.")
    new_email = data.get("new")
    if user.email == new_email:
        raise LinkRefused("This link was already used: your address is already " + new_email + ".")
    if user.email != data.get("old"):
        raise LinkRefused(
            "Your email address changed since this link was sent; it no longer applies."
        )
    return user, new_email


def apply(user: User, new_email: str) -> None:
    """Change the address and tell the old one (the caller commits)."""
    if find_user(new_email) is not None:
        raise AccountError(
            "Another account uses that email address now; the change cannot be made."
        )
    old_email = user.email
    user.email = new_email
    db.session.flush()
    _tell_old_address(user, old_email, new_email, done=True)
    current_app.logger.info("User %s changed their email address to %s", old_email, new_email)
