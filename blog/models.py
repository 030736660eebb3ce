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

    posts: Mapped[list["Post"]] = relationship(
        back_populates="author", foreign_keys="Post.author_id"
    )
    sessions: Mapped[list["UserSession"]] = relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True
    )

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


class Category(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    slug: Mapped[str] = mapped_column(String(120), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    position: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

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

    uploader: Mapped[User | None] = relationship()


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

    author: Mapped[User] = relationship(back_populates="posts", foreign_keys=[author_id])
    category: Mapped[Category | None] = relationship(back_populates="posts")
    featured_media: Mapped[Media | None] = relationship(foreign_keys=[featured_media_id])
    social_media: Mapped[Media | None] = relationship(foreign_keys=[social_media_id])
    tags: Mapped[list[Tag]] = relationship(
        secondary=post_tag, back_populates="posts", order_by=Tag.name
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


def count_users() -> int:
    return db.session.scalar(select(func.count(User.id))) or 0
