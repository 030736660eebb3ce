"""The post lifecycle: save, publish, schedule, unpublish, trash, autosave and revisions.

Every function changes the session and leaves the commit to the caller, so one request's
changes (post, revision, tags, redirects) land together or not at all.

Decisions:
- Every change to a post starts by moving its version in one conditional UPDATE
  (`... SET version = version + 1 WHERE id = :id AND version = :base`): the check and the
  increment are one statement, so of two saves from the same version exactly one matches and
  the other is refused (`PostConflict`), on SQLite and PostgreSQL alike. On PostgreSQL the
  second waits for the first's row lock and then finds the version moved; on SQLite the
  statement takes the database's write lock before it reads the row.
- That UPDATE is the first write of the change. With the sqlite3 driver's transaction handling
  (a transaction begins at the first write, reads before it run on their own), no read
  transaction is upgraded to a write after another writer committed, which SQLite refuses at
  once ("database is locked", SQLITE_BUSY_SNAPSHOT) instead of waiting. Should a read
  transaction be open all the same, the UPDATE is tried once more in a fresh transaction, so
  the answer is still a save or a conflict, not a server error.
- `base_version` is the version the editor started from. Routes must pass it (they refuse a
  request that does not say); importers and commands pass none and get the version this
  session loaded, checked the same way.
- It runs on the session's connection, not as an ORM statement: it changes only the number;
  what a reader can see changes through the ORM, after it.
- Autosaves do not move the version but take the same row lock with the same check, so an
  autosave behind a save is refused. Each autosave replaces the user's previous one with a new
  row, and names the one it replaces: two windows of one user cannot silently overwrite each
  other's autosave (`AutosaveConflict`).
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy import and_, delete, func, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm.attributes import set_committed_value

from . import rendering
from .extensions import db
from .models import (
    Category,
    CommentsMode,
    Media,
    NewsletterChoice,
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
MAX_SLUG = Post.__table__.c.slug.type.length  # the column's length (200): one limit, not two
MAX_BODY = 1_000_000  # about 150,000 words; larger is a paste accident, not a post
MAX_META_TITLE = 300
MAX_META_DESCRIPTION = 500
MAX_CANONICAL_URL = 2000


class PostError(ValueError):
    """A rule was broken; the message is for the author, next to the field named."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


class PostConflict(Exception):
    """The post was saved elsewhere since the editor loaded it (or it is gone: version None)."""

    def __init__(self, current_version: int | None):
        super().__init__(current_version)
        self.current_version = current_version


class AutosaveConflict(Exception):
    """The same user autosaved the post from another window since this one last did."""


@dataclass
class PostInput:
    """What the editor sends, already stripped of form machinery."""

    title: str
    body_md: str = ""
    slug: str = ""
    excerpt: str = ""
    kind: PostKind = PostKind.POST
    category_id: int | None = None  # the primary category: byline, breadcrumb, address's trail
    # Further categories (blog.category_tree); None keeps what is stored.
    secondary_category_ids: list[int] | None = None
    tags: str = ""
    featured_media_id: int | None = None
    featured_alt: str = ""
    featured_caption: str = ""
    pinned: bool | None = None  # None keeps what is stored (those who may not pin send none)
    comments_mode: str | None = None  # a CommentsMode value; None keeps what is stored
    newsletter: str | None = None  # a NewsletterChoice value; None keeps what is stored
    meta_title: str = ""
    meta_description: str = ""
    social_media_id: int | None = None
    canonical_url: str = ""


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


def autosave_of(post: Post, user: User) -> Revision | None:
    """The user's autosave of this post, however old (there is at most one)."""
    return db.session.scalar(
        select(Revision).where(
            Revision.post_id == post.id,
            Revision.kind == RevisionKind.AUTOSAVE,
            Revision.saved_by_id == user.id,
        )
    )


def latest_autosave(post: Post, user: User) -> Revision | None:
    """The user's autosave of this post, if it is newer than the last real save."""
    revision = autosave_of(post, user)
    if revision and revision.created_at >= post.updated_at:
        return revision
    return None


# Versions ------------------------------------------------------------------------------------


def claim_version(post: Post, base_version: int | None = None) -> None:
    """Move the post from `base_version` (default: as loaded) to the next version, or raise
    PostConflict. Call it before any other change to the post: see the module's decisions."""
    base = post.version if base_version is None else base_version
    _conditional_version_update(post, base, Post.__table__.c.version + 1)
    set_committed_value(post, "version", base + 1)


