"""Import a WordPress export (WXR) with its uploads: authors, categories, tags, images,
posts and pages, and redirects from the old addresses.

Decisions:

* Every post goes through `blog.posts.save_post`, so it is rendered, gets a revision and is
  indexed for search like any post; the WordPress dates are set afterwards.
* Status: publish → published, future → scheduled (at its date), draft, pending and private
  → draft; a password-protected post becomes a draft (this blog has no passwords). Trashed
  items, auto-drafts, revisions and other post types are skipped and counted.
* WordPress categories form a tree, and so do ours (blog.category_tree): each becomes one
  category, and a new one goes under its parent's where the export names one (a branch deeper
  than the tree allows stays at the top, with a warning). A post here has one primary
  category: the one an SEO plugin marks as primary (Yoast's `_yoast_wpseo_primary_category`,
  Rank Math's `rank_math_primary_category`), else the first of its WordPress categories that
  is not "Uncategorized" (which is not imported); its other categories stay its further
  categories.
* Authors become deactivated accounts with no password and the author role, found again by
  email on a re-run; an author map (`login=email` lines) puts their posts on existing
  accounts instead. Authors without any imported item get no account.
* Images go through the same checks as any upload (`blog.media.save_upload`). Every image
  attachment is imported; an image in the text is matched to its attachment even when the
  text shows a resized copy (`photo-300x200.jpg`) and gets the new address.
* Links between the old site's pages lead to the new addresses (blog.portability.
  internal_links): known ones (terms, authors, posts of an earlier run) while converting, the
  rest in a second pass over what the run wrote, once every post has its address.
* The site's title, tagline, menus, icon and logo come along where the export carries them and
  the site has none of its own (blog.portability.wp_site, wp_menus), or when asked to.
* Comments come with their post (blog.portability.wp_comments reads them, comment_import
  stores them): approved and pending, replies as replies; spam, trash and pingbacks are
  counted, not imported.
* Re-running is safe: posts are found by their WordPress GUID (`Post.import_key`), images by
  their attachment GUID (`Media.import_key`), comments by the old site's address and comment
  id (`Comment.import_key`), accounts by email, terms by slug or name. A post changed here
  after the import is left alone (its local time is newer), and so is a comment.
* Matching, comparing, addresses (a slug that is cut, taken or owned by a route is changed
  with a warning), authors, terms and redirects follow the rules every import shares
  (blog.portability.import_rules); this module reads WordPress into them.
* The file is parsed completely before anything is written. The import then commits in
  batches, so a long import does not lock a SQLite database for its whole duration; a
  failure rolls back the current batch, and a re-run picks up where it stopped. A dry run
  does everything in one transaction, rolls it back and removes the image files it wrote.
"""

from __future__ import annotations

import io
import posixpath
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from flask import current_app
from sqlalchemy import select
from werkzeug.datastructures import FileStorage

from .. import category_tree
from .. import media as media_service
from ..accounts import AccountError, find_user, normalize_email
from ..extensions import db
from ..models import (
    Category,
    Media,
    Post,
    PostKind,
    PostStatus,
    Revision,
    Tag,
    User,
    utcnow,
)
from ..posts import MAX_BODY, MAX_SECONDARY_CATEGORIES, MAX_TITLE, PostInput, render_into
from ..taxonomy import (
    MAX_NAME_LENGTH,
    MAX_TAGS_PER_POST,
    SLUG_LENGTH,
    TaxonomyError,
    clean_text,
    find_by_name,
    set_parent,
)
from ..text import slugify
from ..uploads import UploadError
from ..urls import app_path
from .batches import Batches
from .comment_import import add_comments
from .import_rules import (
    IncomingPost,
    apply_post,
    choose_post_slug,
    find_imported,
    find_or_create_author,
    find_or_create_tag,
    import_key,
    new_category,
    record_redirects,
    site_zone,
)
from .internal_links import new_address, rewrite_links
from .report import ImportFailed, Progress, Summary
from .uploads_source import UploadsError, UploadsSource, normalise, open_uploads
from .wp_comments import read_comments
from .wp_menus import MenuEntry, place_menus, read_menus
from .wp_site import apply_settings, apply_site_images
from .wpcontent import (
    ContentContext,
    ImageRef,
    footnotes_meta,
    html_to_text,
    left_out_kinds,
    wordpress_to_markdown,
)
from .wxr import (
    WxrExport,
    WxrItem,
    WxrTerm,
    primary_term_id,
    utc_time,
    wp_datetime,
    zone_mismatch,
)
from .wxr_export import FEATURED_ALT_META, FEATURED_CAPTION_META, kept_markdown

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".jpe", ".png", ".gif", ".webp")
IMPORTED_TYPES = {"post": PostKind.POST, "page": PostKind.PAGE}
STATUSES = {
    "publish": PostStatus.PUBLISHED,
    "future": PostStatus.SCHEDULED,
    "draft": PostStatus.DRAFT,
    "pending": PostStatus.DRAFT,
    "private": PostStatus.DRAFT,
}
UNCATEGORIZED = "uncategorized"
PLACEHOLDER_DOMAIN = "wordpress-import.invalid"
_SIZE_SUFFIX = re.compile(r"-(?:\d+x\d+|scaled|rotated)(?=\.[A-Za-z0-9]+$)")
_UPLOADS_PATH = re.compile(r"/wp-content/uploads/(.+)$")
# An image address of a blog like this one: /media/<token>.<ext>, or a smaller size of it.
_STORED_MEDIA = re.compile(r"/media/(([0-9a-f]{32})(?:-[0-9]{1,5})?\.(?:jpg|png|webp|gif))")


