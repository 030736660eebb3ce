"""Media records: saving uploads, deleting them, and URLs and srcset for templates.

The files live in ``UPLOAD_FOLDER`` under random names (see :mod:`blog.uploads`); a
:class:`~blog.models.Media` row describes each original and its smaller variants.
"""

import re
from pathlib import Path

from flask import Flask, current_app, url_for
from sqlalchemy import or_, select, update
from werkzeug.datastructures import FileStorage

from .extensions import db
from .models import Media, Post, User
from .uploads import MB, UploadError, UploadLimits, delete_image_files, store_image

DEFAULT_MAX_BYTES = 10 * MB
DEFAULT_MAX_PIXELS = 40_000_000
ALT_TEXT_MAX = 500
NO_FILE = "Choose an image file to upload."
_MARKDOWN_ALT_SPECIALS = re.compile(r"([\\\[\]])")


# --- configuration -----------------------------------------------------------


def upload_folder() -> Path:
    return Path(current_app.config["UPLOAD_FOLDER"])


def upload_limits() -> UploadLimits:
    config = current_app.config
    return UploadLimits(
        max_bytes=int(config.get("UPLOAD_MAX_BYTES", DEFAULT_MAX_BYTES)),
        max_pixels=int(config.get("UPLOAD_MAX_PIXELS", DEFAULT_MAX_PIXELS)),
    )


# --- saving and deleting -----------------------------------------------------


def save_upload(file_storage: FileStorage | None, uploader: User) -> Media:
    """Check and store an uploaded image; add its row to the session (the caller commits).

    Raises UploadError, with a message for the author, and stores nothing when the image
    is refused. If the caller's commit fails, it must call ``discard_files(media)``.
    """
    if file_storage is None or not file_storage.filename:
        raise UploadError(NO_FILE)
    stored = store_image(
        file_storage.stream, file_storage.filename, upload_folder(), upload_limits()
    )
    media = Media(
        filename=stored.filename,
        original_name=stored.original_name,
        content_type=stored.content_type,
        width=stored.width,
        height=stored.height,
        size_bytes=stored.size_bytes,
        variants=stored.variants,
        alt_text="",
        uploader_id=uploader.id,
    )
    db.session.add(media)
    return media


def discard_files(media: Media) -> None:
    """Remove a media item's files, for cleaning up after a failed commit. Never raises."""
    try:
        delete_image_files(upload_folder(), media.filename, media.variants or [])
    except (OSError, UploadError):
        current_app.logger.exception("Could not remove the files of media %s", media.filename)


def delete_media(media: Media) -> None:
    """Delete the row and commit, then remove the files.

    The database goes first: if the commit fails, the row and its files are both still
    there. Posts that feature the image, and users whose photo it is, lose it; the foreign
    keys do that too, but the explicit updates also keep objects in the session correct.
    """
    for column in (Post.featured_media_id, Post.social_media_id):
        db.session.execute(update(Post).where(column == media.id).values({column: None}))
    db.session.execute(
        update(User).where(User.avatar_media_id == media.id).values(avatar_media_id=None)
    )
    db.session.delete(media)
    db.session.commit()
    discard_files(media)


def can_manage(user: User, media: Media) -> bool:
    """Editors and admins manage every image; authors only the ones they uploaded."""
    return user.is_editor or (media.uploader_id is not None and media.uploader_id == user.id)


def clean_alt_text(value: str | None) -> str:
    """Alt text is one line: whitespace runs (newlines included) become single spaces."""
    return " ".join((value or "").split())


def set_alt_text(media: Media, alt_text: str) -> int:
    """Store the image's one alt text and render again the posts whose text shows the image
    (their stored HTML carries it); returns how many were rendered again. The caller commits.
    """
    media.alt_text = clean_alt_text(alt_text)
    db.session.flush()
    from .posts import render_into  # posts reads the library's alt texts when rendering

    shown_in = [post for post in posts_using(media) if media.filename in post.body_md]
    return sum(1 for post in shown_in if render_into(post))


def posts_using(media: Media) -> list[Post]:
    """Posts that feature the image or show it in their text (found by its random token)."""
    token = media.filename.split(".")[0]
    return list(
        db.session.scalars(
            select(Post)
            .where(
                or_(
                    Post.featured_media_id == media.id,
                    Post.social_media_id == media.id,
                    Post.body_md.contains(token, autoescape=True),
                )
            )
            .order_by(Post.title, Post.id)
        )
    )


# --- URLs and snippets for templates and JSON --------------------------------


def media_url(filename: str) -> str:
    return url_for("public.media_file", filename=filename)


def srcset(media: Media) -> str:
    """Every size of the image, smallest first, for an <img srcset> ("url 480w, ...")."""
    sizes = [(v["width"], v["filename"]) for v in media.variants or []]
    sizes.append((media.width, media.filename))
    return ", ".join(f"{media_url(name)} {width}w" for width, name in sorted(sizes))


def thumbnail(media: Media) -> dict:
    """The smallest stored size: url, width and height."""
    smallest = min(
        media.variants or [],
        key=lambda v: v["width"],
        default={"filename": media.filename, "width": media.width, "height": media.height},
    )
    return {
        "url": media_url(smallest["filename"]),
        "width": smallest["width"],
        "height": smallest["height"],
    }


def image_markdown(media: Media) -> str:
    alt = _MARKDOWN_ALT_SPECIALS.sub(r"\\\1", clean_alt_text(media.alt_text))
    return f"![{alt}]({media_url(media.filename)})"


def filesize(size_bytes: int) -> str:
    """A size for people: 850 bytes, 12 KB, 3.4 MB."""
    if size_bytes < 1024:
        return f"{size_bytes} bytes"
    if size_bytes < MB:
        return f"{size_bytes / 1024:.0f} KB"
    return f"{size_bytes / MB:.1f} MB"


def init_app(app: Flask) -> None:
    """Register template helpers."""
    for helper in (media_url, srcset, thumbnail, image_markdown):
        app.add_template_global(helper)
    app.add_template_filter(filesize)
