"""Absolute URLs for feeds, the sitemap and meta tags.

Every absolute URL is built from the configured SITE_URL, never from the request's Host header:
feed readers and search engines keep these URLs for years, and the Host header is whatever the
client chose to send.
"""

from html import escape
from html.parser import HTMLParser
from urllib.parse import quote, urljoin

from flask import current_app, has_request_context, request, url_for
from werkzeug.routing import BuildError

# Listing pages built in another module; until their endpoints exist, `listing_url` formats
# the same paths itself.
LISTING_ENDPOINTS = {
    "category": "public.category",
    "tag": "public.tag",
    "author": "public.author",
}

URL_ATTRIBUTES = frozenset({"href", "src"})


def site_url() -> str:
    """The public base URL, without a trailing slash."""
    return current_app.config["SITE_URL"]


def app_path(endpoint: str, **values) -> str:
    """An endpoint's path relative to the app's root.

    `url_for` includes the script root the request came in with (a prefix a proxy passes on as
    SCRIPT_NAME); SITE_URL already ends with the public prefix, so it is removed here.
    """
    if not has_request_context():
        return current_app.url_map.bind("localhost").build(endpoint, values)
    path = url_for(endpoint, **values)
    root = request.script_root
    if root and path.startswith(root + "/"):
        path = path[len(root) :]
    return path


def absolute_url(path_or_endpoint: str, **values) -> str:
    """`/a/path` or an endpoint name (with its URL values) as an absolute URL under SITE_URL."""
    if path_or_endpoint.startswith("/"):
        return site_url() + path_or_endpoint
    return site_url() + app_path(path_or_endpoint, **values)


def post_url(post) -> str:
    return absolute_url("public.post", slug=post.slug)


def media_absolute_url(filename: str) -> str:
    return absolute_url("public.media_file", filename=filename)


def listing_url(kind: str, slug: str) -> str:
    """The absolute URL of a category, tag or author page (`kind` is one of LISTING_ENDPOINTS)."""
    endpoint = LISTING_ENDPOINTS[kind]
    if endpoint in current_app.view_functions:
        try:
            return absolute_url(endpoint, slug=slug)
        except BuildError:
            pass  # a different signature than expected: fall back to the documented path
    return f"{site_url()}/{kind}/{quote(slug, safe='/')}/"


def category_url(category) -> str:
    """A category's address: its path in the tree (blog.category_tree)."""
    from .category_tree import path_of

    return listing_url("category", path_of(category))


def tag_url(tag) -> str:
    return listing_url("tag", tag.slug)


def author_url(user) -> str:
    return listing_url("author", user.slug)


# Making stored HTML absolute --------------------------------------------------------------


def absolutize_html(html: str, base: str) -> str:
    """Rewrite relative href, src and srcset URLs in sanitised HTML against `base`.

    Meant for HTML that leaves the site (feeds), where there is no page to resolve relative
    URLs against. Only start tags holding a URL that changes are rewritten; every other byte
    of `html` is kept as it was.
    """
    finder = _RelativeUrlFinder(html, base)
    finder.feed(html)
    finder.close()
    pieces, position = [], 0
    for start, end, replacement in finder.replacements:
        pieces += [html[position:start], replacement]
        position = end
    pieces.append(html[position:])
    return "".join(pieces)


def absolutize_url(value: str, base: str) -> str:
    """One URL resolved against `base`; absolute URLs and other schemes come back unchanged."""
    return urljoin(base, value.strip())


def absolutize_srcset(value: str, base: str) -> str:
    """Every candidate URL of a srcset ("a.jpg 480w, b.jpg 960w") resolved against `base`."""
    candidates = []
    for url, descriptor in _srcset_candidates(value):
        candidates.append(f"{absolutize_url(url, base)} {descriptor}".rstrip())
    return ", ".join(candidates)


def _srcset_candidates(value: str):
    """(url, descriptor) pairs, split the way the HTML standard splits a srcset.

    A URL runs to the next whitespace (so it may hold commas); commas ending it end the
    candidate, otherwise its descriptor runs to the next comma.
    """
    position, end = 0, len(value)
    while position < end:
        while position < end and (value[position].isspace() or value[position] == ","):
            position += 1
        start = position
        while position < end and not value[position].isspace():
            position += 1
        url = value[start:position]
        if not url:
            break
        if url.endswith(","):
            yield url.rstrip(","), ""
            continue
        comma = value.find(",", position)
        stop = end if comma == -1 else comma
        yield url, value[position:stop].strip()
        position = stop + 1


class _RelativeUrlFinder(HTMLParser):
    """Collect (start, end, new tag) for each start tag whose URLs change.

    HTMLParser reports the line and column of the construct it is handling; the line starts
    turn those into offsets into the original text, so untouched text is copied, not rebuilt.
    """

    def __init__(self, html: str, base: str):
        super().__init__(convert_charrefs=True)
        self.base = base
        self.replacements: list[tuple[int, int, str]] = []
        self._line_starts = [0] + [i + 1 for i, char in enumerate(html) if char == "\n"]

    def handle_starttag(self, tag, attrs):
        self._rewrite(tag, attrs, self_closing=False)

    def handle_startendtag(self, tag, attrs):
        self._rewrite(tag, attrs, self_closing=True)

    def _rewrite(self, tag: str, attrs: list[tuple[str, str | None]], self_closing: bool):
        new_attrs = [(name, self._absolute(name, value)) for name, value in attrs]
        if new_attrs == attrs:
            return
        line, column = self.getpos()
        start = self._line_starts[line - 1] + column
        end = start + len(self.get_starttag_text())
        self.replacements.append((start, end, _start_tag(tag, new_attrs, self_closing)))

    def _absolute(self, name: str, value: str | None) -> str | None:
        if value is None:
            return None
        if name in URL_ATTRIBUTES:
            return absolutize_url(value, self.base)
        if name == "srcset":
            return absolutize_srcset(value, self.base)
        return value


def _start_tag(tag: str, attrs: list[tuple[str, str | None]], self_closing: bool) -> str:
    parts = [tag]
    for name, value in attrs:
        parts.append(name if value is None else f'{name}="{escape(value, quote=True)}"')
    return "<" + " ".join(parts) + (" />" if self_closing else ">")
