"""Comments arriving with a post from an import (WordPress, Markdown files), stored once.

Decisions:
- Each incoming comment carries a key (`Comment.import_key`): a comment already brought in
  is left as it is here (a moderator may have approved, edited or trashed it since) and
  counted as already here, so a second run adds nothing.
- Replies stay replies. Threads are one level deep (blog.comments): a reply to a reply joins
  the first comment's thread and points at the comment it answers. A reply whose answered
  comment did not come along (spam, trash, missing) starts a thread of its own.
- The text is rendered here by the comment pipeline (`rendering.render_comment`); HTML from
  the source is never trusted. Names, emails and websites are checked as the reader's form
  checks them; a website that is not a plain http(s) address is dropped.
- No client address is imported: addresses are kept only for rate limits and moderation of
  new comments, and are erased after 30 days anyway.
- The post's `comment_count` is counted again once new comments are in (`comments.recount`);
  a run that adds none leaves the post, and so every cached page, alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from ..comments import recount
from ..extensions import db
from ..models import Comment, CommentStatus, Post
from ..rendering import is_safe_url, render_comment
from .report import Summary

MAX_NAME = 100
MAX_EMAIL = 254
MAX_URL = 300
ANONYMOUS = "Anonymous"


@dataclass
class IncomingComment:
    """One comment as an importer read it; `ref` and `reply_to` are the source's own ids."""

    key: str
    ref: str
    body_md: str
    status: CommentStatus
    created_at: datetime
    author_name: str = ""
    author_email: str = ""
    author_url: str = ""
    reply_to: str | None = None
    user_id: int | None = None
    held_reason: str = ""


def add_comments(post: Post, incoming: list[IncomingComment], summary: Summary) -> None:
    """Store the comments of `post` not stored before (the caller commits)."""
    if not incoming:
        return
    existing = _existing_by_key([comment.key for comment in incoming])
    by_ref = {comment.ref: comment for comment in incoming}
    stored: dict[str, Comment] = {}
    imported_before = summary.comments_imported

    def store(comment: IncomingComment, seen: frozenset[str]) -> Comment:
        if comment.ref in stored:
            return stored[comment.ref]
        answered = None
        parent = by_ref.get(comment.reply_to or "")
        if parent is not None and parent.ref not in seen:  # a loop in the source: cut it
            answered = store(parent, seen | {comment.ref})
        row = existing.get(comment.key)
        if row is None:
            row = _new_comment(post, comment, answered)
            summary.comments_imported += 1
        else:
            summary.comments_existing += 1
        stored[comment.ref] = row
        return row

    for comment in sorted(incoming, key=lambda c: (c.created_at, c.ref)):
        store(comment, frozenset({comment.ref}))
    if summary.comments_imported > imported_before:
        db.session.flush()
        recount(post.id)


def _existing_by_key(keys: list[str]) -> dict[str, Comment]:
    found: dict[str, Comment] = {}
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        for row in db.session.scalars(select(Comment).where(Comment.import_key.in_(chunk))):
            found[row.import_key] = row
    return found


def _new_comment(post: Post, comment: IncomingComment, answered: Comment | None) -> Comment:
    if answered is not None and answered.id is None:
        db.session.flush()  # the answered comment needs its id for the thread
    row = Comment(
        post=post,
        thread_id=(answered.thread_id or answered.id) if answered is not None else None,
        reply_to=answered,
        user_id=comment.user_id,
        author_name=clean_name(comment.author_name),
        author_email=clean_email(comment.author_email),
        author_url=clean_url(comment.author_url),
        body_md=comment.body_md,
        body_html=render_comment(comment.body_md),
        status=comment.status,
        held_reason=comment.held_reason[:200],
        created_at=comment.created_at,
        updated_at=comment.created_at,
        import_key=comment.key,
    )
    db.session.add(row)
    return row


def clean_name(name: str) -> str:
    return " ".join((name or "").split())[:MAX_NAME] or ANONYMOUS


def clean_email(email: str) -> str:
    email = (email or "").strip().lower()
    if len(email) > MAX_EMAIL or "@" not in email or any(c.isspace() for c in email):
        return ""
    return email


def clean_url(url: str) -> str:
    url = (url or "").strip()
    if not url or len(url) > MAX_URL or not url.startswith(("http://", "https://")):
        return ""
    return url if is_safe_url(url) else ""
