"""Export for leaving: the blog as a WordPress export (WXR 1.2) plus its uploads as a zip.

The XML is what WordPress's own **Tools → Import → WordPress** reads: a channel with
`wp:wxr_version` 1.2, the site's base URLs, `wp:author`, `wp:category` and `wp:tag` entries, then
one `<item>` per image (attachment), post and page, each post with its categories, tags,
featured image (`_thumbnail_id`) and comments. FORMAT.md lists every field.

Decisions:
- The text is the stored, sanitised `body_html` with absolute URLs, so WordPress shows what this
  blog showed. The Markdown as written is kept beside it in the `_blog_markdown` postmeta (and
  commentmeta), with `_blog_html_sha256`, the hash of the HTML it was exported with. This blog's
  importer takes the Markdown back only while that hash still matches the item's HTML, so a
  post edited in WordPress afterwards is converted from its new HTML instead. WordPress keeps
  the two fields as hidden custom fields and never shows them.
- Images: every `Media` row is an attachment whose `wp:attachment_url` is its address here
  (`https://site/media/<file>`), which WordPress's importer downloads while this site still
  answers. The zip holds the same files in WordPress's layout, `wp-content/uploads/YYYY/MM/`
  (the month the image was uploaded), under its original name (made safe and unique in its
  folder), with the resized copies named WordPress's way (`photo-480x320.jpg`);
  `_wp_attached_file` names the original's path in that layout, so `import wordpress --uploads
  ZIP` finds every file.
- A post's featured alt text and caption are its own here, the attachment's in WordPress: the
  attachment carries the image's default alt text, the post `_blog_featured_alt` and
  `_blog_featured_caption`, which this blog's importer prefers.
- Categories: `wp:category_parent` names the parent's slug; `_category_parent` gives it, the
  one place that knows how a category finds its parent. Parents are written before children,
  as WordPress's importer needs.
- Authors are the accounts that wrote a post or uploaded an image; their login is their author
  address slug. No password, role or two-factor data leaves.
- Comments: approved → 1, held → 0, spam → spam; comments in the trash stay behind. The
  commenter's IP address is not kept here, so `wp:comment_author_IP` is empty.
- Posts in the trash are written with WordPress's `trash` status (WordPress puts them in its
  trash; this blog's importer skips them).
- Streaming: the XML is written element by element to the file and rows are read in batches,
  so a large site does not have to fit in memory. Text goes into CDATA sections, with any
  `]]>` split across two of them; characters XML 1.0 cannot carry are dropped.
"""

from __future__ import annotations

import hashlib
import posixpath
import re
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import TextIO
from urllib.parse import quote
from xml.sax.saxutils import escape, quoteattr
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, select

from .. import media as media_service
from ..extensions import db
from ..models import (
    Category,
    Comment,
    CommentsMode,
    CommentStatus,
    Media,
    Post,
    PostKind,
    PostStatus,
    Tag,
    User,
    utcnow,
)
from ..settings import get_setting
from ..text import slugify
from ..uploads import UploadError, safe_media_path
from ..urls import absolute_url, absolutize_html, media_absolute_url, post_url, site_url

WXR_VERSION = "1.2"
NAMESPACES = {
    "xmlns:excerpt": "http://wordpress.org/export/1.2/excerpt/",
    "xmlns:content": "http://purl.org/rss/1.0/modules/content/",
    "xmlns:wfw": "http://wellformedweb.org/CommentAPI/",
    "xmlns:dc": "http://purl.org/dc/elements/1.1/",
    "xmlns:wp": "http://wordpress.org/export/1.2/",
}
MARKDOWN_META = "_blog_markdown"
HASH_META = "_blog_html_sha256"
FEATURED_ALT_META = "_blog_featured_alt"
FEATURED_CAPTION_META = "_blog_featured_caption"
GENERATOR = "blog (WXR export)"
POST_STATUSES = {
    PostStatus.PUBLISHED: "publish",
    PostStatus.SCHEDULED: "future",
    PostStatus.DRAFT: "draft",
}
COMMENT_STATUSES = {
    CommentStatus.APPROVED: "1",
    CommentStatus.PENDING: "0",
    CommentStatus.SPAM: "spam",
}
BATCH = 200
TABS = ["\t" * n for n in range(6)]
NO_DATE = "0000-00-00 00:00:00"
# XML 1.0 allows tab, newline, carriage return and everything from U+0020 except surrogates
# and U+FFFE/U+FFFF.
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_SAFE_NAME = re.compile(r"[^\w.-]+")


