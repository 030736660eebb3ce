"""Sections of the site: categories, tags, authors and date archives."""

import calendar
from datetime import datetime

from flask import abort, render_template
from sqlalchemy import select

from ..extensions import db
from ..models import Category, Post, Tag, User
from ..pagination import listing_page, page_number
from . import bp, queries
from .views import posts_per_page


def _by_slug(model, slug: str):
    return db.session.scalar(select(model).where(model.slug == slug)) or abort(404)


def _listing(template: str, listing: queries.Listing, **context):
    page = listing_page(listing, page_number(), posts_per_page())
    return render_template(template, page=page, **context)


@bp.route("/category/<slug>/")
def category(slug: str):
    found = _by_slug(Category, slug)
    listing = queries.Listing(("category", found.id), (Post.category_id == found.id,))
    return _listing("public/category.html", listing, category=found)


@bp.route("/tag/<slug>/")
def tag(slug: str):
    found = _by_slug(Tag, slug)
    return _listing("public/tag.html", queries.tag_listing(found.id), tag=found)


@bp.route("/author/<slug>/")
def author(slug: str):
    found = _by_slug(User, slug)
    listing = queries.Listing(("author", found.id), (Post.author_id == found.id,))
    return _listing("public/author.html", listing, author=found)


@bp.route("/archive/")
def archive_index():
    return render_template("public/archive_index.html", months=queries.archive_months())


@bp.route("/archive/<int:year>/", defaults={"month": None})
@bp.route("/archive/<int:year>/<int:month>/")
def archive(year: int, month: int | None):
    """Posts of a year or a month, as a range on the indexed publication time."""
    if not 1 <= year <= 9998 or (month is not None and not 1 <= month <= 12):
        abort(404)
    start = datetime(year, month or 1, 1)
    if month is None:
        end = datetime(year + 1, 1, 1)
    else:
        end = datetime(year + (month == 12), month % 12 + 1, 1)
    listing = queries.Listing(
        ("archive", year, month), (Post.published_at >= start, Post.published_at < end)
    )
    label = f"{calendar.month_name[month]} {year}" if month else str(year)
    return _listing("public/archive.html", listing, label=label, year=year, month=month)
