"""The header and footer menus an admin sets in Settings → Menus, checked and nested.

A menu is stored as a setting (JSON): a list of items `{"label", "url", "children"}`, where
children are items without children of their own (two levels at most).

Decisions:
- The editor works without script: each row has a position number and, in the header menu, a
  "sub-item" box that hangs it under the nearest top-level row above it (after sorting).
- Addresses are http(s) with a host, or a path on this site starting with one "/". Anything
  else is refused (javascript:, data:, mailto:, "//other.site", backslashes, and spaces or
  invisible characters, which browsers drop and which could hide a scheme).
- A top-level item with sub-items may have no address: it is then only a heading.
- Labels are kept as typed and escaped by the templates like every other text.
"""

import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from ..rendering import url_scheme

LABEL_MAX = 60
URL_MAX = 500
MAX_ITEMS = 40

_NOISE = re.compile(
    r"[\x00-\x20\x7f-\xa0\u00ad\u200b-\u200f\u2028-\u202e\u2060-\u2064\ufeff\\`<>\"']"
)

BAD_ADDRESS = "Use an address starting with https:// or http://, or / for a page on this site."


@dataclass
class Row:
    """One row of the editor as the admin sent it."""

    label: str = ""
    url: str = ""
    position: int | None = None
    sub: bool = False

    @property
    def blank(self) -> bool:
        return not self.label.strip() and not self.url.strip()


@dataclass
class Checked:
    items: list[dict] = field(default_factory=list)
    errors: dict[int, dict[str, str]] = field(default_factory=dict)  # row index → field → text


def address_problem(url: str) -> str | None:
    """Why `url` cannot be a menu address; None if it can."""
    if len(url) > URL_MAX:
        return f"Keep the address under {URL_MAX} characters."
    if _NOISE.search(url):
        return "The address contains spaces, quotes, backslashes or invisible characters."
    scheme = url_scheme(url)
    if scheme in ("http", "https"):
        return None if urlsplit(url).hostname else BAD_ADDRESS
    if scheme is None and url.startswith("/") and not url.startswith("//"):
        return None
    return BAD_ADDRESS


def check_rows(rows: list[Row], levels: int) -> Checked:
    """The menu the rows describe, or the problems of each row (then `items` is empty)."""
    result = Checked()
    filled = [(index, row) for index, row in enumerate(rows) if not row.blank]
    if len(filled) > MAX_ITEMS:
        result.errors[filled[MAX_ITEMS][0]] = {"label": f"A menu has at most {MAX_ITEMS} items."}
    ordered = sorted(filled, key=lambda pair: (_position(pair[1]), pair[0]))
    parent: dict | None = None
    parent_index = -1
    for index, row in ordered:
        label, url = row.label.strip(), row.url.strip()
        problems = result.errors.setdefault(index, {})
        if not label:
            problems["label"] = "Give this item a label."
        elif len(label) > LABEL_MAX:
            problems["label"] = f"Keep the label under {LABEL_MAX} characters."
        if url:
            if problem := address_problem(url):
                problems["url"] = problem
        item = {"label": label, "url": url, "children": []}
        if row.sub and levels > 1:
            if parent is None:
                problems["sub"] = "A sub-item needs a top-level item above it."
            else:
                parent["children"].append(item)
                if not url:
                    problems["url"] = "Give this item an address."
            continue
        if parent is not None and not parent["url"] and not parent["children"]:
            result.errors.setdefault(parent_index, {})["url"] = "Give this item an address."
        parent, parent_index = item, index
        result.items.append(item)
    if parent is not None and not parent["url"] and not parent["children"]:
        result.errors.setdefault(parent_index, {})["url"] = "Give this item an address."
    result.errors = {index: found for index, found in result.errors.items() if found}
    if result.errors:
        result.items = []
    return result


def _position(row: Row) -> int:
    return row.position if row.position is not None else 10**6


def rows_of(menu: object) -> list[Row]:
    """The rows the editor shows for a stored menu, numbered in order."""
    rows: list[Row] = []
    for item in menu if isinstance(menu, list) else []:
        rows.append(Row(item.get("label", ""), item.get("url", ""), len(rows) + 1))
        for child in item.get("children") or []:
            rows.append(Row(child.get("label", ""), child.get("url", ""), len(rows) + 1, True))
    return rows


def readable(menu: object) -> list[dict]:
    """A stored menu, keeping only items whose address is still acceptable (for templates)."""
    items = []
    for item in menu if isinstance(menu, list) else []:
        if not isinstance(item, dict):
            continue
        children = [
            {"label": str(child.get("label", "")), "url": child.get("url", "")}
            for child in item.get("children") or []
            if isinstance(child, dict) and _usable(child.get("url"))
        ]
        url = item.get("url") or ""
        if (url and _usable(url)) or (not url and children):
            items.append({"label": str(item.get("label", "")), "url": url, "children": children})
    return items


def _usable(url: object) -> bool:
    return isinstance(url, str) and bool(url) and address_problem(url) is None
