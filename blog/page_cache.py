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

Every stored page is kept twice: the plain bytes and the same bytes gzip-compressed (level 6,
`blog.gzip_pages`), made once when it is stored, so a hit for a client that accepts gzip costs
no compression. Both count against the byte budget.

Decisions (compression):
- A client gets gzip when its `Accept-Encoding` gives gzip (or `x-gzip`, or `*` without naming
  gzip) a quality above 0, whatever the case; anyone else, and anyone without the header, gets
  the plain bytes. Every reader page the cache answers says `Vary: Accept-Encoding, Cookie`
  (one header), 304s included.
- One ETag per representation: the gzip one is the plain one with `-gz` added. A strong
  validator must change with the content coding (RFC 9110, 8.8.3); each is checked against the
  representation the client would get, so a 304 answers for both.
- The miss (Flask's path, first request) sends the same representation, bytes and headers as
  the hits that follow: the page is compressed when it is stored, and the response switched to
  the stored gzip bytes. A page that cannot be stored is compressed for that client alone.
- Every page the cache handles is text (HTML, feeds, sitemap, robots.txt, search), so every one
  is compressed; the gzip header's mtime is 0, so every process makes the same bytes, which a
  strong ETag shared by the processes needs. A page with a comment form gets its reader's
  token without being compressed again (`blog.gzip_pages`).
- No Brotli (for now): measured on the bench's pages (bench/README.md), the `brotli` binding at
  its best quality makes an article 20% smaller than gzip but takes 35-55 ms a page (half a
  second for the feed) on the miss that stores it, and at quality 5 saves only 7-10%; either
  way a third copy of every page would sit in a cache the 512 MB box needs small.
- nginx (deploy/nginx.conf) never compresses a response that already has `Content-Encoding`,
  and its `gzip_vary` stays off so the plain answers do not get a second `Vary`.

Hits are answered by `FastPath`, a WSGI middleware in front of Flask: when the request carries
no session or "remember me" cookie and its exact path and query string are stored, it reads the
generation (`generation.StoredReader`: a few microseconds on SQLite; on PostgreSQL a round trip
that concurrent requests of a process share) and, if the entry is still current,
sends the stored response as it was first sent (all headers, security ones included) without
building a Flask request. Everything else goes on to Flask, where `serve_from_cache` decides as
before; the two agree because the middleware only serves what Flask stored under the same key.
"""

import functools
import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie
from pathlib import Path

from flask import Flask, Response, current_app, g, request, session
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.datastructures import HeaderSet
from werkzeug.http import parse_etags, parse_set_header

from . import comment_guard, generation, gzip_pages
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
GZIP_SUFFIX = "-gz"  # the gzip representation's ETag: the plain one with this added
_MARK = comment_guard.MARK_HEADER.lower()
_PLACEHOLDER = comment_guard.PLACEHOLDER.encode()
_EXTENSION = "blog.page_cache"
_SEARCH_EXTENSION = "blog.page_cache.searches"


@dataclass(frozen=True)
class Representation:
    """One encoding of a stored page, with the headers each answer sends, made when stored."""

    etag: str
    body: bytes
    headers: tuple[tuple[str, str], ...]  # as Flask sent them, but for UNSTORED_HEADERS
    hit_headers: tuple[tuple[str, str], ...]  # `headers`, Vary completed, X-Cache: HIT
    not_modified_headers: tuple[tuple[str, str], ...]  # a 304's
    packed: gzip_pages.Packed | None  # the gzip one's

    def payload(self, secret: bytes) -> bytes:
        """The body to send: a gzip page with a comment form gets a fresh token in it."""
        if self.packed is None or not self.packed.slots:
            return self.body
        return self.packed.filled(comment_guard.new_token(secret).encode())


@dataclass(frozen=True)
class Entry:
    version: generation.SiteVersion
    etag: str  # the plain representation's
    plain: Representation
    gzipped: Representation

    @classmethod
    def build(cls, version, etag: str, headers, body: bytes) -> "Entry":
        """Keep `body` as sent with `headers`, and gzip-compressed beside it.

        The ETag and Content-Length are each representation's own, whichever one the miss that
        stored the page was sent. A page marked for `comment_guard.FormTokenFiller` keeps the
        mark in its plain form; its gzip form gets the token from `Representation.payload`.
        """
        marked = any(name.lower() == _MARK for name, _ in headers)
        packed = gzip_pages.pack(body, _PLACEHOLDER if marked else None)
        common = [
            (name, value)
            for name, value in headers
            if name.lower() not in ("etag", "content-length", "content-encoding")
        ]
        plain = [*common, ("Content-Length", str(len(body))), ("ETag", f'"{etag}"')]
        gzipped = [
            *(header for header in common if header[0].lower() != _MARK),
            ("Content-Length", str(packed.length)),
            ("ETag", f'"{etag}{GZIP_SUFFIX}"'),
            ("Content-Encoding", "gzip"),
        ]
        compressed = representation(etag + GZIP_SUFFIX, packed.body, gzipped, packed)
        return cls(version, etag, representation(etag, body, plain), compressed)

    @property
    def size(self) -> int:
        """Both bodies; the headers once (the two representations share their strings)."""
        headers = sum(len(name) + len(value) for name, value in self.plain.hit_headers)
        return len(self.plain.body) + self.gzipped.packed.size + headers

    def chosen(self, gzip_wanted: bool) -> Representation:
        return self.gzipped if gzip_wanted else self.plain

    def response(self, gzip_wanted: bool) -> Response:
        kept = self.chosen(gzip_wanted)
        body = kept.payload(comment_guard.secret_key())
        return current_app.response_class(body, status=200, headers=list(kept.headers))


def representation(etag: str, body: bytes, headers, packed=None) -> Representation:
    """The answers of one representation: Vary made whole once here, not on every hit."""
    vary = HeaderSet()
    for name, value in headers:
        if name.lower() == "vary":
            vary.update(parse_set_header(value))
    vary.update(("Accept-Encoding", "Cookie"))  # Flask adds Cookie on the way out
    headers = tuple((name, value) for name, value in headers if name.lower() != "vary")
    varied = (*headers, ("Vary", vary.to_header()))
    kept = {"etag", "cache-control", "last-modified"}
    return Representation(
        etag=etag,
        body=body,
        headers=varied,
        hit_headers=(*varied, ("X-Cache", "HIT")),
        not_modified_headers=(
            *((name, value) for name, value in headers if name.lower() in kept),
            ("Vary", vary.to_header()),
            ("X-Cache", "HIT"),
        ),
        packed=packed,
    )


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
        self.secret = str(app.config["SECRET_KEY"]).encode()  # for comment form tokens
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

    def send(self, entry: Entry, environ, start_response):
        kept = entry.chosen(accepts_gzip(environ.get("HTTP_ACCEPT_ENCODING")))
        if_none_match = environ.get("HTTP_IF_NONE_MATCH")
        if if_none_match and parse_etags(if_none_match).contains_weak(kept.etag):
            start_response("304 NOT MODIFIED", list(kept.not_modified_headers))
            return []
        start_response("200 OK", list(kept.hit_headers))
        return [] if environ["REQUEST_METHOD"] == "HEAD" else [kept.payload(self.secret)]


def wsgi_key(environ) -> tuple[str, str, str]:
    """The request's address exactly as the server received it."""
    return (
        environ.get("SCRIPT_NAME", ""),
        environ.get("PATH_INFO", ""),
        environ.get("QUERY_STRING", ""),
    )


def accepts_gzip(accept_encoding: str | None) -> bool:
    """Whether a request's Accept-Encoding lets us send gzip (a quality above 0)."""
    if not accept_encoding:
        return False
    if len(accept_encoding) > 200:  # not remembered: anyone can send a new long one
        return _gzip_quality(accept_encoding) > 0
    return _accepts_gzip_remembered(accept_encoding)


@functools.lru_cache(maxsize=128)
def _accepts_gzip_remembered(accept_encoding: str) -> bool:
    return _gzip_quality(accept_encoding) > 0  # browsers send a handful of values, always alike


def _gzip_quality(accept_encoding: str) -> float:
    """gzip's quality in the header (RFC 9110, 12.5.3): named, else `*`'s, else 0."""
    named, anything = None, None
    for item in accept_encoding.split(","):
        coding, *parameters = (part.strip() for part in item.split(";"))
        quality = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                quality = _quality(value.strip())
        coding = coding.lower()
        if coding in ("gzip", "x-gzip"):
            named = quality if named is None else max(named, quality)
        elif coding == "*":
            anything = quality
    if named is not None:
        return named
    return anything or 0.0


def _quality(value: str) -> float:
    """A qvalue, 0 to 1 with at most three decimals; anything else counts as a refusal."""
    try:
        quality = float(value)
    except ValueError:
        return 0.0
    return quality if 0.0 <= quality <= 1.0 and len(value) <= 5 else 0.0


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
    gzip_wanted = accepts_gzip(request.headers.get("Accept-Encoding"))
    tag = entity_tag(version, key)
    g.page_cache = (key, version, tag, gzip_wanted)
    # http_caching.conditional_page sends this instead of a hash of the body
    g.page_etag = tag + GZIP_SUFFIX if gzip_wanted else tag
    if request.if_none_match.contains_weak(g.page_etag):
        g.page_cache_status = "HIT"
        return not_modified(g.page_etag)
    entry = store_for_request().get(key, version)
    if entry is None:
        g.page_cache_status = "MISS"
        return None
    g.page_cache_status = "HIT"
    return entry.response(gzip_wanted)


def keep_response(response: Response) -> Response:
    """Store a freshly rendered cacheable page; label every reader response with X-Cache.

    A miss is sent as the following hits will be: gzip-compressed for a client that takes it.
    """
    status = g.get("page_cache_status")
    if status is None:
        return response
    response.headers["X-Cache"] = status
    if status == "BYPASS":
        return response
    response.vary.add("Accept-Encoding")
    if status != "MISS" or response.status_code != 200:
        return response  # a hit is already what it should be; a 304 or an error has no body
    key, version, tag, gzip_wanted = g.page_cache
    if storable(response):
        headers = tuple(
            (name, value)
            for name, value in response.headers.items()
            if name.lower() not in UNSTORED_HEADERS
        )
        entry = Entry.build(version, tag, headers, response.get_data())
        store_for_request().put(key, entry)
        if gzip_wanted:
            encode(response, entry.gzipped.packed)
    elif gzip_wanted and response.get_etag()[0] == tag + GZIP_SUFFIX:
        marked = comment_guard.MARK_HEADER in response.headers
        encode(response, gzip_pages.pack(response.get_data(), _PLACEHOLDER if marked else None))
    return response


def encode(response: Response, packed: gzip_pages.Packed) -> None:
    """Send the gzip representation (its ETag is already set) instead of the plain bytes."""
    token = comment_guard.new_token(comment_guard.secret_key()).encode()
    response.set_data(packed.filled(token))  # Content-Length too
    response.headers["Content-Encoding"] = "gzip"
    response.headers.pop(comment_guard.MARK_HEADER, None)  # the token is in already


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
    _, _, tag, gzip_wanted = g.page_cache
    return (
        response.status_code == 200
        and not response.direct_passthrough
        and not response.is_streamed
        and "Set-Cookie" not in response.headers
        and not session.modified  # the page wrote something for this visitor only
        and response.get_etag()[0] == (tag + GZIP_SUFFIX if gzip_wanted else tag)
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