def html_hash(html: str) -> str:
    """The hash `_blog_html_sha256` holds: of the HTML with line ends as XML reading gives them."""
    text = _NOT_XML.sub("", html).replace("\r\n", "\n").replace("\r", "\n")
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass
class WxrExportReport:
    posts: int = 0
    pages: int = 0
    drafts: int = 0
    trashed: int = 0
    attachments: int = 0
    comments: int = 0
    categories: int = 0
    tags: int = 0
    authors: int = 0
    files: int = 0
    missing_files: list[str] = field(default_factory=list)

    def headline(self) -> str:
        return (
            f"{self.posts} posts, {self.pages} pages, {self.drafts} drafts, "
            f"{self.trashed} in the trash, {self.comments} comments, {self.categories} "
            f"categories, {self.tags} tags, {self.authors} authors, {self.attachments} images"
        )


# --- the XML writer -------------------------------------------------------------------------


class _Writer:
    """A small streaming XML writer: elements go straight to the file, text as escaped text
    or CDATA. WordPress's importer reads one line per channel-level term, so those are written
    on one line each, as WordPress does."""

    def __init__(self, handle: TextIO):
        self.handle = handle

    def raw(self, text: str) -> None:
        self.handle.write(text)

    def start(self, tag: str, attributes: dict[str, str] | None = None, indent: int = 0) -> None:
        attrs = "".join(f" {name}={quoteattr(value)}" for name, value in (attributes or {}).items())
        self.handle.write(f"{TABS[indent]}<{tag}{attrs}>\n")

    def end(self, tag: str, indent: int = 0) -> None:
        self.handle.write(f"{TABS[indent]}</{tag}>\n")

    def element(
        self,
        tag: str,
        value: str | int | None,
        indent: int = 0,
        cdata: bool = False,
        attributes: dict[str, str] | None = None,
        newline: bool = True,
    ) -> None:
        attrs = "".join(f" {name}={quoteattr(value)}" for name, value in (attributes or {}).items())
        self.handle.write(f"{TABS[indent]}<{tag}{attrs}>{text(value, cdata)}</{tag}>")
        if newline:
            self.handle.write("\n")


def text(value: str | int | None, cdata: bool = False) -> str:
    """A value as XML character data: escaped, or in CDATA with "]]>" split across sections."""
    value = _NOT_XML.sub("", "" if value is None else str(value))
    if not cdata:
        return escape(value)
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"


# --- times ------------------------------------------------------------------------------------


def _zone() -> ZoneInfo:
    try:
        return ZoneInfo(str(get_setting("timezone")))
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _gmt(moment: datetime | None) -> str:
    return NO_DATE if moment is None else f"{moment:%Y-%m-%d %H:%M:%S}"


def _local(moment: datetime | None, zone: ZoneInfo) -> str:
    if moment is None:
        return NO_DATE
    return f"{moment.replace(tzinfo=UTC).astimezone(zone):%Y-%m-%d %H:%M:%S}"


def _rfc2822(moment: datetime | None) -> str:
    return format_datetime((moment or utcnow()).replace(tzinfo=UTC, microsecond=0))


# --- categories -------------------------------------------------------------------------------


def _category_parent(category: Category) -> Category | None:
    """The category's parent in the tree (blog.category_tree), or None at the top."""
    return db.session.get(Category, category.parent_id) if category.parent_id else None


def _categories_parents_first() -> list[Category]:
    """Every category, each after its parent (WordPress's importer looks the parent up)."""
    categories = list(db.session.scalars(select(Category).order_by(Category.position, Category.id)))
    written: set[int] = set()
    ordered: list[Category] = []

    def place(category: Category, seen: set[int]) -> None:
        if category.id in written or category.id in seen:
            return
        parent = _category_parent(category)
        if parent is not None:
            place(parent, seen | {category.id})
        written.add(category.id)
        ordered.append(category)

    for category in categories:
        place(category, set())
    return ordered


