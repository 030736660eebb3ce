"""The rules for comments, shared by the reader's form, Admin → Comments and the importers.

Decisions:
- Moderation (Settings → Comments): `open` shows comments at once, `first_time` (the default)
  holds a writer's comments until one of theirs was approved, `all` holds every comment,
  `closed` takes none. Comments close by themselves `comments_close_days` after publication
  (0: never). A post can close its comments (the approved ones stay) or hide them; pages take
  comments only when turned on for that page (`open`).
- Signed-in users comment under their account; their comments are approved at once, since an
  admin made the account.
- A post's `comment_count` (approved comments) is counted again whenever a comment enters or
  leaves the approved state, so list pages show it without a query. That UPDATE moves the site
  generation (blog.invalidation), as does any change to an approved comment: readers see an
  approval on the next request, while a held comment leaves every cached page as it was.
- The text is rendered once, here, when it is saved (`rendering.render_comment`).
- Whenever a comment becomes shown, the writers it answers may hear of it by email
  (`blog.comment_replies`, double opt-in).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from flask import current_app
from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.sql.elements import ColumnElement

from . import comment_guard, comment_replies
from .extensions import db
from .models import Comment, CommentsMode, CommentStatus, Post, PostKind, Role, utcnow
from .rendering import count_links, render_comment
from .settings import get_settings

MODERATION_MODES = ("open", "first_time", "all", "closed")
MAX_LENGTH = 5000


@dataclass
class Submission:
    """What the reader's form sent, already stripped."""

    text: str
    name: str = ""
    email: str = ""
    url: str = ""
    reply_to_id: int | None = None
    token: str = ""
    honeypot: str = ""
    reply_emails: bool = False  # "Email me when someone replies"


@dataclass
class Outcome:
    comment: Comment
    shown: bool  # approved at once
    notes: list[str] = field(default_factory=list)


# Where comments are shown and taken --------------------------------------------------------------


def shown_on(post: Post) -> bool:
    """Whether the post shows a comments section at all (`shown_clause` is the same in SQL)."""
    if post.comments_mode == CommentsMode.HIDDEN:
        return False
    if post.kind == PostKind.PAGE:
        return post.comments_mode == CommentsMode.OPEN
    return True


def shown_clause() -> ColumnElement[bool]:
    """SQL: the post shows its comments, the rule of `shown_on` (the comment feeds use it)."""
    return or_(
        and_(Post.kind == PostKind.POST, Post.comments_mode != CommentsMode.HIDDEN.value),
        Post.comments_mode == CommentsMode.OPEN.value,
    )


def closed_reason(post: Post, settings: dict | None = None) -> str | None:
    """Why the post takes no new comments now, in words for readers; None when it does."""
    settings = settings or get_settings()
    if not shown_on(post) or not post.is_public:
        return "Comments are not open here."
    if settings["comment_moderation"] == "closed" or post.comments_mode == CommentsMode.CLOSED:
        return "Comments are closed."
    days = int(settings["comments_close_days"] or 0)
    if days and post.published_at and utcnow() - post.published_at > timedelta(days=days):
        return f"Comments close {days} days after publication."
    return None


# Taking a comment -----------------------------------------------------------------------------


def submit(post: Post, form: Submission, *, user, address: str) -> Outcome:
    """Check and store a reader's comment (the caller commits). Raises comment_guard.Refused."""
    settings = get_settings()
    if (reason := closed_reason(post, settings)) is not None:
        raise comment_guard.Refused(reason)
    if form.honeypot:
        raise comment_guard.Refused(
            "Your comment was not sent: a field meant to stay empty was filled in (some "
            "browsers fill forms by themselves). Empty it and send again."
        )
    token = comment_guard.read_token(comment_guard.secret_key(), form.token)
    if comment_guard.nonce_used(token.nonce):
        raise comment_guard.Refused(
            "This form was already sent once. Your comment is below: send it again from here."
        )
    name, email = _writer(form, user)
    comment_guard.check_rate(address, email)
    thread_id, reply_to = _thread_for(post, form.reply_to_id)
    html = render_comment(form.text)
    comment = Comment(
        post=post,
        thread_id=thread_id,
        reply_to=reply_to,
        user_id=getattr(user, "id", None),
        author_name=name,
        author_email=email,
        author_url=form.url,
        body_md=form.text,
        body_html=html,
        address=address,
        form_nonce=token.nonce,
    )
    comment.status, comment.held_reason = _first_status(comment, user, settings)
    db.session.add(comment)
    db.session.flush()
    if form.reply_emails:
        comment_replies.ask(comment, signed_in=user is not None and user.is_authenticated)
    if comment.status == CommentStatus.APPROVED:
        _now_shown(comment)
    current_app.logger.info(
        "Comment %s on post %s from %s: %s%s", comment.id, post.id, address,
        comment.status.value, f" ({comment.held_reason})" if comment.held_reason else "",
    )  # fmt: skip
    return Outcome(comment, comment.status == CommentStatus.APPROVED)


def _writer(form: Submission, user) -> tuple[str, str]:
    if user is not None and user.is_authenticated:
        return user.display_name, user.email
    return form.name, form.email.lower()


