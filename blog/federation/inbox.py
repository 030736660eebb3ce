"""What other servers send, applied: follows, likes and boosts, replies as comments, and their
undoing. The sender is already verified (`blog.federation.actors`); the caller commits.

    inbox.apply(activity, sender)

Decisions:
- Every activity is idempotent: a second Follow, Like or reply with the same id changes
  nothing, and an Undo or Delete of something unknown is ignored. Anything not understood is
  accepted (202) and dropped, as the protocol expects.
- A sender only ever touches its own things: its follow, its reactions, its replies.
- A reply (a Note answering an article's address or object id) becomes a comment only when
  Settings → Fediverse turns that on and the article takes comments now (the comment rules'
  `closed_reason`). It is always held for moderation, whatever the moderation setting: the
  fediverse has no email address to trust, and an unknown server can make any number of
  accounts. The comment blocklist still applies (a match is spam).
- The note's HTML is turned into Markdown and rendered by the comment pipeline
  (`rendering.render_comment`), the one sanitiser every comment goes through: links stay
  links, everything else is text.
- An edited note replaces the comment's text; an approved comment goes back to the queue,
  since the moderator approved other words. A deleted note deletes the comment.
- A deleted account takes its follows, reactions and held comments with it; approved
  comments stay, like any comment whose writer left.
"""

from __future__ import annotations

import re
import uuid
from urllib.parse import urldefrag

from flask import current_app
from sqlalchemy import delete, select

from .. import comment_guard, comments
from ..extensions import db
from ..models import (
    Comment,
    CommentStatus,
    FederatedPost,
    Follower,
    LocalActor,
    Post,
    PostKind,
    Reaction,
    ReactionKind,
    RemoteActor,
    User,
)
from ..rendering import render_comment
from ..urls import site_url
from ..visibility import public_clause
from . import AS_CONTEXT, setting
from .actors import host_of, id_of, local_target, plain_text, refresh_profile
from .addresses import actor_id
from .delivery import queue_activity
from .documents import has_actor
from .keys import local_actor

REACTIONS = {"Like": ReactionKind.LIKE, "Announce": ReactionKind.ANNOUNCE}
NOTE_TYPES = frozenset({"Note"})
HELD_REASON = "from the fediverse"
EDITED_REASON = "edited on the fediverse"


def apply(activity: dict, sender: RemoteActor) -> None:
    """Apply one verified activity (the caller commits)."""
    kind = activity.get("type")
    handler = HANDLERS.get(kind) if isinstance(kind, str) else None
    if handler is None:
        current_app.logger.info("Inbox: ignored a %r from %s", str(kind)[:40], sender.uri)
        return
    handler(activity, sender)


# Follows -------------------------------------------------------------------------------------


def follow(activity: dict, sender: RemoteActor) -> None:
    """Record the follower and answer with an Accept (delivered by a job after the commit)."""
    local = local_actor_at(id_of(activity.get("object")))
    if local is None:
        return
    follower = db.session.scalar(
        select(Follower).where(
            Follower.local_actor_id == local.id, Follower.remote_actor_id == sender.id
        )
    )
    if follower is None:
        follower = Follower(local_actor=local, remote_actor=sender)
        db.session.add(follower)
    follower.follow_id = id_of(activity)[:2000]
    db.session.flush()
    local_id = actor_id(local)
    accept = {
        "@context": AS_CONTEXT,
        "id": f"{local_id}#accepts/{uuid.uuid4().hex}",
        "type": "Accept",
        "actor": local_id,
        "object": {
            "id": id_of(activity),
            "type": "Follow",
            "actor": sender.uri,
            "object": local_id,
        },
    }
    queue_activity(local, accept, [sender])


def local_actor_at(address: str) -> LocalActor | None:
    """This site's actor at `address` (the home page, or a followable author's page)."""
    endpoint, values = local_target(address)
    if endpoint == "public.index":
        return local_actor()
    if endpoint == "public.author":
        user = db.session.scalar(select(User).where(User.slug == values["slug"]))
        if user is not None and has_actor(user):
            return local_actor(user)
    return None


# Likes and boosts ----------------------------------------------------------------------------


