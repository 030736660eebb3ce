"""WordPress post content (HTML, block comments, shortcodes) to the blog's Markdown.

The steps, in order:

1. Code shortcodes (``[code]``, ``[sourcecode]``) become ``<pre><code>`` blocks.
2. ``[caption]``, ``[gallery]``, ``[embed]``, ``[video]`` and ``[audio]`` become plain HTML.
3. Gutenberg block comments (``<!-- wp:paragraph -->``) are removed. Text outside any block
   (classic-editor text, which WordPress stores without ``<p>``) gets paragraphs the way
   WordPress's wpautop makes them: a blank line ends a paragraph, a single newline is a
   line break.
4. The HTML is tidied: footnotes (hand-made `#fn1`/`#ref1` links or WordPress 6.3's
   footnotes block) become Markdown footnotes, images get their new addresses, a figure with
   a caption becomes an image with a title (the Markdown pipeline renders that as figure +
   figcaption), a table block's caption becomes the table's <caption>, galleries become lists
   of images (which the pipeline shows as an image grid), embeds and iframes become links,
   scripts and styles are removed.
5. markdownify writes Markdown. What Markdown cannot say (tables with merged cells,
   definition lists, superscripts, strike-through...) stays as HTML inside the Markdown;
   the pipeline sanitises it on save.

Text is never dropped silently: anything removed (scripts, dynamic blocks that hold no
text, missing images) is reported as a warning.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from bs4 import BeautifulSoup, Comment, NavigableString, Tag
from markdownify import ATX, MarkdownConverter, chomp

# --- what the caller provides ------------------------------------------------------------


@dataclass
class ImageRef:
    """An attachment as content refers to it: its old URL and what WordPress knew about it."""

    url: str
    alt: str = ""
    caption: str = ""


@dataclass
class ContentContext:
    """How conversion reaches the rest of the import.

    `image_url(old)` returns the new address of an image, the old one unchanged when it is
    not an upload of the old site, or None when it is an upload that could not be found.
    `attachment(wp_id)` describes an attachment for galleries; `children` lists the
    attachments of the post, for a [gallery] without ids.
    """

    image_url: Callable[[str], str | None] = lambda url: url
    link_url: Callable[[str], str] = lambda url: url
    attachment: Callable[[str], ImageRef | None] = lambda wp_id: None
    children: list[str] = field(default_factory=list)
    # WordPress 6.3+ footnotes: the post's `footnotes` postmeta, note id -> its HTML.
    footnotes: dict[str, str] = field(default_factory=dict)


@dataclass
class Converted:
    markdown: str
    warnings: list[str]


def wordpress_to_markdown(content: str, context: ContentContext | None = None) -> Converted:
    context = context or ContentContext()
    warnings: list[str] = []
    text = (content or "").replace("\r\n", "\n").replace("\r", "\n")
    text = _code_shortcodes(text)
    text = _shortcodes(text, context, warnings)
    text = _blocks_and_paragraphs(text, warnings)
    soup = BeautifulSoup(text, "html.parser")
    placeholders = _Placeholders()
    notes = _footnotes(soup, context)
    _tidy(soup, context, warnings, placeholders)
    markdown = _Markdown().convert_soup(soup)
    markdown = placeholders.restore(markdown)
    markdown = _footnote_markdown(markdown, notes, context)
    return Converted(_tidy_markdown(markdown), _unique(warnings))


# What a conversion warning says was left out, by kind, for the summary's "not brought over".
_LEFT_OUT_KINDS = (
    ("The dynamic block", "dynamic blocks (built by WordPress when a page is shown)"),
    ("A reusable block", "reusable blocks (not in the export)"),
    ("A <", "scripts, styles and plugin embeds"),
    ("An <", "scripts, styles and plugin embeds"),
    ("A gallery image", "gallery images not in the export"),
    ("A [", "media shortcodes without a file"),
    ("Image not found in the uploads", "images in the text not found in the uploads"),
)


def left_out_kinds(warnings: list[str]) -> dict[str, int]:
    """How many of each kind of thing the conversion's warnings say it left out."""
    counts: dict[str, int] = {}
    for message in warnings:
        kind = next((kind for start, kind in _LEFT_OUT_KINDS if message.startswith(start)), None)
        if kind is not None:
            counts[kind] = counts.get(kind, 0) + 1
    return counts


