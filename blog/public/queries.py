"""The queries behind reader pages: each list is one indexed query plus, at most, a count."""

from flask import g
from sqlalchemy import Select, extract, func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import selectinload

from ..extensions import db
from ..models import Category, Media, Post, PostKind
from ..posts import public_filter


def public_posts(kind: PostKind = PostKind.POST) -> Select:
    """Public posts of one kind, newest first, with what a card shows loaded up front."""
    return (
        select(Post)
        .where(Post.kind == kind, public_filter())
        .options(
            selectinload(Post.author),
            selectinload(Post.category),
            selectinload(Post.featured_media),
        )
        .order_by(Post.published_at.desc(), Post.id.desc())
    )


def article(slug: str) -> Post | None:
    return db.session.scalar(
        select(Post)
        .where(Post.slug == slug, public_filter())
        .options(
            selectinload(Post.author),
            selectinload(Post.category),
            selectinload(Post.tags),
            selectinload(Post.featured_media),
        )
    )


def neighbours(post: Post) -> tuple[Post | None, Post | None]:
    """The previous (older) and next (newer) public posts, by publication time."""
    base = select(Post).where(Post.kind == PostKind.POST, public_filter(), Post.id != post.id)
    older = db.session.scalar(
        base.where(Post.published_at <= post.published_at)
        .order_by(Post.published_at.desc(), Post.id.desc())
        .limit(1)
    )
    newer = db.session.scalar(
        base.where(Post.published_at >= post.published_at)
        .order_by(Post.published_at.asc(), Post.id.asc())
        .limit(1)
    )
    if older is not None and newer is not None and older.id == newer.id:
        newer = None  # two posts published at the same instant: show the other one once
    return older, newer


def related(post: Post, limit: int = 3) -> list[Post]:
    """The latest other posts of the same category."""
    if post.category_id is None:
        return []
    query = (
        public_posts().where(Post.category_id == post.category_id, Post.id != post.id).limit(limit)
    )
    return list(db.session.scalars(query))


def navigation() -> dict:
    """Categories and static pages for the site menu, read once per request."""
    if "navigation" not in g:
        try:
            categories = db.session.scalars(
                select(Category).order_by(Category.position, Category.name)
            ).all()
            pages = db.session.execute(
                select(Post.title, Post.slug)
                .where(Post.kind == PostKind.PAGE, public_filter())
                .order_by(Post.title)
            ).all()
        except SQLAlchemyError:  # an error page must render even when the database cannot
            db.session.rollback()
            categories, pages = [], []
        g.navigation = {"categories": categories, "pages": pages}
    return g.navigation


def banner_media(media_id) -> Media | None:
    if not media_id:
        return None
    return db.session.get(Media, int(media_id))


def archive_months() -> list[tuple[int, int, int]]:
    """(year, month, number of posts) for every month with public posts, newest first."""
    year = extract("year", Post.published_at)
    month = extract("month", Post.published_at)
    rows = db.session.execute(
        select(year, month, func.count(Post.id))
        .where(Post.kind == PostKind.POST, public_filter())
        .group_by(year, month)
        .order_by(year.desc(), month.desc())
    ).all()
    return [(int(y), int(m), count) for y, m, count in rows]
