"""Markdown -> safe HTML: the only place where post bodies and comments are rendered and
sanitised.

Pipeline: Markdown (with raw HTML allowed) -> bleach with an explicit allowlist ->
our own filters (drop script-like elements with their content, re-check URLs, add
``rel`` to off-site links). Anything that changes the HTML produced for the same input
must bump ``PIPELINE_VERSION`` so stored posts get re-rendered.

Comments (`render_comment`) go through the same steps with a stricter profile: raw HTML is
shown as text, not parsed; headings, images and tables are not made; the allowlist keeps
paragraphs, emphasis, links, code, quotes and lists; every link gets
``rel="nofollow ugc noopener"``.
"""

from __future__ import annotations

import functools
import html
import math
import re
import threading
import xml.etree.ElementTree as etree
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import bleach
    import markdown
    from pygments.formatters import HtmlFormatter

from .text import slugify

PIPELINE_VERSION = 2

LIGHT_CODE_STYLE = "default"
DARK_CODE_STYLE = "github-dark"

ALLOWED_TAGS = frozenset(
    {
        "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6",
        "strong", "em", "b", "i", "del", "s", "ins", "sup", "sub", "small", "mark",
        "code", "pre", "kbd", "samp", "var", "span", "div", "blockquote",
        "ul", "ol", "li", "dl", "dt", "dd", "a", "img", "figure", "figcaption",
        "table", "thead", "tbody", "tfoot", "tr", "th", "td", "caption",
        "abbr", "cite", "q",
    }
)  # fmt: skip

ALLOWED_PROTOCOLS = frozenset({"http", "https", "mailto"})

# Elements removed together with everything inside them. bleach's strip=True only
# removes the tags, so ``<script>alert(1)</script>`` would otherwise leave "alert(1)".
DROP_WITH_CONTENT = frozenset(
    {
        "script", "style", "template", "noscript", "noembed", "noframes", "xmp",
        "iframe", "frame", "frameset", "object", "embed", "applet", "textarea", "select",
        "title", "head", "svg", "math",
    }
)  # fmt: skip

EXTERNAL_REL = "noopener noreferrer nofollow"


@functools.cache
def _pygments_classes() -> frozenset[str]:
    """Every class pygments may put on a span, in either code style."""
    # heavy; only needed when rendering or sanitising
    from pygments.formatters import HtmlFormatter
    from pygments.token import STANDARD_TYPES

    return frozenset(
        cls
        for cls in (
            *STANDARD_TYPES.values(),
            *HtmlFormatter(style=LIGHT_CODE_STYLE).class2style,
            *HtmlFormatter(style=DARK_CODE_STYLE).class2style,
            "hll",
        )
        if cls
    )


_BLOCK_CLASSES = frozenset({"highlight", "footnote", "toc", "gallery"})
_FOOTNOTE_LINK_CLASSES = frozenset({"footnote-ref", "footnote-backref"})

# ---------------------------------------------------------------------------
# URL policy
# ---------------------------------------------------------------------------

# Browsers ignore ASCII tab/newline anywhere in a URL and trim control chars and
# spaces; we go further and drop every control, space and invisible character.
_URL_NOISE_RE = re.compile(
    r"[\x00-\x20\x7f-\xa0\u00ad\u200b-\u200f\u2028-\u202e\u2060-\u2064\ufeff`\s]+"
)
_SCHEME_END_RE = re.compile(r"[:/?#]")


def _normalise_url(value: str) -> str:
    return _URL_NOISE_RE.sub("", html.unescape(value)).lower()


def url_scheme(value: str) -> str | None:
    """Return the scheme a browser would see in ``value`` (entity-decoded), or None.

    Anything before the first ``:`` that comes ahead of ``/``, ``?`` or ``#`` counts as
    a scheme, so ``javascript:123`` and ``localhost:8080`` both have one (urllib treats
    them as relative paths, which is how they slip through bleach's own check).
    """
    normalised = _normalise_url(value)
    match = _SCHEME_END_RE.search(normalised)
    if match and match.group() == ":":
        return normalised[: match.start()]
    return None


def is_safe_url(value: str) -> bool:
    """True for relative URLs and for http, https and mailto URLs."""
    scheme = url_scheme(value)
    return scheme is None or scheme in ALLOWED_PROTOCOLS