def footnotes_meta(value: str) -> dict[str, str]:
    """WordPress 6.3+'s `footnotes` postmeta (a JSON list of {id, content}) as id -> HTML."""
    try:
        notes = json.loads(value or "[]")
    except ValueError:
        return {}
    if not isinstance(notes, list):
        return {}
    return {
        str(note["id"]): str(note.get("content") or "")
        for note in notes
        if isinstance(note, dict) and note.get("id")
    }


def html_to_text(value: str) -> str:
    """An excerpt or caption as plain text: tags removed, entities decoded, spaces collapsed."""
    if not value or not value.strip():
        return ""
    soup = BeautifulSoup(value, "html.parser")
    paragraphs = re.split(r"\n\s*\n", soup.get_text())
    return "\n\n".join(" ".join(p.split()) for p in paragraphs if p.strip())


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


# --- shortcodes ----------------------------------------------------------------------------

_ATTRIBUTE = re.compile(
    r"""([\w-]+)\s*=\s*"([^"]*)"|([\w-]+)\s*=\s*'([^']*)'|([\w-]+)\s*=\s*([^\s'"\]]+)"""
)
_CODE_SHORTCODE = re.compile(
    r"\[(code|sourcecode|source)\b([^\]]*)\](.*?)\[/\1\]", re.DOTALL | re.IGNORECASE
)
_CAPTION = re.compile(r"\[(caption|wp_caption)\b([^\]]*)\](.*?)\[/\1\]", re.DOTALL)
_GALLERY = re.compile(r"\[gallery\b([^\]]*)\]")
_EMBED = re.compile(r"\[embed\b[^\]]*\](.*?)\[/embed\]", re.DOTALL)
_MEDIA = re.compile(r"\[(video|audio)\b([^\]]*)\](?:(.*?)\[/\1\])?", re.DOTALL)
_UNKNOWN_SHORTCODE = re.compile(r"\[/([a-z][\w-]*)\]|\[([a-z][\w-]*)\s+[\w-]+\s*=", re.IGNORECASE)
_MEDIA_SOURCES = ("src", "mp4", "m4v", "webm", "ogv", "mp3", "m4a", "ogg", "wav", "flv", "wmv")


