"""The post lifecycle: save, publish, schedule, unpublish, trash, autosave and revisions.

Every function changes the session and leaves the commit to the caller, so one request's
changes (post, revision, tags, redirects) land together or not at all.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, func, select, update

from . import rendering
from .extensions import db
from .models import (
    Category,
    Media,
    Post,
    PostKind,
    PostStatus,
    Revision,
    RevisionKind,
    SlugRedirect,
    User,
    utcnow,
)
from .slugs import refusal as slug_refusal
from .slugs import unique_slug
from .taxonomy import TaxonomyError, get_or_create_tags, parse_tag_names
from .text import slugify

TRASH_DAYS = 30
MAX_TITLE = 300
MAX_SLUG = 120
MAX_BODY = 1_000_000  # about 150,000 words; larger is a paste accident, not a post


class PostError(ValueError):
    """A rule was broken; the message is for the author, next to the field named."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


class PostConflict(Exception):
    """The post was saved elsewhere since the editor loaded it."""

    def __init__(self, current_version: int):
        super().__init__(current_version)
        self.current_version = current_version


@dataclass
class PostInput:
    """What the editor sends, already stripped of form machinery."""

    title: str
    body_md: str = ""
    slug: str = ""
    excerpt: str = ""
    kind: PostKind = PostKind.POST
    category_id: int | None = None
    tags: str = ""
    featured_media_id: int | None = None
    featured_alt: str = ""
    featured_caption: str = ""


class Action:
    SAVE = "save"  # keep the current status (a draft stays a draft, a published post stays live)
    PUBLISH = "publish"
    SCHEDULE = "schedule"
    UNPUBLISH = "unpublish"


# Reading -------------------------------------------------------------------------------------