def is_external_url(value: str) -> bool:
    """True for absolute http(s) and protocol-relative (``//host``) URLs."""
    if url_scheme(value) in {"http", "https"}:
        return True
    return _normalise_url(value).replace("\\", "/").startswith("//")


# ---------------------------------------------------------------------------
# Attribute policy
# ---------------------------------------------------------------------------

_ID_RE = re.compile(r"[^\W_][\w:.-]{0,127}")
_INT_RE = re.compile(r"[0-9]{1,4}")


def _any_text(value: str) -> bool:
    return True


def _one_of(*choices: str) -> Callable[[str], bool]:
    allowed = frozenset(choices)
    return lambda value: value.strip().lower() in allowed


def _only_classes(value: str, allowed: frozenset[str]) -> bool:
    """Keep a class attribute only if every class in it is on the allowlist."""
    return bool(value.split()) and set(value.split()) <= allowed


def _classes(allowed: frozenset[str]) -> Callable[[str], bool]:
    return lambda value: _only_classes(value, allowed)


def _pygments_class(value: str) -> bool:
    return _only_classes(value, _pygments_classes())


def _matches(pattern: re.Pattern[str]) -> Callable[[str], bool]:
    return lambda value: pattern.fullmatch(value) is not None


_SRCSET_CANDIDATE = re.compile(r"([^\s,]+)\s+[0-9]{1,5}w")
_SIZES_RE = re.compile(r"[a-z0-9 .:()%,-]{1,200}")


def _srcset(value: str) -> bool:
    """Only "url 480w, url 960w" lists of safe URLs (what the pipeline writes itself)."""
    candidates = [part.strip() for part in value.split(",")]
    if not candidates or len(candidates) > 20:
        return False
    for candidate in candidates:
        found = _SRCSET_CANDIDATE.fullmatch(candidate)
        if found is None or not is_safe_url(found.group(1)):
            return False
    return True


_ID = _matches(_ID_RE)
_INT = _matches(_INT_RE)
_CELL = {"align": _one_of("left", "right", "center"), "colspan": _INT, "rowspan": _INT}

ALLOWED_ATTRIBUTES: dict[str, dict[str, Callable[[str], bool]]] = {
    "a": {"href": is_safe_url, "title": _any_text, "class": _classes(_FOOTNOTE_LINK_CLASSES)},
    "img": {
        "src": is_safe_url,
        "alt": _any_text,
        "title": _any_text,
        "width": _INT,
        "height": _INT,
        "loading": _one_of("lazy", "eager"),
        "srcset": _srcset,
        "sizes": _matches(_SIZES_RE),
    },
    **{f"h{level}": {"id": _ID} for level in range(1, 7)},
    "sup": {"id": _ID},
    "li": {"id": _ID},
    "ol": {"start": _INT},
    "th": _CELL,
    "td": _CELL,
    "div": {"class": _classes(_BLOCK_CLASSES)},
    "span": {"class": _pygments_class},
    "abbr": {"title": _any_text},
}


def _allow_attribute(tag: str, name: str, value: str) -> bool:
    check = ALLOWED_ATTRIBUTES.get(tag, {}).get(name)
    return check is not None and check(value)


# ---------------------------------------------------------------------------
# Sanitising
# ---------------------------------------------------------------------------


_local = threading.local()  # one Markdown and one Cleaner per thread: neither is thread-safe


class _TokenFilter:
    """The html5lib filter interface bleach expects (``cls(source=stream)``, iterable),
    written out so that importing this module does not import bleach."""

    def __init__(self, source: Iterator[dict]) -> None:
        self.source = source

    def __getattr__(self, name: str):
        return getattr(self.source, name)


class _DropDangerousContent(_TokenFilter):
    """Remove DROP_WITH_CONTENT elements with their whole subtree, and any stray tag
    outside the allowlist (defence in depth; bleach should have stripped it)."""

    def __iter__(self) -> Iterator[dict]:
        depth = 0
        for token in self.source:
            kind = token["type"]
            name = token.get("name")
            if kind == "StartTag" and name in DROP_WITH_CONTENT:
                depth += 1
            elif kind == "EndTag" and name in DROP_WITH_CONTENT:
                depth -= 1
            elif depth == 0 and not (
                kind in {"StartTag", "EndTag", "EmptyTag"} and name not in ALLOWED_TAGS
            ):
                yield token