def hold_version(post: Post, base_version: int | None = None) -> None:
    """Lock the post for this transaction if it is still at `base_version`, or raise
    PostConflict, without moving the version (autosaves)."""
    base = post.version if base_version is None else base_version
    _conditional_version_update(post, base, Post.__table__.c.version)


def _conditional_version_update(post: Post, base: int, new_version) -> None:
    table = Post.__table__
    post_id = post.id
    statement = (
        update(table)
        .where(table.c.id == post_id, table.c.version == base)
        .values(version=new_version)
    )
    try:
        matched = db.session.connection().execute(statement).rowcount
    except OperationalError as error:
        if not _stale_sqlite_snapshot(error):
            raise
        # A read transaction was open and another writer has committed since: SQLite will not
        # let it write. It has written nothing (a writer would hold the lock), so start again.
        db.session.rollback()
        matched = db.session.connection().execute(statement).rowcount
    if matched != 1:
        current = db.session.connection().execute(
            select(table.c.version).where(table.c.id == post_id)
        )
        raise PostConflict(current.scalar())


SQLITE_BUSY_SNAPSHOT = 517


def _stale_sqlite_snapshot(error: OperationalError) -> bool:
    return getattr(error.orig, "sqlite_errorcode", None) == SQLITE_BUSY_SNAPSHOT


# Saving --------------------------------------------------------------------------------------


def save_post(
    post: Post | None,
    data: PostInput,
    editor: User,
    action: str = Action.SAVE,
    publish_at: datetime | None = None,
    base_version: int | None = None,
) -> Post:
    """Validate, render and store a post with a revision; refuse a save based on an old version.

    The input is checked first, so a refused save has claimed nothing.
    """
    _check_input(data)
    tag_names = _parse_tags(data.tags)
    if post is None:
        post = Post(author_id=editor.id, version=1, status=PostStatus.DRAFT)
        db.session.add(post)
    else:
        claim_version(post, base_version)
    with db.session.no_autoflush:  # the half-filled post must not be flushed by a look-up
        _apply_fields(post, data, tag_names)
        _apply_action(post, action, publish_at)
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
    _further_categories(data)
    if data.featured_media_id is not None and db.session.get(Media, data.featured_media_id) is None:
        raise PostError("That image no longer exists.", "featured_media_id")
    if data.social_media_id is not None and db.session.get(Media, data.social_media_id) is None:
        raise PostError("That image no longer exists.", "social_media_id")
    _check_search_fields(data)


def _check_search_fields(data: PostInput) -> None:
    if len(" ".join(data.meta_title.split())) > MAX_META_TITLE:
        raise PostError(f"At most {MAX_META_TITLE} characters.", "meta_title")
    if len(" ".join(data.meta_description.split())) > MAX_META_DESCRIPTION:
        raise PostError(f"At most {MAX_META_DESCRIPTION} characters.", "meta_description")
    if not is_canonical_url(data.canonical_url.strip()):
        raise PostError(
            "Give a full address starting with http:// or https://, or leave it empty.",
            "canonical_url",
        )


def is_canonical_url(url: str) -> bool:
    """Empty, or an absolute http(s) address with a host and nothing a tag could trip on."""
    if not url:
        return True
    if len(url) > MAX_CANONICAL_URL or any(c.isspace() or ord(c) < 32 for c in url):
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


MAX_SECONDARY_CATEGORIES = 20


def _further_categories(data: PostInput) -> list[Category]:
    """The further categories asked for, once each and without the primary one."""
    if data.secondary_category_ids is None:
        return []
    wanted = [i for i in dict.fromkeys(data.secondary_category_ids) if i != data.category_id]
    if len(wanted) > MAX_SECONDARY_CATEGORIES:
        raise PostError(
            f"A post can have at most {MAX_SECONDARY_CATEGORIES} further categories.",
            "secondary_category_ids",
        )
    if not wanted:
        return []
    found = {c.id: c for c in db.session.scalars(select(Category).where(Category.id.in_(wanted)))}
    if len(found) != len(wanted):
        raise PostError("One of those categories no longer exists.", "secondary_category_ids")
    return [found[i] for i in wanted]


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
    if data.secondary_category_ids is not None:
        post.secondary_categories = _further_categories(data)
    post.tags = get_or_create_tags(tag_names)
    post.featured_media_id = data.featured_media_id
    post.featured_alt = data.featured_alt.strip()
    post.featured_caption = data.featured_caption.strip()
    if data.pinned is not None:
        post.pinned = data.pinned
    if data.comments_mode is not None:
        post.comments_mode = CommentsMode(data.comments_mode).value
    if data.newsletter is not None:
        post.newsletter = NewsletterChoice(data.newsletter).value
    post.meta_title = " ".join(data.meta_title.split())
    post.meta_description = " ".join(data.meta_description.split())
    post.social_media_id = data.social_media_id
    post.canonical_url = data.canonical_url.strip()


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