# --- uploads layout ---------------------------------------------------------------------------


@dataclass
class _Attachment:
    media: Media
    wp_id: int
    path: str  # the original's path under uploads/, "2024/03/photo.jpg"
    variants: list[tuple[str, str]]  # (stored file name, path under uploads/)


def _plan_uploads(offset: int) -> Iterator[_Attachment]:
    """Each image with its place in WordPress's uploads layout, unique per folder (the
    original and every smaller size)."""
    used: set[str] = set()
    for media in _batched(Media):
        folder = f"{media.created_at:%Y/%m}"
        extension = posixpath.splitext(media.filename)[1].lower()
        stem = posixpath.splitext(posixpath.basename(media.original_name or ""))[0]
        stem = _SAFE_NAME.sub("-", stem).strip("-._")[:80] or "image"
        sizes = [
            (v["filename"], f"{v['width']}x{v['height']}", posixpath.splitext(v["filename"])[1])
            for v in media.variants or []
        ]
        name, number = stem, 1
        while any(path.lower() in used for path in _paths(folder, name, extension, sizes)):
            number += 1
            name = f"{stem}-{number}"
        chosen = _paths(folder, name, extension, sizes)
        used.update(path.lower() for path in chosen)
        variants = [(stored, path) for (stored, _, _), path in zip(sizes, chosen[1:], strict=True)]
        yield _Attachment(media=media, wp_id=offset + media.id, path=chosen[0], variants=variants)


def _paths(folder: str, name: str, extension: str, sizes: list) -> list[str]:
    """The original's path under uploads/, then each smaller size's, WordPress's way."""
    original = f"{folder}/{name}{extension}"
    return [original] + [f"{folder}/{name}-{size}{ext.lower()}" for _, size, ext in sizes]


def _batched(model, *conditions) -> Iterator:
    """The rows of `model`, by id, read BATCH at a time (after the last id seen, so rows added
    meanwhile neither shift nor repeat them), so memory stays small."""
    last = 0
    while True:
        query = select(model).where(model.id > last, *conditions).order_by(model.id)
        rows = list(db.session.scalars(query.limit(BATCH)))
        yield from rows
        if len(rows) < BATCH:
            return
        last = rows[-1].id


# --- the export -------------------------------------------------------------------------------


def export_wordpress(out_path: str | Path, uploads_path: str | Path | None) -> WxrExportReport:
    """Write the WXR file to `out_path` and, if `uploads_path` is given, the uploads zip."""
    report = WxrExportReport()
    out_path, temporary = Path(out_path), Path(f"{out_path}.part")
    try:
        with temporary.open("w", encoding="utf-8", newline="\n") as handle:
            _Export(_Writer(handle), report).write()
        if uploads_path is not None:
            write_uploads_zip(uploads_path, report)
        temporary.replace(out_path)
    finally:
        temporary.unlink(missing_ok=True)
    return report


def write_uploads_zip(out_path: str | Path, report: WxrExportReport | None = None) -> None:
    """Every stored image file (originals and resized copies) under wp-content/uploads/."""
    report = report if report is not None else WxrExportReport()
    folder = media_service.upload_folder()
    out_path, temporary = Path(out_path), Path(f"{out_path}.part")
    try:
        with zipfile.ZipFile(temporary, "w", compression=zipfile.ZIP_STORED) as archive:
            for attachment in _plan_uploads(0):
                files = [(attachment.media.filename, attachment.path), *attachment.variants]
                for stored, path in files:
                    try:
                        source = safe_media_path(folder, stored)
                        archive.write(source, f"wp-content/uploads/{path}")
                    except (OSError, UploadError):
                        report.missing_files.append(stored)
                        continue
                    report.files += 1
        temporary.replace(out_path)
    finally:
        temporary.unlink(missing_ok=True)