class _LinkPolicy(_TokenFilter):
    """Re-check URLs, mark off-site links with rel and make images lazy-loading."""

    def __iter__(self) -> Iterator[dict]:
        for token in self.source:
            if token["type"] in {"StartTag", "EmptyTag"}:
                attrs = token.get("data") or {}
                for key in [(None, "href"), (None, "src")]:
                    if key in attrs and not is_safe_url(attrs[key]):
                        del attrs[key]
                if token["name"] == "a":
                    attrs.pop((None, "rel"), None)
                    if (None, "href") in attrs and is_external_url(attrs[(None, "href")]):
                        attrs[(None, "rel")] = EXTERNAL_REL
                elif token["name"] == "img":
                    attrs.setdefault((None, "loading"), "lazy")
                token["data"] = attrs
            yield token


def _new_cleaner(
    tags: frozenset[str] = ALLOWED_TAGS,
    attributes: Callable[[str, str, str], bool] = _allow_attribute,
    policy: type[_TokenFilter] = _LinkPolicy,
) -> bleach.Cleaner:
    """A Cleaner for an allowlist (posts' by default); `policy` is the last filter."""
    # heavy (bleach brings html5lib); only needed when rendering
    import bleach

    # DROP_WITH_CONTENT tags are "allowed" here only so the parser keeps them as real
    # elements; _DropDangerousContent then removes them with their content.
    return bleach.Cleaner(
        tags=tags | DROP_WITH_CONTENT,
        attributes=attributes,
        protocols=ALLOWED_PROTOCOLS,
        strip=True,
        strip_comments=True,
        filters=[_DropDangerousContent, policy],
    )


def _cleaner() -> bleach.Cleaner:
    """This thread's Cleaner: bleach's parser keeps state and is not thread-safe, but a
    Cleaner can be reused by one thread (each clean() parses a fresh fragment)."""
    cleaner = getattr(_local, "cleaner", None)
    if cleaner is None:
        cleaner = _local.cleaner = _new_cleaner()
    return cleaner


def sanitize_html(dirty: str) -> str:
    """Reduce arbitrary HTML to the allowlisted tags, attributes and URLs."""
    return _cleaner().clean(dirty)


# ---------------------------------------------------------------------------
# Markdown
# ---------------------------------------------------------------------------


def _make_figures(root: etree.Element) -> None:
    """Turn a paragraph holding only a titled image into figure + figcaption."""
    for parent in root.iter():
        for index, child in enumerate(list(parent)):
            if child.tag == "p":
                figure = _figure_for(child)
                if figure is not None:
                    parent[index] = figure


def _figure_for(paragraph: etree.Element) -> etree.Element | None:
    content = _sole_child(paragraph)
    image = content
    if content is not None and content.tag == "a":
        image = _sole_child(content)
    if image is None or image.tag != "img" or not image.get("title", "").strip():
        return None
    figure = etree.Element("figure")
    figure.append(content)
    caption = etree.SubElement(figure, "figcaption")
    caption.text = image.attrib.pop("title").strip()
    figure.tail = paragraph.tail
    return figure


def _make_galleries(root: etree.Element) -> None:
    """A bulleted list of two or more items that each hold only an image (with its caption,
    if titled) is a gallery: a grid of figures (`div.gallery`), with no bullets."""
    for element in list(root.iter("ul")):
        pictures = [_gallery_picture(item) for item in element]
        if len(pictures) < 2 or any(picture is None for picture in pictures):
            continue
        element.tag = "div"
        element.attrib.clear()
        element.set("class", "gallery")
        for item, picture in zip(list(element), pictures, strict=True):
            for child in list(item):
                item.remove(child)
            item.tag, item.text = "figure", None
            item.attrib.clear()
            for part in picture:
                part.tail = None
                item.append(part)


def _gallery_picture(item: etree.Element) -> list[etree.Element] | None:
    """An image (maybe linked) and its figcaption, when that is all the list item holds."""
    content = _sole_child(item) if item.tag == "li" else None
    if content is None:
        return None
    if content.tag == "figure":
        return list(content)
    if content.tag == "p":
        content = _sole_child(content)
    image = _sole_child(content) if content is not None and content.tag == "a" else content
    return [content] if image is not None and image.tag == "img" else None


@dataclass(frozen=True)
class LibraryImage:
    """What the Media library knows of an uploaded image the text shows."""

    alt: str = ""
    width: int = 0
    height: int = 0
    sizes: tuple[tuple[int, str], ...] = ()  # (width, stored name) of every size, original too


