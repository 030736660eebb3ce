"""HTTP caching: validators and Cache-Control for reader pages, fingerprinted static files.

Decisions:
- The server dates every response, the app never does. gunicorn always sends a `Date` of its
  own and werkzeug's server too (through `http.server`), whatever the app's headers say, so a
  `Date` from the app went out as a second one; werkzeug's `make_conditional` adds one, and on
  a cached page it was the time the page was rendered, replayed on every hit.
  `ServerDatedResponse` (the app's response class) takes it out again.
"""

import hashlib
from datetime import UTC, datetime
from pathlib import Path

from flask import Flask, Response, g, request
from flask_login import current_user

STATIC_MAX_AGE = 365 * 24 * 3600


class ServerDatedResponse(Response):
    """A response without a `Date` header: the WSGI server adds the time it is sent."""

    def make_conditional(self, request_or_environ, *args, **kwargs):
        super().make_conditional(request_or_environ, *args, **kwargs)
        self.headers.pop("Date", None)  # werkzeug adds the time of rendering; see Decisions
        return self


def init_app(app: Flask) -> None:
    app.response_class = ServerDatedResponse
    fingerprints: dict[str, str] = {}

    @app.url_defaults
    def fingerprint_static_urls(endpoint: str, values: dict) -> None:
        """Static URLs carry a hash of the file, so they can be cached for a year."""
        if endpoint == "static" and "filename" in values and "v" not in values:
            values["v"] = _fingerprint(app, values["filename"], fingerprints)


def cache_static_files(response: Response) -> Response:
    """After every request: a fingerprinted static file may be kept for a year."""
    if request.endpoint == "static" and response.status_code == 200:
        if "v" in request.args:
            response.cache_control.public = True
            response.cache_control.max_age = STATIC_MAX_AGE
            response.cache_control.immutable = True
    return response


def _fingerprint(app: Flask, filename: str, cache: dict[str, str]) -> str:
    if filename not in cache or app.debug:
        path = Path(app.static_folder) / filename
        try:
            cache[filename] = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
        except OSError:
            cache[filename] = "missing"
    return cache[filename]


def last_modified(moment: datetime | None) -> None:
    """Let a view say when its content last changed (naive UTC); the newest value wins."""
    if moment is None:
        return
    current = g.get("last_modified")
    if current is None or moment > current:
        g.last_modified = moment


def conditional_page(response: Response) -> Response:
    """ETag and Last-Modified for a reader page, answering 304 when unchanged.

    The ETag is the page cache's (from the site version) when it handles the request, else a
    hash of the body.

    Signed-in users see admin links and previews, so their pages are private and not stored.
    """
    if request.method not in ("GET", "HEAD") or response.status_code != 200:
        return response
    if response.direct_passthrough or response.is_streamed:
        return response  # files (media) carry their own validators
    if response.cache_control.no_store:
        return response  # a page that must not be kept (shared previews) has no validators
    if current_user.is_authenticated:
        response.cache_control.private = True
        response.cache_control.no_cache = True
        return response
    response.cache_control.public = True
    response.cache_control.max_age = 0
    response.cache_control.must_revalidate = True
    if g.get("last_modified") is not None:
        response.last_modified = g.last_modified.replace(tzinfo=UTC)
    if g.get("page_etag"):  # the page cache's validator: from the site version, not the body
        response.set_etag(g.page_etag)
    else:
        response.add_etag()
    return response.make_conditional(request)
