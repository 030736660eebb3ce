"""Import Markdown files: this blog's own export (`markdown_export`), or the layouts people
move from (Jekyll, Hugo, Eleventy, a folder of notes), from a zip or a folder.

The import is a script of steps: sort the files (`markdown_layouts.sort_files`), read each
one (`read_document`) and its fields (`post_fields`), then store the post by the rules every
import follows (`import_rules`: matching, addresses, authors, redirects), with its images and
its comments file (`comment_files`).

An export's images (`/images/<name>`) become this blog's `/media/<name>` addresses again, and
keep their file name when it is free, so an export imported into an empty blog gives the same
posts, field for field, and the same image bytes.
"""

from __future__ import annotations

import io
import posixpath
import re
import zipfile
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from urllib.parse import unquote

from PIL import Image
from sqlalchemy import select
from werkzeug.datastructures import FileStorage

from .. import media as media_service
from ..extensions import db
from ..models import Category, Media, Post, PostStatus, User, utcnow
from ..posts import PostInput
from ..taxonomy import SLUG_LENGTH
from ..text import slugify
from ..uploads import STORED_NAME, UploadError, safe_media_path
from ..urls import app_path
from .batches import Batches
from .comment_files import SUFFIX as COMMENTS_SUFFIX
from .comment_files import comments_path, read_comments_file
from .comment_import import add_comments
from .import_rules import (
    IncomingPost,
    apply_post,
    choose_post_slug,
    find_imported,
    find_or_create_author,
    find_own_media,
    find_own_post,
    find_term,
    import_key,
    new_category,
    record_redirects,
    site_zone,
)
from .markdown_layouts import (
    Document,
    Unusable,
    author_of,
    featured_reference,
    post_fields,
    read_document,
    sort_files,
    text,
    to_utc,
)
from .report import ImportFailed, Progress, Summary

MAX_FILE_BYTES = 8 * 1024 * 1024
LOCAL_IMAGE = re.compile(r"(!\[[^\]\n]*\]\(\s*<?)([^)\s>]+)(>?(?:\s+\"[^\"\n]*\")?\s*\))")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".gif", ".webp")
EXPORTED_IMAGE = re.compile(r"/images/([0-9a-f]{32}(?:-[0-9]{1,5})?\.(?:jpg|png|webp|gif))")
# Metadata an image may carry and still be kept byte for byte; anything else means the
# file is re-encoded like any upload (which removes EXIF, XMP and comments).
_HARMLESS_INFO = {
    "icc_profile", "transparency", "gamma", "dpi", "aspect", "srgb", "chromaticity",
    "interlace", "jfif", "jfif_version", "jfif_unit", "jfif_density", "adobe",
    "adobe_transform", "progressive", "progression", "duration", "loop", "background",
    "version", "disposal", "blend", "default_image", "bbox", "mode", "compression",
}  # fmt: skip
_HARMLESS_JPEG_SEGMENTS = {"APP0": b"JFIF\x00", "APP2": b"ICC_PROFILE\x00", "APP14": b"Adobe"}


# --- reading files --------------------------------------------------------------------------


class _Source:
    """The files of an export, from a zip or a folder, by their relative path."""

    def __init__(self, path: Path):
        self.archive = None
        self.root = None
        if path.is_dir():
            self.root = path.resolve()
            self.names = [
                p.relative_to(self.root).as_posix() for p in self.root.rglob("*") if p.is_file()
            ]
        elif path.is_file():
            try:
                self.archive = zipfile.ZipFile(path)
            except (zipfile.BadZipFile, OSError) as error:
                raise ImportFailed(f"{path} is not a readable zip file: {error}") from None
            self.names = [i.filename for i in self.archive.infolist() if not i.is_dir()]
        else:
            raise ImportFailed(f"There is no file or folder at {path}.")

    def read(self, name: str, limit: int) -> bytes | None:
        try:
            if self.archive is not None:
                with self.archive.open(name) as handle:
                    return handle.read(limit + 1)
            path = (self.root / name).resolve()
            if not path.is_relative_to(self.root):
                return None
            with path.open("rb") as handle:
                return handle.read(limit + 1)
        except (KeyError, OSError, zipfile.BadZipFile, RuntimeError):
            return None

    def modified(self, name: str, zone) -> datetime | None:
        """When the file was last changed, as naive UTC (a zip keeps local times: read in
        the site's time zone)."""
        try:
            if self.archive is not None:
                local = datetime(*self.archive.getinfo(name).date_time, tzinfo=zone)
                return local.astimezone(UTC).replace(tzinfo=None)
            stamp = (self.root / name).stat().st_mtime
            return datetime.fromtimestamp(stamp, UTC).replace(tzinfo=None, microsecond=0)
        except (KeyError, OSError, ValueError):
            return None

    def close(self) -> None:
        if self.archive is not None:
            self.archive.close()