BODY_IMAGE_SIZES = "(min-width: 48rem) 44rem, 100vw"  # the article column, as post.html's


def _apply_library(root: etree.Element, library: Mapping[str, LibraryImage]) -> None:
    """Give an uploaded image the Media library's knowledge of it.

    Written without alt text (`![](/media/…)`, as the editor inserts it), it gets the library's
    alt text: one alt text per image, edited in the library or in the editor's image dialog;
    alt text written in the Markdown is that spot's own and stays. Shown at its full size, it
    gets its width and height (no layout shift) and a `srcset` of its resized copies, like a
    featured image.
    """
    for image in root.iter("img"):
        source = image.get("src", "")
        if MEDIA_PATH_MARK not in source:
            continue
        prefix, _, name = source.partition("?")[0].rpartition("/")
        found = library.get(name)
        if found is None:
            continue
        if found.alt and not image.get("alt", "").strip():
            image.set("alt", found.alt)
        if len(found.sizes) > 1 and "?" not in source and "#" not in source:
            image.set("srcset", ", ".join(f"{prefix}/{n} {w}w" for w, n in sorted(found.sizes)))
            image.set("sizes", BODY_IMAGE_SIZES)
        if found.width and found.height and not image.get("width") and not image.get("height"):
            image.set("width", str(found.width))
            image.set("height", str(found.height))


def media_filenames(markdown_text: str) -> set[str]:
    """The names of uploaded files the Markdown points at (their /media/ addresses)."""
    return set(_MEDIA_FILENAME.findall(markdown_text))


MEDIA_PATH_MARK = "/media/"
_MEDIA_FILENAME = re.compile(r"/media/([A-Za-z0-9_-]{8,80}\.[a-z0-9]{2,5})")


def _sole_child(element: etree.Element) -> etree.Element | None:
    """The only child of ``element`` if there is no text around it."""
    if len(element) != 1 or (element.text or "").strip():
        return None
    child = element[0]
    return None if (child.tail or "").strip() else child


def _heading_id(value: str, separator: str) -> str:
    return slugify(value, fallback="section")


def _new_markdown(speedups: bool = True) -> markdown.Markdown:
    """The post pipeline's Markdown; `speedups=False` leaves out `_speed_up_inline_parsing`
    (for the test and the benchmark that compare the two)."""
    # heavy (markdown and pygments); only needed when rendering
    import markdown
    from markdown.extensions import Extension
    from markdown.extensions.codehilite import CodeHiliteExtension
    from markdown.extensions.fenced_code import FencedCodeExtension
    from markdown.extensions.footnotes import FootnoteExtension
    from markdown.extensions.sane_lists import SaneListExtension
    from markdown.extensions.smarty import SmartyExtension
    from markdown.extensions.tables import TableExtension
    from markdown.extensions.toc import TocExtension
    from markdown.treeprocessors import Treeprocessor

    class FigureTreeprocessor(Treeprocessor):
        def run(self, root: etree.Element) -> None:
            _make_figures(root)
            _make_galleries(root)

    class LibraryTreeprocessor(Treeprocessor):
        def run(self, root: etree.Element) -> None:
            _apply_library(root, getattr(self.md, "library", None) or {})

    class FigureExtension(Extension):
        def extendMarkdown(self, md: markdown.Markdown) -> None:  # noqa: N802 (markdown API)
            # After inline parsing (20) and footnote clean-up (15), before prettify (10).
            md.treeprocessors.register(LibraryTreeprocessor(md), "library", 13)
            md.treeprocessors.register(FigureTreeprocessor(md), "figure", 12)

    md = markdown.Markdown(
        extensions=[
            TableExtension(use_align_attribute=True),
            FencedCodeExtension(),
            CodeHiliteExtension(
                css_class="highlight", guess_lang=False, use_pygments=True, noclasses=False
            ),
            FootnoteExtension(SEPARATOR="-"),
            TocExtension(slugify=_heading_id),
            SmartyExtension(),
            SaneListExtension(),
            FigureExtension(),
        ],
        output_format="html",
    )
    _prefilter_inline_patterns(md)
    if speedups:
        _speed_up_inline_parsing(md)
    return md


