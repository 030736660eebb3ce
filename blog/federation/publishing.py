"""Telling followers about articles: Create when one becomes public, Update when a public one
changes, Delete when it stops being public (unpublished, trashed, deleted).

Decisions:
- One mechanism that cannot be forgotten: a session event notices every write of a post that
  readers could see (before or after the write) and queues a `federation_sync` job for the
  moment it becomes public. The job compares what the post is now with what followers were
  last told (`FederatedPost`) and sends only the difference, so it can run twice, late, or
  for a post that changed again meanwhile, and followers still get each change once.
- Scheduled posts need no write when their time comes: the job queued at save runs then.
- Only news is announced: a post whose publication date is more than
  FEDERATION_ANNOUNCE_DAYS old when it first becomes public (an import, a back-dated post) is
  not sent, so importing a whole site does not flood followers' timelines.
- Pages are not federated; only posts.
- Who speaks: the site's actor; when authors have actors of their own, the author's actor
  sends the Create to its followers and the site's actor announces (boosts) it to the site's.
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import timedelta

from flask import current_app
from sqlalchemy import event, inspect, select
from sqlalchemy.orm import Session

from .. import jobs
from ..extensions import db
from ..models import FederatedPost, Follower, LocalActor, Post, PostKind, RemoteActor, utcnow
from ..visibility import is_listed, is_public
from . import AS_CONTEXT, PUBLIC, enabled
from .addresses import actor_id, followers_url
from .delivery import queue_activity
from .documents import article_object, has_actor, object_id
from .keys import local_actor

log = logging.getLogger(__name__)

# Post columns a follower's copy shows: a change to one of them sends an Update.
WATCHED = frozenset(
    {
        "status", "published_at", "deleted_at", "title", "slug", "body_html", "summary",
        "excerpt", "featured_media_id", "featured_alt", "featured_caption", "category_id",
        "author_id", "tags", "kind",
    }
)  # fmt: skip


def init_app(session_factory) -> None:
    """Watch the app's sessions for writes of posts; idempotent."""
    if not event.contains(session_factory, "after_flush", _after_flush):
        event.listen(session_factory, "after_flush", _after_flush)


def _after_flush(session: Session, flush_context) -> None:
    """After the flush every post has its id, while the collections and attribute histories
    still show what this flush changed. The job added here is written by the next flush,
    which the commit runs before it ends."""
    changes = [
        (obj, change)
        for change, objects in (("new", session.new), ("dirty", session.dirty),
                                ("deleted", session.deleted))
        for obj in objects
        if isinstance(obj, Post) and _may_concern_followers(obj, change)
    ]  # fmt: skip
    if not changes:
        return
    with session.no_autoflush:
        if not enabled():
            return
        for post, change in changes:
            _queue_sync(session, post, deleted=change == "deleted")


def _may_concern_followers(post: Post, change: str) -> bool:
    """Whether readers could see the post before or after this write (a draft's edits are
    nobody's business but its author's)."""
    if post.kind != PostKind.POST:
        return False
    if change == "deleted":
        return True
    listed_now = is_listed(post.status, post.published_at, post.deleted_at)
    if change == "new":  # an import's old articles are never news: no job for each
        return listed_now and _is_news(post, utcnow())
    state = inspect(post)
    history = {name: state.attrs[name].history for name in WATCHED if name in state.attrs}
    if not any(h.has_changes() for h in history.values()):
        return False

    def before(name):
        return history[name].deleted[0] if history[name].deleted else getattr(post, name)

    return listed_now or is_listed(before("status"), before("published_at"), before("deleted_at"))


def _queue_sync(session: Session, post: Post, deleted: bool) -> None:
    payload: dict = {"post_id": post.id}
    if deleted:
        told = session.scalar(select(FederatedPost).where(FederatedPost.post_id == post.id))
        if told is None or told.state == "deleted":
            return
        payload = {"federated_post_id": told.id}
    run_after = None
    if not deleted and post.published_at is not None and post.deleted_at is None:
        run_after = post.published_at  # a scheduled post: when it becomes public
    jobs.enqueue(
        "federation_sync", payload, f"Fediverse: “{post.title[:200]}”", run_after=run_after
    )


# The job ------------------------------------------------------------------------------------


