"""The page cache for anonymous readers: rendered public pages, kept while the site is unchanged.

Anonymous GET and HEAD requests of reader pages (home, articles, listings, archives, feeds,
sitemap, robots.txt) are answered from an in-process LRU of rendered responses, bounded by
`PAGE_CACHE_BYTES` (32 MiB; 0 turns the cache off). Each entry belongs to one site version
(`blog.generation`): every request reads the generation (one primary-key look-up) before it is
served, so a change committed by any process shows on the very next request everywhere.

Search results are kept too (`?q=…&page=N`), in an LRU of their own with an eighth of the room:
anyone can make up new queries, and those must not push the articles out.

Not cached: requests asking for ActivityStreams JSON (`blog.federation`: the same addresses
answer it, and must never get a stored page, nor store theirs), signed-in users (they see
admin links and previews), anyone with a flash message waiting, any other query string,
uploaded media (the browser keeps those for a year), shared previews of drafts
(`blog.preview_links`) and /healthz. Those requests show `X-Cache: BYPASS`;
the others `HIT` or `MISS`.

The ETag of a cached page is derived from the site version, the code release and the address,
not from the body, so a revalidation with a current ETag is answered 304 before anything is
rendered or even looked up.

Hits are answered by `FastPath`, a WSGI middleware in front of Flask: when the request carries
no session or "remember me" cookie and its exact path and query string are stored, it reads the
generation (`generation.StoredReader`, a few microseconds) and, if the entry is still current,
sends the stored response as it was first sent (all headers, security ones included) without
building a Flask request. Everything else goes on to Flask, where `serve_from_cache` decides as
before; the two agree because the middleware only serves what Flask stored under the same key.
"""

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie
from pathlib import Path

from flask import Flask, Response, current_app, g, request, session
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.http import parse_etags

from . import generation
from .extensions import db
from .federation import wants_activity_json

DEFAULT_BYTES = 32 * 1024 * 1024
# Shared previews: a revoked link must stop working at once, and drafts are nobody's to keep.
# Reply-email and newsletter links change what they show on every use.
BYPASSED_ENDPOINTS = frozenset(
    {
        "public.media_file", "public.healthz", "public.shared_preview",
        "public.confirm_reply_emails", "public.stop_reply_emails",
        "public.confirm_subscription", "public.unsubscribe", "public.confirm_new_address",
    }
)  # fmt: skip
KEPT_ARGUMENTS = frozenset({"page"})
SEARCH_ENDPOINT = "public.search"
SEARCH_ARGUMENTS = frozenset({"q", "page"})
SEARCH_SHARE = 8  # searches get this fraction of PAGE_CACHE_BYTES, in an LRU of their own
UNSTORED_HEADERS = frozenset({"set-cookie", "x-cache", "date"})  # Date: the server's, per send
RELEASE_SUFFIXES = frozenset({".py", ".html", ".xml", ".txt", ".css", ".js", ".json", ".svg"})
_EXTENSION = "blog.page_cache"
_SEARCH_EXTENSION = "blog.page_cache.searches"


@dataclass(frozen=True)
class Entry:
    version: generation.SiteVersion
    etag: str
    headers: tuple[tuple[str, str], ...]  # as sent, but for UNSTORED_HEADERS
    body: bytes

    @property
    def size(self) -> int:
        return len(self.body) + sum(len(name) + len(value) for name, value in self.headers)

    def response(self) -> Response:
        return current_app.response_class(self.body, status=200, headers=list(self.headers))


