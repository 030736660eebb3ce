"""What admins see and do about federation: the handle people follow, why federation is on or
off, followers removed, whole servers blocked, delivery health, likes and boosts per post.

Used by the admin pages (blog.admin.fediverse), the post list and the CLI (`flask fediverse`);
each function leaves the commit to its caller.

Decisions:
- Blocking a server covers its subdomains too (blocking `example.social` blocks
  `media.example.social`), as fediverse servers do. It deletes the server's followers, their
  likes and boosts, and the replies still waiting in moderation; approved comments stay until
  a moderator removes them. Deliveries still waiting for that server are given up. The inbox
  asks `is_blocked` before it stores anything, so none of it comes back.
- Counts for a list are one grouped query for the whole page, never one per row.
"""

import re
from urllib.parse import urlsplit

from sqlalchemy import and_, case, delete, false, func, or_, select, update

from ..extensions import db
from ..models import (
    Comment,
    CommentStatus,
    DeliveryState,
    FederationDelivery,
    Follower,
    Reaction,
    ReactionKind,
    RemoteActor,
    RemoteServer,
    utcnow,
)
from ..settings import get_setting
from ..urls import site_url
from . import enabled, forced_on, site_is_https

ACTOR_NAME = re.compile(r"[a-z0-9_-]{1,30}")
# A host as people type it: labels of letters, digits and hyphens (underscores are seen in the
# wild), dot-separated, at most 253 characters; an optional port.
_HOST = re.compile(
    r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
    r"(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)*(?::[0-9]{1,5})?"
)


def site_host() -> str:
    """The host part of SITE_URL (with its port, if it has one): the handle's domain."""
    return urlsplit(site_url()).netloc.lower()


def handle(name: str | None = None) -> str:
    """`@name@host`, what people search for to follow the blog."""
    return f"@{name or get_setting('federation_actor_name')}@{site_host()}"


def state() -> tuple[bool, str]:
    """Whether federation is on now, and why, in a sentence."""
    if forced_on():
        return True, "On: FEDERATION is set in the configuration."
    if not get_setting("federation_enabled"):
        return False, "Off: turned off in Settings → Fediverse."
    if not site_is_https():
        return False, (
            "Off: turned on in Settings → Fediverse, but SITE_URL is not an https:// "
            "address, and fediverse servers only talk to https:// sites."
        )
    return enabled(), "On: turned on in Settings → Fediverse."


def normalise_host(text: str) -> str | None:
    """A host typed by an admin (or a URL, or `@user@host`), lower-cased; None if it is not one."""
    text = (text or "").strip().lower()
    if "://" in text:
        text = urlsplit(text).netloc
    text = text.rsplit("@", 1)[-1].rstrip(".")
    return text if len(text) <= 253 and _HOST.fullmatch(text) else None


def _on_host(column, host: str):
    """SQL: `column` is `host` or one of its subdomains."""
    escaped = host.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return or_(column == host, column.like("%." + escaped, escape="\\"))


def is_blocked(host: str) -> bool:
    """Whether an admin blocked `host` or a domain it belongs to."""
    host = (host or "").lower().rstrip(".")
    if not host:
        return False
    parts = host.split(".")
    domains = [".".join(parts[i:]) for i in range(len(parts))]
    return bool(
        db.session.scalar(
            select(func.count(RemoteServer.id)).where(
                RemoteServer.host.in_(domains), RemoteServer.blocked
            )
        )
    )


def remove_follower(follower: Follower) -> None:
    """Stop sending to this follower. They may follow again; block their server to prevent it."""
    db.session.delete(follower)


def block_server(host: str) -> dict[str, int]:
    """Block `host` (and its subdomains): what it had here goes. Returns what was removed."""
    server = db.session.scalar(select(RemoteServer).where(RemoteServer.host == host))
    if server is None:
        server = RemoteServer(host=host)
        db.session.add(server)
    server.blocked = True
    actors = select(RemoteActor.id).where(_on_host(RemoteActor.host, host)).scalar_subquery()
    removed = {
        "followers": db.session.execute(
            delete(Follower).where(Follower.remote_actor_id.in_(actors))
        ).rowcount,
        "reactions": db.session.execute(
            delete(Reaction).where(Reaction.remote_actor_id.in_(actors))
        ).rowcount,
        "comments": _drop_waiting_comments(actors),
        "deliveries": db.session.execute(
            update(FederationDelivery)
            .where(
                _on_host(FederationDelivery.host, host),
                FederationDelivery.state == DeliveryState.PENDING,
            )
            .values(state=DeliveryState.FAILED, last_error="The server is blocked.")
        ).rowcount,
    }
    db.session.flush()
    return removed


