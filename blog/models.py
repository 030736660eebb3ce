"""The data model for the whole product, in SQLAlchemy 2 typed style.

Times are stored as naive UTC datetimes on both SQLite and PostgreSQL; `utcnow()` makes them.
"""

import enum
import hashlib
import hmac
from datetime import UTC, datetime

from flask import current_app
from flask_login import UserMixin
from sqlalchemy import (
    JSON,
    Column,
    ForeignKey,
    Index,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    func,
    select,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from .extensions import db


def utcnow() -> datetime:
    """The current time as naive UTC, the form every timestamp column stores."""
    return datetime.now(UTC).replace(tzinfo=None)


class Role(enum.StrEnum):
    """What a user may do: admins run the site, editors handle all posts, authors their own."""

    ADMIN = "admin"
    EDITOR = "editor"
    AUTHOR = "author"


class PostStatus(enum.StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    PUBLISHED = "published"


class PostKind(enum.StrEnum):
    POST = "post"
    PAGE = "page"


class JobStatus(enum.StrEnum):
    """Where a background job is: waiting (queued, or retrying after a temporary failure),
    running on a worker, or ended (done, or failed with its reason kept)."""

    QUEUED = "queued"
    RUNNING = "running"
    RETRYING = "retrying"
    DONE = "done"
    FAILED = "failed"


class EmailStatus(enum.StrEnum):
    """An outgoing email: waiting, handed to the SMTP server (maybe), accepted, or given up."""

    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


class CommentStatus(enum.StrEnum):
    """A comment waits for a moderator (pending), is shown (approved), or is put aside."""

    PENDING = "pending"
    APPROVED = "approved"
    SPAM = "spam"
    TRASH = "trash"


class ReplyEmails(enum.StrEnum):
    """Whether a commenter gets an email when someone answers them (double opt-in)."""

    NONE = "none"  # not asked for
    ASKED = "asked"  # asked for on the form; the confirmation link was sent
    ON = "on"  # confirmed
    OFF = "off"  # stopped from an email's link


class NewsletterChoice(enum.StrEnum):
    """What a post sends to the newsletter's subscribers when it is published."""

    OFF = "off"
    FULL = "full"  # the whole text
    EXCERPT = "excerpt"  # the excerpt and a link


class SubscriberStatus(enum.StrEnum):
    UNCONFIRMED = "unconfirmed"  # the confirmation link was sent, not yet opened
    CONFIRMED = "confirmed"  # gets every newsletter
    UNSUBSCRIBED = "unsubscribed"
    BOUNCING = "bouncing"  # the server refused 3 newsletters in a row: not sent to


class SendStatus(enum.StrEnum):
    SENDING = "sending"
    PAUSED = "paused"
    CANCELLED = "cancelled"
    DONE = "done"


class DeliveryStatus(enum.StrEnum):
    QUEUED = "queued"
    SENDING = "sending"  # claimed by a worker, in its SMTP transaction: not delivered yet
    HANDED_OVER = "handed_over"  # the message's last line went out; the server's answer is due
    SENT = "sent"
    FAILED = "failed"  # given up after temporary failures
    BOUNCED = "bounced"  # refused for good (5xx) for this address
    CANCELLED = "cancelled"


class DeliveryState(enum.StrEnum):
    """An activity for one remote inbox: waiting (or retrying), accepted, or given up."""

    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class ReactionKind(enum.StrEnum):
    LIKE = "like"
    ANNOUNCE = "announce"


class CommentsMode(enum.StrEnum):
    """A post's own say over its comments; `default` follows the site's settings."""

    DEFAULT = "default"  # posts: as Settings say; pages: no comments
    OPEN = "open"  # a page that takes comments
    CLOSED = "closed"  # the approved ones stay, no new ones
    HIDDEN = "hidden"  # none shown, none taken


class RevisionKind(enum.StrEnum):
    SAVE = "save"
    AUTOSAVE = "autosave"
    RESTORE = "restore"


def _enum_column(enum_cls: type[enum.StrEnum], length: int = 16):
    """Enums are stored as plain strings with a check constraint, portable across databases."""
    return db.Enum(
        enum_cls,
        native_enum=False,
        length=length,
        values_callable=lambda members: [member.value for member in members],
        validate_strings=True,
        create_constraint=True,
        name=enum_cls.__name__.lower(),
    )


class User(UserMixin, db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    display_name: Mapped[str] = mapped_column(String(120))
    slug: Mapped[str] = mapped_column(String(120), unique=True)
    bio: Mapped[str] = mapped_column(Text, default="")
    role: Mapped[Role] = mapped_column(_enum_column(Role), default=Role.AUTHOR)
    active: Mapped[bool] = mapped_column(default=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Two-factor authentication (TOTP): the secret is set during enrolment and only counts
    # once the user has confirmed a code from their app.
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    totp_enabled: Mapped[bool] = mapped_column(default=False)
    totp_last_step: Mapped[int | None]  # the last accepted code's time step: no replays
    # The photo in the author box, uploaded in Profile. `use_alter`: media rows point back at
    # their uploader, so the two tables refer to each other.
    avatar_media_id: Mapped[int | None] = mapped_column(
        ForeignKey("media.id", ondelete="SET NULL", use_alter=True), index=True
    )
    # The notification kinds (blog.notifications.KINDS) this user switched off in Profile: a
    # list, so a new kind needs no migration and is on for everyone until they say otherwise.
    notifications_off: Mapped[list] = mapped_column(JSON, default=list)

    posts: Mapped[list["Post"]] = relationship(
        back_populates="author", foreign_keys="Post.author_id"
    )
    sessions: Mapped[list["UserSession"]] = relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True
    )
    avatar: Mapped["Media | None"] = relationship(foreign_keys=[avatar_media_id])

    # The token of the sign-in this object was loaded through (set by blog.user_sessions);
    # a plain attribute, not a column, so it is not annotated.
    signed_in_token = None

    def __repr__(self) -> str:
        return f"<User {self.email} ({self.role})>"

    # Flask-Login ---------------------------------------------------------------------------
    @property
    def is_active(self) -> bool:
        return self.active

    # UserMixin compares users by get_id(), which is now one sign-in's token: compare objects.
    __eq__ = object.__eq__
    __ne__ = object.__ne__
    __hash__ = object.__hash__

    def get_id(self) -> str:
        """The sign-in's token, not the user's id: cookies name a `UserSession` that can end."""
        if not self.signed_in_token:
            raise RuntimeError("sign in through blog.user_sessions.sign_in, not login_user")
        return self.signed_in_token

    # Passwords -----------------------------------------------------------------------------
    def set_password(self, password: str) -> None:
        """Hash with scrypt (ending the other sessions is `accounts.change_password`'s job)."""
        method = current_app.config.get("PASSWORD_HASH_METHOD", "scrypt")
        self.password_hash = generate_password_hash(password, method=method)

    def check_password(self, password: str) -> bool:
        return bool(self.password_hash) and check_password_hash(self.password_hash, password)

    def password_stamp(self) -> str:
        """Changes with every new password; keyed, so a signed (readable) cookie can hold it."""
        key = str(current_app.config["SECRET_KEY"]).encode()
        digest = hmac.new(key, (self.password_hash or "").encode(), hashlib.sha256)
        return digest.hexdigest()[:32]

    # Permissions ---------------------------------------------------------------------------
    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    @property
    def is_editor(self) -> bool:
        """Editors and admins may handle every post."""
        return self.role in (Role.ADMIN, Role.EDITOR)

    def can_edit(self, post: "Post") -> bool:
        return self.is_editor or post.author_id == self.id


post_tag = Table(
    "post_tag",
    db.metadata,
    Column("post_id", ForeignKey("post.id", ondelete="CASCADE"), primary_key=True),
    Column("tag_id", ForeignKey("tag.id", ondelete="CASCADE"), primary_key=True, index=True),
)


# A post's further categories, beside its primary one (`Post.category_id`); see blog.taxonomy.
post_category = Table(
    "post_category",
    db.metadata,
    Column("post_id", ForeignKey("post.id", ondelete="CASCADE"), primary_key=True),
    Column(
        "category_id", ForeignKey("category.id", ondelete="CASCADE"), primary_key=True, index=True
    ),
)


class Category(db.Model):
    """A section of the site; categories form a tree (`parent_id`), see blog.category_tree."""

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    slug: Mapped[str] = mapped_column(String(120), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    position: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The service moves children to the grandparent before a delete; SET NULL is the backstop.
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("category.id", ondelete="SET NULL"), index=True
    )

    posts: Mapped[list["Post"]] = relationship(back_populates="category")


class Tag(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    slug: Mapped[str] = mapped_column(String(120), unique=True)

    posts: Mapped[list["Post"]] = relationship(secondary=post_tag, back_populates="tags")


class Media(db.Model):
    """An uploaded image: the re-encoded original plus resized variants, in the upload folder."""

    id: Mapped[int] = mapped_column(primary_key=True)
    filename: Mapped[str] = mapped_column(String(80), unique=True)
    original_name: Mapped[str] = mapped_column(String(255), default="")
    content_type: Mapped[str] = mapped_column(String(40))
    width: Mapped[int]
    height: Mapped[int]
    size_bytes: Mapped[int]
    # [{"width": 480, "height": 320, "filename": "...", "size_bytes": 1234}, ...]
    variants: Mapped[list] = mapped_column(JSON, default=list)
    alt_text: Mapped[str] = mapped_column(Text, default="")
    uploader_id: Mapped[int | None] = mapped_column(
        ForeignKey("user.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)

    import_key: Mapped[str | None] = mapped_column(String(500), unique=True)

    uploader: Mapped[User | None] = relationship(foreign_keys=[uploader_id])


class Post(db.Model):
    """A post or a static page. Markdown is rendered to `body_html` when saved, never when read."""

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[PostKind] = mapped_column(_enum_column(PostKind), default=PostKind.POST)
    title: Mapped[str] = mapped_column(String(300))
    slug: Mapped[str] = mapped_column(String(200), unique=True)
    body_md: Mapped[str] = mapped_column(Text, default="")
    body_html: Mapped[str] = mapped_column(Text, default="")
    body_text: Mapped[str] = mapped_column(Text, default="")  # plain text, for search
    excerpt: Mapped[str] = mapped_column(Text, default="")  # as the author wrote it, may be empty
    summary: Mapped[str] = mapped_column(Text, default="")  # the excerpt, or derived from the body
    word_count: Mapped[int] = mapped_column(default=0)
    reading_minutes: Mapped[int] = mapped_column(default=0)
    render_version: Mapped[int] = mapped_column(default=0)
    status: Mapped[PostStatus] = mapped_column(_enum_column(PostStatus), default=PostStatus.DRAFT)
    published_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    deleted_at: Mapped[datetime | None]  # set while the post is in the trash
    # Bumped on every save; a save based on an older version is refused, not merged.
    version: Mapped[int] = mapped_column(default=1)

    author_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="RESTRICT"))
    category_id: Mapped[int | None] = mapped_column(ForeignKey("category.id", ondelete="SET NULL"))
    featured_media_id: Mapped[int | None] = mapped_column(
        ForeignKey("media.id", ondelete="SET NULL"), index=True
    )
    featured_alt: Mapped[str] = mapped_column(Text, default="")
    featured_caption: Mapped[str] = mapped_column(Text, default="")
    # Shown above the other posts on the home page while public (editors choose).
    pinned: Mapped[bool] = mapped_column(default=False, server_default=false())
    # Search and social fields; empty means "derive it" (title, summary, featured image, permalink).
    meta_title: Mapped[str] = mapped_column(String(300), default="", server_default="")
    meta_description: Mapped[str] = mapped_column(Text, default="", server_default="")
    social_media_id: Mapped[int | None] = mapped_column(
        ForeignKey("media.id", ondelete="SET NULL"), index=True
    )
    canonical_url: Mapped[str] = mapped_column(String(2000), default="", server_default="")
    # Where an imported post came from (a WordPress GUID, say): re-imports update, not duplicate.
    import_key: Mapped[str | None] = mapped_column(String(500), unique=True)
    # A CommentsMode value; a plain string (no CHECK), so adding it left the table in place.
    comments_mode: Mapped[str] = mapped_column(
        String(16), default=CommentsMode.DEFAULT.value, server_default="default"
    )
    # Approved comments, counted when one changes (blog.comments), so lists show it for free.
    comment_count: Mapped[int] = mapped_column(default=0, server_default="0")
    # A NewsletterChoice value: what subscribers get when the post is published (plain string).
    newsletter: Mapped[str] = mapped_column(String(16), default="off", server_default="off")

    author: Mapped[User] = relationship(back_populates="posts", foreign_keys=[author_id])
    category: Mapped[Category | None] = relationship(back_populates="posts")
    featured_media: Mapped[Media | None] = relationship(foreign_keys=[featured_media_id])
    social_media: Mapped[Media | None] = relationship(foreign_keys=[social_media_id])
    tags: Mapped[list[Tag]] = relationship(
        secondary=post_tag, back_populates="posts", order_by=Tag.name
    )
    # Further categories; never the primary one (blog.posts keeps them apart).
    secondary_categories: Mapped[list[Category]] = relationship(
        secondary=post_category, order_by=Category.name
    )
    revisions: Mapped[list["Revision"]] = relationship(
        back_populates="post", cascade="all, delete-orphan", order_by="Revision.id.desc()"
    )

    __table_args__ = (
        # One index per kind of list page, ordered the way the page reads them.
        Index("ix_post_listing", "kind", "status", "published_at"),
        Index("ix_post_category_listing", "category_id", "status", "published_at"),
        Index("ix_post_author_listing", "author_id", "status", "published_at"),
        Index("ix_post_updated", "updated_at"),  # the admin list, newest edits first
        Index("ix_post_pinned", "pinned", "published_at"),  # the home page's pinned posts
    )

    @property
    def is_public(self) -> bool:
        """Whether readers see the post now; the rule lives in `blog.visibility`."""
        from .visibility import is_public  # the rule module imports this one

        return is_public(self)


class PreviewLink(db.Model):
    """A shareable address that shows a draft or scheduled post to someone without an account.

    The address carries this row's id and nonce, signed with the app's secret key; it works
    until `expires_at` or until revoked (the row is then deleted).
    """

    id: Mapped[int] = mapped_column(primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("post.id", ondelete="CASCADE"), index=True)
    nonce: Mapped[str] = mapped_column(String(64), unique=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]

    post: Mapped["Post"] = relationship()
    created_by: Mapped[User | None] = relationship()


class SlugRedirect(db.Model):
    """An old slug of a post, so the old URL keeps answering with a redirect."""

    id: Mapped[int] = mapped_column(primary_key=True)
    old_slug: Mapped[str] = mapped_column(String(200), unique=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("post.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Revision(db.Model):
    """A post's text as it stood at one save (or autosave), for history, diffs and restore."""

    id: Mapped[int] = mapped_column(primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("post.id", ondelete="CASCADE"))
    kind: Mapped[RevisionKind] = mapped_column(
        _enum_column(RevisionKind), default=RevisionKind.SAVE
    )
    title: Mapped[str] = mapped_column(String(300))
    body_md: Mapped[str] = mapped_column(Text, default="")
    excerpt: Mapped[str] = mapped_column(Text, default="")
    post_version: Mapped[int] = mapped_column(default=0)
    saved_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    post: Mapped[Post] = relationship(back_populates="revisions")
    saved_by: Mapped[User | None] = relationship()

    __table_args__ = (Index("ix_revision_post_created", "post_id", "created_at"),)


class Setting(db.Model):
    """One site setting as a JSON value; `blog.settings` gives them typed, with defaults."""

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[object] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class LoginAttempt(db.Model):
    """A failed login, kept in the database so throttling counts across processes and servers."""

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), index=True)
    address: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class UserSession(db.Model):
    """One sign-in on one browser: the session and "remember me" cookies hold its token.

    Only the token's SHA-256 is stored (the token is random, so no slow hash is needed): a copy
    of the database gives no working cookie. Deleting the row signs that browser out everywhere.
    """

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # what the loader reads
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)  # for clean-up
    device: Mapped[str] = mapped_column(String(120), default="")  # from the User-Agent
    address: Mapped[str] = mapped_column(String(64), default="")
    remember: Mapped[bool] = mapped_column(default=False)

    user: Mapped[User] = relationship(back_populates="sessions")


class RecoveryCode(db.Model):
    """A one-time code that signs in without the authenticator app; only its hash is kept."""

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(255))
    used_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Redirect(db.Model):
    """An old address (from an import, say) that answers 301 to a page of this blog."""

    id: Mapped[int] = mapped_column(primary_key=True)
    old_path: Mapped[str] = mapped_column(String(500), unique=True)  # path and query, e.g. /?p=12
    new_path: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SiteState(db.Model):
    """One row: a generation number bumped by every change that can alter a public page.

    Page caches in every process compare it to decide whether what they hold is stale.
    """

    id: Mapped[int] = mapped_column(primary_key=True)
    generation: Mapped[int] = mapped_column(default=1)
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)


class Job(db.Model):
    """A piece of background work, recorded in the site's database before it is queued.

    The queue engine (Huey, `blog.worker`) only carries the job's id; this row is the truth:
    what to run, how many attempts it took, why it failed, and which worker holds it until
    when (`lease_until`, renewed while it runs, so a killed worker's job is taken up again).
    """

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict] = mapped_column(JSON, default=dict)
    label: Mapped[str] = mapped_column(String(300), default="")  # what the admin sees
    status: Mapped[JobStatus] = mapped_column(_enum_column(JobStatus), default=JobStatus.QUEUED)
    attempts: Mapped[int] = mapped_column(default=0)
    max_attempts: Mapped[int] = mapped_column(default=1)
    last_error: Mapped[str] = mapped_column(Text, default="")
    run_after: Mapped[datetime] = mapped_column(default=utcnow)
    queued_at: Mapped[datetime] = mapped_column(default=utcnow)  # last handed to the queue
    lease_until: Mapped[datetime | None]
    worker: Mapped[str] = mapped_column(String(120), default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]

    created_by: Mapped[User | None] = relationship()

    __table_args__ = (Index("ix_job_status_run_after", "status", "run_after"),)