class PageCache:
    """A thread-safe LRU of entries, bounded by their total size in bytes."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self.size = 0
        self._entries: OrderedDict[tuple, Entry] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def peek(self, key: tuple) -> Entry | None:
        """The entry under `key`, whatever its version (the caller checks that, then `touch`es)."""
        return self._entries.get(key)

    def touch(self, key: tuple) -> None:
        """Mark the entry as just used, so the least recently used go first."""
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)

    def get(self, key: tuple, version: generation.SiteVersion) -> Entry | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry.version != version:
                return None
            self._entries.move_to_end(key)
            return entry

    def put(self, key: tuple, entry: Entry) -> None:
        if entry.size > self.max_bytes // 4:  # one huge page must not push out all the others
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self.size -= old.size
            self._entries[key] = entry
            self.size += entry.size
            while self.size > self.max_bytes:
                _, evicted = self._entries.popitem(last=False)
                self.size -= evicted.size

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.size = 0


def init_app(app: Flask) -> None:
    """Create the stores and the fast path in front of Flask, unless PAGE_CACHE_BYTES is 0.

    Its two hooks, `serve_from_cache` and `keep_response`, are registered by
    `blog.request_hooks` when the cache is on (`keep_response` last of all, so it stores the
    headers exactly as they are sent).
    """
    max_bytes = int(app.config.get("PAGE_CACHE_BYTES", DEFAULT_BYTES))
    if max_bytes <= 0:
        return
    cache = app.extensions[_EXTENSION] = PageCache(max_bytes)
    searches = app.extensions[_SEARCH_EXTENSION] = PageCache(max_bytes // SEARCH_SHARE)
    for store in (cache, searches):
        generation.tracker_for(app).on_change(store.clear)  # old entries only take up room
    app.wsgi_app = FastPath(app, (cache, searches), app.wsgi_app)


class FastPath:
    """WSGI middleware: answer a request for a stored page without building a Flask request."""

    def __init__(self, app: Flask, stores: tuple[PageCache, ...], wsgi_app):
        self.app = app
        self.stores = stores
        self.wsgi_app = wsgi_app
        self.tracker = generation.tracker_for(app)
        self.personal_cookies = {
            app.config.get("SESSION_COOKIE_NAME", "session"),
            app.config.get("REMEMBER_COOKIE_NAME", "remember_token"),
        }

    def __call__(self, environ, start_response):
        entry = self.current_entry(environ)
        if entry is None:
            return self.wsgi_app(environ, start_response)
        return self.send(entry, environ, start_response)

    def current_entry(self, environ) -> Entry | None:
        if environ["REQUEST_METHOD"] not in ("GET", "HEAD") or self.app.debug:
            return None
        if wants_activity_json(environ.get("HTTP_ACCEPT")):  # the fediverse's JSON, not a page
            return None
        key = wsgi_key(environ)
        entry, store = None, None
        for store in self.stores:
            entry = store.peek(key)
            if entry is not None:
                break
        if entry is None or self.is_personal(environ.get("HTTP_COOKIE")):
            return None
        version = self.tracker.version
        if entry.version != version or not version.holds_at(generation.utcnow()):
            return None
        reader = self.app.extensions.get(generation.READER)
        try:
            stored = reader.read() if reader is not None else None
        except generation.GenerationUnreadable:
            return None  # Flask's path logs it and renders
        if stored != version.stored:
            return None
        store.touch(key)
        return entry

    def is_personal(self, cookie_header: str | None) -> bool:
        """Any session or "remember me" cookie sends the request to Flask, which looks inside."""
        if not cookie_header:
            return False
        try:
            names = SimpleCookie(cookie_header).keys()
        except CookieError:
            return True
        return not self.personal_cookies.isdisjoint(names)

    @staticmethod
    def send(entry: Entry, environ, start_response):
        if_none_match = environ.get("HTTP_IF_NONE_MATCH")
        if if_none_match and parse_etags(if_none_match).contains_weak(entry.etag):
            start_response("304 NOT MODIFIED", not_modified_headers(entry))
            return []
        start_response("200 OK", [*entry.headers, ("Vary", "Cookie"), ("X-Cache", "HIT")])
        return [] if environ["REQUEST_METHOD"] == "HEAD" else [entry.body]


def wsgi_key(environ) -> tuple[str, str, str]:
    """The request's address exactly as the server received it."""
    return (
        environ.get("SCRIPT_NAME", ""),
        environ.get("PATH_INFO", ""),
        environ.get("QUERY_STRING", ""),
    )


def not_modified_headers(entry: Entry) -> list[tuple[str, str]]:
    kept = {"etag", "cache-control", "last-modified"}
    headers = [(name, value) for name, value in entry.headers if name.lower() in kept]
    return [*headers, ("Vary", "Cookie"), ("X-Cache", "HIT")]


def cache_for(app: Flask) -> PageCache | None:
    return app.extensions.get(_EXTENSION)


def store_for_request() -> PageCache:
    """The LRU this request's page belongs in: searches have their own."""
    name = _SEARCH_EXTENSION if request.endpoint == SEARCH_ENDPOINT else _EXTENSION
    return current_app.extensions[name]


# The request cycle ---------------------------------------------------------------------------


