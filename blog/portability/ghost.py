"""Import a Ghost site: the JSON file of Ghost's Settings → Import/Export (Ghost 5), its
content/images folder or a zip of it, and its members CSV.

Decisions:
- Every post and page goes through `blog.posts.save_post` (rendered, indexed, a revision),
  following the rules every importer shares (blog.portability.import_rules): found again by
  `ghost:<post id>`, slugs chosen with warnings, authors by email, redirects recorded.
- The text comes from the post's Lexical or Mobiledoc document (blog.portability.
  ghost_content says what each card becomes), or from its HTML when it holds something
  unknown (with a warning).
- Status: published → published, scheduled → scheduled at its date, draft → draft. A post
  for members or paid members only becomes a draft (everything here is public), and so does
  an email-only post ("sent"), each with a warning.
- Tags: Ghost's internal tags (a name starting with #, or visibility "internal") are not
  imported; the summary counts them. A post's primary tag (its first public tag) becomes its
  category here, its other public tags its tags. A tag that is primary somewhere and not
  elsewhere is thus both a category and a tag of the same name.
- Authors: the first author of a post is its author here (a deactivated account, found by
  email); co-authors are named in a warning. Authors without a post get no account.
- Featured image with its alt text and caption, custom excerpt, search title and
  description (else the social ones), the social image, the canonical URL and "featured"
  (pinned here) are kept. Code injection is not (a warning says so).
- The site's title and description are taken when this site still has its default ones;
  otherwise they are kept and a warning names Ghost's.
- Images are read from Ghost's content/images (a folder or a zip) and stored like uploads;
  Ghost's resized copies (content/images/size/w600/...) lead to the original. An image is
  found again by `ghost-image:<path>`.
- Redirects: /<slug>/ (and /<slug>/amp/) to the post when its address changed, /tag/<slug>/
  to its tag or category, /author/<slug>/ to the author page, /rss/ to the feed.
- Members: see blog.portability.ghost_members.
- Everything is read and checked before anything is written; the import commits in batches
  (blog.portability.batches) and a dry run rolls everything back.
"""

from __future__ import annotations

import io
import json
import posixpath
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from werkzeug.datastructures import FileStorage

from .. import media as media_service
from ..accounts import AccountError, normalize_email
from ..extensions import db
from ..models import Category, Media, Post, PostKind, PostStatus, Tag, User, utcnow
from ..posts import MAX_BODY, MAX_TITLE, PostInput, is_canonical_url
from ..settings import DEFAULTS, get_setting, set_settings
from ..taxonomy import MAX_TAGS_PER_POST
from ..text import slugify
from ..uploads import UploadError
from ..urls import app_path
from .batches import Batches
from .ghost_content import ghost_to_markdown
from .ghost_members import Member, ghost_time, import_members, read_members
from .import_rules import (
    IncomingPost,
    apply_post,
    choose_post_slug,
    find_imported,
    find_or_create_author,
    find_or_create_tag,
    find_term,
    import_key,
    new_category,
    record_redirects,
)
from .report import ImportFailed, Progress, Summary
from .uploads_source import GHOST_IMAGES, UploadsError, UploadsSource, normalise, open_uploads
from .wpcontent import html_to_text

MAX_EXPORT_BYTES = 200 * 1024 * 1024
KINDS = {"post": PostKind.POST, "page": PostKind.PAGE}
STATUSES = {
    "published": PostStatus.PUBLISHED,
    "scheduled": PostStatus.SCHEDULED,
    "draft": PostStatus.DRAFT,
    "sent": PostStatus.DRAFT,
}
PLACEHOLDER_DOMAIN = "ghost-import.invalid"
_IMAGE_PATH = re.compile(r"^/content/images/(?:size/[wh]\d+(?:h\d+)?/)?(?:format/\w+/)?(.+)$")


@dataclass
class GhostOptions:
    images: str | Path | None = None
    members: str | Path | None = None
    dry_run: bool = False


@dataclass
class GhostExport:
    """The `data` part of a Ghost export, with its tables as lists of dicts."""

    data: dict
    version: str

    def table(self, name: str) -> list[dict]:
        rows = self.data.get(name) or []
        return [row for row in rows if isinstance(row, dict)]


