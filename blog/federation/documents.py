"""ActivityStreams documents for this site's objects (a first version, for deliveries)."""

from sqlalchemy import select

from ..extensions import db
from ..models import FederatedPost, Post
from ..urls import absolutize_html, post_url, site_url
from . import AS_CONTEXT, PUBLIC
from .addresses import actor_id, followers_url


def _iso(moment) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def article_object(post: Post) -> dict:
    """The post as an ActivityStreams Article, with the id followers first saw it under."""
    from .publishing import speaking_actor

    told = db.session.scalar(select(FederatedPost).where(FederatedPost.post_id == post.id))
    url = post_url(post)
    actor = told.local_actor if told is not None else speaking_actor(post)
    document = {
        "@context": AS_CONTEXT,
        "id": told.object_id if told is not None else url,
        "type": "Article",
        "attributedTo": actor_id(actor),
        "name": post.title,
        "summary": post.summary,
        "content": absolutize_html(post.body_html, site_url() + "/"),
        "url": url,
        "published": _iso(post.published_at),
        "updated": _iso(post.updated_at),
        "to": [PUBLIC],
        "cc": [followers_url(actor)],
        "tag": [{"type": "Hashtag", "name": f"#{tag.name}"} for tag in post.tags],
    }
    return document