class OutgoingEmail(db.Model):
    """One email, written in full before it goes out, so a retried or repeated job sends the
    same message (same Message-ID) and never a second one once the server accepted it."""

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[str] = mapped_column(String(255), unique=True)
    to_address: Mapped[str] = mapped_column(String(254), index=True)
    subject: Mapped[str] = mapped_column(String(300))
    text_body: Mapped[str] = mapped_column(Text)
    html_body: Mapped[str] = mapped_column(Text)
    purpose: Mapped[str] = mapped_column(String(40))  # reset, invitation, test, ...
    auto_submitted: Mapped[bool] = mapped_column(default=True)
    status: Mapped[EmailStatus] = mapped_column(
        _enum_column(EmailStatus), default=EmailStatus.QUEUED
    )
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    # Headers beyond the usual ones, such as List-Unsubscribe: name -> value.
    headers: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    sent_at: Mapped[datetime | None]


class Comment(db.Model):
    """A reader's comment on a post, or a reply in its thread (threads are one level deep).

    The text is stored as written and as HTML rendered once, at save, by the comment pipeline
    of `blog.rendering`. The email and address are for moderators and rate limits only, and
    are erased after a while (blog.comments).
    """

    id: Mapped[int] = mapped_column(primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("post.id", ondelete="CASCADE"))
    # The first comment of the thread (None for a thread's first), and the one answered.
    thread_id: Mapped[int | None] = mapped_column(
        ForeignKey("comment.id", ondelete="CASCADE"), index=True
    )
    reply_to_id: Mapped[int | None] = mapped_column(ForeignKey("comment.id", ondelete="SET NULL"))
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("user.id", ondelete="SET NULL"), index=True
    )
    author_name: Mapped[str] = mapped_column(String(100))
    author_email: Mapped[str] = mapped_column(String(254), default="", index=True)
    author_url: Mapped[str] = mapped_column(String(300), default="")
    body_md: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str] = mapped_column(Text)
    status: Mapped[CommentStatus] = mapped_column(
        _enum_column(CommentStatus), default=CommentStatus.PENDING
    )
    held_reason: Mapped[str] = mapped_column(String(200), default="")
    address: Mapped[str] = mapped_column(String(64), default="", index=True)
    form_nonce: Mapped[str | None] = mapped_column(String(32), unique=True)  # no replays
    reply_emails: Mapped[ReplyEmails] = mapped_column(
        _enum_column(ReplyEmails), default=ReplyEmails.NONE
    )
    # When the emails telling others about this (approved) reply were queued: never twice.
    replies_told_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Where an imported comment came from (a WordPress comment, a Markdown export's entry):
    # a second run of the same import finds it and adds no copy.
    import_key: Mapped[str | None] = mapped_column(String(500), unique=True)
    # A reply from the fediverse: the remote note's id (for its Update and Delete) and author.
    remote_id: Mapped[str | None] = mapped_column(String(2000), unique=True)
    remote_actor_id: Mapped[int | None] = mapped_column(
        ForeignKey("remote_actor.id", ondelete="CASCADE"), index=True
    )

    post: Mapped[Post] = relationship()
    user: Mapped[User | None] = relationship()
    reply_to: Mapped["Comment | None"] = relationship(
        remote_side="Comment.id", foreign_keys=[reply_to_id]
    )

    __table_args__ = (Index("ix_comment_post_status", "post_id", "status", "created_at"),)


class RateEvent(db.Model):
    """One request that counts towards a limit (a password reset asked for an address, from a
    client address), kept in the database so the limit holds across processes and servers."""

    id: Mapped[int] = mapped_column(primary_key=True)
    action: Mapped[str] = mapped_column(String(40))
    key: Mapped[str] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)

    __table_args__ = (Index("ix_rate_event_action_key", "action", "key", "created_at"),)


