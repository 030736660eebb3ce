"""Reply emails: a commenter who ticks "Email me when someone replies" hears of each answer.

Decisions:
- Double opt-in: ticking the box sends a confirmation link to the address the commenter gave
  (valid 7 days); nothing else is sent to it until that link is opened. Anyone can type anyone's
  address into a form, so each comment is confirmed on its own; signed-in users' addresses are
  their account's, so theirs are on at once. Comments sent to spam send nothing.
- "Someone replies" means an approved comment answers theirs: the writer of the comment
  answered and the writer of the thread's first comment hear of it (threads are one level
  deep), once per address, never the reply's own writer. A reply is told about once
  (`Comment.replies_told_at`), however often it is approved again.
- Every reply email has a one-click stop link and the RFC 8058 List-Unsubscribe headers; the
  links carry a signed reference to the comment and its address, so they stop working once the
  address is erased or changed, and nothing is kept beside the comment itself.
- With no MAIL_HOST the box is not offered; a comment that asked before mail was removed is
  simply not told.
"""

from __future__ import annotations

import hashlib

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer, URLSafeTimedSerializer
from sqlalchemy import select, update

from . import mail
from .extensions import db
from .models import Comment, CommentStatus, ReplyEmails, utcnow
from .urls import absolute_url

CONFIRM_SALT = "comment-replies-confirm"
STOP_SALT = "comment-replies-stop"
CONFIRM_DAYS = 7


# Links -----------------------------------------------------------------------------------------


def _address_digest(email: str) -> str:
    return hashlib.sha256(email.lower().encode()).hexdigest()[:16]


def _payload(comment: Comment) -> list:
    return [comment.id, _address_digest(comment.author_email)]


def confirm_token(comment: Comment) -> str:
    secret = current_app.config["SECRET_KEY"]
    return URLSafeTimedSerializer(secret, salt=CONFIRM_SALT).dumps(_payload(comment))


def stop_token(comment: Comment) -> str:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=STOP_SALT).dumps(
        _payload(comment)
    )


def comment_for(token: str, *, confirming: bool) -> Comment | None:
    """The comment a link names, if the link is good and the comment still has that address."""
    secret = current_app.config["SECRET_KEY"]
    try:
        if confirming:
            serializer = URLSafeTimedSerializer(secret, salt=CONFIRM_SALT)
            payload = serializer.loads(token, max_age=CONFIRM_DAYS * 24 * 60 * 60)
        else:
            payload = URLSafeSerializer(secret, salt=STOP_SALT).loads(token)
    except BadSignature:
        return None
    if not (isinstance(payload, list) and len(payload) == 2 and isinstance(payload[0], int)):
        return None
    comment = db.session.get(Comment, payload[0])
    if comment is None or not comment.author_email:
        return None
    if _address_digest(comment.author_email) != payload[1]:
        return None
    return comment


# Asking, confirming, stopping ------------------------------------------------------------------


def offered() -> bool:
    """Whether the comment form offers reply emails: only when the site can send email."""
    return mail.is_configured()


def ask(comment: Comment, *, signed_in: bool) -> None:
    """The commenter ticked the box (the caller commits): confirm first, unless signed in."""
    if not offered() or comment.status == CommentStatus.SPAM or not comment.author_email:
        return
    if signed_in:
        comment.reply_emails = ReplyEmails.ON
        return
    comment.reply_emails = ReplyEmails.ASKED
    db.session.flush()  # the link names the comment by id
    mail.send(
        comment.author_email,
        f"Confirm reply emails for your comment on “{comment.post.title}”",
        "comment_replies_confirm",
        purpose="comment_replies_confirm",
        name=comment.author_name,
        post=comment.post,
        days=CONFIRM_DAYS,
        confirm_link=absolute_url("public.confirm_reply_emails", token=confirm_token(comment)),
    )


def confirm(comment: Comment) -> None:
    if comment.reply_emails in (ReplyEmails.ASKED, ReplyEmails.OFF, ReplyEmails.NONE):
        comment.reply_emails = ReplyEmails.ON


def stop(comment: Comment, *, everywhere: bool = False) -> int:
    """Stop reply emails for this comment, or for every comment with its address."""
    if not everywhere:
        changed = comment.reply_emails != ReplyEmails.OFF
        comment.reply_emails = ReplyEmails.OFF
        return int(changed)
    result = db.session.execute(
        update(Comment)
        .where(
            Comment.author_email == comment.author_email,
            Comment.reply_emails != ReplyEmails.OFF,
            Comment.reply_emails != ReplyEmails.NONE,
        )
        .values(reply_emails=ReplyEmails.OFF)
        .execution_options(synchronize_session="fetch")
    )
    return result.rowcount


# Telling ---------------------------------------------------------------------------------------


def tell_about(reply: Comment) -> list[str]:
    """Queue the emails about a newly shown reply (the caller commits); returns the addresses."""
    if reply.status != CommentStatus.APPROVED or reply.replies_told_at is not None:
        return []
    if reply.reply_to_id is None and reply.thread_id is None:
        return []
    reply.replies_told_at = utcnow()
    told = []
    for answered in _answered_writers(reply):
        if not mail.is_configured():
            current_app.logger.info("Reply %s: not emailed, email is not set up", reply.id)
            break
        _send_reply_email(answered, reply)
        told.append(answered.author_email)
    return told


def _answered_writers(reply: Comment) -> list[Comment]:
    """The comments whose writers asked to hear of this reply, one per address."""
    ids = {reply.reply_to_id, reply.thread_id} - {None}
    candidates = db.session.scalars(
        select(Comment)
        .where(
            Comment.id.in_(ids),
            Comment.reply_emails == ReplyEmails.ON,
            Comment.status == CommentStatus.APPROVED,
        )
        .order_by(Comment.id)
    ).all()
    own = reply.author_email.lower()
    chosen: dict[str, Comment] = {}
    for comment in candidates:
        address = comment.author_email.lower()
        if address and address != own:
            chosen.setdefault(address, comment)
    return list(chosen.values())


def _send_reply_email(answered: Comment, reply: Comment) -> None:
    stop_link = absolute_url("public.stop_reply_emails", token=stop_token(answered))
    mail.send(
        answered.author_email,
        f"{reply.author_name} replied to you on “{reply.post.title}”",
        "comment_reply",
        purpose="comment_reply",
        headers={
            "List-Unsubscribe": f"<{stop_link}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
        name=answered.author_name,
        post=reply.post,
        reply=reply,
        answered=answered,
        reply_link=absolute_url("public.post", slug=reply.post.slug) + f"#comment-{reply.id}",
        stop_link=stop_link,
    )
