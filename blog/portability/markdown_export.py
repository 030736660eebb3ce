"""Posts as Markdown files with YAML front matter, in Jekyll's layout (`export markdown`).

Layout of the zip:

    _posts/YYYY-MM-DD-slug.md   published and scheduled posts (the date is the publication day, UTC)
    _drafts/slug.md             draft posts
    _pages/slug.md              pages, whatever their status
    images/<name>               the images the posts show or feature
    <post file>.comments.yml    beside a post's file: its comments (blog.portability.comment_files)

Jekyll's layout was chosen over Hugo's because its three folders say a post's kind and
status without reading the file, and Jekyll serves `/images/...` from the site root, where
the exported Markdown points. Posts in the trash are not exported.

Each file is a YAML front matter block between `---` lines, then the Markdown exactly as
stored (the body is never re-wrapped or re-encoded). Images in the text are referred to as
`/images/<name>`; `markdown_files` (the import) turns them back into this blog's
`/media/<name>` addresses.
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import yaml
from sqlalchemy import select

from .. import media as media_service
from ..extensions import db
from ..models import Media, Post, PostKind, PostStatus, utcnow
from ..uploads import UploadError, safe_media_path
from .comment_files import comments_file, comments_path, exported_comments

IMAGE_REFERENCE = re.compile(r"/media/([0-9a-f]{32}(?:-[0-9]{1,5})?\.(?:jpg|png|webp|gif))")


@dataclass
class MarkdownExport:
    posts: int = 0
    pages: int = 0
    drafts: int = 0
    images: int = 0
    comments: int = 0
    missing_images: list[str] = field(default_factory=list)


def export_markdown(out_path: str | Path) -> MarkdownExport:
    """Write every post and page (not those in the trash) and their images into a zip."""
    report = MarkdownExport()
    media_by_name = _media_by_file_name()
    posts = db.session.scalars(select(Post).where(Post.deleted_at.is_(None)).order_by(Post.id))
    folder = Path(app_upload_folder())
    with zipfile.ZipFile(out_path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        images: set[str] = set()
        for post in posts:
            names = _images_of(post, media_by_name)
            images |= names
            archive.writestr(_zip_info(_post_path(post)), _post_file(post, names))
            if comments := exported_comments(post):
                archive.writestr(
                    _zip_info(comments_path(_post_path(post))), comments_file(post, comments)
                )
                report.comments += len(comments)
            if post.kind == PostKind.PAGE:
                report.pages += 1
            elif post.status == PostStatus.DRAFT:
                report.drafts += 1
            else:
                report.posts += 1
        for name in sorted(images):
            try:
                data = safe_media_path(folder, name).read_bytes()
            except (OSError, UploadError):
                report.missing_images.append(name)
                continue
            archive.writestr(_zip_info(f"images/{name}"), data)
            report.images += 1
    return report


def app_upload_folder() -> Path:
    return media_service.upload_folder()


def _zip_info(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=utcnow().timetuple()[:6])
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    return info


def _media_by_file_name() -> dict[str, Media]:
    found: dict[str, Media] = {}
    for media in db.session.scalars(select(Media)):
        found[media.filename] = media
        for variant in media.variants or []:
            found[variant["filename"]] = media
    return found


def _images_of(post: Post, media_by_name: dict[str, Media]) -> set[str]:
    """The stored files a post refers to (its featured image, what its text shows), plus
    the original of every smaller size the text shows, which the import starts from."""
    names = {name for name in IMAGE_REFERENCE.findall(post.body_md) if name in media_by_name}
    names |= {media_by_name[name].filename for name in names}
    if post.featured_media is not None:
        names.add(post.featured_media.filename)
    return names


def _post_path(post: Post) -> str:
    if post.kind == PostKind.PAGE:
        return f"_pages/{post.slug}.md"
    if post.status == PostStatus.DRAFT or post.published_at is None:
        return f"_drafts/{post.slug}.md"
    return f"_posts/{post.published_at:%Y-%m-%d}-{post.slug}.md"


def _aware(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=UTC) if moment is not None else None


def front_matter(post: Post) -> dict:
    """The fields of a post as the file's front matter (see FORMAT.md)."""
    featured = post.featured_media
    category = post.category
    return {
        "layout": "page" if post.kind == PostKind.PAGE else "post",
        "title": post.title,
        "slug": post.slug,
        "permalink": f"/{post.slug}/",
        "date": _aware(post.published_at),
        "created": _aware(post.created_at),
        "updated": _aware(post.updated_at),
        "status": post.status.value,
        "kind": post.kind.value,
        "author": post.author.email,
        "author_name": post.author.display_name,
        "category": category.name if category else None,
        "category_slug": category.slug if category else None,
        "category_description": category.description if category else None,
        "tags": [tag.name for tag in post.tags],
        "excerpt": post.excerpt,
        "featured_image": f"../images/{featured.filename}" if featured else None,
        "featured_image_name": featured.original_name if featured else None,
        "caption": post.featured_caption,
        "alt": post.featured_alt,
        "import_key": post.import_key,
    }


def _post_file(post: Post, images: set[str]) -> bytes:
    header = yaml.safe_dump(
        front_matter(post), allow_unicode=True, sort_keys=False, default_flow_style=False
    )
    body = IMAGE_REFERENCE.sub(
        lambda m: f"/images/{m.group(1)}" if m.group(1) in images else m.group(0), post.body_md
    )
    return f"---\n{header}---\n{body}".encode()