class Invitation(db.Model):
    """An admin's invitation to join with a role; the account is made when it is accepted.

    Only the SHA-256 of the link's random token is kept (as for sessions): a copy of the
    database opens no invitation. Resending makes a new token, so the older link stops working.
    """

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), index=True)
    role: Mapped[Role] = mapped_column(_enum_column(Role), default=Role.AUTHOR)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    invited_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime] = mapped_column(default=utcnow)  # the last (re)send
    expires_at: Mapped[datetime]
    accepted_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))

    invited_by: Mapped[User | None] = relationship(foreign_keys=[invited_by_id])

    def is_pending(self, now: datetime) -> bool:
        return self.accepted_at is None and self.revoked_at is None and self.expires_at > now


class Subscriber(db.Model):
    """A newsletter subscriber. `consent` says how they agreed (the form, an import's consent
    column, an admin), kept as the record a data-protection question asks for."""

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    status: Mapped[SubscriberStatus] = mapped_column(
        _enum_column(SubscriberStatus), default=SubscriberStatus.UNCONFIRMED, index=True
    )
    consent: Mapped[str] = mapped_column(String(300), default="")
    bounces: Mapped[int] = mapped_column(default=0)  # refusals in a row; 0 after a delivery
    last_error: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    confirmed_at: Mapped[datetime | None]
    unsubscribed_at: Mapped[datetime | None]


