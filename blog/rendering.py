"""Markdown -> safe HTML: the only place where post bodies are rendered and sanitised.

Pipeline: Markdown (with raw HTML allowed) -> bleach with an explicit allowlist ->
our own filters (drop script-like elements with their content, re-check URLs, add
``rel`` to off-site links). Anything that changes the HTML produced for the same input
must bump ``PIPELINE_VERSION`` so stored posts get re-rendered.
"""

from __future__ import annotations

import html
import math
import re
import xml.etree.ElementTree as etree
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from html.parser import HTMLParser

import bleach
import markdown
from bleach.html5lib_shim import Filter
from markdown.extensions import Extension
from markdown.extensions.codehilite import CodeHiliteExtension
from markdown.extensions.fenced_code import FencedCodeExtension
from markdown.extensions.footnotes import FootnoteExtension
from markdown.extensions.sane_lists import SaneListExtension
from markdown.extensions.smarty import SmartyExtension
from markdown.extensions.tables import TableExtension
from markdown.extensions.toc import TocExtension
from markdown.treeprocessors import Treeprocessor
from pygments.formatters import HtmlFormatter
from pygments.token import STANDARD_TYPES

from .text import slugify

PIPELINE_VERSION = 1

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

_PYGMENTS_CLASSES = frozenset(
    cls
    for cls in (
        *STANDARD_TYPES.values(),
        *HtmlFormatter(style=LIGHT_CODE_STYLE).class2style,
        *HtmlFormatter(style=DARK_CODE_STYLE).class2style,
        "hll",
    )
    if cls
)
_BLOCK_CLASSES = frozenset({"highlight", "footnote", "toc"})
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


def _classes(allowed: frozenset[str]) -> Callable[[str], bool]:
    """Keep a class attribute only if every class in it is on the allowlist."""
    return lambda value: bool(value.split()) and set(value.split()) <= allowed


def _matches(pattern: re.Pattern[str]) -> Callable[[str], bool]:
    return lambda value: pattern.fullmatch(value) is not None


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
    },
    **{f"h{level}": {"id": _ID} for level in range(1, 7)},
    "sup": {"id": _ID},
    "li": {"id": _ID},
    "ol": {"start": _INT},
    "th": _CELL,
    "td": _CELL,
    "div": {"class": _classes(_BLOCK_CLASSES)},
    "span": {"class": _classes(_PYGMENTS_CLASSES)},
    "abbr": {"title": _any_text},
}


def _allow_attribute(tag: str, name: str, value: str) -> bool:
    check = ALLOWED_ATTRIBUTES.get(tag, {}).get(name)
    return check is not None and check(value)


# ---------------------------------------------------------------------------
# Sanitising
# ---------------------------------------------------------------------------


class _DropDangerousContent(Filter):
    """Remove DROP_WITH_CONTENT elements with their whole subtree, and any stray tag
    outside the allowlist (defence in depth; bleach should have stripped it)."""

    def __iter__(self) -> Iterator[dict]:
        depth = 0
        for token in super().__iter__():
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


class _LinkPolicy(Filter):
    """Re-check URLs, mark off-site links with rel and make images lazy-loading."""

    def __iter__(self) -> Iterator[dict]:
        for token in super().__iter__():
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


def _cleaner() -> bleach.Cleaner:
    # DROP_WITH_CONTENT tags are "allowed" here only so the parser keeps them as real
    # elements; _DropDangerousContent then removes them with their content.
    return bleach.Cleaner(
        tags=ALLOWED_TAGS | DROP_WITH_CONTENT,
        attributes=_allow_attribute,
        protocols=ALLOWED_PROTOCOLS,
        strip=True,
        strip_comments=True,
        filters=[_DropDangerousContent, _LinkPolicy],
    )


def sanitize_html(dirty: str) -> str:
    """Reduce arbitrary HTML to the allowlisted tags, attributes and URLs."""
    # A new Cleaner per call: bleach's parser keeps state and is not thread-safe.
    return _cleaner().clean(dirty)


# ---------------------------------------------------------------------------
# Markdown
# ---------------------------------------------------------------------------


class _FigureTreeprocessor(Treeprocessor):
    """Turn a paragraph holding only a titled image into figure + figcaption."""

    def run(self, root: etree.Element) -> None:
        for parent in root.iter():
            for index, child in enumerate(list(parent)):
                if child.tag == "p":
                    figure = self._figure_for(child)
                    if figure is not None:
                        parent[index] = figure

    def _figure_for(self, paragraph: etree.Element) -> etree.Element | None:
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


def _sole_child(element: etree.Element) -> etree.Element | None:
    """The only child of ``element`` if there is no text around it."""
    if len(element) != 1 or (element.text or "").strip():
        return None
    child = element[0]
    return None if (child.tail or "").strip() else child


class FigureExtension(Extension):
    def extendMarkdown(self, md: markdown.Markdown) -> None:  # noqa: N802 (markdown API)
        # After inline parsing (20) and footnote clean-up (15), before prettify (10).
        md.treeprocessors.register(_FigureTreeprocessor(md), "figure", 12)


def _heading_id(value: str, separator: str) -> str:
    return slugify(value, fallback="section")


def _markdown() -> markdown.Markdown:
    # A fresh instance per call: Markdown objects keep per-document state.
    return markdown.Markdown(
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


def render_markdown(text: str) -> str:
    """Render Markdown (raw HTML allowed) to sanitised HTML."""
    if not text.strip():
        return ""
    return sanitize_html(_markdown().convert(text))


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
    parser = _TextExtractor()
    parser.feed(html_text)
    parser.close()
    return " ".join("".join(parser.parts).split())


def make_excerpt(html_text: str, limit: int = 280) -> str:
    """Plain-text excerpt of at most ``limit`` characters, cut at a word boundary."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    text = plain_text(html_text)
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
    tokens = _TOKEN_RE.findall(plain_text(html_text))
    return sum(1 for token in tokens if _HAS_WORD_CHAR_RE.search(token))


def reading_minutes(html_text: str, wpm: int = 230) -> int:
    """Whole minutes to read, rounded up; at least 1 unless the HTML is empty."""
    if wpm < 1:
        raise ValueError("wpm must be positive")
    if not html_text.strip():
        return 0
    return max(1, math.ceil(word_count(html_text) / wpm))


# ---------------------------------------------------------------------------
# Stylesheet
# ---------------------------------------------------------------------------

_RESET = (
    "color: inherit; background-color: transparent; font-weight: normal; "
    "font-style: normal; text-decoration: none; border: 0"
)


def pygments_css(selector: str = ".highlight") -> str:
    """Light highlight styles plus a dark variant under prefers-color-scheme: dark."""
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


def render_post(body_md: str, excerpt: str | None = None) -> RenderedPost:
    """Everything the save path stores for a post body."""
    body_html = render_markdown(body_md)
    author_summary = " ".join((excerpt or "").split())
    return RenderedPost(
        html=body_html,
        summary=author_summary or make_excerpt(body_html),
        word_count=word_count(body_html),
        reading_minutes=reading_minutes(body_html),
        render_version=PIPELINE_VERSION,
    )