def shortcode_attributes(raw: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for match in _ATTRIBUTE.finditer(raw or ""):
        name = match.group(1) or match.group(3) or match.group(5)
        value = match.group(2) if match.group(1) else match.group(4) if match.group(3) else None
        values[name.lower()] = match.group(6) if value is None else value
    return values


def _escaped(text: str, match: re.Match) -> bool:
    """WordPress writes a literal shortcode as [[name]]: leave those alone."""
    return match.start() > 0 and text[match.start() - 1] == "["


def _sub(pattern: re.Pattern, text: str, replace: Callable[[re.Match], str]) -> str:
    return pattern.sub(lambda m: m.group(0) if _escaped(text, m) else replace(m), text)


def _code_shortcodes(text: str) -> str:
    def replace(match: re.Match) -> str:
        language = shortcode_attributes(match.group(2)).get("lang") or shortcode_attributes(
            match.group(2)
        ).get("language", "")
        css = f' class="language-{html.escape(language)}"' if language else ""
        code = html.escape(html.unescape(match.group(3).strip("\n")), quote=False)
        return f"\n\n<pre><code{css}>{code}</code></pre>\n\n"

    return _sub(_CODE_SHORTCODE, text, replace)


def _shortcodes(text: str, context: ContentContext, warnings: list[str]) -> str:
    text = _sub(_CAPTION, text, _caption_html)
    text = _sub(_GALLERY, text, lambda m: _gallery_html(m, context, warnings))
    text = _sub(_EMBED, text, lambda m: _link_paragraph(m.group(1).strip()))
    text = _sub(_MEDIA, text, lambda m: _media_link(m, warnings))
    unknown = {m.group(1) or m.group(2) for m in _UNKNOWN_SHORTCODE.finditer(text)}
    for name in sorted(unknown):
        warnings.append(f"The shortcode [{name}] has no equivalent here; it was kept as text.")
    return text


def _caption_html(match: re.Match) -> str:
    attributes = shortcode_attributes(match.group(2))
    fragment = BeautifulSoup(match.group(3), "html.parser")
    image = fragment.find("img")
    if image is None:
        return match.group(3)  # no image: keep the text
    holder = image.parent if image.parent.name == "a" else image
    holder.extract()
    caption = attributes.get("caption") or fragment.get_text(" ")
    caption = " ".join(html.unescape(caption).split())
    return (
        f"\n\n<figure>{holder}<figcaption>{html.escape(caption, quote=False)}</figcaption>"
        "</figure>\n\n"
    )


def _gallery_html(match: re.Match, context: ContentContext, warnings: list[str]) -> str:
    attributes = shortcode_attributes(match.group(1))
    ids = [i.strip() for i in attributes.get("ids", "").split(",") if i.strip()]
    if not ids:
        ids = list(context.children)
    items = []
    for wp_id in ids:
        image = context.attachment(wp_id)
        if image is None:
            warnings.append(f"A gallery image (attachment #{wp_id}) is not in the export.")
            continue
        caption = (
            f"<figcaption>{html.escape(image.caption, quote=False)}</figcaption>"
            if image.caption
            else ""
        )
        src, alt = html.escape(image.url), html.escape(image.alt)
        items.append(f'<figure><img src="{src}" alt="{alt}">{caption}</figure>')
    if not items:
        return ""
    return f'\n\n<figure class="wp-block-gallery">{"".join(items)}</figure>\n\n'


def _link_paragraph(url: str) -> str:
    if not url:
        return ""
    safe = html.escape(url)
    return f'\n\n<p><a href="{safe}">{safe}</a></p>\n\n'


def _media_link(match: re.Match, warnings: list[str]) -> str:
    attributes = shortcode_attributes(match.group(2))
    url = next((attributes[key] for key in _MEDIA_SOURCES if attributes.get(key)), "")
    if not url:
        url = (match.group(3) or "").strip()
    if not url:
        warnings.append(f"A [{match.group(1)}] shortcode without a file was removed.")
        return ""
    return _link_paragraph(url)


# --- blocks and paragraphs ------------------------------------------------------------------

_BLOCK_COMMENT = re.compile(
    r"<!--\s+(/)?wp:([a-z][a-z0-9_-]*(?:/[a-z][a-z0-9_-]*)?)(\s+\{.*?\})?\s+(/)?-->", re.DOTALL
)
# Blocks that render from the database, not from stored HTML; their text is not in the export.
_HARMLESS_VOID_BLOCKS = {"more", "nextpage", "spacer", "separator", "footnotes"}

_BLOCK_TAGS = (
    "address|article|aside|audio|blockquote|caption|center|dd|details|div|dl|dt|embed|fieldset|"
    "figcaption|figure|footer|form|h[1-6]|header|hr|iframe|li|main|map|math|nav|noscript|object|"
    "ol|p|pre|script|section|style|summary|svg|table|tbody|td|tfoot|th|thead|tr|ul|video"
)
_STARTS_BLOCK = re.compile(rf"^\s*(?:<!--|</?(?:{_BLOCK_TAGS})\b)", re.IGNORECASE)
_PRE = re.compile(r"<pre\b.*?</pre>", re.DOTALL | re.IGNORECASE)


def _blocks_and_paragraphs(text: str, warnings: list[str]) -> str:
    """Remove block comments; give freeform text (outside any block) its paragraphs."""
    if not _BLOCK_COMMENT.search(text):
        return autop(text)
    pieces: list[str] = []
    depth, position = 0, 0
    for match in _BLOCK_COMMENT.finditer(text):
        between = text[position : match.start()]
        pieces.append(autop(between) if depth == 0 else between)
        position = match.end()
        closing, name, _, void = match.groups()
        short = name.removeprefix("core/")
        if void:
            if short == "block":
                warnings.append("A reusable block is not part of the export; it was left out.")
            elif short not in _HARMLESS_VOID_BLOCKS:
                warnings.append(
                    f"The dynamic block “{short}” is built by WordPress when a page is shown "
                    "and holds no text in the export; it was left out."
                )
        elif closing:
            depth = max(0, depth - 1)
        else:
            depth += 1
    tail = text[position:]
    pieces.append(autop(tail) if depth == 0 else tail)
    return "".join(pieces)


def autop(text: str) -> str:
    """Paragraphs for text typed without HTML, like WordPress's wpautop (simplified).

    A blank line separates paragraphs and a single newline becomes <br>; chunks that start
    with a block element are left as they are, and <pre> content is never touched.
    """
    if not text.strip():
        return text
    kept: list[str] = []

    def keep(match: re.Match) -> str:
        kept.append(match.group(0))
        return f"\n\n\x00{len(kept) - 1}\x00\n\n"

    text = _PRE.sub(keep, text)
    paragraphs = []
    for chunk in re.split(r"\n[ \t]*\n", text):
        paragraphs.extend(_chunk_paragraphs(chunk))
    result = "\n\n".join(paragraphs)
    return re.sub(r"\x00(\d+)\x00", lambda m: kept[int(m.group(1))], result)


def _chunk_paragraphs(chunk: str) -> list[str]:
    lines = chunk.strip("\n").split("\n")
    if not chunk.strip():
        return []
    for index, line in enumerate(lines):
        if _STARTS_BLOCK.match(line) or line.strip().startswith("\x00"):
            before = "\n".join(lines[:index])
            rest = "\n".join(lines[index:])
            return ([_paragraph(before)] if before.strip() else []) + [rest]
    return [_paragraph(chunk)]


def _paragraph(text: str) -> str:
    lines = [line.strip() for line in text.strip("\n").split("\n")]
    return "<p>" + "<br />\n".join(lines) + "</p>"


# --- footnotes -----------------------------------------------------------------------------
#
# WordPress has no footnotes of its own before 6.3; people write them by hand, a numbered link
# (`<sup id="ref1"><a href="#fn1">1</a></sup>`) to a list item (`<li id="fn1">… <a
# href="#ref1">↩</a></li>`). WordPress 6.3's footnotes block writes `<sup data-fn="ID"><a
# href="#ID">1</a></sup>` and keeps the notes in the `footnotes` postmeta. Both become Markdown
# footnotes (`[^1]` and `[^1]: …`), which the pipeline renders with working links both ways.

_REFERENCE_TEXT = re.compile(r"\[?\(?[0-9]{1,3}\)?\]?|[*†‡§]{1,3}")
_BACKLINK_TEXT = re.compile(r"[↩↑^]|\^?(?:back|return|up)\W*", re.IGNORECASE)


def _footnotes(soup: BeautifulSoup, context: ContentContext) -> list[BeautifulSoup | Tag]:
    """Replace each footnote reference with a marker; return the notes' contents in order."""
    notes: list[BeautifulSoup | Tag] = []
    numbers: dict[str, int] = {}
    for link in soup.find_all("a", href=True):
        href = link["href"].strip()
        if link.parent is None or not href.startswith("#") or len(href) < 2:
            continue
        if not _REFERENCE_TEXT.fullmatch(link.get_text(strip=True)):
            continue
        target_id = href[1:]
        target = soup.find(id=target_id)
        if target is not None and (target is link or link in target.descendants):
            continue
        if target_id not in numbers:
            if target is not None and target.name in ("li", "p", "div", "span", "aside"):
                note: BeautifulSoup | Tag = target
            elif target is None and target_id in context.footnotes:
                note = BeautifulSoup(context.footnotes[target_id], "html.parser")
            else:
                continue
            notes.append(note)
            numbers[target_id] = len(notes)
        holder = link.parent if link.parent.name == "sup" and _only_child(link) else link
        holder.replace_with(NavigableString(f"WPFOOTNOTEREF{numbers[target_id]}X"))
    for note in notes:
        for back in note.find_all("a", href=True):
            if back["href"].startswith("#") and _BACKLINK_TEXT.fullmatch(back.get_text(strip=True)):
                back.decompose()
        if isinstance(note, Tag) and note.parent is not None:
            holder = note.parent
            note.extract()
            while holder is not None and holder.name in ("ol", "ul", "div", "section", "aside"):
                if holder.get_text(strip=True) or holder.find("img"):
                    break
                parent = holder.parent
                holder.decompose()
                holder = parent
    return notes


def _footnote_markdown(markdown: str, notes: list, context: ContentContext) -> str:
    """Put `[^n]` where the markers are and the notes' definitions at the end."""
    if not notes:
        return markdown
    for number in range(len(notes), 0, -1):
        markdown = markdown.replace(f"WPFOOTNOTEREF{number}X", f"[^{number}]")
    definitions = []
    for number, note in enumerate(notes, start=1):
        text = wordpress_to_markdown(note.decode_contents(), context).markdown.strip()
        lines = text.split("\n") if text else [""]
        rest = [("    " + line if line else "") for line in lines[1:]]
        definitions.append("\n".join([f"[^{number}]: {lines[0]}", *rest]))
    return markdown.rstrip("\n") + "\n\n" + "\n\n".join(definitions) + "\n"


# --- the HTML tree -------------------------------------------------------------------------

_UNSAFE_WITH_TEXT = ("script", "style", "template")
_KEPT_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title"},
    "td": {"colspan", "rowspan", "align"},
    "th": {"colspan", "rowspan", "align"},
    "abbr": {"title"},
    "ol": {"start"},
}
_URL_ONLY = re.compile(r"https?://\S+")