# --- import ---------------------------------------------------------------------------------


def import_markdown(
    source_path: str | Path, dry_run: bool = False, progress: Progress | None = None
) -> Summary:
    """Import an export made by `export_markdown` (or written by hand in the same layout)."""
    source = _Source(Path(source_path))
    try:
        return _MarkdownImporter(source, dry_run, progress).run()
    finally:
        source.close()


class _MarkdownImporter:
    def __init__(self, source: _Source, dry_run: bool, progress: Progress | None):
        self.source = source
        self.summary = Summary(dry_run=dry_run)
        self.progress = progress or (lambda done, total, label: None)
        self.batches = Batches(dry_run)
        self.images: dict[str, str] = {}  # exported name -> path in the source
        self.media: dict[str, Media | None] = {}
        self.users: dict[str, User] = {}
        self.comment_files = {name for name in source.names if name.endswith(COMMENTS_SUFFIX)}
        self.zone = site_zone()
        self.names = set(source.names)
        self.files: dict[str, Media | None] = {}  # image files beside posts, by path
        self.own_posts: set[int] = set()  # posts of this blog that its own export carried
        self.old_paths: dict[str, str] = {}  # old address -> new, for public posts

    def run(self) -> Summary:
        files = sort_files(self.source.names)
        for name, unusable in zip(files.skipped_names, files.skipped, strict=True):
            self._skip_file(name, unusable)
        for folder, count in files.unread_folders.items():
            for _ in range(count):
                self.summary.skip("in folders of tools or templates")
            self.summary.warn(folder, f"{count} Markdown file(s) not read: this folder holds "
                              "tools, templates or generated pages, not posts.")  # fmt: skip
        documents = self._documents(files.posts)
        for name in self.source.names:
            parts = PurePosixPath(name).parts
            if "images" in parts[:-1] and STORED_NAME.fullmatch(parts[-1]):
                self.images.setdefault(parts[-1], name)
        self.label = "the start"
        with self.batches.stopping_cleanly("Markdown", lambda: self.label):
            for number, document in enumerate(documents, start=1):
                self.label = document.path
                post = self._post(document)
                if post is not None:
                    self._comments(document, post)
                self.progress(number, len(documents), self.label)
                self.batches.step()
            record_redirects(self.old_paths, self.summary)
        return self.summary

    def _skip_file(self, name: str, unusable: Unusable) -> None:
        self.summary.skip(unusable.kind)
        self.summary.warn(name, f"was skipped: {unusable}.")

    def _documents(self, names: list[str]) -> list[Document]:
        documents = []
        for name in names:
            data = self.source.read(name, MAX_FILE_BYTES)
            if data is None or len(data) > MAX_FILE_BYTES:
                self.summary.skip("unreadable or too large")
                self.summary.warn(name, "could not be read, or is larger than 8 MB.")
                continue
            try:
                documents.append(read_document(name, data, self.source.modified(name, self.zone)))
            except Unusable as error:
                self._skip_file(name, error)
        return documents

    # --- one post ----------------------------------------------------------------------

    def _post(self, document: Document) -> Post | None:
        """Create or update the document's post; the post, or None when it was skipped."""
        meta, name = document.meta, document.path
        try:
            fields = post_fields(document, self.zone, utcnow())
        except Unusable as error:
            self._skip_file(name, error)
            return None
        title = fields.title
        key = text(meta.get("import_key")) or f"markdown:{fields.key_slug}"
        existing = find_imported(Post, key)
        if existing is None:
            created = to_utc(meta.get("created"), self.zone)
            existing = find_own_post(fields.slug, fields.title, created)
            if existing is not None:
                self.own_posts.add(existing.id)
        author = self._author(meta)
        featured = self._featured(meta, name, author)
        if fields.further_categories:
            others = ", ".join(fields.further_categories)
            self.summary.warn(title, f"had several categories; the others became tags: {others}.")
        data = PostInput(
            title=title,
            body_md=self._body(document, fields.body, author, title),
            slug=choose_post_slug(fields.slug, existing, title, self.summary),
            excerpt=fields.excerpt,
            kind=fields.kind,
            category_id=self._category(meta, fields.category),
            tags=", ".join(tag.replace(",", " ") for tag in fields.tags),
            featured_media_id=featured.id if featured else None,
            featured_alt=text(meta.get("alt")),
            featured_caption=text(meta.get("caption")),
        )
        incoming = IncomingPost(
            data, author, fields.status, fields.published, fields.created, fields.updated
        )
        post = apply_post(existing, incoming, key, title, self.summary)
        if post is not None and post.status != PostStatus.DRAFT:
            target = app_path("public.post", slug=post.slug)
            for old in fields.old_paths:
                self.old_paths.setdefault(old, target)
        return post

    def _comments(self, document: Document, post: Post) -> None:
        """The comments file beside the post's file, if there is one (see comment_files)."""
        name = comments_path(document.path)
        if name not in self.comment_files:
            return
        data = self.source.read(name, MAX_FILE_BYTES)
        if data is None or len(data) > MAX_FILE_BYTES:
            self.summary.warn(name, "could not be read, or is larger than 8 MB.")
            return
        incoming = read_comments_file(data, post, name, self.summary)
        if post.id in self.own_posts:  # this blog's own export: its comments are here
            self.summary.comments_existing += len(incoming)
            return
        add_comments(post, incoming, self.summary)

    def _author(self, meta: dict) -> User:
        email, name = author_of(meta)
        if email in self.users:
            return self.users[email]
        user = find_or_create_author(email, name, self.summary)
        self.users[email] = user
        return user

    def _category(self, meta: dict, name: str) -> int | None:
        if not name:
            return None
        slug = slugify(text(meta.get("category_slug")) or name, max_length=SLUG_LENGTH)
        found = find_term(Category, slug, name)
        if found is None:
            description = text(meta.get("category_description")).strip()
            found = new_category(name, slug, description, self.summary)
        return found.id

    # --- images ------------------------------------------------------------------------

    def _featured(self, meta: dict, name: str, author: User) -> Media | None:
        reference = featured_reference(meta)
        if not reference:
            return None
        file_name = PurePosixPath(reference).name
        media = self._image(file_name, author, text(meta.get("featured_image_name")))
        beside = None if file_name in self.images else self._image_path(reference, name)
        if media is None and beside is not None:
            media = self._file_image(beside, author)
        if media is None:
            self.summary.warn(name, f"its featured image {reference} could not be imported.")
        elif not media.alt_text and text(meta.get("alt")):
            media.alt_text = media_service.clean_alt_text(text(meta.get("alt")))
        return media

    def _body(self, document: Document, body: str, author: User, title: str) -> str:
        def exported(match: re.Match) -> str:
            name = match.group(1)
            if name not in self.images:
                return match.group(0)
            media = self._image(self._main_name(name), author)
            if media is None:
                self.summary.warn(title, f"the image {name} could not be imported.")
                return match.group(0)
            return "/media/" + _same_variant(name, media)

        def beside(match: re.Match) -> str:
            reference = match.group(2)
            found = self._image_path(reference, document.path)
            if found is None:
                if not reference.startswith("/") and ":" not in reference:
                    self.summary.warn(title, f"the image {reference} is not in the import.")
                return match.group(0)
            media = self._file_image(found, author)
            if media is None:
                self.summary.warn(title, f"the image {found} could not be imported.")
                return match.group(0)
            return f"{match.group(1)}/media/{media.filename}{match.group(3)}"

        return LOCAL_IMAGE.sub(beside, EXPORTED_IMAGE.sub(exported, body))

    def _image_path(self, reference: str, document_path: str) -> str | None:
        """The file in the source an image reference of a post points to, if it is there:
        relative to the post's file (a page bundle), or from the site's root or Hugo's
        `static/`."""
        reference = unquote(reference.split("#")[0].split("?")[0])
        if "://" in reference or reference.startswith(("data:", "//")) or not reference:
            return None
        if reference.startswith("/"):
            candidates = [reference[1:], f"static/{reference[1:]}"]
        else:
            folder = posixpath.dirname(document_path)
            candidates = [posixpath.normpath(posixpath.join(folder, reference))]
        for candidate in candidates:
            if candidate in self.names and candidate.lower().endswith(IMAGE_SUFFIXES):
                return candidate
        return None

    def _file_image(self, path: str, author: User) -> Media | None:
        """An image file of the source (not of this blog's export), imported once."""
        if path in self.files:
            return self.files[path]
        key = import_key("markdown-file", path)
        media = find_imported(Media, key)
        if media is not None:
            self.summary.media_reused += 1
        else:
            media = self._store(path, author, PurePosixPath(path).name)
            if media is not None:
                media.import_key = key
        self.files[path] = media
        return media

    def _main_name(self, name: str) -> str:
        """The original a smaller size was made from ('<token>-480.png' -> '<token>.gif')."""
        token = name.split(".", 1)[0].split("-", 1)[0]
        return next((n for n in self.images if n.startswith(token + ".")), name)

    def _image(self, file_name: str, author: User, original_name: str = "") -> Media | None:
        if file_name in self.media:
            return self.media[file_name]
        key = f"markdown:images/{file_name}"
        media = find_imported(Media, key) or find_own_media(file_name)
        if media is not None:
            self.summary.media_reused += 1
        elif file_name in self.images:
            name = original_name or file_name
            media = self._store(self.images[file_name], author, name, keep_as=file_name)
            if media is not None:
                media.import_key = key
        self.media[file_name] = media
        return media

    def _store(
        self, path: str, author: User, name: str, keep_as: str | None = None
    ) -> Media | None:
        """Store the image at `path` in the source as an upload named `name`; an image of
        this blog's export keeps its exported name `keep_as` and bytes where it can."""
        limit = media_service.upload_limits().max_bytes
        data = self.source.read(path, limit)
        if data is None:
            return None
        upload = FileStorage(io.BytesIO(data), filename=name)
        try:
            media = media_service.save_upload(upload, author)
        except UploadError as error:
            self.summary.warn(PurePosixPath(path).name, f"was refused: {error}")
            return None
        if keep_as is not None:
            keep_original(media, keep_as, data)
        db.session.flush()
        self.batches.wrote(media)
        self.summary.media_imported += 1
        return media


