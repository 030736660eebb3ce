"""The queries behind reader pages: each list is one indexed query plus, at most, a count.

List pages read through `Listing`, which costs the same on page 1 and page 10,000 of a list of
any length (see `blog.pagination.listing_page`): one ordered index scan per public status,
merged, so neither database has to sort the whole list. (`status IN (published, scheduled)`
in one scan cannot come out in date order: SQLite copes, PostgreSQL reads and sorts every row.)
"""

from dataclasses import dataclass
from datetime import datetime

from flask import g
from sqlalchemy import Select, exists, extract, func, or_, select, union_all
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import joinedload, selectinload

from .. import category_tree, generation
from ..extensions import db
from ..models import Media, Post, PostKind, User, post_tag, utcnow
from ..visibility import PUBLIC_STATUSES, public_clause, released_by

Position = tuple[datetime, int]  # (published_at, id): where a post stands in a list


@dataclass(frozen=True)
class Listing:
    """The public posts of one list (the home page, a category, a tag...), newest first.

    `key` names the list in the per-version memo that keeps its count and where its pages
    start; `conditions` narrow the posts of `kind` to the list's.
    """

    key: tuple
    conditions: tuple = ()
    kind: PostKind = PostKind.POST

    def count(self) -> int:
        """How many posts the list has: reads all of them, so callers remember it."""
        query = select(func.count(Post.id)).where(
            Post.kind == self.kind, public_clause(), *self.conditions
        )
        return db.session.scalar(query) or 0

    def posts(
        self,
        limit: int,
        offset: int = 0,
        older_than: Position | None = None,
        newer_than: Position | None = None,
        cards: bool = True,
        oldest_first: bool = False,
    ) -> list[Post]:
        """Up to `limit` posts, newest first (oldest first with `newer_than` or `oldest_first`,
        where `offset` then counts from the oldest), in one query.

        With `cards`, what a post card shows (author, category, image) is joined in.
        """
        ascending = oldest_first or newer_than is not None
        ids = self._ids(limit, offset, older_than, newer_than, ascending)
        query = select(Post).where(Post.id.in_(ids))
        query = query.order_by(*_order(Post.published_at, Post.id, ascending))
        if cards:
            query = query.options(
                joinedload(Post.author), joinedload(Post.category), joinedload(Post.featured_media)
            )
        return list(db.session.scalars(query))

    def _ids(self, limit, offset, older_than, newer_than, ascending) -> Select:
        """The ids, merged from one ordered, limited scan per public status."""
        latest = utcnow() if older_than is None else min(older_than[0], utcnow())
        parts = []
        for status in PUBLIC_STATUSES:
            part = select(Post.id, Post.published_at).where(
                Post.kind == self.kind,
                Post.status == status,
                *released_by(latest),
                *self.conditions,
            )
            if older_than is not None:
                when, post_id = older_than
                part = part.where(or_(Post.published_at < when, Post.id < post_id))
            if newer_than is not None:
                when, post_id = newer_than
                part = part.where(
                    Post.published_at >= when, or_(Post.published_at > when, Post.id > post_id)
                )
            part = part.order_by(*_order(Post.published_at, Post.id, ascending))
            parts.append(select(part.limit(limit + offset).subquery()))
        merged = union_all(*parts).subquery()
        return (
            select(merged.c.id)
            .order_by(*_order(merged.c.published_at, merged.c.id, ascending))
            .limit(limit)
            .offset(offset)
        )


MAX_PINNED = 3


def home_listing() -> tuple[list[Post], Listing]:
    """The pinned posts (page 1 shows them first) and the list of all the others.

    The pinned ones are left out of the list itself, so none shows twice; their ids are
    remembered until the site changes, so a home page without pins costs no query more.
    """
    pinned_ids = generation.remembered(("pinned",), _pinned_ids)
    if not pinned_ids:
        return [], Listing(("home",))
    return _posts_by_ids(pinned_ids), Listing(("home", *pinned_ids), (Post.id.not_in(pinned_ids),))


def _pinned_ids() -> tuple[int, ...]:
    """The newest MAX_PINNED public pinned posts, from the ix_post_pinned index."""
    rows = db.session.scalars(
        select(Post.id)
        .where(Post.pinned.is_(True), Post.kind == PostKind.POST, public_clause())
        .order_by(Post.published_at.desc(), Post.id.desc())
        .limit(MAX_PINNED)
    )
    return tuple(rows)


def _posts_by_ids(ids: tuple[int, ...]) -> list[Post]:
    posts = db.session.scalars(
        select(Post)
        .where(Post.id.in_(ids), public_clause())
        .options(
            joinedload(Post.author), joinedload(Post.category), joinedload(Post.featured_media)
        )
    )
    by_id = {post.id: post for post in posts}
    return [by_id[post_id] for post_id in ids if post_id in by_id]


