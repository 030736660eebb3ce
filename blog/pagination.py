"""One pagination helper for every list, public or admin."""

import math
from dataclasses import dataclass

from flask import abort, request
from sqlalchemy import Select, func, select

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
    def of(cls, query: Select, number: int, per_page: int) -> "Page":
        """Run the count and the page's query; 404 past the last page (page 1 may be empty)."""
        total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
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
