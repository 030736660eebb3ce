"""301 redirects from old addresses (a WordPress site's, say) recorded in `Redirect`.

The table is only consulted when an address could be an old one: the home page with a
WordPress query (`/?p=12`, `?page_id=`, `?cat=`, `?tag=`, `?author=`, `?feed=`), and any
GET that is about to answer 404. Every other request costs nothing. Each look-up is one
query on the unique index of `Redirect.old_path`.

Old paths are stored decoded (`/2020/01/02/привет/`), the way Flask hands `request.path`
over; new paths are stored as URLs (percent-encoded).

The importers (`blog.portability`) write the table; the two hooks here read it, and
`blog.request_hooks` registers them.

An old address of a post that is not public yet (a scheduled one) answers 404, as its new
address does, until the post is public; then it answers 301. The redirect is recorded at
import time either way, so nothing has to happen when the post goes out.
"""

from urllib.parse import urlsplit

from flask import abort, current_app, redirect, request
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException

from ..extensions import db
from ..models import Post, Redirect
from ..visibility import public_clause

LEGACY_QUERY_ARGS = ("p", "page_id", "cat", "tag", "author", "feed")


def find_redirect(candidates: list[str]) -> str | None:
    """The new path for the first matching old path, in one indexed query."""
    candidates = [c for c in dict.fromkeys(candidates) if c and len(c) <= 500 and "\x00" not in c]
    if not candidates:
        return None
    try:
        rows = db.session.execute(
            select(Redirect.old_path, Redirect.new_path).where(Redirect.old_path.in_(candidates))
        ).all()
    except SQLAlchemyError:
        db.session.rollback()
        current_app.logger.exception("Redirect look-up failed for %s", request.full_path)
        return None
    found = dict(rows)
    return next((found[c] for c in candidates if c in found), None)


def _not_public_yet(target: str) -> bool:
    """True when `target` is the address of a post that exists but readers cannot see yet."""
    try:
        endpoint, values = current_app.url_map.bind("localhost").match(urlsplit(target).path)
    except HTTPException:  # no route (or a routing redirect): not a post's address
        return False
    if endpoint != "public.post" or "slug" not in values:
        return False
    slug = values["slug"]
    exists = db.session.scalar(select(Post.id).where(Post.slug == slug).limit(1))
    if exists is None:
        return False
    public = db.session.scalar(select(Post.id).where(Post.slug == slug, public_clause()).limit(1))
    return public is None


def legacy_query_redirect():
    """`/?p=12` and friends: WordPress's addresses without pretty permalinks."""
    if request.path != "/" or request.method not in ("GET", "HEAD"):
        return None
    keys = [f"/?{name}={request.args[name]}" for name in LEGACY_QUERY_ARGS if name in request.args]
    if not keys:
        return None
    target = find_redirect(keys)
    if target and _not_public_yet(target):
        abort(404)  # the post's own address answers 404 too, until it is public
    return redirect(target, 301) if target else None


def redirect_instead_of_not_found(response):
    """A 404 for an address that moved becomes a 301 to where it went."""
    if response.status_code != 404 or request.method not in ("GET", "HEAD"):
        return response
    path = request.path
    candidates = [path, path + "/" if not path.endswith("/") else path.rstrip("/")]
    target = find_redirect(candidates)
    if target is None or _not_public_yet(target):
        return response
    # The 404 response is turned around rather than replaced: the headers other hooks have
    # set on it (security headers, cookies) stay.
    response.status_code = 301
    response.headers["Location"] = target
    response.set_data(b"")
    return response
