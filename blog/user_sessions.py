"""Sign-in sessions kept in the database, so that signing out, or being signed out, is final.

Every sign-in goes through `sign_in`, which stores a `UserSession` and hands its random token to
Flask-Login as the user's identity (`User.get_id`). The token then travels in the signed session
cookie and, with "remember me", in the remember cookie; `load` (the `user_loader`) finds the
record by the token's hash on each request of a signed-in browser. Deleting the record (sign
out, "end session" in Profile, an admin, a password change, deactivation, expiry) makes every
copy of those cookies worthless on every process and server at the next request.

Decisions:
- The token is 32 random bytes; the database keeps only its SHA-256 (a fast hash is enough for
  a random secret), so a copy of the database yields no working cookie.
- One query per signed-in request (the record joined with its user), as many as before.
- `last_seen_at` is written at most every `SESSION_LAST_SEEN_SECONDS`, in a short transaction
  of its own: pages do not write on every request, and a view's uncommitted changes are never
  committed by the loader.
- A session expires `SESSION_IDLE_DAYS` after it was last seen, or `REMEMBERED_SESSION_IDLE_DAYS`
  with "remember me" (the remember cookie itself may live longer; the server decides). Expired
  records are deleted at each sign-in, in one statement.
- A refused cookie is cleared (Flask-Login's keys leave the session, a refused remember cookie
  is deleted), so the browser is an anonymous reader again and gets cached pages.
- Anonymous requests never get here: Flask-Login calls the loader only when a cookie names a
  user, so readers get no record and no query.
- Sessions never change a public page, so nothing here moves the site generation.
"""

import hashlib
import secrets
from datetime import datetime, timedelta

from flask import current_app, request, session
from flask_login import current_user, login_user, logout_user
from flask_login.config import COOKIE_NAME
from flask_login.utils import decode_cookie
from sqlalchemy import and_, delete, not_, or_, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import joinedload
from sqlalchemy.orm.attributes import set_committed_value

from .extensions import db
from .models import User, UserSession, utcnow