class NewsletterSend(db.Model):
    """One post sent to the subscribers: the email made once, and the send's state.

    One per post, ever (unique), so publishing twice, a second worker or a retried job can
    never start a second send."""

    id: Mapped[int] = mapped_column(primary_key=True)
    post_id: Mapped[int | None] = mapped_column(
        ForeignKey("post.id", ondelete="SET NULL"), unique=True
    )
    title: Mapped[str] = mapped_column(String(300))  # the post's, kept if the post goes
    status: Mapped[SendStatus] = mapped_column(_enum_column(SendStatus), default=SendStatus.SENDING)
    subject: Mapped[str] = mapped_column(String(300))
    text_body: Mapped[str] = mapped_column(Text)
    html_body: Mapped[str] = mapped_column(Text)
    total: Mapped[int] = mapped_column(default=0)
    note: Mapped[str] = mapped_column(String(500), default="")  # why it paused or stopped
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    finished_at: Mapped[datetime | None]

    post: Mapped[Post | None] = relationship()


class NewsletterDelivery(db.Model):
    """One subscriber-and-post pair, written before anything is sent: the record that makes
    every send exactly once, whatever crashes or runs twice."""

    id: Mapped[int] = mapped_column(primary_key=True)
    send_id: Mapped[int] = mapped_column(ForeignKey("newsletter_send.id", ondelete="CASCADE"))
    subscriber_id: Mapped[int] = mapped_column(
        ForeignKey("subscriber.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[DeliveryStatus] = mapped_column(
        _enum_column(DeliveryStatus), default=DeliveryStatus.QUEUED
    )
    attempts: Mapped[int] = mapped_column(default=0)
    message_id: Mapped[str] = mapped_column(String(255), default="")
    claim: Mapped[str] = mapped_column(String(32), default="")  # the batch holding it
    claimed_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    last_error: Mapped[str] = mapped_column(String(500), default="")

    subscriber: Mapped[Subscriber] = relationship()

    __table_args__ = (
        UniqueConstraint("send_id", "subscriber_id"),
        Index("ix_newsletter_delivery_send_status", "send_id", "status", "id"),
    )


# Federation (blog.federation): the site, and optionally each author, is an ActivityPub actor.


class LocalActor(db.Model):
    """One of this site's actors and its RSA key pair, made once and kept.

    `user_id` is None for the site's own actor, else the author it speaks for. The name people
    follow (`@blog@host`, `@author-slug@host`) comes from Settings and the author's slug, so the
    key survives a rename."""

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("user.id", ondelete="CASCADE"), unique=True
    )
    # "site" or "user:<id>": unique, so two processes making the same actor at once (the
    # site's has no user_id, and NULLs are never equal) end with one row and one key.
    slot: Mapped[str] = mapped_column(String(40), unique=True)
    public_key_pem: Mapped[str] = mapped_column(Text)
    private_key_pem: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    user: Mapped[User | None] = relationship()