class _Placeholders:
    """Markdown written by hand for a piece of the tree, put back after markdownify runs."""

    def __init__(self) -> None:
        self.pieces: list[str] = []

    def hold(self, soup: BeautifulSoup, element: Tag, markdown: str) -> None:
        token = f"WPIMPORTPLACEHOLDER{len(self.pieces)}X"
        self.pieces.append(markdown)
        paragraph = soup.new_tag("p")
        paragraph.string = token
        element.replace_with(paragraph)

    def restore(self, markdown: str) -> str:
        for number, piece in enumerate(self.pieces):
            markdown = markdown.replace(f"WPIMPORTPLACEHOLDER{number}X", piece)
        return markdown


def _tidy(
    soup: BeautifulSoup, context: ContentContext, warnings: list[str], held: _Placeholders
) -> None:
    for comment in soup.find_all(string=lambda node: isinstance(node, Comment)):
        comment.extract()
    _remove_unsafe(soup, warnings)
    _rewrite_images(soup, context, warnings)
    _rewrite_links(soup, context)
    _iframes_and_audio(soup)
    _separate_boxes(soup)
    for figure in reversed(soup.find_all("figure")):
        _figure(soup, figure, held)
    _lone_urls(soup)
    for element in soup.find_all(True):
        allowed = _KEPT_ATTRIBUTES.get(element.name, set())
        element.attrs = {k: v for k, v in element.attrs.items() if k in allowed}
    for table in reversed(soup.find_all("table")):
        if table.parent is not None and not _simple_table(table):
            _hold_html(soup, table, held)
    for definitions in reversed(soup.find_all("dl")):
        if definitions.parent is not None:
            _hold_html(soup, definitions, held)