def _speed_up_inline_parsing(md: markdown.Markdown) -> None:
    """Two hot spots of Python-Markdown's inline parsing, made faster with equal results.

    - Link patterns find the closing bracket of every index of a text run char by char, once
      per link (the run changes after each); `_bracket_ends` walks the brackets only.
    - The inline processor asks its pattern registry for each pattern by number, tens of
      thousands of times a long post, and the registry checks its order every time;
      `_IndexedRegistry` answers from a list kept while the registry is unchanged.
    - Each run of text is offered to every pattern in turn, a method call each even when the
      pattern's needles (`_PATTERN_NEEDLES`) are not in the text; `_pass_over_hopeless_patterns`
      moves that check into the loop, so such a pattern costs a substring test.
    """
    processors = [md.treeprocessors["inline"]]
    if "smarty" in md.treeprocessors:
        processors.append(md.treeprocessors["smarty"])
    for processor in processors:
        registry = processor.inlinePatterns
        registry.__class__ = _indexed_registry_class(type(registry))
        for pattern in registry:
            if hasattr(pattern, "_findBracketEnds"):
                pattern._findBracketEnds = _bracket_ends
        _pass_over_hopeless_patterns(processor)


_BRACKET_RE = re.compile(r"[\[\]]")


def _bracket_ends(data: str) -> list[int | None]:
    """Python-Markdown's `LinkInlineProcessor._findBracketEnds`, equal result, walking brackets.

    For each index of `data` (and one past its end): the index just past the `]` that closes
    a bracket opened before it, or None. The bracket depth is the same over every index
    between two brackets, so such a stretch is handled as one, with slice assignment.
    """
    length = len(data)
    ends: list[int | None] = [None] * (length + 1)
    stack: list[tuple[int, int, int]] = []  # (first index, one past the last, depth)
    depth, start = 0, 0
    for match in _BRACKET_RE.finditer(data):
        position = match.start()
        stack.append((start, position + 1, depth))  # up to and with the bracket
        depth += 1 if data[position] == "[" else -1
        start = position + 1
        while stack and depth < stack[-1][2]:
            first, stop, _ = stack.pop()
            ends[first:stop] = [start] * (stop - first)
    return ends


def _pass_over_hopeless_patterns(processor) -> None:
    """Replace the processor's loop over its patterns (Python-Markdown's private
    `InlineProcessor.__handleInline`) with one that passes over a pattern whose needles are not
    in the text, as the pattern itself would: no match, and the next pattern searches from the
    start. Everything else, including the patterns that do run, is the library's own code.
    """
    from markdown import util

    apply_pattern = processor._InlineProcessor__applyPattern

    def handle_inline(data: str, pattern_index: int = 0) -> str:
        if isinstance(data, util.AtomicString):
            return data
        patterns = processor.inlinePatterns
        count = len(patterns)
        start = 0
        while pattern_index < count:
            pattern = patterns[pattern_index]
            needles = getattr(pattern, "_needles", None)
            if needles is not None and not any(needle in data for needle in needles):
                matched, start = False, 0
            else:
                data, matched, start = apply_pattern(pattern, data, pattern_index, start)
            if not matched:
                pattern_index += 1
        return data

    processor._InlineProcessor__handleInline = handle_inline


@functools.cache
def _indexed_registry_class(base: type) -> type:
    class IndexedRegistry(base):
        """A Registry whose items by number come from a list while nothing is registered."""

        _by_number: list | None = None

        def __getitem__(self, key):
            if type(key) is int and self._is_sorted and self._by_number is not None:
                return self._by_number[key]
            item = super().__getitem__(key)
            if type(key) is int:  # the sort has just been checked: remember the order
                self._by_number = [self._data[name] for name, _ in self._priority]
            return item

        def register(self, *args, **kwargs):
            self._by_number = None
            return super().register(*args, **kwargs)

        def deregister(self, *args, **kwargs):
            self._by_number = None
            return super().deregister(*args, **kwargs)

    return IndexedRegistry


# Python-Markdown runs every inline pattern's regex over every run of text, and most runs
# cannot match most patterns: a link needs "[", a smart quote needs a quote. A match of each
# pattern named here must contain one of its strings, so where none occurs the pattern is
# passed over, with the result the regex itself would give. Unnamed patterns always run.
_PATTERN_NEEDLES: dict[str, tuple[str, ...]] = {
    "backtick": ("`",),
    "escape": ("\\",),
    "footnote": ("[^",),
    "reference": ("[",),
    "link": ("[",),
    "image_link": ("![",),
    "image_reference": ("![",),
    "short_reference": ("[",),
    "short_image_ref": ("![",),
    "autolink": ("<",),
    "automail": ("<",),
    "linebreak": ("  \n",),
    "html": ("<",),
    "entity": ("&",),
    "em_strong": ("*", "_"),
    "smarty-ellipses": ("...",),
    "smarty-en-dashes": ("--",),
    "smarty-em-dashes": ("---",),
    **{f"smarty-quotes-{index}": ("'", '"') for index in range(15)},
}


