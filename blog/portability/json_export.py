"""The whole blog as one JSON document: format "blog-export", version 1 (see FORMAT.md).

Secrets never leave: no password hashes, session tokens, two-factor secrets or recovery
codes. Image files are not inside; the media records name them in the upload folder.
Comments carry their writers' emails (the site owner's data, for moderation and data-subject
requests) but not the client address or the form token, which only rate limits and replay
checks use. Newsletter subscribers come with their consent record; what each was sent does not.
"""

from __future__ import annotations

import enum
import json
from datetime import datetime
from pathlib import Path

from flask import current_app
from sqlalchemy import select

from ..extensions import db
from ..models import (
    Category,
    Comment,
    Media,
    Post,
    Redirect,
    Revision,
    Setting,
    SlugRedirect,
    Subscriber,
    Tag,
    User,
    post_category,
    post_tag,
    utcnow,
)

FORMAT = "blog-export"
VERSION = 1

# The fields of each record, in order; FORMAT.md documents each one (a test keeps them equal).
FIELDS: dict[str, tuple[str, ...]] = {
    "users": (
        "id", "email", "display_name", "slug", "bio", "role", "active", "created_at",
        "totp_enabled", "avatar_media_id",
    ),
    "categories": ("id", "name", "slug", "description", "position", "created_at", "parent_id"),
    "tags": ("id", "name", "slug"),
    "media": (
        "id", "filename", "original_name", "content_type", "width", "height", "size_bytes",
        "variants", "alt_text", "uploader_id", "created_at", "import_key",
    ),
    "posts": (
        "id", "kind", "title", "slug", "body_md", "body_html", "excerpt", "status",
        "published_at", "created_at", "updated_at", "deleted_at", "version", "author_id",
        "category_id", "secondary_category_ids", "tag_ids", "featured_media_id", "featured_alt",
        "featured_caption", "import_key",
    ),
    "revisions": (
        "id", "post_id", "kind", "title", "body_md", "excerpt", "post_version", "saved_by_id",
        "created_at",
    ),
    "comments": (
        "id", "post_id", "thread_id", "reply_to_id", "user_id", "author_name", "author_email",
        "author_url", "body_md", "body_html", "status", "held_reason", "created_at",
        "updated_at", "import_key",
    ),
    "subscribers": (
        "id", "email", "name", "status", "consent", "bounces", "created_at", "confirmed_at",
        "unsubscribed_at",
    ),
    "slug_redirects": ("id", "old_slug", "post_id", "created_at"),
    "redirects": ("id", "old_path", "new_path", "created_at"),
    "settings": ("key", "value", "updated_at"),
}  # fmt: skip

MODELS = {
    "users": User,
    "categories": Category,
    "tags": Tag,
    "media": Media,
    "posts": Post,
    "revisions": Revision,
    "comments": Comment,
    "subscribers": Subscriber,
    "slug_redirects": SlugRedirect,
    "redirects": Redirect,
    "settings": Setting,
}


def timestamp(moment: datetime | None) -> str | None:
    """Naive UTC -> ISO 8601 with a Z ('2024-05-01T09:30:00.123456Z')."""
    return None if moment is None else moment.isoformat() + "Z"


def _value(value):
    if isinstance(value, datetime):
        return timestamp(value)
    if isinstance(value, enum.Enum):
        return value.value
    return value


def _record(row, fields: tuple[str, ...], extra: dict | None = None) -> dict:
    extra = extra or {}
    return {name: extra[name] if name in extra else _value(getattr(row, name)) for name in fields}


def build_export() -> dict:
    """Everything, as plain JSON-ready data."""
    tag_ids: dict[int, list[int]] = {}
    for post_id, tag_id in db.session.execute(
        select(post_tag.c.post_id, post_tag.c.tag_id).order_by(post_tag.c.tag_id)
    ):
        tag_ids.setdefault(post_id, []).append(tag_id)
    further: dict[int, list[int]] = {}
    for post_id, category_id in db.session.execute(
        select(post_category.c.post_id, post_category.c.category_id).order_by(
            post_category.c.category_id
        )
    ):
        further.setdefault(post_id, []).append(category_id)
    document: dict = {
        "format": FORMAT,
        "version": VERSION,
        "exported_at": timestamp(utcnow()),
        "site_url": current_app.config["SITE_URL"],
    }
    for name, model in MODELS.items():
        key = model.key if model is Setting else model.id
        rows = db.session.scalars(select(model).order_by(key))
        if name == "posts":
            document[name] = [
                _record(
                    row,
                    FIELDS[name],
                    {
                        "tag_ids": tag_ids.get(row.id, []),
                        "secondary_category_ids": further.get(row.id, []),
                    },
                )
                for row in rows
            ]
        else:
            document[name] = [_record(row, FIELDS[name]) for row in rows]
    document["counts"] = {name: len(document[name]) for name in MODELS}
    return document


def export_json(out_path: str | Path) -> dict:
    """Write the export to a file; returns the counts."""
    document = build_export()
    with open(out_path, "w", encoding="utf-8") as handle:
        json.dump(document, handle, ensure_ascii=False, indent=1)
        handle.write("\n")
    return document["counts"]