def keep_original(media: Media, wanted: str, original: bytes) -> None:
    """After the upload checks passed, keep the exported file's name and bytes if possible.

    The name is kept when it is free (an import into an empty blog), so the Markdown's image
    addresses stay the same. The bytes are kept when the file carries no metadata the upload
    checks would remove, so the image is not re-encoded a second time.
    """
    folder = media_service.upload_folder()
    token, extension = wanted.split(".", 1)
    own_token, own_extension = media.filename.split(".", 1)
    if extension == own_extension and "-" not in token and _name_free(folder, wanted, media):
        renames = [(media.filename, wanted)]
        for variant in media.variants or []:
            renames.append((variant["filename"], variant["filename"].replace(own_token, token, 1)))
        for old, new in renames:
            safe_media_path(folder, old).rename(safe_media_path(folder, new))
        media.filename = wanted
        media.variants = [
            {**v, "filename": v["filename"].replace(own_token, token, 1)}
            for v in media.variants or []
        ]
    if _metadata_free(original):
        path = safe_media_path(folder, media.filename)
        path.write_bytes(original)
        media.size_bytes = len(original)


def _name_free(folder: Path, wanted: str, media: Media) -> bool:
    token = wanted.split(".", 1)[0]
    if db.session.scalar(select(Media.id).where(Media.filename.startswith(token))) is not None:
        return False
    names = [wanted] + [
        v["filename"].replace(media.filename.split(".", 1)[0], token, 1)
        for v in media.variants or []
    ]
    return not any(safe_media_path(folder, name).exists() for name in names)