def _remove_unsafe(soup: BeautifulSoup, warnings: list[str]) -> None:
    for element in soup.find_all(_UNSAFE_WITH_TEXT):
        warnings.append(f"A <{element.name}> element was removed (it is code, not text).")
        element.decompose()
    for element in soup.find_all(("object", "embed", "applet")):
        if element.get_text(strip=True):
            element.unwrap()  # fallback text inside stays
        else:
            warnings.append(f"An <{element.name}> element (a plugin embed) was removed.")
            element.decompose()


def _rewrite_images(soup: BeautifulSoup, context: ContentContext, warnings: list[str]) -> None:
    for image in soup.find_all("img"):
        src = (image.get("src") or "").strip()
        if not src:
            image.decompose()
            continue
        new = context.image_url(src)
        if new is None:
            warnings.append(f"Image not found in the uploads: {src} (its old address was kept).")
        else:
            image["src"] = new


def _rewrite_links(soup: BeautifulSoup, context: ContentContext) -> None:
    for link in soup.find_all("a", href=True):
        link["href"] = context.link_url(link["href"].strip())


def _iframes_and_audio(soup: BeautifulSoup) -> None:
    for element in soup.find_all(("iframe", "audio", "video", "source")):
        if element.parent is None:
            continue
        src = element.get("src") or next(
            (s.get("src") for s in element.find_all("source") if s.get("src")), ""
        )
        text = element.get_text(" ", strip=True)
        if src and _URL_ONLY.fullmatch(src.strip()):
            paragraph = soup.new_tag("p")
            link = soup.new_tag("a", href=src.strip())
            link.string = src.strip()
            paragraph.append(link)
            if text:
                paragraph.append(" " + text)
            element.replace_with(paragraph)
        else:
            element.unwrap()