def react(activity: dict, sender: RemoteActor) -> None:
    post = article_at(id_of(activity.get("object")))
    if post is None:
        return
    kind = REACTIONS[activity["type"]]
    exists = db.session.scalar(
        select(Reaction.id).where(
            Reaction.post_id == post.id,
            Reaction.remote_actor_id == sender.id,
            Reaction.kind == kind,
        )
    )
    if exists is None:
        db.session.add(
            Reaction(
                post_id=post.id,
                remote_actor_id=sender.id,
                kind=kind,
                activity_id=id_of(activity)[:2000],
            )
        )
        db.session.flush()


def article_at(address: str) -> Post | None:
    """The public article an address or object id names: its federated id, or its URL."""
    if not address:
        return None
    address = urldefrag(address)[0]
    post_id = db.session.scalar(
        select(FederatedPost.post_id).where(FederatedPost.object_id == address)
    )
    query = select(Post).where(public_clause(), Post.kind == PostKind.POST)
    if post_id is not None:
        return db.session.scalar(query.where(Post.id == post_id))
    endpoint, values = local_target(address)
    if endpoint != "public.post":
        return None
    return db.session.scalar(query.where(Post.slug == values["slug"]))


# Undo ----------------------------------------------------------------------------------------


def undo(activity: dict, sender: RemoteActor) -> None:
    """Undo the sender's Follow, Like or Announce, named inline or by its id."""
    undone = activity.get("object")
    undone_id = id_of(undone)
    undone_type = undone.get("type") if isinstance(undone, dict) else None
    if isinstance(undone, dict) and id_of(undone.get("actor")) not in ("", sender.uri):
        return  # someone else's activity
    if undone_type in (None, "Follow"):
        follows = delete(Follower).where(Follower.remote_actor_id == sender.id)
        if undone_id:
            db.session.execute(follows.where(Follower.follow_id == undone_id))
        if undone_type == "Follow":
            local = local_actor_at(id_of(undone.get("object")))
            if local is not None:
                db.session.execute(follows.where(Follower.local_actor_id == local.id))
    if undone_type in (None, "Like", "Announce"):
        reactions = delete(Reaction).where(Reaction.remote_actor_id == sender.id)
        if undone_id:
            db.session.execute(reactions.where(Reaction.activity_id == undone_id))
        if undone_type in REACTIONS:
            post = article_at(id_of(undone.get("object")))
            if post is not None:
                db.session.execute(
                    reactions.where(
                        Reaction.post_id == post.id, Reaction.kind == REACTIONS[undone_type]
                    )
                )


# Replies -------------------------------------------------------------------------------------


def create(activity: dict, sender: RemoteActor) -> None:
    """A reply to an article becomes a held comment (see the module's decisions)."""
    note = activity.get("object")
    if not _own_note(note, sender):
        return
    post = article_at(id_of(note.get("inReplyTo")))
    if post is None or not setting("federation_replies_as_comments"):
        return
    if comments.closed_reason(post) is not None:
        return
    if db.session.scalar(select(Comment.id).where(Comment.remote_id == note["id"])):
        return
    text = note_markdown(note.get("content"))
    if not text:
        return
    comment = Comment(
        post_id=post.id,
        author_name=plain_text(sender.name, 100) or plain_text(sender.handle, 100),
        author_email="",
        author_url=sender.profile_url if len(sender.profile_url) <= 300 else "",
        body_md=text,
        body_html=render_comment(text),
        status=CommentStatus.PENDING,
        held_reason=HELD_REASON,
        remote_id=note["id"],
        remote_actor_id=sender.id,
    )
    settings_blocklist = str(setting("comment_blocklist") or "")
    match = comment_guard.blocklist_match(
        settings_blocklist, text=text, name=comment.author_name, email="",
        url=comment.author_url, address="",
    )  # fmt: skip
    if match:
        comment.status, comment.held_reason = CommentStatus.SPAM, f"blocklist: {match}"
    db.session.add(comment)
    db.session.flush()
    current_app.logger.info(
        "Comment %s on post %s from %s: %s", comment.id, post.id, sender.uri, comment.status.value
    )
    if comment.status == CommentStatus.PENDING:
        comments.tell_moderators(post, comment)


