"""Sections of the site: categories, tags, authors and date archives.

A category's address is its path in the tree, `/category/world/europe/` (blog.category_tree);
any other path ending in its slug answers 301 to that one, with the page number kept.
"""

import calendar
from datetime import datetime

from flask import abort, redirect, render_template, request, url_for
from sqlalchemy import select

from .. import category_tree
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


def category_at(path: str) -> Category:
    """The category whose address is `path`; a 301 (raised) from any other path to it."""
    tree = category_tree.current()
    node = tree.by_slug.get(path.rstrip("/").rsplit("/", 1)[-1])
    if node is None:
        abort(404)
    canonical = tree.path(node.id)
    if path != canonical:
        query = {key: value for key, value in request.args.items() if key == "page"}
        abort(redirect(url_for(request.endpoint, slug=canonical, **query), 301))
    return db.session.get(Category, node.id) or abort(404)


@bp.app_template_global("category_path")
def category_path(category) -> str:
    """What `url_for("public.category", slug=…)` needs: the category's path in the tree."""
    return category_tree.path_of(category)


@bp.app_template_global("category_trail")
def category_trail(category) -> list[tuple[str, str]]:
    """(name, path) of the category's ancestors from the top, then of the category itself."""
    if category is None:
        return []
    lineage = category_tree.lineage_of(category)
    return [
        (node.name, "/".join(n.slug for n in lineage[: i + 1])) for i, node in enumerate(lineage)
    ]


@bp.route("/category/<path:slug>/")
def category(slug: str):
    """The posts of the category and of every category below it, primary or further."""
    found = category_at(slug)
    listing = queries.Listing(("category", found.id), (category_tree.posts_in_condition(found.id),))
    children = category_tree.current().children.get(found.id, [])
    return _listing("public/category.html", listing, category=found, subcategories=children)


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