def serve_from_cache() -> Response | None:
    """Answer a cacheable request with 304 or the stored page; otherwise let the view run."""
    key = cache_key()
    if key is None:
        if request.blueprint == "public":
            g.page_cache_status = "BYPASS"
        return None
    try:
        version = generation.current()
    except SQLAlchemyError:  # no site_state yet (an old schema) or no database: just render
        db.session.rollback()
        current_app.logger.warning("Page cache: the site generation is unreadable; bypassing")
        g.page_cache_status = "BYPASS"
        return None
    tag = entity_tag(version, key)
    g.page_cache = (key, version, tag)
    g.page_etag = tag  # http_caching.conditional_page sends this instead of a hash of the body
    if request.if_none_match.contains_weak(tag):
        g.page_cache_status = "HIT"
        return not_modified(tag)
    entry = store_for_request().get(key, version)
    if entry is None:
        g.page_cache_status = "MISS"
        return None
    g.page_cache_status = "HIT"
    return entry.response()


def keep_response(response: Response) -> Response:
    """Store a freshly rendered cacheable page; label every reader response with X-Cache."""
    status = g.get("page_cache_status")
    if status is None:
        return response
    response.headers["X-Cache"] = status
    if status == "MISS" and storable(response):
        key, version, tag = g.page_cache
        headers = tuple(
            (name, value)
            for name, value in response.headers.items()
            if name.lower() not in UNSTORED_HEADERS
        )
        store_for_request().put(key, Entry(version, tag, headers, response.get_data()))
    return response


def cache_key() -> tuple | None:
    """The address (`wsgi_key`) of a request the cache may answer; None for any other."""
    if request.method not in ("GET", "HEAD") or request.blueprint != "public":
        return None
    if current_app.debug:  # templates reload as they are edited; so must the pages
        return None
    if request.endpoint in BYPASSED_ENDPOINTS:
        return None
    if wants_activity_json(request.headers.get("Accept")):  # ActivityStreams JSON: never stored
        return None
    allowed = SEARCH_ARGUMENTS if request.endpoint == SEARCH_ENDPOINT else KEPT_ARGUMENTS
    if not allowed.issuperset(request.args):
        return None
    if any(len(values) > 1 for values in request.args.listvalues()):
        return None
    if is_personal():
        return None
    return wsgi_key(request.environ)


def is_personal() -> bool:
    """Whether this visitor may see something of their own, judged without the database."""
    remember_cookie = current_app.config.get("REMEMBER_COOKIE_NAME", "remember_token")
    return (
        "_user_id" in session  # Flask-Login's signed-in user
        or "_flashes" in session  # a message waiting to be shown
        or remember_cookie in request.cookies  # "remember me" signs in again from this cookie
    )


def storable(response: Response) -> bool:
    _, _, tag = g.page_cache
    return (
        response.status_code == 200
        and not response.direct_passthrough
        and not response.is_streamed
        and "Set-Cookie" not in response.headers
        and not session.modified  # the page wrote something for this visitor only
        and response.get_etag()[0] == tag
    )


def not_modified(tag: str) -> Response:
    response = current_app.response_class(status=304)
    response.set_etag(tag)
    response.cache_control.public = True
    response.cache_control.max_age = 0
    response.cache_control.must_revalidate = True
    return response


# Validators ----------------------------------------------------------------------------------


def entity_tag(version: generation.SiteVersion, key: tuple) -> str:
    """The same in every process of one release; keyed, so a client cannot forge one."""
    app = current_app._get_current_object()
    secret = hashlib.sha256(str(app.config["SECRET_KEY"]).encode()).digest()
    text = "\n".join((release(app), version.token, *key))
    return hashlib.blake2b(text.encode(), key=secret, digest_size=16).hexdigest()


def release(app: Flask) -> str:
    """A fingerprint of the code, templates, static files and SITE_URL, taken once per process.

    It is part of every ETag, so a browser's copy of a page rendered by an older release is not
    confirmed as current after an upgrade.
    """
    fingerprint = app.extensions.get("blog.release")
    if fingerprint is None:
        digest = hashlib.sha256(app.config["SITE_URL"].encode())
        folders = [Path(__file__).parent, Path(app.template_folder), Path(app.static_folder)]
        for folder in folders:
            for path in sorted(folder.rglob("*")):
                if path.suffix in RELEASE_SUFFIXES and path.is_file():
                    digest.update(str(path.relative_to(folder)).encode())
                    digest.update(hashlib.sha256(path.read_bytes()).digest())
        fingerprint = app.extensions.setdefault("blog.release", digest.hexdigest()[:16])
    return fingerprint