class RemoteServer(db.Model):
    """A fediverse server this site talks to: blocked by an admin, or put aside while failing."""

    id: Mapped[int] = mapped_column(primary_key=True)
    host: Mapped[str] = mapped_column(String(253), unique=True)
    blocked: Mapped[bool] = mapped_column(default=False, server_default=false())
    failures: Mapped[int] = mapped_column(default=0)  # failed deliveries in a row
    set_aside_until: Mapped[datetime | None]
    last_error: Mapped[str] = mapped_column(String(500), default="")
    last_success_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RemoteActor(db.Model):
    """A fediverse account seen by this site (a follower, a commenter), with its public key
    as last fetched; a signature that fails with it makes one fresh fetch (key rotation)."""

    id: Mapped[int] = mapped_column(primary_key=True)
    uri: Mapped[str] = mapped_column(String(2000), unique=True)
    host: Mapped[str] = mapped_column(String(253), index=True)
    inbox: Mapped[str] = mapped_column(String(2000))
    shared_inbox: Mapped[str] = mapped_column(String(2000), default="")
    username: Mapped[str] = mapped_column(String(255), default="")  # preferredUsername
    name: Mapped[str] = mapped_column(String(255), default="")
    profile_url: Mapped[str] = mapped_column(String(2000), default="")  # the page people see
    icon_url: Mapped[str] = mapped_column(String(2000), default="")
    key_id: Mapped[str] = mapped_column(String(2000), default="")
    public_key_pem: Mapped[str] = mapped_column(Text, default="")
    fetched_at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def handle(self) -> str:
        """`@user@host`, as people write it."""
        return f"@{self.username or 'unknown'}@{self.host}"


