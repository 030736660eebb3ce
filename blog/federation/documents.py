"""The JSON this site serves to the fediverse: actor documents, Article objects, the outbox
and follower collections, WebFinger answers and NodeInfo. Pure builders; the views send them.

    documents.article_object(post)   # also what a Create or Update delivers

Decisions:
- The site's actor is a `Service` (a blog, not a person) named after the site; an author's
  actor is a `Person`. Both use one inbox, which is also their shared inbox.
- An article's id is the address it was first federated under (`FederatedPost.object_id`),
  else its address now: a later change of slug does not make it a new object.
- An article is attributed to its author's actor when Settings → Fediverse gives authors
  actors of their own, else to the site's actor; its followers collection is in `cc`.
- Text that goes into JSON as HTML (summaries, bios) is escaped: it is plain text here.
- The outbox is paginated newest first with a fixed number of queries per page (a count,
  the posts with their authors and images, their tags, their federated ids).
"""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape
from importlib import metadata
from urllib.parse import urlsplit

from sqlalchemy import func, select
from sqlalchemy.orm import joinedload, selectinload

from ..extensions import db
from ..models import FederatedPost, Follower, LocalActor, Media, Post, PostKind, User
from ..settings import get_setting
from ..urls import absolutize_html, author_url, media_absolute_url, post_url, site_url, tag_url
from ..visibility import public_clause
from . import ACTIVITY_JSON, AS_CONTEXT, PUBLIC, SECURITY_CONTEXT, setting
from .addresses import (
    actor_id,
    actor_id_for,
    followers_url,
    following_url,
    inbox_url,
    key_id,
    outbox_url,
)

OUTBOX_PAGE_SIZE = 20
PROFILE_PAGE = "http://webfinger.net/rel/profile-page"
NODEINFO_SCHEMA = "http://nodeinfo.diaspora.software/ns/schema/{version}"
NODEINFO_VERSIONS = ("2.0", "2.1")


def iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC, microsecond=0).isoformat().replace("+00:00", "Z")


def site_host() -> str:
    """The host (and port, if any) people write after the @: `blog@example.org`."""
    return urlsplit(site_url()).netloc.lower()


def author_actors_on() -> bool:
    return bool(setting("federation_author_actors"))


def has_actor(user: User) -> bool:
    """Whether `user` is followable on their own: author actors on, and the account active."""
    return author_actors_on() and user.active


# Actors --------------------------------------------------------------------------------------


def actor_document(actor: LocalActor) -> dict:
    """The site's actor (a Service) or an author's (a Person), with its public key."""
    user = actor.user if actor.user_id is not None else None
    if user is None:
        settings_summary = str(get_setting("federation_actor_summary") or "")
        summary = settings_summary or str(get_setting("tagline") or "")
        fields = {
            "type": "Service",
            "preferredUsername": str(get_setting("federation_actor_name") or "blog"),
            "name": str(get_setting("site_title") or ""),
            "summary": _paragraph(summary),
            "url": site_url() + "/",
        }
        icon = _site_icon()
    else:
        fields = {
            "type": "Person",
            "preferredUsername": user.slug,
            "name": user.display_name,
            "summary": _paragraph(user.bio or ""),
            "url": author_url(user),
        }
        icon = _image(user.avatar) if user.avatar_media_id else None
    identifier = actor_id(actor)
    document = {
        "@context": [AS_CONTEXT, SECURITY_CONTEXT],
        "id": identifier,
        **fields,
        "inbox": inbox_url(),
        "outbox": outbox_url(actor),
        "followers": followers_url(actor),
        "following": following_url(actor),
        "endpoints": {"sharedInbox": inbox_url()},
        "publicKey": {
            "id": key_id(actor),
            "owner": identifier,
            "publicKeyPem": actor.public_key_pem,
        },
        "manuallyApprovesFollowers": False,
        "discoverable": True,
        "published": iso(actor.created_at),
    }
    if icon:
        document["icon"] = icon
    return document


def _paragraph(text: str) -> str:
    return f"<p>{escape(text.strip())}</p>" if text.strip() else ""


def _site_icon() -> dict | None:
    """The touch icon (square, 180 px) if the site has one, else the logo."""
    touch_icon = str(get_setting("touch_icon_file") or "")
    if touch_icon:
        return {"type": "Image", "mediaType": "image/png", "url": media_absolute_url(touch_icon)}
    logo_id = get_setting("logo_media_id")
    logo = db.session.get(Media, logo_id) if isinstance(logo_id, int) else None
    return _image(logo) if logo is not None else None


def _image(media: Media | None, name: str = "") -> dict | None:
    if media is None:
        return None
    image = {
        "type": "Image",
        "mediaType": media.content_type,
        "url": media_absolute_url(media.filename),
        "width": media.width,
        "height": media.height,
    }
    if name or media.alt_text:
        image["name"] = name or media.alt_text
    return image


# Articles ------------------------------------------------------------------------------------


def attributed_to(post: Post) -> str:
    """The actor an article speaks as: its author's when authors have actors, else the site's."""
    return actor_id_for(post.author if has_actor(post.author) else None)


LOOK_IT_UP = object()  # `federated` not given: read the post's FederatedPost (None: has none)


def object_id(post: Post, federated=LOOK_IT_UP) -> str:
    if federated is LOOK_IT_UP:
        federated = db.session.scalar(select(FederatedPost).where(FederatedPost.post_id == post.id))
    return federated.object_id if federated is not None else post_url(post)