def _drop_waiting_comments(actors) -> int:
    """Delete the actors' comments waiting in moderation. One that somebody else has answered
    (it was approved once, then put back) goes to the trash instead, so the answers stay."""
    waiting = select(Comment.id).where(
        Comment.remote_actor_id.in_(actors), Comment.status == CommentStatus.PENDING
    )
    answered = (
        select(Comment.thread_id)
        .where(Comment.thread_id.in_(waiting), Comment.id.not_in(waiting))
        .scalar_subquery()
    )
    trashed = db.session.execute(
        update(Comment)
        .where(Comment.id.in_(answered))
        .values(status=CommentStatus.TRASH)
        .execution_options(synchronize_session=False)
    ).rowcount
    deleted = db.session.execute(
        delete(Comment).where(Comment.id.in_(waiting)).execution_options(synchronize_session=False)
    ).rowcount
    return trashed + deleted


def unblock_server(host: str) -> bool:
    """Lift the block on `host`; False if it was not blocked. What went does not come back."""
    server = db.session.scalar(
        select(RemoteServer).where(RemoteServer.host == host, RemoteServer.blocked)
    )
    if server is None:
        return False
    server.blocked = False
    return True


def delivery_counts(hosts: list[str] | None = None) -> dict[str, dict[str, int]]:
    """Pending and failed deliveries by host (all hosts when `hosts` is None), in one query."""
    if hosts is not None and not hosts:
        return {}
    query = (
        select(
            FederationDelivery.host,
            func.sum(case((FederationDelivery.state == DeliveryState.PENDING, 1), else_=0)),
            func.sum(case((FederationDelivery.state == DeliveryState.FAILED, 1), else_=0)),
        )
        .where(FederationDelivery.state != DeliveryState.DELIVERED)
        .group_by(FederationDelivery.host)
    )
    if hosts is not None:
        query = query.where(FederationDelivery.host.in_(hosts))
    return {
        host: {"pending": int(pending or 0), "failed": int(failed or 0)}
        for host, pending, failed in db.session.execute(query)
    }


def follower_counts(hosts: list[str]) -> dict[str, int]:
    """Followers by their server, for the hosts listed, in one query."""
    if not hosts:
        return {}
    rows = db.session.execute(
        select(RemoteActor.host, func.count(Follower.id))
        .join(Follower, Follower.remote_actor_id == RemoteActor.id)
        .where(RemoteActor.host.in_(hosts))
        .group_by(RemoteActor.host)
    )
    return dict(rows.all())


def reaction_counts(post_ids: list[int]) -> dict[int, dict[str, int]]:
    """Likes and boosts of each post listed, in one grouped query (none for an empty list)."""
    if not post_ids:
        return {}
    rows = db.session.execute(
        select(Reaction.post_id, Reaction.kind, func.count(Reaction.id))
        .where(Reaction.post_id.in_(post_ids))
        .group_by(Reaction.post_id, Reaction.kind)
    )
    counts: dict[int, dict[str, int]] = {}
    for post_id, kind, number in rows:
        counts.setdefault(post_id, {"like": 0, "announce": 0})[ReactionKind(kind).value] = number
    return counts


def overview() -> dict:
    """Totals for the status command and the page's heading, in a few queries."""
    now = utcnow()
    totals = delivery_counts()
    return {
        "followers": db.session.scalar(select(func.count(Follower.id))) or 0,
        "pending": sum(row["pending"] for row in totals.values()),
        "failed": sum(row["failed"] for row in totals.values()),
        "set_aside": db.session.scalars(
            select(RemoteServer)
            .where(
                and_(RemoteServer.set_aside_until.is_not(None), RemoteServer.set_aside_until > now),
                RemoteServer.blocked == false(),
            )
            .order_by(RemoteServer.host)
        ).all(),
        "blocked": db.session.scalars(
            select(RemoteServer.host).where(RemoteServer.blocked).order_by(RemoteServer.host)
        ).all(),
    }
