"""Unique slugs for any table with a `slug` column."""

from sqlalchemy import select

from .extensions import db
from .text import slugify


def unique_slug(
    model,
    value: str,
    *,
    exclude_id: int | None = None,
    max_length: int = 80,
    fallback: str = "item",
) -> str:
    """A slug from `value` that no other row of `model` has, numbered (-2, -3, …) if needed."""
    base = slugify(value, max_length=max_length, fallback=fallback)
    candidate, number = base, 1
    while _taken(model, candidate, exclude_id):
        number += 1
        suffix = f"-{number}"
        candidate = base[: max_length - len(suffix)].rstrip("-") + suffix
    return candidate


def _taken(model, slug: str, exclude_id: int | None) -> bool:
    query = select(model.id).where(model.slug == slug)
    if exclude_id is not None:
        query = query.where(model.id != exclude_id)
    # A row added earlier in the same save (two new tags "C++" and "C#") is not in the table yet.
    pending = any(isinstance(obj, model) and obj.slug == slug for obj in db.session.new)
    return pending or db.session.scalar(query.limit(1)) is not None