class _Export:
    def __init__(self, writer: _Writer, report: WxrExportReport):
        self.w = writer
        self.report = report
        self.zone = _zone()
        self.base = site_url()
        self.offset = (db.session.scalar(select(func.max(Post.id))) or 0) + 1000
        self.attachment_ids: dict[int, int] = {}  # media id -> attachment wp:post_id
        self.logins: dict[int, str] = {}  # user id -> login
        self.parents: dict[int, int] = {}  # media id -> the first post featuring it

    def write(self) -> None:
        w = self.w
        w.raw('<?xml version="1.0" encoding="UTF-8" ?>\n')
        w.raw(f'<!-- generator="{GENERATOR}" created="{utcnow():%Y-%m-%d %H:%M}" -->\n')
        w.start("rss", {"version": "2.0", **NAMESPACES})
        w.start("channel", indent=0)
        self._channel()
        self._authors()
        self._categories()
        self._tags()
        w.element("generator", GENERATOR, 1)
        self._attachments()
        self._posts()
        w.end("channel")
        w.end("rss")

    def _channel(self) -> None:
        w = self.w
        w.element("title", str(get_setting("site_title")), 1)
        w.element("link", self.base + "/", 1)
        w.element("description", str(get_setting("tagline")), 1)
        w.element("pubDate", _rfc2822(utcnow()), 1)
        w.element("language", "en", 1)
        w.element("wp:wxr_version", WXR_VERSION, 1)
        w.element("wp:base_site_url", self.base, 1)
        w.element("wp:base_blog_url", self.base, 1)

    def _authors(self) -> None:
        posters = select(Post.author_id).where(Post.author_id.is_not(None))
        uploaders = select(Media.uploader_id).where(Media.uploader_id.is_not(None))
        users = db.session.scalars(
            select(User).where(User.id.in_(posters.union(uploaders))).order_by(User.id)
        )
        for user in users:
            login = user.slug or f"user-{user.id}"
            self.logins[user.id] = login
            self.w.raw("\t<wp:author>")
            for tag, value, cdata in (
                ("wp:author_id", user.id, False),
                ("wp:author_login", login, True),
                ("wp:author_email", user.email, True),
                ("wp:author_display_name", user.display_name, True),
                ("wp:author_first_name", "", True),
                ("wp:author_last_name", "", True),
            ):
                self.w.element(tag, value, cdata=cdata, newline=False)
            self.w.raw("</wp:author>\n")
            self.report.authors += 1

    def _categories(self) -> None:
        for category in _categories_parents_first():
            parent = _category_parent(category)
            self.w.raw("\t<wp:category>")
            for tag, value, cdata in (
                ("wp:term_id", category.id, False),
                ("wp:category_nicename", _encoded_slug(category.slug), True),
                ("wp:category_parent", _encoded_slug(parent.slug) if parent else "", True),
                ("wp:cat_name", category.name, True),
                ("wp:category_description", category.description, True),
            ):
                self.w.element(tag, value, cdata=cdata, newline=False)
            self.w.raw("</wp:category>\n")
            self.report.categories += 1

    def _tags(self) -> None:
        for tag in db.session.scalars(select(Tag).order_by(Tag.id)):
            self.w.raw("\t<wp:tag>")
            for name, value, cdata in (
                ("wp:term_id", tag.id, False),
                ("wp:tag_slug", _encoded_slug(tag.slug), True),
                ("wp:tag_name", tag.name, True),
            ):
                self.w.element(name, value, cdata=cdata, newline=False)
            self.w.raw("</wp:tag>\n")
            self.report.tags += 1

    # --- items ------------------------------------------------------------------------

    def _item_start(self, title: str, link: str, published: datetime | None, login: str) -> None:
        w = self.w
        w.start("item", indent=1)
        w.element("title", title, 2, cdata=True)
        w.element("link", link, 2)
        w.element("pubDate", _rfc2822(published), 2)
        w.element("dc:creator", login, 2, cdata=True)

    def _meta(self, key: str, value: str | int, indent: int = 2, tag: str = "wp:postmeta") -> None:
        self.w.start(tag, indent=indent)
        self.w.element("wp:meta_key", key, indent + 1, cdata=True)
        self.w.element("wp:meta_value", value, indent + 1, cdata=True)
        self.w.end(tag, indent=indent)

    def _fallback_login(self) -> str:
        return next(iter(self.logins.values()), "admin")

    def _attachments(self) -> None:
        featured = select(Post.featured_media_id, func.min(Post.id)).where(
            Post.featured_media_id.is_not(None)
        )
        for media_id, post_id in db.session.execute(featured.group_by(Post.featured_media_id)):
            self.parents[media_id] = post_id
        w = self.w
        for attachment in _plan_uploads(self.offset):
            media = attachment.media
            self.attachment_ids[media.id] = attachment.wp_id
            url = media_absolute_url(media.filename)
            login = self.logins.get(media.uploader_id, self._fallback_login())
            title = posixpath.splitext(posixpath.basename(attachment.path))[0]
            self._item_start(title, url, media.created_at, login)
            w.element("guid", url, 2, attributes={"isPermaLink": "false"})
            w.element("description", "", 2)
            w.element("content:encoded", "", 2, cdata=True)
            w.element("excerpt:encoded", "", 2, cdata=True)
            w.element("wp:post_id", attachment.wp_id, 2)
            w.element("wp:post_date", _local(media.created_at, self.zone), 2, cdata=True)
            w.element("wp:post_date_gmt", _gmt(media.created_at), 2, cdata=True)
            w.element("wp:post_modified", _local(media.created_at, self.zone), 2, cdata=True)
            w.element("wp:post_modified_gmt", _gmt(media.created_at), 2, cdata=True)
            w.element("wp:comment_status", "closed", 2, cdata=True)
            w.element("wp:ping_status", "closed", 2, cdata=True)
            w.element(
                "wp:post_name", _encoded_slug(slugify(title, fallback="image")), 2, cdata=True
            )
            w.element("wp:status", "inherit", 2, cdata=True)
            w.element("wp:post_parent", self.parents.get(media.id, 0), 2)
            w.element("wp:menu_order", 0, 2)
            w.element("wp:post_type", "attachment", 2, cdata=True)
            w.element("wp:post_password", "", 2, cdata=True)
            w.element("wp:is_sticky", 0, 2)
            w.element("wp:attachment_url", url, 2, cdata=True)
            self._meta("_wp_attached_file", attachment.path)
            if media.alt_text:
                self._meta("_wp_attachment_image_alt", media.alt_text)
            w.end("item", indent=1)
            self.report.attachments += 1

    def _posts(self) -> None:
        for post in _batched(Post):
            self._post(post)

    def _post(self, post: Post) -> None:
        w = self.w
        status = "trash" if post.deleted_at is not None else POST_STATUSES[post.status]
        published = post.published_at or post.created_at
        login = self.logins.get(post.author_id, self._fallback_login())
        body = absolutize_html(post.body_html or "", self.base + "/")
        self._item_start(post.title, post_url(post), published, login)
        w.element("guid", absolute_url(f"/?p={post.id}"), 2, attributes={"isPermaLink": "false"})
        w.element("description", "", 2)
        w.element("content:encoded", body, 2, cdata=True)
        w.element("excerpt:encoded", escape(post.excerpt or ""), 2, cdata=True)
        w.element("wp:post_id", post.id, 2)
        w.element("wp:post_date", _local(published, self.zone), 2, cdata=True)
        w.element("wp:post_date_gmt", _gmt(published), 2, cdata=True)
        w.element("wp:post_modified", _local(post.updated_at, self.zone), 2, cdata=True)
        w.element("wp:post_modified_gmt", _gmt(post.updated_at), 2, cdata=True)
        w.element("wp:comment_status", _comment_status(post), 2, cdata=True)
        w.element("wp:ping_status", "closed", 2, cdata=True)
        w.element("wp:post_name", _encoded_slug(post.slug), 2, cdata=True)
        w.element("wp:status", status, 2, cdata=True)
        w.element("wp:post_parent", 0, 2)
        w.element("wp:menu_order", 0, 2)
        kind = "page" if post.kind == PostKind.PAGE else "post"
        w.element("wp:post_type", kind, 2, cdata=True)
        w.element("wp:post_password", "", 2, cdata=True)
        w.element("wp:is_sticky", 1 if post.pinned else 0, 2)
        # The primary category first: WordPress keeps a post's categories as a set, and this
        # blog's importer takes the first as the primary one.
        further = [c for c in post.secondary_categories if c.id != post.category_id]
        for category in ([post.category] if post.category is not None else []) + further:
            w.element(
                "category", category.name, 2, cdata=True,
                attributes={"domain": "category", "nicename": _encoded_slug(category.slug)},
            )  # fmt: skip
        for tag in sorted(post.tags, key=lambda t: t.id):
            w.element(
                "category", tag.name, 2, cdata=True,
                attributes={"domain": "post_tag", "nicename": _encoded_slug(tag.slug)},
            )  # fmt: skip
        if post.featured_media_id in self.attachment_ids:
            self._meta("_thumbnail_id", self.attachment_ids[post.featured_media_id])
            self._meta(FEATURED_ALT_META, post.featured_alt or "")
            self._meta(FEATURED_CAPTION_META, post.featured_caption or "")
        self._meta(MARKDOWN_META, post.body_md or "")
        self._meta(HASH_META, html_hash(body))
        for comment in _comments_of(post):
            self._comment(comment)
        w.end("item", indent=1)
        self._count(post, status)

    def _count(self, post: Post, status: str) -> None:
        if status == "trash":
            self.report.trashed += 1
        elif post.kind == PostKind.PAGE:
            self.report.pages += 1
        elif status == "draft":
            self.report.drafts += 1
        else:
            self.report.posts += 1

    def _comment(self, comment: Comment) -> None:
        w = self.w
        body = absolutize_html(comment.body_html or "", self.base + "/")
        w.start("wp:comment", indent=2)
        w.element("wp:comment_id", comment.id, 3)
        w.element("wp:comment_author", comment.author_name, 3, cdata=True)
        w.element("wp:comment_author_email", comment.author_email, 3, cdata=True)
        w.element("wp:comment_author_url", comment.author_url, 3)
        w.element("wp:comment_author_IP", "", 3, cdata=True)
        w.element("wp:comment_date", _local(comment.created_at, self.zone), 3, cdata=True)
        w.element("wp:comment_date_gmt", _gmt(comment.created_at), 3, cdata=True)
        w.element("wp:comment_content", body, 3, cdata=True)
        w.element("wp:comment_approved", COMMENT_STATUSES[comment.status], 3, cdata=True)
        w.element("wp:comment_type", "comment", 3, cdata=True)
        w.element("wp:comment_parent", comment.reply_to_id or 0, 3)
        user_id = comment.user_id if comment.user_id in self.logins else 0
        w.element("wp:comment_user_id", user_id, 3)
        self._meta(MARKDOWN_META, comment.body_md or "", 3, "wp:commentmeta")
        self._meta(HASH_META, html_hash(body), 3, "wp:commentmeta")
        w.end("wp:comment", indent=2)
        self.report.comments += 1