def tag_listing(tag_id: int) -> Listing:
    """A tag's posts, read the way that suits how common the tag is.

    A common tag is best found by walking the date index and testing each post for the tag (a
    page needs few steps); a rare one from the tag's own rows (the walk would be long). Walking
    costs about a page times posts/uses steps and the rows about `uses`, so the turn is near
    uses² = 10 × posts. PostgreSQL's planner weighs this itself; SQLite's cannot.
    """
    members = select(post_tag.c.post_id).where(post_tag.c.tag_id == tag_id)
    uses = generation.remembered(
        ("tag-uses", tag_id),
        lambda: db.session.scalar(select(func.count()).select_from(members.subquery())) or 0,
    )
    everything = Listing(("home",))
    posts = generation.remembered(("count", everything.key), everything.count)
    if uses * uses >= 10 * posts:
        condition = exists().where(post_tag.c.post_id == Post.id, post_tag.c.tag_id == tag_id)
    else:
        condition = Post.id.in_(members)
    return Listing(("tag", tag_id), (condition,))


def _order(published_at, post_id, ascending: bool) -> tuple:
    if ascending:
        return published_at.asc(), post_id.asc()
    return published_at.desc(), post_id.desc()


def article(slug: str) -> Post | None:
    return db.session.scalar(
        select(Post)
        .where(Post.slug == slug, public_clause())
        .options(
            joinedload(Post.author).joinedload(User.avatar),
            joinedload(Post.category),
            selectinload(Post.tags),
            joinedload(Post.featured_media),
            joinedload(Post.social_media),
        )
    )


def neighbours(post: Post) -> tuple[Post | None, Post | None]:
    """The previous (older) and next (newer) public posts, by publication time, then id."""
    everything = Listing(("posts",))
    position = (post.published_at, post.id)
    older = everything.posts(1, older_than=position, cards=False)
    newer = everything.posts(1, newer_than=position, cards=False)
    return (older[0] if older else None), (newer[0] if newer else None)


def related(post: Post, limit: int = 3) -> list[Post]:
    """The newest other public posts sharing the post's category or one of its tags.

    Two ordered, limited scans (the category's index; the tags' rows), merged here: at most two
    queries whatever the site's size, rather than one OR that no index serves.
    """
    found: dict[int, Post] = {}
    if post.category_id is not None:  # its primary category, as before: one indexed scan
        same_category = Listing(
            ("related-category", post.id),
            (Post.category_id == post.category_id, Post.id != post.id),
        )
        found.update((other.id, other) for other in same_category.posts(limit))
    tag_ids = [tag.id for tag in post.tags]
    if tag_ids:
        tagged = select(post_tag.c.post_id).where(post_tag.c.tag_id.in_(tag_ids))
        same_tags = Listing(("related-tags", post.id), (Post.id.in_(tagged), Post.id != post.id))
        found.update((other.id, other) for other in same_tags.posts(limit))
    newest_first = sorted(found.values(), key=lambda p: (p.published_at, p.id), reverse=True)
    return newest_first[:limit]


def navigation() -> dict:
    """Top-level categories and static pages for the site menu, read once per request."""
    if "navigation" not in g:
        try:
            # The top of the category tree (blog.category_tree), remembered between requests.
            categories = category_tree.current().children.get(None, [])
            pages = generation.remembered(("navigation-pages",), _navigation_pages)
        except SQLAlchemyError:  # an error page must render even when the database cannot
            db.session.rollback()
            categories, pages = [], []
        g.navigation = {"categories": categories, "pages": pages}
    return g.navigation


def _navigation_pages() -> list:
    """Rows of (title, slug) of the public pages, by title; remembered until the site changes
    (a scheduled page's time coming changes it too, see blog.generation)."""
    return db.session.execute(
        select(Post.title, Post.slug)
        .where(Post.kind == PostKind.PAGE, public_clause())
        .order_by(Post.title)
    ).all()


def banner_media(media_id) -> Media | None:
    if not media_id:
        return None
    return db.session.get(Media, int(media_id))


def archive_months() -> list[tuple[int, int, int]]:
    """(year, month, number of posts) for every month with public posts, newest first.

    This reads every public post, so it is remembered until the site changes.
    """
    return generation.remembered(("archive-months",), _count_by_month)


def _count_by_month() -> list[tuple[int, int, int]]:
    year = extract("year", Post.published_at)
    month = extract("month", Post.published_at)
    rows = db.session.execute(
        select(year, month, func.count(Post.id))
        .where(Post.kind == PostKind.POST, public_clause())
        .group_by(year, month)
        .order_by(year.desc(), month.desc())
    ).all()
    return [(int(y), int(m), count) for y, m, count in rows]