@dataclass
class ImportOptions:
    uploads: str | Path | None = None
    author_map: dict[str, str] = field(default_factory=dict)
    dry_run: bool = False
    site_settings: bool = False  # take the export's title and tagline over this site's


def parse_author_map(text: str) -> dict[str, str]:
    """`login=email` lines; blank lines and # comments are ignored."""
    mapping: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        login, sep, email = line.partition("=")
        if not sep or not login.strip() or not email.strip():
            raise ImportFailed(f"Author map, line {number}: expected login=email, got {raw!r}.")
        mapping[login.strip()] = email.strip()
    return mapping


def planned_steps(export: WxrExport) -> int:
    """How many progress steps an import of `export` takes: posts, pages and images."""
    images = [item for item in export.items_of("attachment") if _is_image(item)]
    return len(export.items_of(*IMPORTED_TYPES)) + len(images)


def run_wordpress_import(
    export: WxrExport, options: ImportOptions, progress: Progress | None = None
) -> Summary:
    """Import a parsed export; raise ImportFailed with a message when it cannot go on."""
    return _Importer(export, options, progress).run()


class _Importer:
    def __init__(self, export: WxrExport, options: ImportOptions, progress: Progress | None):
        self.export = export
        self.options = options
        self.progress = progress or (lambda done, total, label: None)
        self.summary = Summary(dry_run=options.dry_run)
        self.uploads: UploadsSource | None = None
        self.users: dict[str, User] = {}
        self.categories: dict[str, Category | None] = {}
        self.new_categories: set[int] = set()  # made by this run: only those get a parent
        self.tags: dict[str, Tag] = {}
        self.media_by_attachment: dict[str, Media | None] = {}
        self.media_by_file: dict[str, Media | None] = {}
        self.batches = Batches(options.dry_run)
        self.posts_by_wp_id: dict[str, Post] = {}
        self.written: list[Post] = []  # posts this run created or updated
        self.link_targets: dict[str, str] = {}  # old path -> new, known before the posts
        self.done = 0
        self.total = 0
        self.limit = media_service.upload_limits().max_bytes
        self.attachments = {item.wp_id: item for item in export.items_of("attachment")}
        self.attachment_by_path: dict[str, WxrItem] = {}
        for item in self.attachments.values():
            relative = self._attachment_path(item)
            if relative:
                self.attachment_by_path.setdefault(relative, item)
                self.attachment_by_path.setdefault(_SIZE_SUFFIX.sub("", relative), item)
        self.hosts = _site_hosts(export)
        # Exports of this blog: attachments at /media/<token>.<ext>, found by their token.
        self.attachment_by_token: dict[str, WxrItem] = {}
        for item in self.attachments.values():
            parts = urlsplit(item.attachment_url)
            found = _STORED_MEDIA.search(parts.path)
            if found and _bare_host(parts.hostname or "") in self.hosts:
                self.attachment_by_token.setdefault(found.group(2), item)
        self.seen_keys: set[str] = set()
        self.label = "the start"  # what is being imported, for an error message
        self.zone = site_zone()
        self.term_slugs = {t.term_id: t.slug for t in export.categories if t.term_id}
        self.tag_term_slugs = {t.term_id: t.slug for t in export.tags if t.term_id}
        self.wanted: dict[str, str] = {}  # every old path -> its new one, once known

    # --- the run -----------------------------------------------------------------------

    def run(self) -> Summary:
        if self.options.uploads:
            try:
                self.uploads = open_uploads(self.options.uploads)
            except UploadsError as error:
                raise ImportFailed(str(error)) from None
        try:
            with self.batches.stopping_cleanly("WordPress", lambda: self.label):
                self._check_author_map()
                self._check_zone()
                apply_settings(self.export, self.options.site_settings, self.summary)
                images = [a for a in self.attachments.values() if _is_image(a)]
                self.total = planned_steps(self.export)
                self._authors()
                self._categories()
                self._tags()
                self._media(images)
                self._known_targets()
                for item in self.export.items:
                    if item.post_type in IMPORTED_TYPES:
                        self.label = item.label
                        self._post(item)
                        self._advance(item.label)
                    elif item.post_type not in ("attachment", "nav_menu_item"):
                        self.summary.skip(f"{item.post_type or 'untyped'} item(s)")
                self.label = "the redirects"
                self._redirects()
                self.label = "the menus"
                self._menus()
                self._site_images()
                self._left_in_the_export()
        finally:
            if self.uploads is not None:
                self.uploads.close()
        return self.summary

    def _advance(self, label: str) -> None:
        self.done += 1
        self.progress(self.done, self.total, label)
        self.batches.step()

    # --- time zone ---------------------------------------------------------------------

    def _check_zone(self) -> None:
        """Dates without a GMT twin (drafts') are read in the site's zone: say if the export's
        own dates show the old site had another."""
        mismatch = zone_mismatch(self.export.items, self.zone)
        if mismatch is None:
            return
        self.summary.warn(
            "Time zone",
            f"the export's dates are {_offsets(*mismatch)} UTC, which the site's time zone "
            f"({self.zone.key}) is not; drafts' dates (WordPress keeps them only in local "
            "time) were read in the site's zone. To read them in the old site's, set "
            "Settings → Time zone to it before importing.",
        )

    # --- authors -----------------------------------------------------------------------

    def _check_author_map(self) -> None:
        logins = {author.login for author in self.export.authors}
        for login, email in self.options.author_map.items():
            user = find_user(email)
            if user is None:
                raise ImportFailed(f"Author map: no user has the email {email} (for {login}).")
            if login not in logins:
                self.summary.warn("Author map", f"{login} is not an author in this export.")

    def _authors(self) -> None:
        used = {
            item.creator
            for item in self.export.items
            if item.creator
            and (
                (item.post_type in IMPORTED_TYPES and item.status in STATUSES)
                or (item.post_type == "attachment" and _is_image(item))
            )
        }
        known = {author.login: author for author in self.export.authors}
        for login in sorted(used - set(known)):
            known[login] = None
        for login, author in known.items():
            if login in self.options.author_map:
                self.users[login] = find_user(self.options.author_map[login])
                self.summary.users_existing += 1
            elif login not in used:
                self.summary.warn(
                    f"Author {login}", "has no posts in the export; no account was created."
                )
                self.summary.left_behind("authors without posts (no account)")
            else:
                self.users[login] = self._account_for(login, author)
        db.session.flush()

    def _account_for(self, login: str, author) -> User:
        email = ""
        if author is not None and author.email:
            try:
                email = normalize_email(author.email)
            except AccountError:
                self.summary.warn(f"Author {login}", f"has an invalid email {author.email!r}.")
        if not email:
            email = f"{slugify(login, max_length=60, fallback='author')}@{PLACEHOLDER_DOMAIN}"
        return find_or_create_author(email, _display_name(login, author), self.summary)

    def _user(self, login: str) -> User:
        user = self.users.get(login)
        if user is None:  # an item without an author: give it an account of its own
            user = self._account_for(login or "wordpress", None)
            self.users[login] = user
        return user

    # --- categories and tags -----------------------------------------------------------

    def _categories(self) -> None:
        terms: dict[str, WxrTerm] = {term.slug: term for term in self.export.categories}
        for item in self.export.items:
            for slug, name in item.categories:
                terms.setdefault(slug, WxrTerm(slug=slug, name=name))
        names = {slug: term.name for slug, term in terms.items()}
        mapped_from: dict[int, str] = {}  # category id -> the WordPress slug it came from
        for slug, term in terms.items():
            if slug == UNCATEGORIZED or not term.name.strip():
                self.categories[slug] = None
                continue
            category = self._category(term, _parents(term, terms, names), mapped_from)
            self.categories[slug] = category
            mapped_from.setdefault(category.id, slug)
        self._keep_parents(terms)

    def _keep_parents(self, terms: dict[str, WxrTerm]) -> None:
        """Put each category made by this run under its WordPress parent's category."""
        for slug, term in terms.items():
            category, parent = self.categories.get(slug), self.categories.get(term.parent_slug)
            if category is None or parent is None or category.id not in self.new_categories:
                continue
            try:
                set_parent(category, parent)
            except TaxonomyError as error:
                self.summary.warn(category.name, f"stays a top-level category: {error}")

    def _category(self, term: WxrTerm, parents: list[str], mapped_from: dict) -> Category:
        slug = slugify(term.slug or term.name, max_length=SLUG_LENGTH, fallback="category")
        found = db.session.scalar(select(Category).where(Category.slug == slug))
        name = clean_text(term.name)[:MAX_NAME_LENGTH]
        if found is None:
            found = find_by_name(Category, name)
            if found is not None and mapped_from.get(found.id, term.slug) != term.slug:
                found = None  # the same name under another parent: keep them apart
                name = f"{name} ({parents[-1]})"[:MAX_NAME_LENGTH] if parents else name
                found = find_by_name(Category, name)
        if found is not None:
            return found
        description = html_to_text(term.description)
        category = new_category(name, slug, description, self.summary)
        self.new_categories.add(category.id)
        return category

    def _tags(self) -> None:
        terms: dict[str, WxrTerm] = {term.slug: term for term in self.export.tags}
        for item in self.export.items:
            for slug, name in item.tags:
                terms.setdefault(slug, WxrTerm(slug=slug, name=name))
        for slug, term in terms.items():
            if term.name.strip():
                self.tags[slug] = self._tag(term)

    def _tag(self, term: WxrTerm) -> Tag:
        return find_or_create_tag(term.name, term.slug, self.summary)

    # --- images ------------------------------------------------------------------------

    def _attachment_path(self, item: WxrItem) -> str | None:
        found = _UPLOADS_PATH.search(urlsplit(item.attachment_url).path)
        if found:
            return normalise(unquote(found.group(1)))
        attached = item.meta.get("_wp_attached_file", "")
        return normalise(attached) if attached else None

    def _media(self, images: list[WxrItem]) -> None:
        if self.uploads is None:
            self.summary.warn(
                "Images",
                "no uploads folder or zip was given: images not imported before keep their "
                "old addresses and posts get no featured image.",
            )
            self.summary.left_behind("images (no uploads folder or zip was given)", len(images))
        others = len(self.attachments) - len(images)
        if others:
            self.summary.warn(
                "Attachments",
                f"{others} attachment(s) are not images (PDF, audio…) and were not imported; "
                "links to them still point to the old site.",
            )
            self.summary.left_behind("attachments that are not images (PDF, audio…)", others)
        for item in images:
            self.label = item.label
            self.media_by_attachment[item.wp_id] = self._attachment_media(item)
            self._advance(item.label)

    def _attachment_media(self, item: WxrItem) -> Media | None:
        key = import_key("wordpress", item.guid or item.attachment_url)
        alt = media_service.clean_alt_text(item.meta.get("_wp_attachment_image_alt", ""))
        existing = find_imported(Media, key)
        if existing is not None:
            self.summary.media_reused += 1
            if alt and not existing.alt_text:
                existing.alt_text = alt
            return existing
        relative = self._attachment_path(item)
        if relative is None or self.uploads is None:
            if self.uploads is not None:
                self.summary.warn(item.label, "the attachment has no file path.")
            return None
        media = self._store(relative, item.label, self._user(item.creator))
        if media is not None:
            media.import_key = key
            media.alt_text = alt
            media.created_at = (
                utc_time(item.post_date_gmt, item.post_date, self.zone) or media.created_at
            )
        return media

    def _store(self, relative: str, label: str, uploader: User) -> Media | None:
        data = self.uploads.read(relative, self.limit) if self.uploads else None
        if data is None:
            self.summary.warn(label, f"the file {relative} is not in the uploads.")
            self.summary.left_behind("image attachments not found in the uploads")
            return None
        name = posixpath.basename(relative)
        try:
            upload = FileStorage(io.BytesIO(data), filename=name)
            media = media_service.save_upload(upload, uploader)
        except UploadError as error:
            self.summary.warn(label, f"{relative} was refused: {error}")
            current_app.logger.warning("WordPress import: %s refused: %s", relative, error)
            self.summary.left_behind("images refused by the upload checks")
            return None
        db.session.flush()
        self.batches.wrote(media)
        self.summary.media_imported += 1
        return media

    def _upload_path(self, url: str) -> str | None:
        """The path under uploads/ of an old-site URL, or None if it is no such URL."""
        parts = urlsplit(url.strip())
        if parts.netloc and _bare_host(parts.hostname or "") not in self.hosts:
            return None
        found = _UPLOADS_PATH.search(parts.path)
        if found:
            return normalise(unquote(found.group(1)))
        stored = _STORED_MEDIA.fullmatch(parts.path)
        attachment = self.attachment_by_token.get(stored.group(2)) if stored else None
        return self._attachment_path(attachment) if attachment is not None else None

    def _kept_markdown(self, item: WxrItem, title: str) -> str | None:
        """The Markdown an export of this blog kept for the item, its images pointing to the
        images imported here; None when there is none or the HTML changed since."""
        markdown = kept_markdown(item.meta, item.content)
        if markdown is None:
            return None
        base = re.escape(self.export.base_site_url.rstrip("/"))

        def replace(match: re.Match) -> str:
            name, token = match.group(1), match.group(2)
            attachment = self.attachment_by_token.get(token)
            media = self.media_by_attachment.get(attachment.wp_id) if attachment else None
            if media is None:
                if self.uploads is not None:
                    self.summary.warn(title, f"the image {name} is not in the export.")
                return match.group(0)
            new_token = media.filename.split(".", 1)[0]
            return _media_path_of(name.replace(token, new_token, 1))

        # the site's own absolute address, or a path that is not part of another address
        prefix = f"(?:{base}|(?<![\\w.:/-]))" if base else "(?<![\\w.:/-])"
        pattern = prefix + _STORED_MEDIA.pattern
        return re.sub(pattern, replace, markdown)

    def _media_for_path(self, relative: str, label: str, uploader: User) -> Media | None:
        attachment = self.attachment_by_path.get(relative) or self.attachment_by_path.get(
            _SIZE_SUFFIX.sub("", relative)
        )
        if attachment is not None and attachment.wp_id in self.media_by_attachment:
            found = self.media_by_attachment[attachment.wp_id]
            if found is not None:
                return found
        if relative in self.media_by_file:
            return self.media_by_file[relative]
        key = import_key("wordpress-file", f"{self.export.base_site_url}/{relative}")
        media = find_imported(Media, key)
        if media is None and self.uploads is not None:
            for candidate in dict.fromkeys([relative, _SIZE_SUFFIX.sub("", relative)]):
                if self.uploads.read(candidate, 0) is not None:
                    media = self._store(candidate, label, uploader)
                    if media is not None:
                        media.import_key = key
                    break
        self.media_by_file[relative] = media
        return media

    def _content_context(self, item: WxrItem, author: User) -> ContentContext:
        def image_url(url: str) -> str | None:
            relative = self._upload_path(url)
            if relative is None:
                return url
            media = self._media_for_path(relative, item.label, author)
            return _media_path(media) if media is not None else None

        def link_url(url: str) -> str:
            relative = self._upload_path(url)
            if relative is None:
                # A link to another page of the old site: its new address when it is known
                # already, else its old path (rewritten once every post is saved).
                path = self._site_relative(url)
                return new_address(path, self.link_targets) or path
            if not relative.lower().endswith(IMAGE_EXTENSIONS):
                return url
            media = self._media_for_path(relative, item.label, author)
            return _media_path(media) if media is not None else url

        def attachment(wp_id: str) -> ImageRef | None:
            found = self.attachments.get(wp_id)
            if found is None:
                return None
            return ImageRef(
                url=found.attachment_url,
                alt=found.meta.get("_wp_attachment_image_alt", ""),
                caption=html_to_text(found.excerpt),
            )

        children = [a.wp_id for a in self.attachments.values() if a.post_parent == item.wp_id]
        return ContentContext(
            image_url=image_url,
            link_url=link_url,
            attachment=attachment,
            children=children,
            footnotes=footnotes_meta(item.meta.get("footnotes", "")),
        )

    # --- posts and pages ---------------------------------------------------------------

    def _post(self, item: WxrItem) -> None:
        status = STATUSES.get(item.status)
        if status is None:
            self.summary.skip(f"{item.status or 'unknown'} item(s)")
            return
        if item.post_password and status != PostStatus.DRAFT:
            status = PostStatus.DRAFT
            self.summary.warn(item.label, "was password-protected; imported as a draft.")
            self.summary.left_behind("post passwords (those posts became drafts)")
        author = self._user(item.creator)
        key = self._post_key(item)
        existing = find_imported(Post, key)
        data = self._post_input(item, author, existing)
        if data is None:
            return
        created = utc_time(item.post_date_gmt, item.post_date, self.zone) or utcnow()
        published = created if status != PostStatus.DRAFT else None
        updated = utc_time(item.post_modified_gmt, item.post_modified, self.zone) or created
        created = min(created, updated)  # a scheduled post was created before its date
        incoming = IncomingPost(data, author, status, published, created, updated)
        counts = (self.summary.imported, self.summary.updated)
        post = apply_post(existing, incoming, key, item.label, self.summary)
        if (self.summary.imported, self.summary.updated) != counts:
            self.written.append(post)  # created or updated now: its links may be pointed
        if post is not None:
            self.posts_by_wp_id[item.wp_id] = post
            self._comments(item, post)

    def _comments(self, item: WxrItem, post: Post) -> None:
        if not item.comments:
            return
        users_by_wp_id = {
            author.wp_id: self.users[author.login]
            for author in self.export.authors
            if author.wp_id and self.users.get(author.login) is not None
        }
        site = self.export.base_site_url

        def key_for(comment_id: str) -> str:
            return import_key("wordpress-comment", f"{site}/?p={item.wp_id}#comment-{comment_id}")

        add_comments(post, read_comments(item, key_for, users_by_wp_id, self.summary), self.summary)

    def _post_key(self, item: WxrItem) -> str:
        key = import_key("wordpress", item.guid or f"{self.export.base_site_url}/?p={item.wp_id}")
        if key in self.seen_keys:
            key = import_key("wordpress", f"{self.export.base_site_url}/?p={item.wp_id}")
            self.summary.warn(item.label, "shares its GUID with another item; told apart by ID.")
        self.seen_keys.add(key)
        return key

    def _post_input(self, item: WxrItem, author: User, existing: Post | None) -> PostInput | None:
        title = " ".join(item.title.split())
        if not title:
            title = "Untitled"
            self.summary.warn(item.label, "has no title; it is called “Untitled”.")
        if len(title) > MAX_TITLE:
            title = title[: MAX_TITLE - 1].rstrip() + "…"
            self.summary.warn(item.label, "title shortened to 300 characters.")
        markdown = self._kept_markdown(item, title)
        if markdown is None:
            converted = wordpress_to_markdown(item.content, self._content_context(item, author))
            for message in converted.warnings:
                self.summary.warn(title, message)
            for kind, count in left_out_kinds(converted.warnings).items():
                self.summary.left_behind(kind, count)
            markdown = converted.markdown
        if len(markdown) > MAX_BODY:
            self.summary.skip("too long")
            self.summary.warn(title, "the text is longer than a post may be; not imported.")
            return None
        category, further = self._post_categories(item)
        tags = self._post_tags(item, title)
        featured, alt, caption = self._featured(item, title)
        return PostInput(
            title=title,
            body_md=markdown,
            slug=choose_post_slug(item.slug, existing, title, self.summary),
            excerpt=html_to_text(item.excerpt),
            kind=IMPORTED_TYPES[item.post_type],
            category_id=category.id if category else None,
            secondary_category_ids=[c.id for c in further],
            tags=", ".join(tags),
            featured_media_id=featured.id if featured else None,
            featured_alt=alt,
            featured_caption=caption,
            pinned=item.sticky if item.post_type == "post" else None,
        )

    def _post_categories(self, item: WxrItem) -> tuple[Category | None, list[Category]]:
        """The primary category and the further ones (blog.posts caps how many)."""
        found = [self.categories.get(slug) for slug, _name in item.categories]
        chosen = list(dict.fromkeys(c for c in found if c is not None))
        primary_slug = self.term_slugs.get(primary_term_id(item.meta), "")
        primary = self.categories.get(primary_slug)
        if primary is not None and primary in chosen:
            chosen.remove(primary)
            chosen.insert(0, primary)
        if not chosen:
            return None, []
        further = chosen[1:]
        if len(further) > MAX_SECONDARY_CATEGORIES:
            dropped = ", ".join(c.name for c in further[MAX_SECONDARY_CATEGORIES:])
            self.summary.warn(
                item.label, f"had more categories than a post may; left out: {dropped}."
            )
            further = further[:MAX_SECONDARY_CATEGORIES]
        return chosen[0], further

    def _post_tags(self, item: WxrItem, title: str) -> list[str]:
        names = [self.tags[slug].name for slug, _ in item.tags if slug in self.tags]
        unique = list(dict.fromkeys(names))
        if len(unique) > MAX_TAGS_PER_POST:
            self.summary.warn(title, f"had {len(unique)} tags; the first 20 were kept.")
            unique = unique[:MAX_TAGS_PER_POST]
        return unique

    def _featured(self, item: WxrItem, title: str) -> tuple[Media | None, str, str]:
        wp_id = item.meta.get("_thumbnail_id", "").strip()
        if not wp_id:
            return None, "", ""
        attachment = self.attachments.get(wp_id)
        if attachment is None:
            self.summary.warn(title, f"its featured image (#{wp_id}) is not in the export.")
            return None, "", ""
        media = self.media_by_attachment.get(wp_id)
        if media is None:
            if self.uploads is not None:
                self.summary.warn(title, "its featured image could not be imported.")
            return None, "", ""
        alt = media_service.clean_alt_text(attachment.meta.get("_wp_attachment_image_alt", ""))
        caption = html_to_text(attachment.excerpt)
        # An export of this blog: the post's own alt text and caption for its featured image.
        alt = item.meta.get(FEATURED_ALT_META, alt)
        caption = item.meta.get(FEATURED_CAPTION_META, caption)
        return media, alt, caption

    # --- redirects ---------------------------------------------------------------------

    def _post_targets(self, posts: dict[str, Post]) -> dict[str, str]:
        """Old addresses of the given posts (by WordPress id) -> their new ones."""
        wanted: dict[str, str] = {}
        items = {item.wp_id: item for item in self.export.items_of(*IMPORTED_TYPES)}
        for wp_id, post in posts.items():
            if post.status == PostStatus.DRAFT or wp_id not in items:
                continue
            target = app_path("public.post", slug=post.slug)
            for old in self._post_paths(items[wp_id], items):
                wanted.setdefault(old, target)
        return wanted

    def _other_targets(self, wanted: dict[str, str]) -> None:
        """Old addresses of categories, tags, authors and feeds -> their new ones."""
        self._term_redirects(wanted)
        for login, user in self.users.items():
            if user is None or not login:
                continue
            target = app_path("public.author", slug=user.slug)
            nicename = slugify(login, max_length=60, fallback="")
            for old in (f"/author/{login}/", f"/author/{nicename}/"):
                wanted.setdefault(old, target)
            author = next((a for a in self.export.authors if a.login == login), None)
            if author is not None and author.wp_id:
                wanted.setdefault(f"/?author={author.wp_id}", target)
        feed = app_path("public.rss_feed")
        for old in ("/feed/", "/?feed=rss2", "/?feed=rss", "/feed/rss2/", "/feed/atom/"):
            wanted.setdefault(old, feed)

    def _known_targets(self) -> None:
        """Before the posts: the new addresses already known (terms, authors, and posts
        imported by an earlier run), so links to them are written right the first time."""
        existing = {}
        for item in self.export.items_of(*IMPORTED_TYPES):
            key = import_key(
                "wordpress", item.guid or f"{self.export.base_site_url}/?p={item.wp_id}"
            )
            post = find_imported(Post, key)
            if post is not None:
                existing[item.wp_id] = post
        self.link_targets = self._post_targets(existing)
        self._other_targets(self.link_targets)

    def _redirects(self) -> None:
        """Record the old addresses, and point links to them in what this run wrote (a second
        pass: a post's new address is known only once it is saved)."""
        wanted = self._post_targets(self.posts_by_wp_id)
        self._other_targets(wanted)
        for post in self.written:
            body = rewrite_links(post.body_md, wanted)
            if body == post.body_md:
                continue
            post.body_md = body
            render_into(post)
            revision = db.session.scalar(
                select(Revision).where(
                    Revision.post_id == post.id, Revision.post_version == post.version
                )
            )
            if revision is not None:
                revision.body_md = body
        record_redirects(wanted, self.summary)
        self.wanted = wanted

    # --- menus, site icon and logo -----------------------------------------------------

    def _menus(self) -> None:
        place_menus(read_menus(self.export), self._menu_target, self.options.site_settings,
                    self.summary)  # fmt: skip

    def _left_in_the_export(self) -> None:
        """Count what the imported items carry that has no place here."""
        for item in self.export.items_of(*IMPORTED_TYPES):
            if item.status not in STATUSES:
                continue
            fields = [key for key in item.meta if key and not key.startswith("_")]
            if fields:
                self.summary.left_behind("custom fields (postmeta)", len(fields))
            for taxonomy, terms in item.terms.items():
                self.summary.left_behind(f"terms of the “{taxonomy}” taxonomy", len(terms))
            ips = sum(1 for comment in item.comments if comment.author_ip)
            if ips:
                self.summary.left_behind("commenters' IP addresses", ips)

    def _menu_target(self, entry: MenuEntry) -> tuple[str, str] | None:
        """The label and address here of what a WordPress menu item points at."""
        if entry.kind == "post_type":
            post = self.posts_by_wp_id.get(entry.target_id)
            if post is None or post.status != PostStatus.PUBLISHED:
                return None
            return post.title, app_path("public.post", slug=post.slug)
        if entry.kind == "taxonomy" and entry.target == "category":
            category = self.categories.get(self.term_slugs.get(entry.target_id, ""))
            if category is None:
                return None
            path = category_tree.load().path(category.id) or category.slug
            return category.name, app_path("public.category", slug=path)
        if entry.kind == "taxonomy" and entry.target == "post_tag":
            tag = self.tags.get(self.tag_term_slugs.get(entry.target_id, ""))
            return (tag.name, app_path("public.tag", slug=tag.slug)) if tag else None
        if entry.kind == "custom":
            path = self._site_relative(entry.url) if entry.url else ""
            return entry.title, new_address(path, self.wanted) or path
        return None

    def _site_images(self) -> None:
        """The attachments WordPress marks as the site icon or the custom logo."""
        marked = {}
        for wp_id, item in self.attachments.items():
            context = item.meta.get("_wp_attachment_context", "").strip()
            if self.media_by_attachment.get(wp_id) is not None:
                marked.setdefault(context, self.media_by_attachment[wp_id])
        apply_site_images(marked, self.options.site_settings, self.options.dry_run, self.summary)

    def _post_paths(self, item: WxrItem, items: dict[str, WxrItem]) -> list[str]:
        paths = [f"/?p={item.wp_id}"]
        slug = item.slug
        local = wp_datetime(item.post_date)
        if item.post_type == "page":
            paths.append(f"/?page_id={item.wp_id}")
            chain, parent, seen = [slug], items.get(item.post_parent), set()
            while parent is not None and parent.wp_id not in seen:
                seen.add(parent.wp_id)
                chain.insert(0, parent.slug)
                parent = items.get(parent.post_parent)
            if slug:
                paths.append("/" + "/".join(chain) + "/")
        elif slug and local is not None:
            paths.append(f"/{local:%Y/%m/%d}/{slug}/")
            paths.append(f"/{local:%Y/%m}/{slug}/")
        link = self._old_path(item.link)
        if link:
            paths.append(link)
        return paths

    def _site_relative(self, url: str) -> str:
        """An absolute link to the old site as a path on this one; other URLs unchanged."""
        parts = urlsplit(url)
        if (
            parts.scheme not in ("http", "https")
            or _bare_host(parts.hostname or "") not in self.hosts
        ):
            return url
        path = parts.path or "/"
        base = urlsplit(self.export.base_blog_url or "").path.rstrip("/")
        if base and path.startswith(base + "/"):
            path = path[len(base) :]
        query = f"?{parts.query}" if parts.query else ""
        fragment = f"#{parts.fragment}" if parts.fragment else ""
        return path + query + fragment

    def _old_path(self, url: str) -> str | None:
        parts = urlsplit(url or "")
        if not parts.path and not parts.query:
            return None
        if parts.netloc and _bare_host(parts.hostname or "") not in self.hosts:
            return None
        path = unquote(parts.path or "/")
        base = urlsplit(self.export.base_blog_url or "").path.rstrip("/")
        if base and path.startswith(base + "/"):
            path = path[len(base) :]
        return path + (f"?{unquote(parts.query)}" if parts.query else "")

    def _term_redirects(self, wanted: dict[str, str]) -> None:
        terms = {term.slug: term for term in self.export.categories}
        tree = category_tree.load()
        for slug, category in self.categories.items():
            if category is None:
                continue
            target = app_path("public.category", slug=tree.path(category.id) or category.slug)
            feed = app_path(
                "public.category_rss_feed", slug=tree.path(category.id) or category.slug
            )
            chain = [slug]
            term = terms.get(slug)
            seen = {slug}
            while term is not None and term.parent_slug and term.parent_slug not in seen:
                seen.add(term.parent_slug)
                chain.insert(0, term.parent_slug)
                term = terms.get(term.parent_slug)
            for old in dict.fromkeys([f"/category/{'/'.join(chain)}/", f"/category/{slug}/"]):
                wanted.setdefault(old, target)
                wanted.setdefault(old + "feed/", feed)
            declared = terms.get(slug)
            if declared is not None and declared.term_id:
                wanted.setdefault(f"/?cat={declared.term_id}", target)
        for slug, tag in self.tags.items():
            target = app_path("public.tag", slug=tag.slug)
            wanted.setdefault(f"/tag/{slug}/", target)
            wanted.setdefault(f"/tag/{slug}/feed/", app_path("public.tag_rss_feed", slug=tag.slug))
            wanted.setdefault(f"/?tag={slug}", target)