def parse_ghost(raw: bytes) -> GhostExport:
    """Read a Ghost JSON export; ImportFailed says why a file is not one."""
    if len(raw) > MAX_EXPORT_BYTES:
        raise ImportFailed("The Ghost export is larger than 200 MB.")
    try:
        document = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as error:
        raise ImportFailed(f"The file is not a Ghost export (not JSON: {error}).") from None
    if isinstance(document, dict) and isinstance(document.get("db"), list) and document["db"]:
        document = document["db"][0]  # Settings → Import/Export wraps it in db[0]
    data = document.get("data") if isinstance(document, dict) else None
    if not isinstance(data, dict) or not isinstance(data.get("posts"), list):
        raise ImportFailed(
            "The file is not a Ghost export: it has no posts. Use the JSON file from Ghost's "
            "Settings → Advanced → Import/Export → Export content."
        )
    meta = document.get("meta") if isinstance(document.get("meta"), dict) else {}
    return GhostExport(data=data, version=str(meta.get("version", "")))


def planned_steps(export: GhostExport) -> int:
    return len([p for p in export.table("posts") if p.get("type", "post") in KINDS]) + 1


def run_ghost_import(
    export: GhostExport, options: GhostOptions, progress: Progress | None = None
) -> Summary:
    """Import a parsed export; raise ImportFailed with a message when it cannot go on."""
    return _Importer(export, options, progress).run()


def _time(value) -> datetime | None:
    return ghost_time(str(value)) if value else None


def _internal(tag: dict) -> bool:
    return tag.get("visibility") == "internal" or str(tag.get("name", "")).startswith("#")


