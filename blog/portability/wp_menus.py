"""WordPress's navigation menus (`nav_menu_item` items) as this site's header and footer menus.

A WXR file holds each menu item as an item of type `nav_menu_item`, in a `nav_menu` term (the
menu), with postmeta saying what it points at: `_menu_item_type` (`post_type`, `taxonomy` or
`custom`), `_menu_item_object` (`page`, `post`, `category`, `post_tag`…), `_menu_item_object_id`
and, for a custom link, `_menu_item_url`; `_menu_item_menu_item_parent` nests it and
`wp:menu_order` orders it. An item's title is empty when it shows its target's title.

Decisions:
- Which menu sits where (WordPress's "menu locations") is a theme setting the export leaves
  out. The menu with the most items becomes the header menu, the next the footer menu; the
  others are counted as not brought over.
- A menu replaces this site's only while the site has none there (a fresh site), or when the
  import is asked to take the export's site settings: a menu made here is never overwritten
  in silence (a warning says it was kept).
- The header menu has two levels and the footer one (as the menu editor): a deeper item hangs
  under its top-level ancestor; in the footer, sub-items follow their parent.
- An item whose target was not imported (a draft, another post type) or whose address the
  menu editor would refuse is left out and counted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..design.menus import LABEL_MAX, MAX_ITEMS, address_problem
from ..settings import get_setting, set_settings
from .report import Summary
from .wxr import WxrExport

MENU_KEYS = ("header_menu", "footer_menu")
LEVELS = {"header_menu": 2, "footer_menu": 1}


@dataclass
class MenuEntry:
    wp_id: str
    parent: str  # wp_id of the parent entry, "" at the top
    order: int
    title: str
    kind: str  # post_type, taxonomy, custom
    target: str  # page, post, category, post_tag, custom
    target_id: str
    url: str


@dataclass
class Menu:
    slug: str
    name: str
    entries: list[MenuEntry]


def read_menus(export: WxrExport) -> list[Menu]:
    """The export's menus, the one with the most items first (pure)."""
    menus: dict[str, Menu] = {}
    for item in export.items_of("nav_menu_item"):
        if item.status not in ("publish", ""):
            continue
        slug, name = next(iter(item.terms.get("nav_menu", [])), ("", ""))
        menu = menus.setdefault(slug, Menu(slug, name or slug or "Menu", []))
        meta = item.meta
        parent = meta.get("_menu_item_menu_item_parent", "").strip()
        menu.entries.append(
            MenuEntry(
                wp_id=item.wp_id,
                parent="" if parent in ("", "0") else parent,
                order=int(item.menu_order) if item.menu_order.isdigit() else 0,
                title=" ".join(item.title.split()),
                kind=meta.get("_menu_item_type", "").strip(),
                target=meta.get("_menu_item_object", "").strip(),
                target_id=meta.get("_menu_item_object_id", "").strip(),
                url=meta.get("_menu_item_url", "").strip(),
            )
        )
    for menu in menus.values():
        menu.entries.sort(key=lambda entry: (entry.order, int(entry.wp_id or 0)))
    return sorted(menus.values(), key=lambda menu: -len(menu.entries))


Resolve = Callable[[MenuEntry], tuple[str, str] | None]
"""resolve(entry) -> (label of the target, address here), or None when it has none here."""


def place_menus(menus: list[Menu], resolve: Resolve, replace: bool, summary: Summary) -> None:
    """Make the first menus the header and footer menus where the site has none of its own
    (or `replace`); count what is left out (the caller commits)."""
    for key, menu in zip(MENU_KEYS, menus, strict=False):
        items, left_out = build_menu(menu, LEVELS[key], resolve)
        for reason, count in left_out.items():
            summary.left_behind(reason, count)
        label = "Header menu" if key == "header_menu" else "Footer menu"
        current = get_setting(key)
        if not items or current == items:
            continue
        if current and not replace:
            summary.warn(
                label,
                f"kept this site's; the export's menu “{menu.name}” was not used (import "
                "with the option to use the export's site settings to take it).",
            )
            continue
        set_settings({key: items})
        summary.settings_applied.append(f"{label} (“{menu.name}”)")
    if len(menus) > len(MENU_KEYS):
        summary.left_behind("menus beyond a header and a footer menu", len(menus) - len(MENU_KEYS))


def build_menu(menu: Menu, levels: int, resolve: Resolve) -> tuple[list[dict], dict[str, int]]:
    """The menu as the menu editor stores it, and what was left out, by reason (pure)."""
    left_out: dict[str, int] = {}
    by_id = {entry.wp_id: entry for entry in menu.entries}
    items: dict[str, dict] = {}
    top: list[dict] = []
    count = 0
    for entry in menu.entries:
        found = resolve(entry)
        if found is None:
            _count(left_out, "menu items whose page or post was not imported")
            continue
        label, url = found
        label = (entry.title or label)[:LABEL_MAX].strip()
        if not label or address_problem(url):
            _count(left_out, "menu items without a usable label or address")
            continue
        if count >= MAX_ITEMS:
            _count(left_out, f"menu items beyond the {MAX_ITEMS} a menu may have")
            continue
        count += 1
        item = {"label": label, "url": url, "children": []}
        items[entry.wp_id] = item
        ancestor = _top_ancestor(entry, by_id, items)
        if ancestor is None or levels < 2:
            top.append(item)
        else:
            ancestor["children"].append(item)
    return top, left_out


def _top_ancestor(entry: MenuEntry, by_id: dict, items: dict) -> dict | None:
    """The menu item of the entry's top-level ancestor, if it made it into the menu."""
    root, seen = None, {entry.wp_id}
    parent = entry.parent
    while parent and parent not in seen and parent in by_id:
        seen.add(parent)
        root = parent
        parent = by_id[parent].parent
    return items.get(root) if root is not None else None


def _count(counts: dict[str, int], reason: str) -> None:
    counts[reason] = counts.get(reason, 0) + 1
