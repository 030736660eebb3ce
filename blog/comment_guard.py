"""Spam defence for the comment form, on the server, with no third-party service or CAPTCHA.

Checks, in the order a submission meets them:
1. a honeypot field people never see or fill;
2. a form token, signed, carrying when the form was served and a one-time nonce: too fast (a
   bot that never read the page), too old (a day), forged or used before are refused;
3. rate limits per address and per email, counted from the comments table, so they hold
   across processes and servers;
4. a blocklist of words, addresses and email domains (Settings) sends a match to spam;
5. more links than the limit (Settings) holds the comment for a moderator.
1–3 refuse the comment, with words saying what to do and the form filled in again; 4–5 keep it
out of sight (the writer sees "awaiting moderation", as for any held comment).

Decisions:
- The article page is cached and served to every reader alike, yet each reader must get their
  own token. Pages carry a placeholder of the token's exact length instead, and
  `FormTokenFiller`, the outermost WSGI layer, puts a fresh token in its place on the way out,
  for cached and uncached pages alike: Content-Length stays right and the cache stays shared.
  Only responses marked with the `X-Form-Token` header are looked at.
- The nonce is stored with the comment (a unique column): the database refuses a replay even
  when two copies arrive at the same instant on two servers.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from sqlalchemy import func, or_, select

from .extensions import db
from .models import Comment, utcnow

HONEYPOT_FIELD = "website_confirm"  # looks like a field a bot would fill
MIN_SECONDS = 3
MAX_SECONDS = 24 * 60 * 60
_NONCE_BYTES, _TIME_BYTES, _MAC_BYTES = 12, 6, 12
TOKEN_LENGTH = 4 * (_NONCE_BYTES + _TIME_BYTES + _MAC_BYTES) // 3  # base64, no padding: 40
PLACEHOLDER = "form-token-placeholder-filled-when-sent."[:TOKEN_LENGTH].ljust(TOKEN_LENGTH, "~")
MARK_HEADER = "X-Form-Token"


class Refused(Exception):
    """The submission is refused; the message tells the writer what to do."""


@dataclass(frozen=True)
class Token:
    nonce: str
    issued_at: float


# The form token --------------------------------------------------------------------------------


def _mac(secret: bytes, data: bytes) -> bytes:
    return hmac.new(secret, b"comment-form\0" + data, hashlib.sha256).digest()[:_MAC_BYTES]


def new_token(secret: bytes, now: float | None = None) -> str:
    stamp = int(now if now is not None else time.time()).to_bytes(_TIME_BYTES, "big")
    data = secrets.token_bytes(_NONCE_BYTES) + stamp
    return base64.urlsafe_b64encode(data + _mac(secret, data)).decode()


def read_token(secret: bytes, token: str, now: float | None = None) -> Token:
    """The token's nonce and time, or Refused with what to do."""
    try:
        raw = base64.urlsafe_b64decode(token.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        raw = b""
    data, mac = raw[: _NONCE_BYTES + _TIME_BYTES], raw[_NONCE_BYTES + _TIME_BYTES :]
    if len(raw) != _NONCE_BYTES + _TIME_BYTES + _MAC_BYTES or not hmac.compare_digest(
        mac, _mac(secret, data)
    ):
        raise Refused(
            "This form could not be checked (was it copied from another page?). Your comment "
            "is below: send it again from this page."
        )
    issued = int.from_bytes(data[_NONCE_BYTES:], "big")
    age = (now if now is not None else time.time()) - issued
    if age < MIN_SECONDS:
        raise Refused(
            "That was quicker than anyone can read and write: wait a few seconds, then send "
            "your comment again."
        )
    if age > MAX_SECONDS:
        raise Refused(
            "This page was open for more than a day, so its form has expired. Your comment is "
            "below: send it again."
        )
    return Token(nonce=data[:_NONCE_BYTES].hex(), issued_at=issued)


def secret_key() -> bytes:
    return str(current_app.config["SECRET_KEY"]).encode()


class FormTokenFiller:
    """WSGI middleware: a fresh token in place of the placeholder, for marked responses."""

    def __init__(self, wsgi_app, secret: bytes) -> None:
        self.wsgi_app = wsgi_app
        self.secret = secret
        self.placeholder = PLACEHOLDER.encode()

    def __call__(self, environ, start_response):
        marked = False

        def watch(status, headers, exc_info=None):
            nonlocal marked
            marked = any(name.lower() == MARK_HEADER.lower() for name, _ in headers)
            kept = [(n, v) for n, v in headers if n.lower() != MARK_HEADER.lower()]
            return (
                start_response(status, kept, exc_info) if exc_info else start_response(status, kept)
            )

        body = self.wsgi_app(environ, watch)
        if not marked:
            return body
        try:
            content = b"".join(body)
        finally:
            if hasattr(body, "close"):
                body.close()
        token = new_token(self.secret).encode()
        return [content.replace(self.placeholder, token)]


def mark_form_pages(response):
    """After-request hook: mark a page that shows the placeholder, for `FormTokenFiller`.

    It runs before the page cache stores the response, so a stored page keeps the mark.
    """
    from flask import g

    if g.get("form_token_placeholder"):
        response.headers[MARK_HEADER] = "1"
    return response


def init_app(app) -> None:
    app.wsgi_app = FormTokenFiller(app.wsgi_app, str(app.config["SECRET_KEY"]).encode())


# Rate limits, blocklist, links -------------------------------------------------------------------


def check_rate(address: str, email: str) -> None:
    config = current_app.config
    since = utcnow() - timedelta(seconds=int(config["COMMENT_RATE_WINDOW_SECONDS"]))
    by_address = _count_since(Comment.address == address, since) if address else 0
    by_email = _count_since(Comment.author_email == email, since) if email else 0
    if by_address >= int(config["COMMENT_RATE_PER_ADDRESS"]) or by_email >= int(
        config["COMMENT_RATE_PER_EMAIL"]
    ):
        minutes = max(1, int(config["COMMENT_RATE_WINDOW_SECONDS"]) // 60)
        raise Refused(
            f"You have sent several comments in the last {minutes} minutes. Wait a little, "
            "then send this one again: it is below, as you wrote it."
        )


def _count_since(condition, since) -> int:
    return db.session.scalar(
        select(func.count(Comment.id)).where(condition, Comment.created_at >= since)
    )


def nonce_used(nonce: str) -> bool:
    return db.session.scalar(select(Comment.id).where(Comment.form_nonce == nonce)) is not None


def blocklist_match(blocklist: str, *, text: str, name: str, email: str, url: str,
                    address: str) -> str | None:  # fmt: skip
    """The first blocklist entry the comment matches: a word or phrase in any field, an
    address, or an email domain (`@example.com`)."""
    haystack = " ".join((text, name, url)).lower()
    domain = email.rpartition("@")[2].lower()
    for raw in blocklist.splitlines():
        entry = raw.strip().lower()
        if not entry or entry.startswith("#"):
            continue
        if entry.startswith("@"):
            if domain == entry[1:]:
                return entry
        elif entry == address.lower() or entry == email.lower():
            return entry
        elif re.search(rf"(?<!\w){re.escape(entry)}(?!\w)", haystack):
            return entry
    return None


def first_time(email: str, user_id: int | None) -> bool:
    """Whether this writer has no approved comment yet (by account, or by email)."""
    from .models import CommentStatus

    who = [Comment.author_email == email] if email else []
    if user_id:
        who.append(Comment.user_id == user_id)
    if not who:
        return True
    found = db.session.scalar(
        select(Comment.id).where(or_(*who), Comment.status == CommentStatus.APPROVED).limit(1)
    )
    return found is None