def article_object(post: Post, federated=LOOK_IT_UP) -> dict:
    """The ActivityStreams Article for a public post; `federated` is its FederatedPost (or None
    for none) when the caller already read it."""
    speaker = post.author if has_actor(post.author) else None
    address = post_url(post)
    article = {
        "@context": AS_CONTEXT,
        "id": object_id(post, federated),
        "type": "Article",
        "attributedTo": actor_id_for(speaker),
        "name": post.title,
        "summary": _paragraph(post.summary or ""),
        "content": absolutize_html(post.body_html or "", address),
        "mediaType": "text/html",
        "url": address,
        "published": iso(post.published_at),
        "updated": iso(post.updated_at),
        "to": [PUBLIC],
        "cc": [followers_url(speaker)],
        "attachment": [],
        "tag": [_hashtag(tag) for tag in post.tags],
    }
    image = _image(post.featured_media, post.featured_alt) if post.featured_media_id else None
    if image:
        article["attachment"].append(image)
    return article


def _hashtag(tag) -> dict:
    return {"type": "Hashtag", "href": tag_url(tag), "name": "#" + "".join(tag.name.split())}


def create_activity(post: Post, federated=LOOK_IT_UP) -> dict:
    """The Create of an article, as the outbox lists it."""
    article = article_object(post, federated)
    return {
        "@context": AS_CONTEXT,
        "id": article["id"] + "#create",
        "type": "Create",
        "actor": article["attributedTo"],
        "published": article["published"],
        "to": article["to"],
        "cc": article["cc"],
        "object": {key: value for key, value in article.items() if key != "@context"},
    }


# Collections ---------------------------------------------------------------------------------


def _articles_of(user: User | None):
    query = select(Post).where(public_clause(), Post.kind == PostKind.POST)
    return query if user is None else query.where(Post.author_id == user.id)


def outbox(user: User | None, page: int | None) -> dict:
    """The outbox of the site's actor (None) or an author's: the collection, or one page."""
    address = outbox_url(user)
    total = db.session.scalar(select(func.count()).select_from(_articles_of(user).subquery()))
    pages = max(1, -(-total // OUTBOX_PAGE_SIZE))
    if page is None:
        return {
            "@context": AS_CONTEXT,
            "id": address,
            "type": "OrderedCollection",
            "totalItems": total,
            "first": f"{address}?page=1",
            "last": f"{address}?page={pages}",
        }
    posts = db.session.scalars(
        _articles_of(user)
        .options(joinedload(Post.author), joinedload(Post.featured_media), selectinload(Post.tags))
        .order_by(Post.published_at.desc(), Post.id.desc())
        .limit(OUTBOX_PAGE_SIZE)
        .offset((page - 1) * OUTBOX_PAGE_SIZE)
    ).all()
    federated = {
        record.post_id: record
        for record in db.session.scalars(
            select(FederatedPost).where(FederatedPost.post_id.in_([post.id for post in posts]))
        )
    }
    document = {
        "@context": AS_CONTEXT,
        "id": f"{address}?page={page}",
        "type": "OrderedCollectionPage",
        "partOf": address,
        "totalItems": total,
        "orderedItems": [create_activity(post, federated.get(post.id)) for post in posts],
    }
    if page > 1:
        document["prev"] = f"{address}?page={page - 1}"
    if page < pages:
        document["next"] = f"{address}?page={page + 1}"
    return document


def followers(actor: LocalActor | None, user: User | None) -> dict:
    """How many follow the actor; who they are is theirs to tell, not this site's."""
    count = 0
    if actor is not None:
        count = db.session.scalar(
            select(func.count(Follower.id)).where(Follower.local_actor_id == actor.id)
        )
    return {
        "@context": AS_CONTEXT,
        "id": followers_url(user),
        "type": "OrderedCollection",
        "totalItems": count or 0,
    }


def following(user: User | None) -> dict:
    return {
        "@context": AS_CONTEXT,
        "id": following_url(user),
        "type": "OrderedCollection",
        "totalItems": 0,
        "orderedItems": [],
    }


# WebFinger and NodeInfo ----------------------------------------------------------------------


def webfinger(user: User | None) -> dict:
    """The JRD that points `acct:name@host` at the actor of the site (None) or of `user`."""
    name = user.slug if user is not None else str(get_setting("federation_actor_name") or "")
    identifier = actor_id_for(user)
    return {
        "subject": f"acct:{name}@{site_host()}",
        "aliases": [identifier],
        "links": [
            {"rel": "self", "type": ACTIVITY_JSON, "href": identifier},
            {"rel": PROFILE_PAGE, "type": "text/html", "href": identifier},
        ],
    }


def nodeinfo_links(url_for_version) -> dict:
    return {
        "links": [
            {"rel": NODEINFO_SCHEMA.format(version=version), "href": url_for_version(version)}
            for version in NODEINFO_VERSIONS
        ]
    }


def software_version() -> str:
    try:
        return metadata.version("blog")
    except metadata.PackageNotFoundError:
        return "0"


def nodeinfo(version: str) -> dict:
    """NodeInfo 2.0 or 2.1: what this server runs and how much it holds."""
    users = 1
    if author_actors_on():
        users += db.session.scalar(
            select(func.count(func.distinct(Post.author_id)))
            .join(User, User.id == Post.author_id)
            .where(public_clause(), Post.kind == PostKind.POST, User.active.is_(True))
        )
    posts = db.session.scalar(select(func.count()).select_from(_articles_of(None).subquery()))
    software = {"name": "blog", "version": software_version()}
    if version == "2.1":
        software["homepage"] = site_url() + "/"
    return {
        "version": version,
        "software": software,
        "protocols": ["activitypub"],
        "services": {"inbound": [], "outbound": []},
        "openRegistrations": False,
        "usage": {"users": {"total": users}, "localPosts": posts or 0},
        "metadata": {"nodeName": str(get_setting("site_title") or "")},
    }