_BLOCKISH = (
    "center", "marquee", "details", "summary", "form", "fieldset", "legend", "address",
    "header", "footer", "nav", "main", "aside", "section", "article", "hgroup", "noscript",
)  # fmt: skip
_CONTROLS = ("label", "button", "option", "textarea", "input", "meter", "output")


def _separate_boxes(soup: BeautifulSoup) -> None:
    """Elements a browser shows as boxes of their own must not glue their text to the next."""
    for element in soup.find_all(_BLOCKISH):
        element.name = "div"
    for element in soup.find_all(_CONTROLS):
        element.insert_after(" ")


def _classes(element: Tag) -> set[str]:
    value = element.get("class") or []
    return set(value.split() if isinstance(value, str) else value)


def _figure(soup: BeautifulSoup, figure: Tag, held: _Placeholders) -> None:
    images = figure.find_all("img")
    caption_element = figure.find("figcaption", recursive=False)
    caption = caption_element.get_text(" ", strip=True) if caption_element else ""
    if len(images) > 1 or "wp-block-gallery" in _classes(figure):
        _gallery(soup, figure, images, caption, held)
        return
    table = figure.find("table")
    if table is not None and not images:
        # A table block: its figcaption is the table's caption (kept as HTML: Markdown's
        # tables have none).
        if caption_element is not None and table.find("caption") is None:
            table_caption = soup.new_tag("caption")
            table_caption.string = caption
            table.insert(0, table_caption)
            caption_element.decompose()
        figure.unwrap()
        return
    if len(images) == 1:
        image = images[0]
        holder = image.parent if image.parent.name == "a" and _only_child(image) else image
        others = figure.get_text(" ", strip=True)
        if " ".join(others.split()) == " ".join(caption.split()):
            if caption:
                image["title"] = caption
            paragraph = soup.new_tag("p")
            paragraph.append(holder.extract())
            figure.replace_with(paragraph)
            return
    if caption_element is not None:
        caption_element.name = "p"
    figure.name = "div"


def _only_child(element: Tag) -> bool:
    parent = element.parent
    return all(
        child is element or (isinstance(child, NavigableString) and not child.strip())
        for child in parent.children
    )


def _gallery(
    soup: BeautifulSoup, figure: Tag, images: list[Tag], caption: str, held: _Placeholders
) -> None:
    """A loose Markdown list of images, which the pipeline shows as a grid of figures (a list
    holding only images is a gallery there); an image's title is its caption."""
    items = []
    for image in images:
        own = image.find_parent("figure")
        own_caption = ""
        if own is not None and own is not figure:
            found = own.find("figcaption")
            own_caption = found.get_text(" ", strip=True) if found else ""
        own_caption = own_caption or image.get("title", "")
        markdown = _image_markdown(image.get("src", ""), image.get("alt", ""), own_caption)
        items.append("- " + markdown)
    markdown = "\n\n".join(items)
    if caption:
        markdown += "\n\n" + _Markdown().escape(caption, set())
    held.hold(soup, figure, markdown)


def _image_markdown(src: str, alt: str, title: str) -> str:
    alt = re.sub(r"([\\\[\]])", r"\\\1", " ".join(alt.split()))
    title = " ".join(title.split()).replace('"', '\\"')
    title_part = f' "{title}"' if title else ""
    return f"![{alt}]({src.replace(' ', '%20')}{title_part})"


def _lone_urls(soup: BeautifulSoup) -> None:
    """A paragraph holding only a URL is an oEmbed in WordPress; here it becomes a link."""
    for block in soup.find_all(("p", "div")):
        if len(block.contents) == 1 and isinstance(block.contents[0], NavigableString):
            text = block.contents[0].strip()
            if _URL_ONLY.fullmatch(text):
                link = soup.new_tag("a", href=text)
                link.string = text
                block.contents[0].replace_with(link)


def _simple_table(table: Tag) -> bool:
    """True when a Markdown table says everything: a header row and plain cells."""
    rows = table.find_all("tr")
    if not rows or table.find("table") is not None:
        return False
    first = rows[0].find_all(("td", "th"))
    if not first or not all(cell.name == "th" for cell in first):
        return False
    for cell in table.find_all(("td", "th")):
        if cell.get("colspan") or cell.get("rowspan"):
            return False
        if cell.find(("p", "div", "ul", "ol", "br", "pre", "blockquote", "table", "img", "dl")):
            return False
        if "|" in cell.get_text():
            return False
    return table.find("caption") is None