TOKEN_BYTES = 32
MAX_TOKEN_LENGTH = 100  # anything longer was not made here
DEVICE_LENGTH = 120
ADDRESS_LENGTH = 64
FLASK_LOGIN_KEYS = ("_user_id", "_fresh", "_id")
# Checked in order: Edge and Opera also say "Chrome", Chrome also says "Safari".
BROWSERS = (
    ("Edg/", "Edge"),
    ("OPR/", "Opera"),
    ("Firefox/", "Firefox"),
    ("FxiOS/", "Firefox"),
    ("CriOS/", "Chrome"),
    ("Chromium/", "Chromium"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
)
# iPhones say "like Mac OS X", Android says "Linux": the more specific names come first.
SYSTEMS = (
    ("iPhone", "iPhone"),
    ("iPad", "iPad"),
    ("Android", "Android"),
    ("Windows", "Windows"),
    ("CrOS", "ChromeOS"),
    ("Macintosh", "macOS"),
    ("Linux", "Linux"),
)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# Signing in and out --------------------------------------------------------------------------
def sign_in(user: User, remember: bool = False) -> str:
    """The one way to sign someone in: record the session, then hand its token to Flask-Login."""
    token = open_session(
        user,
        remember=remember,
        device=describe_device(request.user_agent.string),
        address=request.remote_addr or "",
    )
    db.session.commit()
    user.signed_in_token = token
    login_user(user, remember=remember)
    return token


def open_session(user: User, *, remember: bool = False, device: str = "", address: str = "") -> str:
    """Add a session record for `user` (the caller commits) and return its token.

    Expired records of anyone are removed first, so the table holds live sessions only.
    """
    remove_expired()
    token = secrets.token_urlsafe(TOKEN_BYTES)
    now = utcnow()
    record = UserSession(
        user=user,
        token_hash=hash_token(token),
        created_at=now,
        last_seen_at=now,
        device=device[:DEVICE_LENGTH],
        address=address[:ADDRESS_LENGTH],
        remember=bool(remember),
    )
    db.session.add(record)
    return token


def sign_out() -> None:
    """End this browser's session: its cookies stop working everywhere, not just here."""
    token = current_token()
    if token is not None:
        db.session.execute(delete(UserSession).where(UserSession.token_hash == hash_token(token)))
        db.session.commit()
    logout_user()


def load(token: str) -> User | None:
    """Flask-Login's user loader: the user of the live session with this token, else None."""
    record = find(token)
    now = utcnow()
    if record is None or is_expired(record, now) or not record.user.active:
        forget_refused(token)
        return None
    note_seen(record, now)
    record.user.signed_in_token = token
    return record.user


def find(token) -> UserSession | None:
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    query = (
        select(UserSession)
        .options(joinedload(UserSession.user))
        .where(UserSession.token_hash == hash_token(token))
    )
    return db.session.scalar(query)


def forget_refused(token) -> None:
    """Make the browser anonymous again: drop Flask-Login's keys and a refused remember cookie."""
    for key in FLASK_LOGIN_KEYS:
        session.pop(key, None)
    remembered = request.cookies.get(current_app.config.get("REMEMBER_COOKIE_NAME", COOKIE_NAME))
    if remembered and decode_cookie(remembered) == token:
        session["_remember"] = "clear"  # Flask-Login deletes the cookie from the response


def note_seen(record: UserSession, now: datetime) -> None:
    """Move `last_seen_at` forward, at most every SESSION_LAST_SEEN_SECONDS."""
    interval = timedelta(seconds=current_app.config["SESSION_LAST_SEEN_SECONDS"])
    if now - record.last_seen_at < interval:
        return
    statement = (
        update(UserSession)
        .where(UserSession.id == record.id, UserSession.last_seen_at < now)
        .values(last_seen_at=now)
    )
    try:
        with db.engine.begin() as connection:  # its own transaction: commits nothing else
            connection.execute(statement)
    except SQLAlchemyError as error:  # a busy database: the next request tries again
        current_app.logger.warning("Could not note session %s as seen: %s", record.id, error)
        return
    set_committed_value(record, "last_seen_at", now)


def current_token() -> str | None:
    """The token of the signed-in browser making this request, or None."""
    return getattr(current_user, "signed_in_token", None)


def is_current(record: UserSession) -> bool:
    token = current_token()
    return token is not None and record.token_hash == hash_token(token)


# Expiry ------------------------------------------------------------------------------------
def idle_limit(remember: bool) -> timedelta:
    key = "REMEMBERED_SESSION_IDLE_DAYS" if remember else "SESSION_IDLE_DAYS"
    return timedelta(days=current_app.config[key])


def is_expired(record: UserSession, now: datetime) -> bool:
    return now - record.last_seen_at > idle_limit(record.remember)


def still_live(now: datetime):
    """The SQL condition for sessions that have not expired at `now`."""
    return or_(
        and_(UserSession.remember.is_(False), UserSession.last_seen_at >= now - idle_limit(False)),
        and_(UserSession.remember.is_(True), UserSession.last_seen_at >= now - idle_limit(True)),
    )


def remove_expired() -> None:
    """Delete every expired session (of anyone); cheap, so it runs at each sign-in."""
    db.session.execute(
        delete(UserSession).where(not_(still_live(utcnow()))),
        execution_options={"synchronize_session": False},
    )


# Listing and ending --------------------------------------------------------------------------
def active_sessions(user: User) -> list[UserSession]:
    """A user's live sessions, most recently seen first."""
    query = (
        select(UserSession)
        .where(UserSession.user_id == user.id, still_live(utcnow()))
        .order_by(UserSession.last_seen_at.desc(), UserSession.id.desc())
    )
    return list(db.session.scalars(query))


def end_session(user: User, session_id: int) -> bool:
    """End one of `user`'s sessions (the caller commits); False if they have no such session."""
    statement = delete(UserSession).where(
        UserSession.id == session_id, UserSession.user_id == user.id
    )
    result = db.session.execute(statement, execution_options={"synchronize_session": False})
    return result.rowcount > 0


def end_sessions(user: User, except_token: str | None = None) -> int:
    """End all of `user`'s sessions, or all but the one with `except_token` (caller commits)."""
    statement = delete(UserSession).where(UserSession.user_id == user.id)
    if except_token is not None:
        statement = statement.where(UserSession.token_hash != hash_token(except_token))
    result = db.session.execute(statement, execution_options={"synchronize_session": False})
    return result.rowcount


# The device --------------------------------------------------------------------------------
def describe_device(user_agent: str) -> str:
    """A User-Agent as "Firefox on Linux"; the (shortened) string itself if it is unknown."""
    browser = next((name for marker, name in BROWSERS if marker in user_agent), None)
    system = next((name for marker, name in SYSTEMS if marker in user_agent), None)
    if browser and system:
        return f"{browser} on {system}"
    if browser or system:
        return browser or f"A browser on {system}"
    printable = "".join(char for char in user_agent if char.isprintable()).strip()
    return printable[:DEVICE_LENGTH] or "Unknown device"