def change_status(post: Post, editor: User, action: str, base_version: int | None = None) -> Post:
    """Publish or unpublish without touching the text (bulk actions, the unpublish button)."""
    claim_version(post, base_version)
    _apply_action(post, action, None)
    post.updated_at = utcnow()
    _keep_revision(post, editor, RevisionKind.SAVE)
    return post


# Autosave ------------------------------------------------------------------------------------


def autosave(
    post: Post | None,
    data: PostInput,
    editor: User,
    base_version: int | None = None,
    replaces: int | None = None,
) -> tuple[Post, Revision]:
    """Keep the editor's text on the server without touching the saved post.

    A brand-new post becomes a draft on its first autosave, so the text has a home at once.
    For an existing post, PostConflict if it was saved past `base_version`; AutosaveConflict
    if `replaces` (the id of the autosave this window last wrote or loaded, 0 for none) is not
    the user's current autosave. `replaces=None` replaces whatever is there (scripts).
    """
    if post is None:
        post = save_post(None, _autosave_input(data), editor)
    else:
        hold_version(post, base_version)  # from here on, saves of this post wait for us
    previous = autosave_of(post, editor)
    if replaces is not None and (previous.id if previous else 0) != replaces:
        raise AutosaveConflict()
    if previous is not None:
        db.session.delete(previous)
    revision = Revision(
        post_id=post.id,
        kind=RevisionKind.AUTOSAVE,
        title=data.title[:MAX_TITLE],
        body_md=data.body_md[:MAX_BODY],
        excerpt=data.excerpt,
        post_version=post.version,
        saved_by_id=editor.id,
        created_at=utcnow(),
    )
    db.session.add(revision)
    db.session.flush()  # its id is what the window names next time
    return post, revision


def _autosave_input(data: PostInput) -> PostInput:
    title = " ".join(data.title.split())[:MAX_TITLE] or "Untitled draft"
    return PostInput(title=title, body_md=data.body_md[:MAX_BODY], excerpt=data.excerpt)


# Trash and revisions -------------------------------------------------------------------------


def trash(post: Post, base_version: int | None = None) -> None:
    claim_version(post, base_version)
    post.deleted_at = post.updated_at = utcnow()


def restore_from_trash(post: Post, base_version: int | None = None) -> None:
    claim_version(post, base_version)
    post.deleted_at = None
    post.updated_at = utcnow()


def purge_expired_trash() -> int:
    """Delete for good what has been in the trash for more than TRASH_DAYS."""
    cutoff = utcnow() - timedelta(days=TRASH_DAYS)
    expired = db.session.scalars(select(Post).where(Post.deleted_at < cutoff)).all()
    for post in expired:
        db.session.delete(post)
    return len(expired)


def restore_revision(
    post: Post, revision: Revision, editor: User, base_version: int | None = None
) -> Post:
    """Bring back an earlier text as a new save (history is never rewritten)."""
    claim_version(post, base_version)
    post.title = revision.title
    post.body_md = revision.body_md
    post.excerpt = revision.excerpt
    render_into(post)
    post.updated_at = utcnow()
    _keep_revision(post, editor, RevisionKind.RESTORE)
    _drop_autosaves(post)
    return post


def library_images(body_md: str) -> dict[str, rendering.LibraryImage]:
    """What the Media library knows of the uploaded images the text shows: alt text, size
    and resized copies (one query)."""
    names = rendering.media_filenames(body_md)
    if not names:
        return {}
    rows = db.session.scalars(select(Media).where(Media.filename.in_(names)))
    return {
        media.filename: rendering.LibraryImage(
            alt=media.alt_text or "",
            width=media.width or 0,
            height=media.height or 0,
            sizes=tuple(
                [(v["width"], v["filename"]) for v in media.variants or []]
                + [(media.width or 0, media.filename)]
            ),
        )
        for media in rows
    }


def render_into(post: Post) -> bool:
    """Render the post's Markdown into its stored HTML and summary; True if the HTML changed.

    This is the only place a post is rendered: at save time, never when a page is read.
    """
    rendered = rendering.render_post(post.body_md, post.excerpt, library_images(post.body_md))
    changed = rendered.html != post.body_html or rendered.summary != post.summary
    post.body_html, post.summary = rendered.html, rendered.summary
    post.body_text = rendering.plain_text(rendered.html)
    post.word_count, post.reading_minutes = rendered.word_count, rendered.reading_minutes
    post.render_version = rendered.render_version
    return changed
