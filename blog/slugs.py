"""Slugs: unique per table, and never an address that a route of the site owns.

Decisions:
- Reserved slugs come from the URL map itself, not from a list kept by hand: a new route is
  covered the day it is added. A slug of a kind (post or page, category, tag, author) is
  *shadowed* when the address it would have, built with that kind's endpoint, does not lead
  back to that endpoint with that slug (another rule matches it first), or when another rule
  has the slug as a fixed part at the same place (`/search` for a post `search`, whose address
  `/search/` would be one slash away from the search page; `/static/…` for a post `static`).
- Typed slugs that are shadowed are refused with a message by the field; generated ones
  (`unique_slug`, importers) move on to the next free number, the importers with a warning.
- Rows saved before the rule keep their slug; the sitemap leaves a shadowed one out.
"""

from dataclasses import dataclass
from urllib.parse import unquote

from flask import current_app
from sqlalchemy import select
from werkzeug.exceptions import HTTPException
from werkzeug.routing import BuildError, RequestRedirect

from .extensions import db
from .text import slugify

ENDPOINTS = {  # the public page of each kind of slug
    "post": "public.post",  # posts and pages
    "category": "public.category",
    "tag": "public.tag",
    "user": "public.author",
}
_PLACEHOLDER = "slug-placeholder"


def shadowing_route(table: str, slug: str) -> str | None:
    """The route that owns the address a slug of `table` (post, category, tag, user) would
    have, as its rule ("/admin/"); None when the slug is free of routes."""
    endpoint = ENDPOINTS.get(table)
    if endpoint is None or not slug:
        return None
    shape = _shape(endpoint)
    if slug in shape.fixed:
        return shape.fixed[slug]
    if not shape.rivals:  # no other rule can match the address: the usual case, and quick
        return None
    adapter = current_app.url_map.bind("localhost")
    try:
        path = unquote(adapter.build(endpoint, {"slug": slug}))
        rule, arguments = adapter.match(path, method="GET", return_rule=True)
    except BuildError:
        return None
    except RequestRedirect as redirect:
        return redirect.new_url.removeprefix("http://localhost")
    except HTTPException:
        return path  # nothing serves it with GET
    if rule.endpoint != endpoint or arguments.get("slug") != slug:
        return rule.rule
    return None


def refusal(table: str, slug: str) -> str | None:
    """Why a typed slug cannot be used, for the message by the slug field; None if it can."""
    route = shadowing_route(table, slug)
    if route is None:
        return None
    return f"The address “{slug}” belongs to the site itself ({route}); choose another."


@dataclass(frozen=True)
class _Shape:
    fixed: dict[str, str]  # fixed segments of other rules where the slug goes, with their rule
    rivals: bool  # another rule has a variable part there and could match the address


def _shape(endpoint: str) -> _Shape:
    """What other rules have where `endpoint` has its slug; worked out once per URL map."""
    url_map = current_app.url_map
    cache = current_app.extensions.setdefault("blog.slugs.shapes", {})
    key = (endpoint, len(url_map._rules))
    if key not in cache:
        own = url_map.bind("localhost").build(endpoint, {"slug": _PLACEHOLDER})
        own_segments = own.strip("/").split("/")
        position = own_segments.index(_PLACEHOLDER)
        fixed: dict[str, str] = {}
        rivals = False
        for rule in url_map.iter_rules():
            segments = rule.rule.strip("/").split("/")
            if rule.endpoint == endpoint or len(segments) <= position:
                continue
            if segments[:position] != own_segments[:position]:
                continue
            if "<" not in segments[position]:
                known = fixed.get(segments[position])
                if known is None or len(rule.rule) < len(known):  # the shortest, for messages
                    fixed[segments[position]] = rule.rule
            elif len(segments) == len(own_segments) or "<path:" in rule.rule:
                rivals = True
        cache[key] = _Shape(fixed, rivals)
    return cache[key]


def unique_slug(
    model,
    value: str,
    *,
    exclude_id: int | None = None,
    max_length: int = 80,
    fallback: str = "item",
) -> str:
    """A slug from `value` that no other row of `model` has and no route shadows, numbered
    (-2, -3, …) if needed."""
    base = slugify(value, max_length=max_length, fallback=fallback)
    candidate, number = base, 1
    while _taken(model, candidate, exclude_id) or shadowing_route(model.__tablename__, candidate):
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