def promote_due_posts() -> int:
    """Mark scheduled posts whose time has come as published (the caller commits).

    Readers already see them (`blog.visibility`); this keeps the stored status honest for
    the admin lists and counts.
    """
    due = and_(
        Post.kind.in_(tuple(PostKind)),  # spelled out, so the listing index applies
        Post.status == PostStatus.SCHEDULED,
        Post.published_at <= utcnow(),
    )
    if db.session.scalar(select(Post.id).where(due).limit(1)) is None:
        return 0  # the common case: a read, no write lock
    result = db.session.execute(
        update(Post)
        .where(due)
        .values(status=PostStatus.PUBLISHED)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


def latest_edit() -> datetime | None:
    """When a post was last saved, moved or trashed, anywhere: editors' lists depend on it."""
    return db.session.scalar(select(func.max(Post.updated_at)))


def latest_autosave(post: Post, user: User) -> Revision | None:
    """The user's autosave of this post, if it is newer than the last real save."""
    revision = db.session.scalar(
        select(Revision).where(
            Revision.post_id == post.id,
            Revision.kind == RevisionKind.AUTOSAVE,
            Revision.saved_by_id == user.id,
        )
    )
    if revision and revision.created_at >= post.updated_at:
        return revision
    return None


# Saving --------------------------------------------------------------------------------------


def save_post(
    post: Post | None,
    data: PostInput,
    editor: User,
    action: str = Action.SAVE,
    publish_at: datetime | None = None,
    base_version: int | None = None,
) -> Post:
    """Validate, render and store a post with a revision; refuse a save based on an old version."""
    if post is not None and base_version is not None and base_version != post.version:
        raise PostConflict(post.version)
    _check_input(data)
    tag_names = _parse_tags(data.tags)
    is_new = post is None
    if is_new:
        post = Post(author_id=editor.id, version=0, status=PostStatus.DRAFT)
        db.session.add(post)
    with db.session.no_autoflush:  # the half-filled post must not be flushed by a look-up
        _apply_fields(post, data, tag_names)
        _apply_action(post, action, publish_at)
    post.version = (post.version or 0) + 1
    post.updated_at = utcnow()
    db.session.flush()
    _keep_revision(post, editor, RevisionKind.SAVE)
    _drop_autosaves(post)
    return post


def _check_input(data: PostInput) -> None:
    title = " ".join(data.title.split())
    if not title:
        raise PostError("A title is needed.", "title")
    if len(title) > MAX_TITLE:
        raise PostError(f"The title is too long (at most {MAX_TITLE} characters).", "title")
    if len(data.body_md) > MAX_BODY:
        raise PostError("The text is too long for one post.", "body")
    if len(data.slug) > MAX_SLUG:
        raise PostError(f"The slug is too long (at most {MAX_SLUG} characters).", "slug")
    if data.category_id is not None and db.session.get(Category, data.category_id) is None:
        raise PostError("That category no longer exists.", "category_id")
    if data.featured_media_id is not None and db.session.get(Media, data.featured_media_id) is None:
        raise PostError("That image no longer exists.", "featured_media_id")


def _parse_tags(raw: str) -> list[str]:
    try:
        return parse_tag_names(raw)
    except TaxonomyError as error:
        raise PostError(str(error), "tags") from None


def _apply_fields(post: Post, data: PostInput, tag_names: list[str]) -> None:
    post.title = " ".join(data.title.split())
    post.kind = data.kind
    _apply_slug(post, data.slug)
    post.body_md = data.body_md
    post.excerpt = data.excerpt.strip()
    render_into(post)
    post.category_id = data.category_id
    post.tags = get_or_create_tags(tag_names)
    post.featured_media_id = data.featured_media_id
    post.featured_alt = data.featured_alt.strip()
    post.featured_caption = data.featured_caption.strip()


def _apply_slug(post: Post, requested: str) -> None:
    """Keep the slug unique; when a public post's slug changes, remember the old one."""
    if requested.strip():
        slug = slugify(requested, max_length=MAX_SLUG)
        if _slug_taken(slug, post.id):
            raise PostError(f"Another post already uses the address “{slug}”.", "slug")
        if shadowed := slug_refusal("post", slug):  # a route owns it (slugs.py)
            raise PostError(shadowed, "slug")
    else:
        slug = post.slug or unique_slug(Post, post.title, max_length=MAX_SLUG, fallback="post")
    old = post.slug
    if old and old != slug and post.published_at is not None:
        db.session.add(SlugRedirect(old_slug=old, post_id=post.id))
    if old != slug:
        db.session.execute(delete(SlugRedirect).where(SlugRedirect.old_slug == slug))
    post.slug = slug


def _slug_taken(slug: str, post_id: int | None) -> bool:
    query = select(Post.id).where(Post.slug == slug)
    if post_id is not None:
        query = query.where(Post.id != post_id)
    redirect_owner = db.session.scalar(
        select(SlugRedirect.post_id).where(SlugRedirect.old_slug == slug)
    )
    taken_by_redirect = redirect_owner is not None and redirect_owner != post_id
    return db.session.scalar(query.limit(1)) is not None or taken_by_redirect


def _apply_action(post: Post, action: str, publish_at: datetime | None) -> None:
    now = utcnow()
    if action == Action.PUBLISH:
        if post.status != PostStatus.PUBLISHED or post.published_at is None:
            post.published_at = now
        post.status = PostStatus.PUBLISHED
    elif action == Action.SCHEDULE:
        if publish_at is None or publish_at <= now:
            raise PostError("Choose a time in the future to schedule the post.", "publish_at")
        post.status, post.published_at = PostStatus.SCHEDULED, publish_at
    elif action == Action.UNPUBLISH:
        post.status, post.published_at = PostStatus.DRAFT, None
    elif action != Action.SAVE:
        raise PostError(f"Unknown action {action!r}.")


def _keep_revision(post: Post, editor: User, kind: RevisionKind) -> Revision:
    revision = Revision(
        post_id=post.id,
        kind=kind,
        title=post.title,
        body_md=post.body_md,
        excerpt=post.excerpt,
        post_version=post.version,
        saved_by_id=editor.id,
    )
    db.session.add(revision)
    return revision


def _drop_autosaves(post: Post) -> None:
    """A real save supersedes every pending autosave of the post."""
    db.session.execute(
        delete(Revision).where(Revision.post_id == post.id, Revision.kind == RevisionKind.AUTOSAVE)
    )


def change_status(post: Post, editor: User, action: str) -> Post:
    """Publish or unpublish without touching the text (bulk actions, the unpublish button)."""
    _apply_action(post, action, None)
    post.version += 1
    post.updated_at = utcnow()
    _keep_revision(post, editor, RevisionKind.SAVE)
    return post


# Autosave ------------------------------------------------------------------------------------


def autosave(post: Post | None, data: PostInput, editor: User) -> tuple[Post, Revision]:
    """Keep the editor's text on the server without touching the saved post.

    A brand-new post becomes a draft on its first autosave, so the text has a home at once.
    """
    if post is None:
        post = save_post(None, _autosave_input(data), editor)
    revision = db.session.scalar(
        select(Revision).where(
            Revision.post_id == post.id,
            Revision.kind == RevisionKind.AUTOSAVE,
            Revision.saved_by_id == editor.id,
        )
    )
    if revision is None:
        revision = _keep_revision(post, editor, RevisionKind.AUTOSAVE)
    revision.title = data.title[:MAX_TITLE]
    revision.body_md = data.body_md[:MAX_BODY]
    revision.excerpt = data.excerpt
    revision.post_version = post.version
    revision.created_at = utcnow()
    return post, revision


def _autosave_input(data: PostInput) -> PostInput:
    title = " ".join(data.title.split())[:MAX_TITLE] or "Untitled draft"
    return PostInput(title=title, body_md=data.body_md[:MAX_BODY], excerpt=data.excerpt)


# Trash and revisions -------------------------------------------------------------------------


def trash(post: Post) -> None:
    post.deleted_at = post.updated_at = utcnow()
    post.version += 1


def restore_from_trash(post: Post) -> None:
    post.deleted_at = None
    post.updated_at = utcnow()
    post.version += 1


def purge_expired_trash() -> int:
    """Delete for good what has been in the trash for more than TRASH_DAYS."""
    cutoff = utcnow() - timedelta(days=TRASH_DAYS)
    expired = db.session.scalars(select(Post).where(Post.deleted_at < cutoff)).all()
    for post in expired:
        db.session.delete(post)
    return len(expired)


def restore_revision(post: Post, revision: Revision, editor: User) -> Post:
    """Bring back an earlier text as a new save (history is never rewritten)."""
    post.title = revision.title
    post.body_md = revision.body_md
    post.excerpt = revision.excerpt
    render_into(post)
    post.version += 1
    post.updated_at = utcnow()
    _keep_revision(post, editor, RevisionKind.RESTORE)
    _drop_autosaves(post)
    return post


def render_into(post: Post) -> bool:
    """Render the post's Markdown into its stored HTML and summary; True if the HTML changed.

    This is the only place a post is rendered: at save time, never when a page is read.
    """
    rendered = rendering.render_post(post.body_md, post.excerpt)
    changed = rendered.html != post.body_html or rendered.summary != post.summary
    post.body_html, post.summary = rendered.html, rendered.summary
    post.body_text = rendering.plain_text(rendered.html)
    post.word_count, post.reading_minutes = rendered.word_count, rendered.reading_minutes
    post.render_version = rendered.render_version
    return changed