class _PrefilteredRegex:
    """A compiled pattern that answers "no match" at once when no needle is in the text."""

    def __init__(self, compiled: re.Pattern[str], needles: tuple[str, ...]):
        self.compiled = compiled
        self.needles = needles

    def finditer(self, text: str, *args):
        if not any(needle in text for needle in self.needles):
            return iter(())
        return self.compiled.finditer(text, *args)

    def __getattr__(self, name: str):  # match, search, pattern: as the real one
        return getattr(self.compiled, name)


def _prefilter_inline_patterns(md: markdown.Markdown) -> None:
    """Wrap the named inline patterns' regexes (`Pattern.compiled_re`) in `_PrefilteredRegex`."""
    from markdown.inlinepatterns import InlineProcessor

    registries = [md.inlinePatterns]
    if "smarty" in md.treeprocessors:
        registries.append(md.treeprocessors["smarty"].inlinePatterns)
    for registry in registries:
        for name, needles in _PATTERN_NEEDLES.items():
            if name in registry and isinstance(registry[name].compiled_re, re.Pattern):
                pattern = registry[name]
                pattern.compiled_re = _PrefilteredRegex(pattern.compiled_re, needles)
                if isinstance(pattern, InlineProcessor):  # searched with finditer, as above
                    pattern._needles = needles


def _markdown() -> markdown.Markdown:
    """This thread's Markdown instance, reset: it keeps per-document state."""
    md = getattr(_local, "markdown", None)
    if md is None:
        md = _local.markdown = _new_markdown()
    return md.reset()


def render_markdown(text: str, library: Mapping[str, LibraryImage] | None = None) -> str:
    """Render Markdown (raw HTML allowed) to sanitised HTML.

    `library` maps uploaded files' names to what the Media library knows of them.
    """
    if not text.strip():
        return ""
    md = _markdown()
    md.library = library
    try:
        return sanitize_html(md.convert(text))
    finally:
        md.library = None


# ---------------------------------------------------------------------------
# Comments: the same pipeline, a stricter profile
# ---------------------------------------------------------------------------

COMMENT_TAGS = frozenset(
    {
        "p", "br", "strong", "em", "b", "i", "del", "s", "code", "pre", "blockquote",
        "ul", "ol", "li", "a", "span", "div",
    }
)  # fmt: skip
COMMENT_REL = "nofollow ugc noopener"

COMMENT_ATTRIBUTES: dict[str, dict[str, Callable[[str], bool]]] = {
    "a": {"href": is_safe_url, "title": _any_text},
    "ol": {"start": _INT},
    "div": {"class": _classes(frozenset({"highlight"}))},
    "span": {"class": _pygments_class},
}


def _allow_comment_attribute(tag: str, name: str, value: str) -> bool:
    check = COMMENT_ATTRIBUTES.get(tag, {}).get(name)
    return check is not None and check(value)


class _CommentTagsOnly(_TokenFilter):
    """Drop any tag outside the comment allowlist that got this far (defence in depth)."""

    def __iter__(self) -> Iterator[dict]:
        for token in self.source:
            if token["type"] in {"StartTag", "EndTag", "EmptyTag"} and (
                token.get("name") not in COMMENT_TAGS
            ):
                continue
            if token["type"] == "StartTag" and token["name"] == "a":
                attrs = token.get("data") or {}
                if (None, "href") in attrs and not is_safe_url(attrs[(None, "href")]):
                    del attrs[(None, "href")]
                attrs[(None, "rel")] = COMMENT_REL
                token["data"] = attrs
            yield token