class _Importer:
    def __init__(self, export: GhostExport, options: GhostOptions, progress: Progress | None):
        self.export = export
        self.options = options
        self.progress = progress or (lambda done, total, label: None)
        self.summary = Summary(dry_run=options.dry_run)
        self.batches = Batches(options.dry_run)
        self.images: UploadsSource | None = None
        self.members: list[Member] = []
        self.limit = media_service.upload_limits().max_bytes
        self.done, self.total = 0, planned_steps(export)
        self.label = "the start"
        self.users: dict[str, User] = {}  # Ghost user id -> account
        self.ghost_users = {str(u.get("id")): u for u in export.table("users")}
        self.tags = {str(t.get("id")): t for t in export.table("tags")}
        self.meta = {str(m.get("post_id")): m for m in export.table("posts_meta")}
        self.post_tags = self._links("posts_tags", "tag_id")
        self.post_authors = self._links("posts_authors", "author_id")
        self.media: dict[str, Media | None] = {}  # image path -> stored image
        self.categories: dict[str, Category] = {}  # Ghost tag id -> category
        self.public_tags: dict[str, Tag] = {}  # Ghost tag id -> tag
        self.imported: list[tuple[dict, Post]] = []

    def _links(self, table: str, column: str) -> dict[str, list[str]]:
        rows = sorted(self.export.table(table), key=lambda row: row.get("sort_order") or 0)
        links: dict[str, list[str]] = {}
        for row in rows:
            links.setdefault(str(row.get("post_id")), []).append(str(row.get(column)))
        return links

    # --- the run ---------------------------------------------------------------------------

    def run(self) -> Summary:
        if self.options.members:
            self.members = read_members(self.options.members)
        if self.options.images:
            try:
                self.images = open_uploads(self.options.images, GHOST_IMAGES)
            except UploadsError as error:
                raise ImportFailed(str(error)) from None
        else:
            self.summary.warn("Images", "no content/images folder or zip was given: images "
                              "are not imported and keep addresses that lead nowhere.")  # fmt: skip
        try:
            with self.batches.stopping_cleanly("Ghost", lambda: self.label):
                self._settings()
                self._internal_tags()
                for post in self.export.table("posts"):
                    if post.get("type", "post") not in KINDS:
                        self.summary.skip(f"{post.get('type')} item(s)")
                        continue
                    self.label = str(post.get("title") or post.get("slug") or post.get("id"))
                    self._post(post)
                    self._advance(self.label)
                self.label = "the redirects"
                self._redirects()
                self.label = "the members"
                if self.members:
                    import_members(self.members, self.summary)
                self._advance("members")
        finally:
            if self.images is not None:
                self.images.close()
        return self.summary

    def _advance(self, label: str) -> None:
        self.done += 1
        self.progress(self.done, self.total, label)
        self.batches.step()

    # --- the site ----------------------------------------------------------------------------

    def _settings(self) -> None:
        ghost = {str(row.get("key")): row.get("value") for row in self.export.table("settings")}
        wanted = {"site_title": ghost.get("title"), "tagline": ghost.get("description")}
        changes = {}
        for key, value in wanted.items():
            value = " ".join(str(value or "").split())[:200]
            here = get_setting(key)
            if not value or value == here:
                continue
            if here == DEFAULTS[key]:
                changes[key] = value
            else:
                name = key.replace("site_", "").replace("_", " ")
                message = f"the {name} here “{here}” was kept; Ghost's is “{value}”."
                self.summary.warn("Site", message)
        zone = str(ghost.get("timezone") or "")
        if zone and get_setting("timezone") == DEFAULTS["timezone"] and zone != "Etc/UTC":
            try:
                ZoneInfo(zone)
                changes["timezone"] = zone
            except (ZoneInfoNotFoundError, ValueError):
                self.summary.warn("Site", f"Ghost's time zone {zone!r} is not known here.")
        if changes:
            set_settings(changes)

    def _internal_tags(self) -> None:
        names = sorted(str(t.get("name")) for t in self.tags.values() if _internal(t))
        if names:
            self.summary.warn(
                "Internal tags",
                f"{len(names)} internal tag(s) ({', '.join(names)}) were not imported; "
                "they are only for Ghost's themes and integrations.",
            )

    # --- authors -----------------------------------------------------------------------------

    def _author(self, post: dict) -> tuple[User, list[str]]:
        ids = self.post_authors.get(str(post.get("id"))) or [str(post.get("author_id") or "1")]
        others = [str(self.ghost_users.get(i, {}).get("name") or i) for i in ids[1:]]
        return self._account(ids[0]), others

    def _account(self, ghost_id: str) -> User:
        if ghost_id in self.users:
            return self.users[ghost_id]
        user = self.ghost_users.get(ghost_id, {})
        name = str(user.get("name") or "Ghost author")
        try:
            email = normalize_email(str(user.get("email") or ""))
        except AccountError:
            slug = slugify(str(user.get("slug") or name), max_length=60, fallback="author")
            email = f"{slug}@{PLACEHOLDER_DOMAIN}"
        account = find_or_create_author(email, name, self.summary)
        self.users[ghost_id] = account
        return account

    # --- images ------------------------------------------------------------------------------

    def _image_path(self, url: str) -> str | None:
        """The path under content/images of one of the Ghost site's images, else None."""
        url = (url or "").strip()
        if url.startswith("__GHOST_URL__"):
            url = url[len("__GHOST_URL__") :] or "/"
        elif urlsplit(url).netloc:
            return None
        found = _IMAGE_PATH.match(unquote(urlsplit(url).path))
        return normalise(found.group(1)) if found else None

    def image_url(self, url: str) -> str:
        """The new address of an image in the text (an outside image keeps its own)."""
        relative = self._image_path(url)
        if relative is None:
            return self.link_url(url)
        media = self._media(relative)
        return _media_path(media) if media is not None else self.link_url(url)

    def link_url(self, url: str) -> str:
        """`__GHOST_URL__/about/` is /about/ here: the same path, or a redirect to it."""
        url = (url or "").strip()
        if url.startswith("__GHOST_URL__"):
            return url[len("__GHOST_URL__") :] or "/"
        return url

    def _media(self, relative: str) -> Media | None:
        if relative in self.media:
            return self.media[relative]
        key = import_key("ghost-image", relative)
        media = find_imported(Media, key)
        if media is not None:
            self.summary.media_reused += 1
        elif self.images is not None:
            media = self._store(relative)
            if media is not None:
                media.import_key = key
        self.media[relative] = media
        return media

    def _store(self, relative: str) -> Media | None:
        data = self.images.read(relative, self.limit)
        if data is None:
            self.summary.warn(self.label, f"the image {relative} is not in content/images.")
            return None
        uploader = next(iter(self.users.values()), None) or self._account("1")
        try:
            upload = FileStorage(io.BytesIO(data), filename=posixpath.basename(relative))
            media = media_service.save_upload(upload, uploader)
        except UploadError as error:
            self.summary.warn(self.label, f"{relative} was refused: {error}")
            return None
        db.session.flush()
        self.batches.wrote(media)
        self.summary.media_imported += 1
        return media

    # --- posts and pages ---------------------------------------------------------------------

    def _post(self, post: dict) -> None:
        status = STATUSES.get(str(post.get("status")))
        if status is None:
            self.summary.skip(f"{post.get('status') or 'unknown'} item(s)")
            return
        title = self._title(post)
        if post.get("status") == "sent":
            self.summary.warn(title, "was sent by email only; imported as a draft.")
        visibility = str(post.get("visibility") or "public")
        if visibility != "public" and status != PostStatus.DRAFT:
            status = PostStatus.DRAFT
            who = {"members": "members", "paid": "paying members"}.get(visibility, "some members")
            self.summary.warn(title, f"was for {who} only on Ghost; imported as a draft (nothing "
                              "here is behind a sign-in).")  # fmt: skip
        author, others = self._author(post)
        if others:
            self.summary.warn(title, f"had co-authors ({', '.join(others)}); only "
                              f"{author.display_name} is its author here.")  # fmt: skip
        if post.get("codeinjection_head") or post.get("codeinjection_foot"):
            self.summary.warn(title, "had code injection, which was not imported.")
        key = import_key("ghost", str(post.get("id")))
        existing = find_imported(Post, key)
        data = self._input(post, title, existing)
        if data is None:
            return
        created = _time(post.get("created_at")) or utcnow()
        updated = _time(post.get("updated_at")) or created
        published = _time(post.get("published_at")) or created
        incoming = IncomingPost(
            data, author, status, None if status == PostStatus.DRAFT else published,
            min(created, updated), updated,
        )  # fmt: skip
        saved = apply_post(existing, incoming, key, title, self.summary)
        if saved is not None:
            self.imported.append((post, saved))

    def _title(self, post: dict) -> str:
        title = " ".join(str(post.get("title") or "").split()) or "Untitled"
        if len(title) > MAX_TITLE:
            self.summary.warn(title[:60] + "…", "title shortened to 300 characters.")
            title = title[: MAX_TITLE - 1].rstrip() + "…"
        return title

    def _input(self, post: dict, title: str, existing: Post | None) -> PostInput | None:
        converted = ghost_to_markdown(
            post.get("lexical"), post.get("mobiledoc"), post.get("html"),
            self.image_url, self.link_url,
        )  # fmt: skip
        for message in converted.warnings:
            self.summary.warn(title, message)
        if len(converted.markdown) > MAX_BODY:
            self.summary.skip("too long")
            self.summary.warn(title, "the text is longer than a post may be; not imported.")
            return None
        meta = {**post, **{k: v for k, v in self.meta.get(str(post.get("id")), {}).items() if v}}
        category, tags = self._terms(post, title)
        featured = self._featured_image(meta.get("feature_image"))
        social = self._featured_image(meta.get("og_image") or meta.get("twitter_image"))
        return PostInput(
            title=title,
            body_md=converted.markdown,
            slug=choose_post_slug(str(post.get("slug") or ""), existing, title, self.summary),
            excerpt=str(post.get("custom_excerpt") or ""),
            kind=KINDS[post.get("type", "post")],
            category_id=category.id if category else None,
            tags=", ".join(tag.name for tag in tags),
            featured_media_id=featured.id if featured else None,
            featured_alt=media_service.clean_alt_text(meta.get("feature_image_alt") or "")
            if featured else "",
            featured_caption=html_to_text(meta.get("feature_image_caption") or "")
            if featured else "",
            pinned=bool(post.get("featured")),
            meta_title=str(meta.get("meta_title") or meta.get("og_title")
                           or meta.get("twitter_title") or "")[:300],
            meta_description=str(meta.get("meta_description") or meta.get("og_description")
                                 or meta.get("twitter_description") or "")[:500],
            social_media_id=social.id if social else None,
            canonical_url=self._canonical(post, title),
        )  # fmt: skip

    def _canonical(self, post: dict, title: str) -> str:
        """The canonical address, if it is a full one (one on the Ghost site itself is this
        post's own address: none is needed)."""
        url = str(post.get("canonical_url") or "").strip()
        if url.startswith("__GHOST_URL__") or is_canonical_url(url):
            return "" if url.startswith("__GHOST_URL__") else url
        self.summary.warn(title, f"its canonical address {url[:100]!r} is not a full address; "
                          "left out.")  # fmt: skip
        return ""

    def _featured_image(self, url) -> Media | None:
        relative = self._image_path(str(url or ""))
        return self._media(relative) if relative else None

    def _terms(self, post: dict, title: str) -> tuple[Category | None, list[Tag]]:
        """The post's category (its primary tag) and its other public tags."""
        ids = [i for i in self.post_tags.get(str(post.get("id")), []) if i in self.tags]
        public = [i for i in ids if not _internal(self.tags[i])]
        category = None
        if public and ids[0] == public[0] and post.get("type", "post") == "post":
            category = self._category(public[0])
            public = public[1:]
        tags = list({id(t): t for t in (self._tag(i) for i in public)}.values())
        if len(tags) > MAX_TAGS_PER_POST:
            self.summary.warn(title, f"had {len(tags)} tags; the first 20 were kept.")
            tags = tags[:MAX_TAGS_PER_POST]
        return category, tags

    def _category(self, ghost_id: str) -> Category:
        if ghost_id not in self.categories:
            tag = self.tags[ghost_id]
            name, slug = str(tag.get("name") or ""), str(tag.get("slug") or "")
            found = find_term(Category, slugify(slug, max_length=60, fallback=""), name)
            self.categories[ghost_id] = found or new_category(
                name, slug, html_to_text(str(tag.get("description") or "")), self.summary
            )
        return self.categories[ghost_id]

    def _tag(self, ghost_id: str) -> Tag:
        if ghost_id not in self.public_tags:
            tag = self.tags[ghost_id]
            name = str(tag.get("name") or tag.get("slug") or "tag")
            self.public_tags[ghost_id] = find_or_create_tag(
                name, str(tag.get("slug") or ""), self.summary
            )
        return self.public_tags[ghost_id]

    # --- redirects ---------------------------------------------------------------------------

    def _redirects(self) -> None:
        wanted: dict[str, str] = {}
        for post, saved in self.imported:
            if saved.status == PostStatus.DRAFT or not post.get("slug"):
                continue
            target = app_path("public.post", slug=saved.slug)
            for old in (f"/{post['slug']}/", f"/{post['slug']}/amp/"):
                wanted.setdefault(old, target)
        for ghost_id, category in self.categories.items():
            slug = self.tags[ghost_id].get("slug")
            if not slug:
                continue
            wanted.setdefault(f"/tag/{slug}/", app_path("public.category", slug=category.slug))
            feed = app_path("public.category_rss_feed", slug=category.slug)
            wanted.setdefault(f"/tag/{slug}/rss/", feed)
        for ghost_id, tag in self.public_tags.items():
            slug = self.tags[ghost_id].get("slug")
            if not slug:
                continue
            wanted.setdefault(f"/tag/{slug}/", app_path("public.tag", slug=tag.slug))
            wanted.setdefault(f"/tag/{slug}/rss/", app_path("public.tag_rss_feed", slug=tag.slug))
        for ghost_id, user in self.users.items():
            slug = self.ghost_users.get(ghost_id, {}).get("slug")
            if slug:
                wanted.setdefault(f"/author/{slug}/", app_path("public.author", slug=user.slug))
        wanted.setdefault("/rss/", app_path("public.rss_feed"))
        record_redirects(wanted, self.summary)


def _media_path(media: Media) -> str:
    return app_path("public.media_file", filename=media.filename)