class Follower(db.Model):
    """A remote actor following one of this site's actors; the Follow's id answers its Undo."""

    id: Mapped[int] = mapped_column(primary_key=True)
    local_actor_id: Mapped[int] = mapped_column(ForeignKey("local_actor.id", ondelete="CASCADE"))
    remote_actor_id: Mapped[int] = mapped_column(
        ForeignKey("remote_actor.id", ondelete="CASCADE"), index=True
    )
    follow_id: Mapped[str] = mapped_column(String(2000), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)

    local_actor: Mapped[LocalActor] = relationship()
    remote_actor: Mapped[RemoteActor] = relationship()

    __table_args__ = (UniqueConstraint("local_actor_id", "remote_actor_id"),)


class Reaction(db.Model):
    """A Like or an Announce (boost) of a post from the fediverse; its Undo deletes it."""

    id: Mapped[int] = mapped_column(primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("post.id", ondelete="CASCADE"))
    remote_actor_id: Mapped[int] = mapped_column(
        ForeignKey("remote_actor.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[ReactionKind] = mapped_column(_enum_column(ReactionKind))
    activity_id: Mapped[str] = mapped_column(String(2000), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("post_id", "remote_actor_id", "kind"),)


class InboxReceipt(db.Model):
    """A signed request the inbox took, by the hash of its signature: the same request sent
    again inside the freshness window is refused (replay). Old receipts are pruned."""

    id: Mapped[int] = mapped_column(primary_key=True)
    signature_hash: Mapped[str] = mapped_column(String(64), unique=True)
    host: Mapped[str] = mapped_column(String(253), default="")
    received_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class FederatedPost(db.Model):
    """What the fediverse was last told about a post: the Create that went out, later
    Updates, or its Delete. An edit sends Update only after a Create; a Delete only once."""

    id: Mapped[int] = mapped_column(primary_key=True)
    post_id: Mapped[int | None] = mapped_column(
        ForeignKey("post.id", ondelete="SET NULL"), unique=True
    )
    object_id: Mapped[str] = mapped_column(String(2000), unique=True)  # the Article's id
    local_actor_id: Mapped[int] = mapped_column(ForeignKey("local_actor.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(String(16), default="created")  # created or deleted
    content_hash: Mapped[str] = mapped_column(String(64), default="")  # no Update for no change
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    local_actor: Mapped[LocalActor] = relationship()


class FederationDelivery(db.Model):
    """One activity for one remote inbox, written before it is sent: the record that says
    whether it went, how often it was tried, and why it failed. Shared inboxes get one each."""

    id: Mapped[int] = mapped_column(primary_key=True)
    activity_id: Mapped[str] = mapped_column(String(2000))
    activity_json: Mapped[str] = mapped_column(Text)
    local_actor_id: Mapped[int] = mapped_column(ForeignKey("local_actor.id", ondelete="CASCADE"))
    inbox: Mapped[str] = mapped_column(String(2000))
    host: Mapped[str] = mapped_column(String(253), index=True)
    state: Mapped[DeliveryState] = mapped_column(
        _enum_column(DeliveryState), default=DeliveryState.PENDING
    )
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None]
    last_error: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    delivered_at: Mapped[datetime | None]

    local_actor: Mapped[LocalActor] = relationship()

    __table_args__ = (Index("ix_federation_delivery_state", "state", "next_attempt_at"),)


def count_users() -> int:
    return db.session.scalar(select(func.count(User.id))) or 0