def _thread_for(post: Post, reply_to_id: int | None) -> tuple[int | None, Comment | None]:
    """A reply joins the thread of the comment it answers: threads are one level deep."""
    if reply_to_id is None:
        return None, None
    answered = db.session.get(Comment, reply_to_id)
    if (
        answered is None
        or answered.post_id != post.id
        or (answered.status != CommentStatus.APPROVED)
    ):
        raise comment_guard.Refused(
            "The comment you answered is no longer shown. Your reply is below: send it as a "
            "new comment."
        )
    return answered.thread_id or answered.id, answered


def _first_status(comment: Comment, user, settings: dict) -> tuple[CommentStatus, str]:
    match = comment_guard.blocklist_match(
        str(settings["comment_blocklist"] or ""), text=comment.body_md,
        name=comment.author_name, email=comment.author_email, url=comment.author_url,
        address=comment.address,
    )  # fmt: skip
    if match:
        return CommentStatus.SPAM, f"blocklist: {match}"
    if user is not None and user.is_authenticated:
        return CommentStatus.APPROVED, ""
    limit = int(settings["comment_max_links"])
    if count_links(comment.body_html) > limit:
        return CommentStatus.PENDING, f"more than {limit} links"
    mode = settings["comment_moderation"]
    if mode == "all":
        return CommentStatus.PENDING, "every comment is held"
    if mode == "first_time" and comment_guard.first_time(comment.author_email, None):
        return CommentStatus.PENDING, "first comment from this address"
    return CommentStatus.APPROVED, ""


# Moderating -----------------------------------------------------------------------------------


def set_status(comment: Comment, status: CommentStatus) -> bool:
    """Move a comment to `status` (the caller commits); recount when its visibility changes."""
    if comment.status == status:
        return False
    was_shown = comment.status == CommentStatus.APPROVED
    comment.status = status
    comment.updated_at = utcnow()
    if status == CommentStatus.APPROVED:
        comment.held_reason = ""
    db.session.flush()
    if status == CommentStatus.APPROVED:
        _now_shown(comment)
    elif was_shown:
        recount(comment.post_id)
    return True


def _now_shown(comment: Comment) -> None:
    recount(comment.post_id)
    comment_replies.tell_about(comment)


def edit(comment: Comment, text: str) -> None:
    comment.body_md = text
    comment.body_html = render_comment(text)
    comment.updated_at = utcnow()


def recount(post_id: int) -> None:
    """Store the post's number of approved comments (one UPDATE with a subquery)."""
    approved = (
        select(func.count(Comment.id))
        .where(Comment.post_id == post_id, Comment.status == CommentStatus.APPROVED)
        .scalar_subquery()
    )
    db.session.execute(
        update(Post)
        .where(Post.id == post_id)
        .values(comment_count=approved)
        .execution_options(synchronize_session=False)
    )


def reply_as(user, answered: Comment, text: str) -> Comment:
    """A moderator's reply from Admin → Comments: shown at once, in the answered thread."""
    reply = Comment(
        post_id=answered.post_id,
        thread_id=answered.thread_id or answered.id,
        reply_to=answered,
        user_id=user.id,
        author_name=user.display_name,
        author_email=user.email,
        body_md=text,
        body_html=render_comment(text),
        status=CommentStatus.APPROVED,
    )
    db.session.add(reply)
    db.session.flush()
    _now_shown(reply)
    return reply


# Reading --------------------------------------------------------------------------------------


@dataclass
class Thread:
    first: Comment
    replies: list[Comment]


def threads(post: Post) -> list[Thread]:
    """The approved comments of a post, oldest first, as threads (one query)."""
    shown = db.session.scalars(
        select(Comment)
        .where(Comment.post_id == post.id, Comment.status == CommentStatus.APPROVED)
        .order_by(Comment.created_at, Comment.id)
    ).all()
    every = {comment.id: comment for comment in shown}
    by_id = {comment.id: Thread(comment, []) for comment in shown if comment.thread_id is None}
    for comment in shown:
        # Whom a reply answers, from this list: no query per reply (None if not shown).
        comment.answered = every.get(comment.reply_to_id)
        if comment.thread_id is not None and comment.thread_id in by_id:
            by_id[comment.thread_id].replies.append(comment)
    return list(by_id.values())


def pending_count(user) -> int:
    """Comments waiting for this moderator: all of them for editors, their posts' for authors."""
    query = select(func.count(Comment.id)).where(Comment.status == CommentStatus.PENDING)
    if not user.is_editor:
        query = query.join(Post, Post.id == Comment.post_id).where(Post.author_id == user.id)
    return db.session.scalar(query) or 0


def tell_moderators(post: Post, comment: Comment) -> None:
    """Email the post's author and the editors and admins that a comment waits (one email
    each, sent after the commit), with links that open it ready to approve or trash."""
    from .notifications import notify  # it imports the mail machinery, which needs the app
    from .urls import absolute_url

    def review(action: str) -> str:
        return absolute_url("admin.review_comment", comment_id=comment.id, do=action)

    notify([post, Role.ADMIN, Role.EDITOR], f"A comment waits on “{post.title}”",
           "comment_waiting", kind="comment_waiting", post=post, comment=comment,
           approve_link=review("approve"), trash_link=review("trash"),
           queue_link=absolute_url("admin.comment_list", status="pending"))  # fmt: skip