def _new_comment_markdown() -> markdown.Markdown:
    import markdown
    from markdown.extensions.codehilite import CodeHiliteExtension
    from markdown.extensions.fenced_code import FencedCodeExtension
    from markdown.extensions.sane_lists import SaneListExtension
    from markdown.extensions.smarty import SmartyExtension

    md = markdown.Markdown(
        extensions=[
            FencedCodeExtension(),
            CodeHiliteExtension(
                css_class="highlight", guess_lang=False, use_pygments=True, noclasses=False
            ),
            SmartyExtension(),
            SaneListExtension(),
        ],
        output_format="html",
    )
    # Raw HTML is text in a comment; headings and images are not made at all.
    md.preprocessors.deregister("html_block")
    for name in ("html", "image_link", "image_reference", "short_image_ref"):
        if name in md.inlinePatterns:
            md.inlinePatterns.deregister(name)
    for name in ("hashheader", "setextheader", "hr"):
        if name in md.parser.blockprocessors:
            md.parser.blockprocessors.deregister(name)
    _prefilter_inline_patterns(md)
    return md


def render_comment(text: str) -> str:
    """Render a comment's Markdown to the comment allowlist's HTML."""
    if not text.strip():
        return ""
    md = getattr(_local, "comment_markdown", None)
    if md is None:
        md = _local.comment_markdown = _new_comment_markdown()
    cleaner = getattr(_local, "comment_cleaner", None)
    if cleaner is None:
        cleaner = _local.comment_cleaner = _new_cleaner(
            COMMENT_TAGS, _allow_comment_attribute, _CommentTagsOnly
        )
    return cleaner.clean(md.reset().convert(text))


def count_links(html_text: str) -> int:
    return html_text.count("<a ")


# ---------------------------------------------------------------------------
# Text helpers
# ---------------------------------------------------------------------------

_BLOCK_TAGS = frozenset(
    {
        "p", "br", "hr", "div", "blockquote", "pre", "ul", "ol", "li", "dl", "dt", "dd",
        "h1", "h2", "h3", "h4", "h5", "h6", "figure", "figcaption", "table", "caption",
        "thead", "tbody", "tfoot", "tr", "th", "td", "img",
    }
)  # fmt: skip