def update(activity: dict, sender: RemoteActor) -> None:
    """A changed note changes its comment (held again if it was shown); a changed profile
    changes the sender's name and avatar."""
    changed = activity.get("object")
    if isinstance(changed, dict) and id_of(changed) == sender.uri:
        refresh_profile(sender, changed)
        return
    if not _own_note(changed, sender):
        return
    comment = _remote_comment(changed["id"], sender)
    if comment is None:
        return
    text = note_markdown(changed.get("content"))
    if not text or text == comment.body_md:
        return
    comments.edit(comment, text)
    if comment.status == CommentStatus.APPROVED:
        comments.set_status(comment, CommentStatus.PENDING)
        comment.held_reason = EDITED_REASON


def delete_object(activity: dict, sender: RemoteActor) -> None:
    """A deleted note takes its comment; a deleted account, what it left here (see above)."""
    gone = id_of(activity.get("object"))
    if gone and gone == sender.uri:
        forget(sender)
        return
    comment = _remote_comment(gone, sender) if gone else None
    if comment is None:
        return
    shown = comment.status == CommentStatus.APPROVED
    post_id = comment.post_id
    db.session.delete(comment)
    db.session.flush()
    if shown:
        comments.recount(post_id)


def forget(sender: RemoteActor) -> None:
    db.session.execute(delete(Follower).where(Follower.remote_actor_id == sender.id))
    db.session.execute(delete(Reaction).where(Reaction.remote_actor_id == sender.id))
    held = db.session.scalars(
        select(Comment).where(
            Comment.remote_actor_id == sender.id,
            Comment.status.in_([CommentStatus.PENDING, CommentStatus.SPAM]),
        )
    )
    for comment in held:
        db.session.delete(comment)
    db.session.flush()


def _own_note(note, sender: RemoteActor) -> bool:
    """A Note with an id on the sender's server, written by the sender."""
    return (
        isinstance(note, dict)
        and note.get("type") in NOTE_TYPES
        and isinstance(note.get("id"), str)
        and 0 < len(note["id"]) <= 2000
        and host_of(note["id"]) == sender.host
        and id_of(note.get("attributedTo")) == sender.uri
    )


def _remote_comment(remote_id: str, sender: RemoteActor) -> Comment | None:
    return db.session.scalar(
        select(Comment).where(Comment.remote_id == remote_id, Comment.remote_actor_id == sender.id)
    )


# A note's HTML as comment Markdown -----------------------------------------------------------

_DROPPED_ELEMENTS = ("script", "style", "template", "iframe", "object", "embed", "noscript")


def note_markdown(content) -> str:
    """The note's HTML as Markdown for the comment pipeline, cut to a comment's length.

    Mentions of this site's actors are left out (a reply names whom it answers). Only the
    structure Markdown can say survives (paragraphs, line breaks, emphasis, code,
    quotes, lists, links); the comment renderer takes any HTML left over as text."""
    if not isinstance(content, str) or not content.strip():
        return ""
    from bs4 import BeautifulSoup
    from markdownify import markdownify

    soup = BeautifulSoup(content, "html.parser")
    for element in soup.find_all(_DROPPED_ELEMENTS):
        element.decompose()
    for hidden in soup.select("span.invisible"):  # Mastodon's shortened links' hidden parts
        hidden.decompose()
    for ellipsis in soup.select("span.ellipsis"):
        ellipsis.append("…")
    for mention in soup.select("a.mention"):  # "@blog" at the start of every reply to us
        if str(mention.get("href", "")).startswith(site_url() + "/"):
            card = mention.parent if "h-card" in (mention.parent.get("class") or []) else None
            (card or mention).decompose()
    text = markdownify(str(soup), heading_style="ATX", bullets="*", strip=["img"])
    text = re.sub(r"\n{3,}", "\n\n", text).strip()
    return text[: comments.MAX_LENGTH].strip()


HANDLERS = {
    "Follow": follow,
    "Undo": undo,
    "Like": react,
    "Announce": react,
    "Create": create,
    "Update": update,
    "Delete": delete_object,
}
