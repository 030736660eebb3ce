"""Reading WordPress eXtended RSS (WXR) export files, versions 1.0 to 1.2.

The file is parsed with defusedxml: a DTD, entity declarations (the "billion laughs") and
external entities (XXE) are refused, never expanded. The whole file is read and checked
before anything is imported, so a truncated or malformed file changes nothing.

The result is plain data (dataclasses of strings); nothing here touches the database.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import BinaryIO
from urllib.parse import unquote
from xml.etree.ElementTree import Element, ParseError
from zoneinfo import ZoneInfo

import defusedxml
import defusedxml.ElementTree as SafeET

# Namespaces are matched by pattern: WXR 1.0, 1.1 and 1.2 differ only in the version number.
_NAMESPACES = [
    (re.compile(r"http://wordpress\.org/export/\d+\.\d+/excerpt/?"), "excerpt"),
    (re.compile(r"http://wordpress\.org/export/\d+\.\d+/?"), "wp"),
    (re.compile(r"http://purl\.org/rss/1\.0/modules/content/?"), "content"),
    (re.compile(r"http://purl\.org/dc/elements/1\.1/?"), "dc"),
    (re.compile(r"http://wellformedweb\.org/CommentAPI/?"), "wfw"),
]


class WxrError(ValueError):
    """The file cannot be read as a WordPress export; str() says why, for a person."""


@dataclass
class WxrAuthor:
    login: str
    email: str = ""
    display_name: str = ""
    first_name: str = ""
    last_name: str = ""
    wp_id: str = ""


@dataclass
class WxrTerm:
    """A category or tag declared at the top of the file."""

    slug: str
    name: str
    parent_slug: str = ""
    description: str = ""
    term_id: str = ""


@dataclass
class WxrComment:
    """One <wp:comment> of an item, as WordPress wrote it (the content is its HTML)."""

    wp_id: str = ""
    author: str = ""
    author_email: str = ""
    author_url: str = ""
    author_ip: str = ""  # read only to count it as not imported
    date: str = ""
    date_gmt: str = ""
    content: str = ""
    approved: str = ""  # 1, 0, spam, trash, post-trashed
    comment_type: str = ""  # empty or "comment", pingback, trackback, …
    parent: str = ""  # 0 for none
    user_id: str = ""  # 0 for none; a wp:author_id
    meta: dict[str, str] = field(default_factory=dict)  # wp:commentmeta, the first of each key


@dataclass
class WxrItem:
    """One <item>: a post, a page, an attachment or anything else WordPress stores as a post."""

    title: str = ""
    link: str = ""
    creator: str = ""
    guid: str = ""
    content: str = ""
    excerpt: str = ""
    wp_id: str = ""
    post_date: str = ""
    post_date_gmt: str = ""
    post_modified: str = ""
    post_modified_gmt: str = ""
    post_name: str = ""
    status: str = ""
    post_parent: str = ""
    post_type: str = ""
    post_password: str = ""
    sticky: bool | None = None  # wp:is_sticky; None when the export does not say
    attachment_url: str = ""
    categories: list[tuple[str, str]] = field(default_factory=list)  # (nicename, name)
    tags: list[tuple[str, str]] = field(default_factory=list)
    terms: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # other taxonomies
    menu_order: str = ""
    meta: dict[str, str] = field(default_factory=dict)
    comments: list[WxrComment] = field(default_factory=list)

    @property
    def slug(self) -> str:
        """post_name as WordPress means it: percent-encoded UTF-8, decoded here."""
        return decode_slug(self.post_name)

    @property
    def label(self) -> str:
        """How warnings name the item."""
        return self.title or f"{self.post_type or 'item'} #{self.wp_id}"


@dataclass
class WxrExport:
    title: str = ""
    description: str = ""  # the tagline
    link: str = ""
    base_site_url: str = ""
    base_blog_url: str = ""
    wxr_version: str = ""
    authors: list[WxrAuthor] = field(default_factory=list)
    categories: list[WxrTerm] = field(default_factory=list)
    tags: list[WxrTerm] = field(default_factory=list)
    items: list[WxrItem] = field(default_factory=list)

    def items_of(self, *types: str) -> list[WxrItem]:
        return [item for item in self.items if item.post_type in types]


def parse_wxr(source: BinaryIO | str) -> WxrExport:
    """Read a WXR file (a path or a binary file object) safely; raise WxrError if unusable."""
    export = WxrExport()
    saw_rss = saw_channel = False
    try:
        events = SafeET.iterparse(source, events=("start", "end"), forbid_dtd=True)
        depth = 0
        for event, element in events:
            if event == "start":
                depth += 1
                if depth == 1:
                    saw_rss = _local(element.tag) == "rss"
                    if not saw_rss:
                        raise WxrError(
                            "This is not a WordPress export file (its root is not <rss>)."
                        )
                continue
            depth -= 1
            name = _name(element.tag)
            if name == "item":
                export.items.append(_item(element))
                element.clear()
            elif name == "wp:author" and depth == 2:
                export.authors.append(_author(element))
                element.clear()
            elif name == "wp:category" and depth == 2:
                export.categories.append(_category(element))
                element.clear()
            elif name == "wp:tag" and depth == 2:
                export.tags.append(_tag(element))
                element.clear()
            elif name == "channel":
                saw_channel = True
                _channel(element, export)
    except defusedxml.DTDForbidden:
        raise WxrError(
            "The file declares a document type (DTD), which WordPress exports never do; "
            "it was refused for safety."
        ) from None
    except defusedxml.EntitiesForbidden:
        raise WxrError(
            "The file declares XML entities, which WordPress exports never do; "
            "it was refused for safety."
        ) from None
    except defusedxml.ExternalReferenceForbidden:
        raise WxrError(
            "The file refers to external resources; it was refused for safety."
        ) from None
    except ParseError as error:
        line, column = getattr(error, "position", (0, 0))
        raise WxrError(
            f"The file is not well-formed XML (line {line}, column {column}): it may be "
            "truncated or damaged. Export it from WordPress again."
        ) from None
    except UnicodeDecodeError:
        raise WxrError("The file is not valid UTF-8 text.") from None
    if not saw_rss or not saw_channel:
        raise WxrError("This is not a WordPress export file (no <rss><channel>).")
    if not export.wxr_version:
        raise WxrError(
            "This RSS file is not a WordPress export (it has no wp:wxr_version). "
            "In WordPress use Tools → Export."
        )
    return export


# --- elements -----------------------------------------------------------------------------


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _name(tag: str) -> str:
    """'{http://wordpress.org/export/1.2/}post_id' -> 'wp:post_id'; plain tags unchanged."""
    if not tag.startswith("{"):
        return tag
    uri, local = tag[1:].split("}", 1)
    for pattern, prefix in _NAMESPACES:
        if pattern.fullmatch(uri):
            return f"{prefix}:{local}"
    return f"{uri}:{local}"


def _children(element: Element) -> dict[str, str]:
    """The text of each child element, by prefixed name (the first one wins)."""
    values: dict[str, str] = {}
    for child in element:
        values.setdefault(_name(child.tag), child.text or "")
    return values


def _channel(element: Element, export: WxrExport) -> None:
    values = _children(element)
    export.title = html.unescape(values.get("title", "").strip())
    export.description = html.unescape(values.get("description", "").strip())
    export.link = values.get("link", "").strip()
    export.wxr_version = values.get("wp:wxr_version", "").strip()
    export.base_site_url = values.get("wp:base_site_url", "").strip()
    export.base_blog_url = values.get("wp:base_blog_url", "").strip() or export.link


def _author(element: Element) -> WxrAuthor:
    values = _children(element)
    return WxrAuthor(
        login=values.get("wp:author_login", "").strip(),
        email=values.get("wp:author_email", "").strip(),
        display_name=html.unescape(values.get("wp:author_display_name", "").strip()),
        first_name=html.unescape(values.get("wp:author_first_name", "").strip()),
        last_name=html.unescape(values.get("wp:author_last_name", "").strip()),
        wp_id=values.get("wp:author_id", "").strip(),
    )


def _category(element: Element) -> WxrTerm:
    values = _children(element)
    return WxrTerm(
        slug=decode_slug(values.get("wp:category_nicename", "")),
        name=html.unescape(values.get("wp:cat_name", "").strip()),
        parent_slug=decode_slug(values.get("wp:category_parent", "")),
        description=html.unescape(values.get("wp:category_description", "").strip()),
        term_id=values.get("wp:term_id", "").strip(),
    )


def _tag(element: Element) -> WxrTerm:
    values = _children(element)
    return WxrTerm(
        slug=decode_slug(values.get("wp:tag_slug", "")),
        name=html.unescape(values.get("wp:tag_name", "").strip()),
        description=html.unescape(values.get("wp:tag_description", "").strip()),
        term_id=values.get("wp:term_id", "").strip(),
    )


def _item(element: Element) -> WxrItem:
    values = _children(element)
    item = WxrItem(
        title=html.unescape(values.get("title", "")).strip(),
        link=values.get("link", "").strip(),
        creator=values.get("dc:creator", "").strip(),
        guid=values.get("guid", "").strip(),
        content=values.get("content:encoded", ""),
        excerpt=values.get("excerpt:encoded", ""),
        wp_id=values.get("wp:post_id", "").strip(),
        post_date=values.get("wp:post_date", "").strip(),
        post_date_gmt=values.get("wp:post_date_gmt", "").strip(),
        post_modified=values.get("wp:post_modified", "").strip(),
        post_modified_gmt=values.get("wp:post_modified_gmt", "").strip(),
        post_name=values.get("wp:post_name", "").strip(),
        status=values.get("wp:status", "").strip(),
        post_parent=values.get("wp:post_parent", "").strip(),
        post_type=values.get("wp:post_type", "").strip(),
        post_password=values.get("wp:post_password", "").strip(),
        attachment_url=values.get("wp:attachment_url", "").strip(),
        menu_order=values.get("wp:menu_order", "").strip(),
    )
    if "wp:is_sticky" in values:
        item.sticky = values["wp:is_sticky"].strip() not in ("", "0")
    for child in element:
        name = _name(child.tag)
        if name == "category":
            text = html.unescape((child.text or "").strip())
            term = (decode_slug(child.get("nicename", "")), text)
            if child.get("domain") == "category":
                item.categories.append(term)
            elif child.get("domain") == "post_tag":
                item.tags.append(term)
            elif child.get("domain"):
                item.terms.setdefault(child.get("domain"), []).append(term)
        elif name == "wp:postmeta":
            meta = _children(child)
            key = meta.get("wp:meta_key", "")
            if key and key not in item.meta:
                item.meta[key] = meta.get("wp:meta_value", "")
        elif name == "wp:comment":
            item.comments.append(_comment(child))
    return item


def _comment(element: Element) -> WxrComment:
    values = _children(element)
    meta: dict[str, str] = {}
    for child in element:
        if _name(child.tag) == "wp:commentmeta":
            pair = _children(child)
            if pair.get("wp:meta_key"):
                meta.setdefault(pair["wp:meta_key"], pair.get("wp:meta_value", ""))
    return WxrComment(
        wp_id=values.get("wp:comment_id", "").strip(),
        author=html.unescape(values.get("wp:comment_author", "").strip()),
        author_email=values.get("wp:comment_author_email", "").strip(),
        author_url=values.get("wp:comment_author_url", "").strip(),
        author_ip=values.get("wp:comment_author_IP", "").strip(),
        date=values.get("wp:comment_date", "").strip(),
        date_gmt=values.get("wp:comment_date_gmt", "").strip(),
        content=values.get("wp:comment_content", ""),
        approved=values.get("wp:comment_approved", "").strip(),
        comment_type=values.get("wp:comment_type", "").strip(),
        parent=values.get("wp:comment_parent", "").strip(),
        user_id=values.get("wp:comment_user_id", "").strip(),
        meta=meta,
    )


# --- values ---------------------------------------------------------------------------------


def decode_slug(value: str) -> str:
    """WordPress stores non-ASCII slugs percent-encoded ('%d0%bf...'); give them back as text."""
    return unquote((value or "").strip(), errors="replace")


def wp_datetime(value: str) -> datetime | None:
    """'2020-01-02 10:00:00' -> a naive datetime; WordPress's all-zero date means none."""
    value = (value or "").strip()
    if not value or value.startswith("0000-00-00"):
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return None