# --- helpers ----------------------------------------------------------------------------------


def _is_image(item: WxrItem) -> bool:
    path = urlsplit(item.attachment_url).path or item.meta.get("_wp_attached_file", "")
    return path.lower().endswith(IMAGE_EXTENSIONS)


def _bare_host(host: str) -> str:
    return host.lower().removeprefix("www.")


def _site_hosts(export: WxrExport) -> set[str]:
    hosts = set()
    for url in (export.base_site_url, export.base_blog_url, export.link):
        host = urlsplit(url or "").hostname
        if host:
            hosts.add(_bare_host(host))
    return hosts


def _offsets(low: float, high: float) -> str:
    """'1 to 2 hours ahead of', '5 hours behind', 'between -1 and 2 hours from'."""
    if low >= 0 or high <= 0:
        first, last = sorted((abs(low), abs(high)))
        span = f"{first:g}" if first == last else f"{first:g} to {last:g}"
        return f"{span} hours {'ahead of' if high > 0 else 'behind'}"
    return f"between {low:g} and {high:g} hours from"


def _display_name(login: str, author) -> str:
    if author is not None:
        full = f"{author.first_name} {author.last_name}".strip()
        name = author.display_name or full
        if name.strip():
            return " ".join(name.split())[:120]
    return login[:120] or "WordPress author"


def _parents(term: WxrTerm, terms: dict[str, WxrTerm], names: dict[str, str]) -> list[str]:
    chain, seen, parent = [], {term.slug}, term.parent_slug
    while parent and parent not in seen:
        seen.add(parent)
        chain.insert(0, names.get(parent, parent))
        parent = terms[parent].parent_slug if parent in terms else ""
    return chain


def _media_path(media: Media) -> str:
    return _media_path_of(media.filename)


def _media_path_of(filename: str) -> str:
    return app_path("public.media_file", filename=filename)