class _TextExtractor(HTMLParser):
    """Collect text; blocks become spaces, footnote markers (1, ↩) are skipped."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._in_footnote_link = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK_TAGS:
            self.parts.append(" ")
        if tag == "a":
            classes = set((dict(attrs).get("class") or "").split())
            self._in_footnote_link = bool(classes & _FOOTNOTE_LINK_CLASSES)

    def handle_endtag(self, tag: str) -> None:
        if tag in _BLOCK_TAGS:
            self.parts.append(" ")
        if tag == "a":
            self._in_footnote_link = False

    def handle_data(self, data: str) -> None:
        if not self._in_footnote_link:
            self.parts.append(data)


def plain_text(html_text: str) -> str:
    """Text content of rendered HTML with whitespace collapsed."""
    text = _plain_text_quickly(html_text)
    if text is not None:
        return text
    parser = _TextExtractor()
    parser.feed(html_text)
    parser.close()
    return " ".join("".join(parser.parts).split())


# A start or end tag as the sanitiser writes them: a name, attributes with quoted or bare values.
_TAG_RE = re.compile(
    r"""<(/?)([a-zA-Z][a-zA-Z0-9]*)((?:\s+[^\s"'<>/=]+(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'<>=`]+))?)*)\s*(/?)>"""
)
_ATTRIBUTE_RE = re.compile(
    r"""\s+([^\s"'<>/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'<>=`]+)))?"""
)
_CDATA_RE = re.compile(r"<(?:script|style)", re.IGNORECASE)


def _plain_text_quickly(html_text: str) -> str | None:
    """`_TextExtractor`'s text, read with one regular expression instead of `html.parser`;
    None for anything but plain tags and text (comments, script, a stray "<"), which the
    parser then reads. The word count of every preview and save reads the HTML once more."""
    if _CDATA_RE.search(html_text):
        return None
    parts: list[str] = []
    position, in_footnote_link = 0, False
    for tag in _TAG_RE.finditer(html_text):
        data = html_text[position : tag.start()]
        if "<" in data:
            return None
        if data and not in_footnote_link:
            parts.append(html.unescape(data))
        closing, name, attributes, self_closing = tag.groups()
        name = name.lower()
        if name in _BLOCK_TAGS:
            parts.append(" ")
        if name == "a":
            if closing or self_closing:
                in_footnote_link = False
            else:
                value = ""  # the last class attribute's, as `_TextExtractor` takes it
                for name_, *values in _ATTRIBUTE_RE.findall(attributes):
                    if name_.lower() == "class":
                        value = html.unescape("".join(values))
                in_footnote_link = bool(set(value.split()) & _FOOTNOTE_LINK_CLASSES)
        position = tag.end()
    data = html_text[position:]
    if "<" in data:
        return None
    if data and not in_footnote_link:
        parts.append(html.unescape(data))
    return " ".join("".join(parts).split())


def make_excerpt(html_text: str, limit: int = 280) -> str:
    """Plain-text excerpt of at most ``limit`` characters, cut at a word boundary."""
    return _excerpt(plain_text(html_text), limit)


def _excerpt(text: str, limit: int = 280) -> str:
    if limit < 1:
        raise ValueError("limit must be at least 1")
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]  # leave room for the ellipsis
    if not text[limit - 1].isspace() and " " in cut:
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:.!?-\u2013\u2014") + "\u2026"


# Kana and CJK ideographs are written without spaces; count each as a word.
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_TOKEN_RE = re.compile(rf"[{_CJK}]|[^\s{_CJK}]+")
_HAS_WORD_CHAR_RE = re.compile(r"[^\W_]")


def word_count(html_text: str) -> int:
    return _count_words(plain_text(html_text))


def _count_words(text: str) -> int:
    tokens = _TOKEN_RE.findall(text)
    # `isalnum` first: most words are letters alone, and `[^\W_]` is exactly "alphanumeric"
    return sum(1 for token in tokens if token.isalnum() or _HAS_WORD_CHAR_RE.search(token))


def reading_minutes(html_text: str, wpm: int = 230) -> int:
    """Whole minutes to read, rounded up; at least 1 unless the HTML is empty."""
    return reading_stats(html_text, wpm)[1]


def reading_stats(html_text: str, wpm: int = 230) -> tuple[int, int]:
    """``(word_count, reading_minutes)`` of rendered HTML, reading its text once."""
    if wpm < 1:
        raise ValueError("wpm must be positive")
    if not html_text.strip():
        return 0, 0
    words = word_count(html_text)
    return words, _minutes(words, wpm)


def _minutes(words: int, wpm: int = 230) -> int:
    return max(1, math.ceil(words / wpm))


# ---------------------------------------------------------------------------
# Stylesheet
# ---------------------------------------------------------------------------

_RESET = (
    "color: inherit; background-color: transparent; font-weight: normal; "
    "font-style: normal; text-decoration: none; border: 0"
)


def pygments_css(selector: str = ".highlight") -> str:
    """Light highlight styles plus a dark variant under prefers-color-scheme: dark."""
    # heavy; only needed to write static/css/pygments.css
    from pygments.formatters import HtmlFormatter

    light = HtmlFormatter(style=LIGHT_CODE_STYLE)
    dark = HtmlFormatter(style=DARK_CODE_STYLE)
    light_classes = sorted(cls for cls in light.class2style if cls)
    # Reset every light rule first so no light colour survives on the dark background.
    reset = ", ".join(f"{selector} .{cls}" for cls in light_classes) + f" {{ {_RESET} }}"
    dark_rules = [reset, *_style_rules(dark, selector)]
    return "\n".join(
        [
            f"/* Generated by blog.rendering.pygments_css(): "
            f"{LIGHT_CODE_STYLE} / {DARK_CODE_STYLE}. Do not edit. */",
            *_style_rules(light, selector),
            "@media (prefers-color-scheme: dark) {",
            *(f"  {rule}" for rule in dark_rules),
            "}",
            "",
        ]
    )


def _style_rules(formatter: HtmlFormatter, selector: str) -> list[str]:
    # Only the scoped rules: get_style_defs() would also emit a global `pre {...}`.
    return [
        *formatter.get_background_style_defs(selector),
        *formatter.get_token_style_defs(selector),
    ]


# ---------------------------------------------------------------------------
# Save path
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RenderedPost:
    html: str
    summary: str
    word_count: int
    reading_minutes: int
    render_version: int = PIPELINE_VERSION


def render_post(
    body_md: str, excerpt: str | None = None, library: Mapping[str, LibraryImage] | None = None
) -> RenderedPost:
    """Everything the save path stores for a post body."""
    body_html = render_markdown(body_md, library)
    text = plain_text(body_html)  # once, for the summary and the counts
    words = _count_words(text)
    author_summary = " ".join((excerpt or "").split())
    return RenderedPost(
        html=body_html,
        summary=author_summary or _excerpt(text),
        word_count=words,
        reading_minutes=_minutes(words) if body_html.strip() else 0,
        render_version=PIPELINE_VERSION,
    )