@jobs.handler("federation_sync", max_attempts=5)
def sync(payload: dict) -> None:
    """Send followers whatever they have not been told about one post yet."""
    if not enabled():
        return
    told = None
    if "federated_post_id" in payload:
        told = db.session.get(FederatedPost, payload["federated_post_id"])
        post = None
    else:
        post = db.session.get(Post, payload["post_id"])
        if post is not None:
            told = db.session.scalar(select(FederatedPost).where(FederatedPost.post_id == post.id))
    now = utcnow()
    if post is not None and _becomes_public_later(post, now):
        if told is None or told.state == "deleted":  # early (a queue's clock): wait for it
            jobs.enqueue("federation_sync", payload, f"Fediverse: “{post.title[:200]}”",
                         run_after=post.published_at)  # fmt: skip
            db.session.commit()
            return
    if post is not None and post.kind == PostKind.POST and is_public(post, now):
        if told is None or told.state == "deleted":
            if told is None and not _is_news(post, now):
                log.info("Post %s is not news (published %s): not announced", post.id,
                         post.published_at)  # fmt: skip
                return
            _send_create(post, told)
        else:
            _send_update(post, told)
    elif told is not None and told.state != "deleted":
        if post is not None and _becomes_public_later(post, now):
            return  # rescheduled: the job queued with the new time sends it
        _send_delete(told)
    db.session.commit()


def _is_news(post: Post, now) -> bool:
    days = current_app.config.get("FEDERATION_ANNOUNCE_DAYS", 2)
    return post.published_at is not None and post.published_at >= now - timedelta(days=days)


def _becomes_public_later(post: Post, now) -> bool:
    return is_listed(post.status, post.published_at, post.deleted_at) and (post.published_at > now)


def speaking_actor(post: Post) -> LocalActor:
    """The actor whose name a post goes out under: its author's when the author has one (the
    rule the Article's attributedTo follows, `documents.has_actor`), else the site's."""
    return local_actor(post.author if has_actor(post.author) else None)


def _followers(actors) -> list[RemoteActor]:
    ids = [actor.id for actor in actors]
    return list(
        db.session.scalars(
            select(RemoteActor)
            .join(Follower, Follower.remote_actor_id == RemoteActor.id)
            .where(Follower.local_actor_id.in_(ids))
            .order_by(RemoteActor.id)
        ).unique()
    )


def _audiences(speaker: LocalActor) -> list[LocalActor]:
    site = local_actor(None)
    return [speaker] if speaker.id == site.id else [speaker, site]


def _content_hash(document: dict) -> str:
    stable = {key: value for key, value in document.items() if key != "updated"}
    return hashlib.sha256(json.dumps(stable, sort_keys=True).encode()).hexdigest()


def _activity(kind: str, actor: LocalActor, obj, suffix: str) -> dict:
    return {
        "@context": AS_CONTEXT,
        "id": f"{obj['id'] if isinstance(obj, dict) else obj}#{suffix}",
        "type": kind,
        "actor": actor_id(actor),
        "published": utcnow().strftime("%Y-%m-%dT%H:%M:%SZ"),
        "to": [PUBLIC],
        "cc": [followers_url(actor)],
        "object": obj,
    }


def _send_create(post: Post, told: FederatedPost | None) -> None:
    speaker = speaking_actor(post)
    if told is None:
        told = FederatedPost(post_id=post.id, object_id=object_id(post, None), local_actor=speaker)
        db.session.add(told)
        db.session.flush()
    told.state, told.local_actor, told.updated_at = "created", speaker, utcnow()
    document = article_object(post, told)
    told.content_hash = _content_hash(document)
    version = int(told.updated_at.timestamp())
    create = _activity("Create", speaker, document, f"create-{version}")
    queue_activity(speaker, create, _followers([speaker]))
    site = local_actor(None)
    if speaker.id != site.id:
        announce = _activity("Announce", site, document["id"], f"announce-{version}")
        queue_activity(site, announce, _followers([site]))


def _send_update(post: Post, told: FederatedPost) -> None:
    document = article_object(post, told)
    digest = _content_hash(document)
    if digest == told.content_hash:
        return
    told.content_hash, told.updated_at = digest, utcnow()
    speaker = told.local_actor
    update = _activity("Update", speaker, document, f"update-{int(told.updated_at.timestamp())}")
    queue_activity(speaker, update, _followers(_audiences(speaker)))


def _send_delete(told: FederatedPost) -> None:
    told.state, told.updated_at = "deleted", utcnow()
    speaker = told.local_actor
    tombstone = {"id": told.object_id, "type": "Tombstone"}
    delete = _activity("Delete", speaker, tombstone, f"delete-{int(told.updated_at.timestamp())}")
    queue_activity(speaker, delete, _followers(_audiences(speaker)))