def _metadata_free(data: bytes) -> bool:
    """True if the image holds nothing but pixels and harmless format details.

    It must also end where its format ends: bytes appended after the image (a "polyglot"
    file) would otherwise be served from this site.
    """
    try:
        with Image.open(io.BytesIO(data)) as image:
            image_format = image.format
            if set(image.info) - _HARMLESS_INFO or getattr(image, "text", None):
                return False
            if image_format == "JPEG" and not all(
                payload.startswith(_HARMLESS_JPEG_SEGMENTS.get(marker, b"\x00never"))
                for marker, payload in image.applist
            ):
                return False
    except Exception:  # noqa: BLE001 - any doubt means: re-encode
        return False
    return _ends_cleanly(image_format, data)


def _ends_cleanly(image_format: str | None, data: bytes) -> bool:
    if image_format == "JPEG":
        return data.endswith(b"\xff\xd9")
    if image_format == "PNG":
        return data.endswith(b"IEND\xaeB`\x82")
    if image_format == "GIF":
        return data.endswith(b";")
    if image_format == "WEBP":
        return len(data) >= 12 and int.from_bytes(data[4:8], "little") + 8 == len(data)
    return False


# --- small helpers ----------------------------------------------------------------------------


def _same_variant(exported: str, media: Media) -> str:
    """The name in `media` that stands where `exported` stood (the file or one of its sizes)."""
    exported_token = exported.split(".", 1)[0].split("-", 1)[0]
    new_token = media.filename.split(".", 1)[0]
    return exported.replace(exported_token, new_token, 1)
