"""Small pieces both importers share."""

import hashlib
from datetime import datetime

from sqlalchemy import select

from ..extensions import db
from ..models import Post, PostStatus, Revision, SlugRedirect


def import_key(prefix: str, value: str) -> str:
    """A key for Post/Media/Comment.import_key, hashed when too long for the column."""
    key = f"{prefix}:{value}"
    if len(key) > 500:
        key = f"{prefix}:sha256:{hashlib.sha256(value.encode()).hexdigest()}"
    return key


def post_slug_taken(slug: str, post_id: int | None) -> bool:
    """True if another post has this address, now or as an old address that redirects."""
    query = select(Post.id).where(Post.slug == slug)
    if post_id is not None:
        query = query.where(Post.id != post_id)
    if db.session.scalar(query.limit(1)) is not None:
        return True
    owner = db.session.scalar(select(SlugRedirect.post_id).where(SlugRedirect.old_slug == slug))
    return owner is not None and owner != post_id


def stamp_post(
    post: Post,
    status: PostStatus,
    published: datetime | None,
    created: datetime,
    updated: datetime,
) -> None:
    """After `save_post`: the status and times the post had where it came from.

    The revision that save made is dated like the post, so the history reads right.
    """
    post.status = status
    post.published_at = published
    post.created_at = created
    post.updated_at = updated
    db.session.flush()
    revision = db.session.scalar(
        select(Revision).where(Revision.post_id == post.id, Revision.post_version == post.version)
    )
    if revision is not None:
        revision.created_at = updated