def utc_time(gmt: str, local: str, zone: ZoneInfo) -> datetime | None:
    """Naive UTC from WordPress's GMT date, or from its local date read in `zone` when the GMT
    one is missing (a draft's is 0000-00-00: WordPress fills it only on publishing)."""
    found = wp_datetime(gmt)
    if found is not None:
        return found
    found = wp_datetime(local)
    if found is None:
        return None
    return found.replace(tzinfo=zone).astimezone(UTC).replace(tzinfo=None)


def zone_mismatch(items: list[WxrItem], zone: ZoneInfo) -> tuple[float, float] | None:
    """The old site's offsets from UTC (lowest, highest, in hours) when the export's own pairs
    of local and GMT dates disagree with `zone`; None when they agree (or there are none)."""
    offsets, disagree = [], False
    for item in items:
        for local_text, gmt_text in (
            (item.post_date, item.post_date_gmt),
            (item.post_modified, item.post_modified_gmt),
        ):
            local, gmt = wp_datetime(local_text), wp_datetime(gmt_text)
            if local is None or gmt is None:
                continue
            offset = local - gmt
            offsets.append(offset)
            if offset != (local.replace(tzinfo=zone).utcoffset() or timedelta(0)):
                disagree = True
    if not disagree:
        return None
    hours = [offset.total_seconds() / 3600 for offset in offsets]
    return min(hours), max(hours)


# Postmeta keys in which SEO plugins name a post's primary category (a term id).
PRIMARY_CATEGORY_META = ("_yoast_wpseo_primary_category", "rank_math_primary_category")


def primary_term_id(meta: dict[str, str]) -> str:
    """The term id of the category a plugin marked as the post's primary one, or ''."""
    for key in PRIMARY_CATEGORY_META:
        value = meta.get(key, "").strip()
        if value.isdigit() and value != "0":
            return value
    return ""
