"""What a reader may see: the one rule for "public", as SQL and as Python, side by side.

A post or page is public when it is published, or scheduled with its time reached, and not in
the trash. Scheduling needs no job: a scheduled post is public from its time on, whatever its
stored status says (`posts.promote_due_posts` only keeps that status honest for the admin).

Decisions:
- Both forms live here and nowhere else: the model's `Post.is_public`, the public queries, the
  sitemap, the feeds, search and the site generation's next-change time all ask this module.
- "Listed" (public now, or scheduled to become public without another write) is what cache
  invalidation cares about: a change to a listed post can change a public page, now or when
  its time comes; a change to a draft or a trashed post cannot.
"""

from datetime import datetime

from sqlalchemy import and_
from sqlalchemy.sql.elements import ColumnElement

from .models import Post, PostStatus, utcnow

# Statuses whose posts readers see once their time has come.
PUBLIC_STATUSES = (PostStatus.PUBLISHED, PostStatus.SCHEDULED)


def released_by(now: datetime) -> tuple[ColumnElement[bool], ...]:
    """The rule's time and trash half, for queries that split the status half per status."""
    return (Post.published_at <= now, Post.deleted_at.is_(None))


def public_clause(now: datetime | None = None) -> ColumnElement[bool]:
    """SQL: the post is public at `now` (default: this moment)."""
    return and_(Post.status.in_(PUBLIC_STATUSES), *released_by(now or utcnow()))


def upcoming_clause(now: datetime) -> ColumnElement[bool]:
    """SQL: the post will become public after `now` with no further write."""
    return and_(
        Post.status.in_(PUBLIC_STATUSES), Post.published_at > now, Post.deleted_at.is_(None)
    )


def is_public(post: Post, now: datetime | None = None) -> bool:
    """Python: the same rule as `public_clause`, for a post already loaded."""
    return is_listed(post.status, post.published_at, post.deleted_at) and (
        post.published_at <= (now or utcnow())
    )


def is_listed(status, published_at: datetime | None, deleted_at: datetime | None) -> bool:
    """Public now or later without another write: a change to such a post can reach readers."""
    return status in PUBLIC_STATUSES and published_at is not None and deleted_at is None