def _hold_html(soup: BeautifulSoup, element: Tag, held: _Placeholders) -> None:
    """Keep an element as HTML inside the Markdown, on lines without blank lines between."""
    markup = re.sub(r"\n\s*\n", "\n", str(element)).strip()
    held.hold(soup, element, markup)


# --- markdownify ---------------------------------------------------------------------------

_ENTITY_LIKE = re.compile(r"&(?=#?[0-9A-Za-z]+;)")
_TAG_LIKE = re.compile(r"<(?=[A-Za-z/!?])")
_HASHES = re.compile(r"(\s|^)(#{1,6}(?:\s|$))")
_LIST_NUMBER = re.compile(r"((?:\s|^)[0-9]{1,9})([.)](?:\s|$))")
_DASHES = re.compile(r"(\s|^)([-+](?:\s|$))")
_QUOTE_MARK = re.compile(r"(\s|^)>")
_LINK_BRACKET = re.compile(r"\](?=[(\[])")


def _inline_html(tag: str, *attributes: str):
    def convert(self, el, text, parent_tags):
        if "_noformat" in parent_tags:
            return text
        prefix, suffix, text = chomp(text)
        if not text:
            return ""
        attrs = "".join(
            f' {name}="{html.escape(el.get(name))}"' for name in attributes if el.get(name)
        )
        return f"{prefix}<{tag}{attrs}>{text}</{tag}>{suffix}"

    return convert


class _Markdown(MarkdownConverter):
    class Options(MarkdownConverter.DefaultOptions):
        heading_style = ATX
        bullets = "-"
        strong_em_symbol = "*"
        autolinks = True
        escape_misc = False

    def escape(self, text, parent_tags):
        if not text:
            return ""
        text = text.replace("\\", "\\\\")
        text = super().escape(text, parent_tags)
        text = _ENTITY_LIKE.sub("&amp;", text)
        text = _TAG_LIKE.sub("&lt;", text)
        text = text.replace("`", "\\`")
        text = _LINK_BRACKET.sub("\\]", text)
        text = _HASHES.sub(r"\1\\\2", text)
        text = _LIST_NUMBER.sub(r"\1\\\2", text)
        text = _QUOTE_MARK.sub(r"\1\\>", text)
        return _DASHES.sub(r"\1\\\2", text)

    # Markdown has no syntax for these; they stay as (allowed) HTML.
    convert_del = _inline_html("del")
    convert_s = convert_del
    convert_strike = convert_del
    convert_sup = _inline_html("sup")
    convert_sub = _inline_html("sub")
    convert_mark = _inline_html("mark")
    convert_ins = _inline_html("ins")
    convert_small = _inline_html("small")
    convert_abbr = _inline_html("abbr", "title")
    convert_cite = _inline_html("cite")

    def convert_li(self, el, text, parent_tags):
        """As markdownify's, but nested content is indented by four spaces, which Python-
        Markdown needs to see a nested list."""
        text = (text or "").strip()
        if not text:
            return "\n"
        parent = el.parent
        if parent is not None and parent.name == "ol":
            start = str(parent.get("start") or "1")
            first = int(start) if start.isdigit() else 1
            bullet = f"{first + len(el.find_previous_siblings('li'))}. "
        else:
            bullet = "- "
        lines = text.split("\n")
        rest = [("    " + line if line else "") for line in lines[1:]]
        return "\n".join([bullet + lines[0], *rest]) + "\n"

    def convert_img(self, el, text, parent_tags):
        if "_inline" in parent_tags and el.parent.name not in self.options["keep_inline_images_in"]:
            return el.attrs.get("alt", "") or ""
        return _image_markdown(el.get("src", ""), el.get("alt", ""), el.get("title", ""))


def _tidy_markdown(markdown: str) -> str:
    lines = [line for line in markdown.split("\n")]
    cleaned = [("" if not line.replace("\xa0", " ").strip() else line) for line in lines]
    text = "\n".join(cleaned)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip("\n") + ("\n" if text.strip() else "")
