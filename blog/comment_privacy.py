"""Commenters' personal data: addresses forgotten after a while, and a person's comments found,
exported and erased on request (Admin → Comments → Find by email; `flask --app blog comments`).

Decisions:
- A comment's address (the client's IP) serves the rate limits (minutes) and moderation (the
  blocklist, telling a flood from a crowd); `COMMENT_ADDRESS_DAYS` (30) after the comment was
  written the housekeeping (blog.housekeeping) sets it to "". One UPDATE over the indexed
  creation time; the address is a private column, so no cached page changes.
- A person is the email address they gave, compared without regard to case; a signed-in
  user's comments carry their account's address, so they are found the same way.
- The export holds everything stored about each comment (the text as written and as shown,
  name, email, website, address while kept, status, moderation note, dates, the post's title
  and address), as one JSON document for the person who asked.
- Erasing deletes the person's comments, whatever their status. Other people's text is kept:
  where an erased comment started a thread, the earliest remaining reply (the earliest
  approved one, when there is one, so the shown thread stays whole) becomes the thread's
  first comment and the other replies join it; a reply that answered an erased comment loses
  only that link (the database sets it to NULL; "In reply to …" goes). Nothing others wrote
  is changed, even where it quotes or names the person: a moderator edits that by hand if
  asked. No "comment removed" placeholder: it would keep a row saying the person was there,
  and a thread reads well without it.
- Each post touched has its comment count counted again (blog.comments.recount); deleting a
  shown comment, promoting a reply and the recount move the site generation
  (blog.invalidation), so readers see the erasure on their next request.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from flask import current_app
from sqlalchemy import func, select, update
from sqlalchemy.orm import joinedload

from .comments import recount
from .extensions import db
from .models import Comment, CommentStatus, utcnow
from .urls import post_url

EXPORT_FORMAT = "blog-comments-export/1"


# Addresses ------------------------------------------------------------------------------------


def erase_old_addresses(now: datetime | None = None) -> int:
    """Forget the address of every comment older than COMMENT_ADDRESS_DAYS (the caller
    commits); returns how many were forgotten."""
    days = max(1, int(current_app.config["COMMENT_ADDRESS_DAYS"]))  # the rate limits need it
    cutoff = (now or utcnow()) - timedelta(days=days)
    result = db.session.execute(
        update(Comment)
        .where(Comment.created_at < cutoff, Comment.address != "")
        .values(address="")
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


# A person's comments --------------------------------------------------------------------------


def normalise(email: str) -> str:
    return (email or "").strip().lower()


def find(email: str) -> list[Comment]:
    """Every comment written with this email address, oldest first, with its post."""
    wanted = normalise(email)
    if not wanted:
        return []
    return list(
        db.session.scalars(
            select(Comment)
            .where(func.lower(Comment.author_email) == wanted)
            .options(joinedload(Comment.post))
            .order_by(Comment.created_at, Comment.id)
        )
    )


def export(email: str) -> dict:
    """Everything stored about the person's comments, for a JSON download."""
    return {
        "format": EXPORT_FORMAT,
        "email": normalise(email),
        "site": current_app.config["SITE_URL"],
        "exported_at": _iso(utcnow()),
        "comments": [_exported(comment) for comment in find(email)],
    }


def _exported(comment: Comment) -> dict:
    return {
        "id": comment.id,
        "post": {"title": comment.post.title, "url": post_url(comment.post)},
        "status": comment.status.value,
        "name": comment.author_name,
        "email": comment.author_email,
        "website": comment.author_url,
        "text": comment.body_md,
        "html": comment.body_html,
        "address": comment.address,
        "moderation_note": comment.held_reason,
        "in_reply_to": comment.reply_to_id,
        "thread": comment.thread_id,
        "created_at": _iso(comment.created_at),
        "updated_at": _iso(comment.updated_at),
    }


def _iso(moment: datetime) -> str:
    return moment.replace(tzinfo=UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Erasure:
    comments: int
    posts: int
    threads_kept: int  # threads the person started whose replies by others were kept


def erase(email: str) -> Erasure:
    """Delete the person's comments, keeping other people's replies (the caller commits)."""
    doomed = find(email)
    doomed_ids = {comment.id for comment in doomed}
    kept = sum(
        _keep_replies(comment, doomed_ids) for comment in doomed if comment.thread_id is None
    )
    db.session.flush()  # the replies leave the threads before their first comments go
    post_ids = {comment.post_id for comment in doomed}
    # Replies first: deleting a thread's first comment would take them along (ON DELETE
    # CASCADE) behind the session's back.
    for replies_first in (True, False):
        for comment in doomed:
            if (comment.thread_id is not None) == replies_first:
                db.session.delete(comment)
        db.session.flush()
    for post_id in sorted(post_ids):
        recount(post_id)
    return Erasure(len(doomed), len(post_ids), kept)


def _keep_replies(first: Comment, doomed_ids: set[int]) -> bool:
    """Make the earliest remaining reply the thread's first comment; False if none remain."""
    replies = db.session.scalars(
        select(Comment)
        .where(Comment.thread_id == first.id, Comment.id.not_in(doomed_ids))
        .order_by(Comment.created_at, Comment.id)
    ).all()
    if not replies:
        return False
    shown = [reply for reply in replies if reply.status == CommentStatus.APPROVED]
    new_first = (shown or replies)[0]
    new_first.thread_id = None
    for reply in replies:
        if reply is not new_first:
            reply.thread_id = new_first.id
    return True
