"""Pagination: `Page.of` for any query (admin lists), `listing_page` for public lists."""

import math
from dataclasses import dataclass

from flask import abort, request
from sqlalchemy import Select, func, select

from . import generation
from .extensions import db


def page_number(argument: str = "page") -> int:
    """The requested page: 1 when absent; 404 for anything but a positive whole number."""
    raw = request.args.get(argument)
    if raw is None:
        return 1
    if not raw.isdigit() or int(raw) < 1 or len(raw) > 6:
        abort(404)
    return int(raw)


@dataclass
class Page:
    items: list
    number: int
    per_page: int
    total: int

    @classmethod
    def of(cls, query: Select, number: int, per_page: int, count_key=None) -> "Page":
        """Run the count and the page's query; 404 past the last page (page 1 may be empty).

        With `count_key`, the count is remembered until the site changes (`blog.generation`):
        the key must name whatever else the list depends on that readers cannot see.
        """

        def count() -> int:
            counting = select(func.count()).select_from(query.order_by(None).subquery())
            return db.session.scalar(counting) or 0

        total = count() if count_key is None else generation.remembered(("count", count_key), count)
        if number > 1 and (number - 1) * per_page >= total:
            abort(404)
        items = db.session.scalars(query.limit(per_page).offset((number - 1) * per_page)).all()
        return cls(items=list(items), number=number, per_page=per_page, total=total or 0)

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.pages


def listing_page(listing, number: int, per_page: int) -> Page:
    """One page of a public list (`blog.public.queries.Listing`), whatever the list's length.

    `?page=N` addresses stay. The count reads the whole list, so it is remembered until the
    site changes. Each page served remembers where it ended, and the next page starts there
    with a keyset condition instead of an OFFSET, so walking "Older" links costs one page's
    worth of index entries each. Only a page reached directly, before its previous page was
    served in this process, pays an OFFSET, counted from whichever end of the list is nearer:
    the last page of 100,000 posts reads its own few rows, not all the others first.
    """
    total = generation.remembered(("count", listing.key), listing.count)
    first = (number - 1) * per_page
    if number > 1 and first >= total:
        abort(404)
    start = generation.recall(("page-end", listing.key, per_page, number - 1))
    after_page = total - min(first + per_page, total)  # posts older than this page
    if start is not None:
        items = listing.posts(per_page, older_than=start)
    elif after_page < first:
        oldest = listing.posts(min(per_page, total - first), offset=after_page, oldest_first=True)
        items = oldest[::-1]
    else:
        items = listing.posts(per_page, offset=first)
    if items:
        end = (items[-1].published_at, items[-1].id)
        generation.remember(("page-end", listing.key, per_page, number), end)
    return Page(items=items, number=number, per_page=per_page, total=total)