def _comment_status(post: Post) -> str:
    """Whether WordPress takes new comments on it: a post's own choice, or the default."""
    mode = post.comments_mode
    if mode in (CommentsMode.CLOSED, CommentsMode.HIDDEN):
        return "closed"
    if mode == CommentsMode.DEFAULT and post.kind == PostKind.PAGE:
        return "closed"  # pages take comments here only when told to
    return "open"


def _comments_of(post: Post) -> Iterable[Comment]:
    """The post's comments WordPress can take (not those in the trash), oldest first; a reply
    always after the comment it answers."""
    return db.session.scalars(
        select(Comment)
        .where(Comment.post_id == post.id, Comment.status.in_(tuple(COMMENT_STATUSES)))
        .order_by(Comment.created_at, Comment.id)
    )


def _encoded_slug(slug: str) -> str:
    """WordPress keeps non-ASCII slugs percent-encoded in lower case ('%d0%bf…')."""
    return re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), quote(slug or "", safe="-_."))


def kept_markdown(meta: dict[str, str], html: str) -> str | None:
    """The Markdown an export of this blog kept beside `html`, while it still belongs to it.

    None when the item has none, or when its HTML was changed since (edited in WordPress):
    then the HTML is what counts.
    """
    markdown = meta.get(MARKDOWN_META)
    if markdown is None or meta.get(HASH_META, "").strip() != html_hash(html):
        return None
    return markdown


def uploads_zip_path(out_path: str | Path) -> Path:
    """The uploads zip's default place: beside the export, `site.xml` -> `site-uploads.zip`."""
    out_path = Path(out_path)
    return out_path.with_name(f"{out_path.stem}-uploads.zip")
