"""Cache invalidation that nobody has to remember: writes that readers could see move the
site generation (`blog.generation.bump`) by themselves.

Two SQLAlchemy session events watch every write made through the session:
- `before_flush` looks at the objects about to be written (new, changed, deleted) and asks
  the rule for their table whether readers could see the change;
- `do_orm_execute` watches bulk `UPDATE`/`DELETE`/`INSERT` statements run through the session,
  and counts those that touched a row of a table that feeds public pages.
Either way the bump happens inside the writer's transaction: a rolled-back change leaves the
generation alone, a committed one always moves it.

Decisions:
- A post's change reaches readers when the post is listed (`visibility.is_listed`: public now,
  or scheduled to be) before or after it, and something other than its private columns
  changed. So saving or autosaving a draft, or trashing one, leaves every cached page alone,
  while publishing, unpublishing, trashing a public post and editing a listed one do not.
- A comment reaches readers when it is approved before or after the change, and something
  other than its private columns (email, address, moderation notes) changed: a new held
  comment or spam leaves every cached page alone, an approval or an edit of a shown one does
  not. The post's comment count moves with it (a bulk UPDATE of `post`, which counts).
- Categories, settings and old-address redirects feed public pages (menus, every page's
  header, redirects): any change counts. Tags, media and users count when a row that may be
  shown changes or goes: a new tag, upload or account is on no stored page yet (only answers
  of 200 are cached, and a tag or author without public posts has none worth keeping), and a
  user's password, two-factor state and sessions are not shown to anyone.
- Bulk statements cannot say which columns of which rows they changed, so a bulk write to a
  table that feeds public pages counts whenever it touched a row (user rows: unless every
  column it sets is private). Writes on a raw connection (backup restore) bypass the session;
  they call `generation.move_past` themselves.
"""

from sqlalchemy import event, inspect
from sqlalchemy.orm import ORMExecuteState, Session

from . import generation
from .models import (
    Category,
    Comment,
    CommentStatus,
    Media,
    Post,
    Redirect,
    Setting,
    SlugRedirect,
    Tag,
    User,
)
from .visibility import is_listed

# Post columns no reader ever sees: the Markdown source (readers get the stored HTML), the
# edit counter, the import bookkeeping.
PRIVATE_POST_COLUMNS = frozenset({"body_md", "version", "import_key", "created_at"})
# User columns public pages show: the byline, the author page and box, whether the author is
# active.
PUBLIC_USER_COLUMNS = frozenset(
    {"display_name", "slug", "bio", "active", "avatar_media_id", "avatar"}
)
# Comment columns no reader sees: what moderators and rate limits use, and the source text.
PRIVATE_COMMENT_COLUMNS = frozenset(
    {
        "author_email",
        "address",
        "held_reason",
        "form_nonce",
        "updated_at",
        "body_md",
        "reply_emails",
        "replies_told_at",
    }
)
# Tables any change to which can alter a public page.
ALWAYS_PUBLIC = (Category, Setting, Redirect, SlugRedirect)
# Tables whose new rows no stored page shows until a public post or a setting points at them.
SHOWN_WHEN_USED = (Tag, Media)
# Tables whose bulk writes count when they touch a row (post_tag: a post's tags;
# post_category: its further categories).
BULK_PUBLIC_TABLES = frozenset(
    {"post", "post_tag", "post_category", "user"}
    | {model.__tablename__ for model in (*ALWAYS_PUBLIC, *SHOWN_WHEN_USED)}
)


def init_app(session_factory) -> None:
    """Watch the app's sessions (Flask-SQLAlchemy's sessionmaker); idempotent."""
    for name, listener in (("before_flush", _before_flush), ("do_orm_execute", _after_bulk)):
        if not event.contains(session_factory, name, listener):
            event.listen(session_factory, name, listener)


# The events ----------------------------------------------------------------------------------


def _before_flush(session: Session, flush_context, instances) -> None:
    changes = (("new", session.new), ("dirty", session.dirty), ("deleted", session.deleted))
    if any(reaches_readers(obj, change) for change, objects in changes for obj in objects):
        generation.bump(session)


def _after_bulk(state: ORMExecuteState):
    """Run a bulk write, then bump if it touched rows of a table that feeds public pages."""
    if not (state.is_update or state.is_delete or state.is_insert):
        return None
    table = getattr(state.statement, "table", None)
    if getattr(table, "name", None) not in BULK_PUBLIC_TABLES or _sets_only_private_user_columns(
        state.statement
    ):
        return None
    result = state.invoke_statement()
    if result.rowcount != 0:  # -1 (unknown) counts as touched
        generation.bump(state.session)
    return result


def _sets_only_private_user_columns(statement) -> bool:
    if statement.table.name != "user" or not statement.is_update:
        return False
    # SQLAlchemy has no public accessor for an UPDATE's SET clause; without one, count it.
    columns = getattr(statement, "_values", None) or {}
    names = {getattr(column, "key", column) for column in columns}
    return bool(names) and not names & PUBLIC_USER_COLUMNS


# The rules -----------------------------------------------------------------------------------


def reaches_readers(obj, change: str) -> bool:
    """Whether writing `obj` (`change`: new, dirty or deleted) can alter a public page."""
    if isinstance(obj, Post):
        return _post_reaches_readers(obj, change)
    if isinstance(obj, Comment):
        return _comment_reaches_readers(obj, change)
    if isinstance(obj, ALWAYS_PUBLIC):
        return change != "dirty" or bool(_changed_columns(obj))
    if isinstance(obj, SHOWN_WHEN_USED):
        return change == "deleted" or (change == "dirty" and bool(_changed_columns(obj)))
    if isinstance(obj, User):
        return change == "deleted" or (
            change == "dirty" and bool(_changed_columns(obj) & PUBLIC_USER_COLUMNS)
        )
    return False


def _post_reaches_readers(post: Post, change: str) -> bool:
    now_listed = is_listed(post.status, post.published_at, post.deleted_at)
    if change != "dirty":
        return now_listed
    changed = _changed_columns(post)
    if not changed - PRIVATE_POST_COLUMNS:
        return False
    before = (_old_value(post, key) for key in ("status", "published_at", "deleted_at"))
    return now_listed or is_listed(*before)


def _comment_reaches_readers(comment: Comment, change: str) -> bool:
    """Only approved comments are shown: a held one, or spam, changes no page."""
    shown_now = comment.status == CommentStatus.APPROVED
    if change != "dirty":
        return shown_now
    if not _changed_columns(comment) - PRIVATE_COMMENT_COLUMNS:
        return False
    return shown_now or _old_value(comment, "status") == CommentStatus.APPROVED


def _changed_columns(obj) -> set[str]:
    """Attributes (columns and relationships, e.g. a post's tags) whose value really changed."""
    return {attr.key for attr in inspect(obj).attrs if attr.history.has_changes()}


def _old_value(obj, key: str):
    """The value `key` had when loaded, before this flush's change."""
    history = inspect(obj).attrs[key].history
    return history.deleted[0] if history.deleted else getattr(obj, key)
