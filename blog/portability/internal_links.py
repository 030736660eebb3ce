"""Links between a source's own pages, pointed at their new addresses.

An imported post's text links to other pages of the old site (`/?p=13`, `/?page_id=5`,
`/2023/06/02/slug/`, `/category/news/`); the importer has already made those paths relative
to this site. Rather than leave every click to a redirect, the importer rewrites each such
link to the page's new address, from the same map of old paths to new ones that it records
as redirects.

Pure functions: Markdown in, Markdown out. A link's fragment (`#comments`) is kept; a link
whose old path is not in the map is left as it is (its redirect, if any, still answers).
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from urllib.parse import unquote

# A Markdown link's or image's target: `](/path "title")` or `](</path>)`.
_MARKDOWN_TARGET = re.compile(r"(\]\(\s*<?)([^\s<>()]+)")
# A link in HTML kept inside the Markdown.
_HTML_HREF = re.compile(r"""(\bhref\s*=\s*["'])([^"'<>]+)(?=["'])""", re.IGNORECASE)


def new_address(url: str, targets: Mapping[str, str]) -> str | None:
    """The new address for a site-relative link whose old path is in `targets`, or None."""
    if not url.startswith("/") or url.startswith("//"):
        return None
    address, hash_mark, fragment = url.partition("#")
    old = unquote(html.unescape(address))
    target = targets.get(old)
    if target is None and "?" not in old:
        target = targets.get(old.rstrip("/") + "/") if old != "/" else None
    if target is None:
        return None
    return target + hash_mark + fragment


def rewrite_links(markdown: str, targets: Mapping[str, str]) -> str:
    """The Markdown with every link to an old address pointing at its new one."""
    if not targets or "/" not in markdown:
        return markdown

    def replace(match: re.Match) -> str:
        found = new_address(match.group(2), targets)
        return match.group(0) if found is None else match.group(1) + found

    return _HTML_HREF.sub(replace, _MARKDOWN_TARGET.sub(replace, markdown))
