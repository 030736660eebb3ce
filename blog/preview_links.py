"""Shareable preview links: a draft or scheduled post shown to someone without an account.

Decisions:
- The address holds a token signed with the app's secret key (itsdangerous) naming a
  `PreviewLink` row by id and nonce. The nonce makes an address name one row for good (SQLite
  may give a deleted row's id to the next one); the signature means nobody can make or alter
  an address without the key, and is checked before the database is asked.
- The token is stable, so the editor lists each live link's address to copy again later.
- A link lasts `LINK_DAYS` (7) days (`expires_at`). Revoking deletes the row: the address
  stops working at once, in every process.
- The page is never stored by the page cache (`blog.page_cache.BYPASSED_ENDPOINTS`) nor by
  browsers or proxies (`Cache-Control: no-store`), and says `noindex`: revoking needs no cache
  rule, and the `preview_link` table feeds no cached public page.
- It shows the post as last saved (never an autosave); once the post is public, the address
  leads to the public page.
"""

import secrets
from datetime import timedelta

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import delete, select

from .extensions import db
from .models import Post, PostStatus, PreviewLink, User, utcnow
from .urls import absolute_url

LINK_DAYS = 7
_SALT = "blog.preview-link"


class PreviewLinkError(ValueError):
    """A link cannot be made for this post; the message says why."""


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=_SALT)


def needs_link(post: Post) -> bool:
    """Only what readers cannot see yet: a draft or a scheduled post, not in the trash."""
    return post.status != PostStatus.PUBLISHED and post.deleted_at is None and not post.is_public


def create_link(post: Post, user: User) -> PreviewLink:
    """A new link for a draft or scheduled post (the caller commits)."""
    if not needs_link(post):
        raise PreviewLinkError("Only a draft or a scheduled post needs a preview link.")
    now = utcnow()
    link = PreviewLink(
        post_id=post.id,
        nonce=secrets.token_urlsafe(16),
        created_by_id=user.id,
        created_at=now,
        expires_at=now + timedelta(days=LINK_DAYS),
    )
    db.session.add(link)
    db.session.flush()
    return link


def token_of(link: PreviewLink) -> str:
    return _serializer().dumps([link.id, link.nonce])


def address_of(link: PreviewLink) -> str:
    """The full address to share (under SITE_URL)."""
    return absolute_url("public.shared_preview", token=token_of(link))


def link_for_token(token: str) -> PreviewLink | None:
    """The live link a token names, or None (bad signature, revoked, expired)."""
    try:
        payload = _serializer().loads(token)
    except BadSignature:
        return None
    if not (isinstance(payload, list) and len(payload) == 2):
        return None
    link_id, nonce = payload
    if not isinstance(link_id, int) or isinstance(link_id, bool) or not isinstance(nonce, str):
        return None
    link = db.session.get(PreviewLink, link_id)
    if link is None or link.nonce != nonce or link.expires_at <= utcnow():
        return None
    return link


def live_links(post: Post) -> list[PreviewLink]:
    """The post's links that still work, newest first."""
    return list(
        db.session.scalars(
            select(PreviewLink)
            .where(PreviewLink.post_id == post.id, PreviewLink.expires_at > utcnow())
            .order_by(PreviewLink.id.desc())
        )
    )


def revoke(link: PreviewLink) -> None:
    db.session.delete(link)


def revoke_all(post: Post) -> int:
    result = db.session.execute(delete(PreviewLink).where(PreviewLink.post_id == post.id))
    return result.rowcount or 0
