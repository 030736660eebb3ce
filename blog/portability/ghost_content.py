"""Ghost's post content (Lexical or Mobiledoc JSON) to the blog's Markdown.

Ghost keeps a post's text as an editor document: Lexical (Ghost 5's editor) or Mobiledoc
(older posts), plus the HTML it rendered from it. This module reads the document, so each of
Ghost's cards becomes the Markdown that says the same thing here.

Decisions (what each card becomes; the pipeline in blog.rendering renders and sanitises it):
- image → `![alt](src "caption")`, which the pipeline makes a figure with a caption; an image
  that links somewhere is wrapped in that link.
- gallery → a list of its images, each with its caption as its title, which the pipeline
  shows as a grid of figures (`div.gallery`); the gallery's caption follows as a paragraph.
- bookmark → a blockquote: the linked title in bold, then the description and publisher.
- callout → a blockquote starting with its emoji.
- toggle → its heading in bold, then its text (the sanitiser keeps no <details>).
- button → a link on its own paragraph. embed → a link to the embedded address (iframes are
  not kept), with its caption. divider → `---`. markdown card → its Markdown as it is.
- code → a fenced block with its language; its caption follows in italics.
- HTML card → the HTML as it is, inside the Markdown: the pipeline's sanitiser keeps what is
  safe when the post is saved.
- The paywall marker is dropped (everything here is public; the importer makes posts for
  members drafts).
- A node or card this module does not know makes the whole post come from Ghost's stored
  HTML instead (through the WordPress importer's HTML converter), and says so: no text is
  dropped without a word.
- Addresses: `__GHOST_URL__` (Ghost's stand-in for the site's address) and /content/images/
  paths go through the caller's `image` and `link` functions, which give the new addresses.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from .wpcontent import ContentContext, html_to_text, wordpress_to_markdown

Rewrite = Callable[[str], str]

# Lexical's text format bits (lexical's TextFormatType)
_BOLD, _ITALIC, _STRIKE, _CODE, _SUB, _SUPER = 1, 2, 4, 16, 32, 64
_ESCAPE = re.compile(r"([\\`*_\[\]>])")
_GHOST_ADDRESS = re.compile(r"__GHOST_URL__[^\s\"'()<>]*")
_LINE_START = re.compile(r"^(\s*)([#>+-]|\d+[.)])(?=\s)", re.MULTILINE)


class _Unknown(Exception):
    """A node or card this converter cannot say in Markdown; the caller falls back to HTML."""


@dataclass
class GhostConverted:
    markdown: str
    warnings: list[str] = field(default_factory=list)
    used_html: bool = False  # the stored HTML was converted instead of the document


def ghost_to_markdown(
    lexical: str | None,
    mobiledoc: str | None,
    html: str | None,
    image: Rewrite = lambda url: url,
    link: Rewrite = lambda url: url,
) -> GhostConverted:
    """The Markdown of a Ghost post, from its Lexical or Mobiledoc document, else its HTML."""
    converter = _Converter(image, link)
    try:
        if lexical:
            markdown = converter.lexical(json.loads(lexical))
        elif mobiledoc:
            markdown = converter.mobiledoc(json.loads(mobiledoc))
        else:
            markdown = None
        if markdown is not None:
            return GhostConverted(_tidy(markdown), converter.warnings)
    except _Unknown as unknown:
        reason = f"its {unknown} is not known here, so the text comes from Ghost's HTML."
        return _from_html(html, image, link, [*converter.warnings, reason])
    except (ValueError, TypeError, KeyError, IndexError, AttributeError):
        reason = "its editor document could not be read, so the text comes from Ghost's HTML."
        return _from_html(html, image, link, [reason])
    return _from_html(html, image, link, [])


def html_markdown(html: str, image: Rewrite, link: Rewrite) -> str:
    """A piece of Ghost's HTML (a callout's text, a toggle's body) as Markdown."""
    context = ContentContext(image_url=image, link_url=link)
    return wordpress_to_markdown(html or "", context).markdown.strip()


def _from_html(html, image, link, warnings: list[str]) -> GhostConverted:
    context = ContentContext(image_url=image, link_url=link)
    converted = wordpress_to_markdown(html or "", context)
    return GhostConverted(converted.markdown, [*warnings, *converted.warnings], used_html=True)


def _join(blocks) -> str:
    """Blocks apart by a blank line; two quotes in a row kept apart by an empty comment (else
    Markdown makes them one quote)."""
    out: list[str] = []
    for block in blocks:
        if not block.strip():
            continue
        if out and out[-1].startswith(">") and block.startswith(">"):
            out.append("<!-- -->")
        out.append(block)
    return "\n\n".join(out)


def _tidy(markdown: str) -> str:
    return re.sub(r"\n{3,}", "\n\n", markdown).strip() + "\n"


def escape(text: str) -> str:
    """Plain text safe to put in Markdown: nothing in it is read as markup."""
    text = text.replace("&", "&amp;").replace("<", "&lt;")  # Markdown has no escape for <
    return _LINE_START.sub(r"\1\\\2", _ESCAPE.sub(r"\\\1", text))


def _href(url: str) -> str:
    """An address as a Markdown link target: nothing in it ends the link early."""
    for char, code in ((" ", "%20"), ("(", "%28"), (")", "%29"), ("<", "%3C"), (">", "%3E")):
        url = url.replace(char, code)
    return url.strip()


def _image(src: str, alt: str = "", title: str = "") -> str:
    alt = re.sub(r"([\\\[\]])", r"\\\1", " ".join((alt or "").split()))
    title = " ".join((title or "").split()).replace('"', '\\"')
    title_part = f' "{title}"' if title else ""
    return f"![{alt}]({_href(src or '')}{title_part})"


def _quote(markdown: str) -> str:
    return "\n".join(f"> {line}".rstrip() for line in markdown.strip().splitlines())


class _Converter:
    def __init__(self, image: Rewrite, link: Rewrite):
        self.image_url = image
        self.link_url = link
        self.warnings: list[str] = []

    # --- cards, shared by Lexical and Mobiledoc -----------------------------------------------

    def card(self, name: str, data: dict) -> str:
        """One of Ghost's cards as Markdown blocks (see the module's Decisions)."""
        handler = getattr(self, f"_card_{name}", None)
        if handler is None:
            raise _Unknown(f"“{name}” card")
        return handler(data)

    def _caption(self, data: dict) -> str:
        return html_to_text(data.get("caption") or "")

    def _card_image(self, data: dict) -> str:
        markdown = _image(self.image_url(data.get("src", "")), data.get("alt", ""),
                          self._caption(data))  # fmt: skip
        if data.get("href"):
            markdown = f"[{markdown}]({_href(self.link_url(data['href']))})"
        return markdown

    def _card_gallery(self, data: dict) -> str:
        images = data.get("images") or []
        lines = [
            _image(
                self.image_url(item.get("src", "")),
                item.get("alt", ""),
                html_to_text(item.get("caption") or ""),
            )  # fmt: skip
            for item in sorted(images, key=lambda item: item.get("row", 0))
        ]
        caption = self._caption(data)
        grid = "\n".join(f"- {line}" for line in lines)
        return grid + (f"\n\n{escape(caption)}" if caption else "")

    def _card_bookmark(self, data: dict) -> str:
        meta = data.get("metadata") or {}
        url = _href(self.link_url(data.get("url", "")))
        title = meta.get("title") or data.get("title") or url
        parts = [f"**[{escape(title)}]({url})**"]
        description = meta.get("description") or data.get("description")
        if description:
            parts.append(escape(description))
        source = " · ".join(x for x in (meta.get("publisher"), meta.get("author")) if x)
        if source:
            parts.append(f"*{escape(source)}*")
        caption = self._caption(data)
        quote = _quote("\n\n".join(parts))
        return quote + (f"\n\n{escape(caption)}" if caption else "")

    def _card_callout(self, data: dict) -> str:
        text = html_markdown(data.get("calloutText", ""), self.image_url, self.link_url)
        emoji = (data.get("calloutEmoji") or "").strip()
        return _quote(f"{emoji} {text}" if emoji else text)

    def _card_toggle(self, data: dict) -> str:
        heading = html_to_text(data.get("heading") or "")
        body = html_markdown(data.get("content", ""), self.image_url, self.link_url)
        return f"**{escape(heading)}**\n\n{body}" if heading else body

    def _card_button(self, data: dict) -> str:
        text = data.get("buttonText") or data.get("buttonUrl") or ""
        return f"[{escape(text)}]({_href(self.link_url(data.get('buttonUrl', '')))})"

    def _card_code(self, data: dict) -> str:
        code = (data.get("code") or "").rstrip("\n")
        language = re.sub(r"[^\w+#.-]", "", data.get("language") or "")
        fence = "```"
        while fence in code:
            fence += "`"
        block = f"{fence}{language}\n{code}\n{fence}"
        caption = self._caption(data)
        return block + (f"\n\n*{escape(caption)}*" if caption else "")

    _card_codeblock = _card_code

    def _card_html(self, data: dict) -> str:
        return self._site_addresses((data.get("html") or "").strip())

    def _card_markdown(self, data: dict) -> str:
        return self._site_addresses((data.get("markdown") or "").strip())

    def _site_addresses(self, text: str) -> str:
        """Every `__GHOST_URL__…` address in written Markdown or HTML, made a new one."""

        def new(match: re.Match) -> str:
            url = match.group(0)
            rewritten = self.image_url(url)
            return rewritten if rewritten != url else self.link_url(url)

        return _GHOST_ADDRESS.sub(new, text)

    def _card_embed(self, data: dict) -> str:
        url = _href(data.get("url", ""))
        meta = data.get("metadata") or {}
        title = meta.get("title") or url
        caption = self._caption(data)
        link = f"[{escape(title)}]({url})"
        return link + (f"\n\n{escape(caption)}" if caption else "")

    def _card_hr(self, data: dict) -> str:
        return "---"

    _card_horizontalrule = _card_hr

    def _card_paywall(self, data: dict) -> str:
        return ""

    # --- Lexical ------------------------------------------------------------------------------

    def lexical(self, document: dict) -> str:
        return _join(self._block(node) for node in document["root"]["children"])

    def _block(self, node: dict) -> str:
        kind = node.get("type", "")
        if kind == "paragraph":
            return self._inline(node.get("children", []))
        if kind in ("heading", "extended-heading"):
            level = int(str(node.get("tag", "h2"))[1:] or 2)
            return "#" * min(max(level, 1), 6) + " " + self._inline(node.get("children", []))
        if kind in ("quote", "extended-quote", "aside"):
            return _quote(self._inline(node.get("children", [])))
        if kind == "list":
            return self._list(node, 0)
        if kind in _CARD_NODES:
            return self.card(_CARD_NODES[kind], node)
        raise _Unknown(f"“{kind}” block")

    def _list(self, node: dict, depth: int) -> str:
        ordered = node.get("listType") == "number"
        lines, number = [], int(node.get("start") or 1)
        for item in node.get("children", []):
            nested = [c for c in item.get("children", []) if c.get("type") == "list"]
            inline = [c for c in item.get("children", []) if c.get("type") != "list"]
            if inline or not nested:
                marker = f"{number}." if ordered else "-"
                lines.append("    " * depth + f"{marker} {self._inline(inline)}")
                number += 1
            lines += [self._list(child, depth + 1) for child in nested]
        return "\n".join(lines)

    def _inline(self, nodes: list[dict]) -> str:
        return "".join(self._inline_node(node) for node in nodes)

    def _inline_node(self, node: dict) -> str:
        kind = node.get("type", "")
        if kind in ("text", "extended-text"):
            return _format(node.get("text", ""), int(node.get("format") or 0))
        if kind == "linebreak":
            return "  \n"
        if kind == "tab":
            return " "
        if kind in ("link", "autolink"):
            text = self._inline(node.get("children", []))
            return f"[{text}]({_href(self.link_url(node.get('url', '')))})"
        raise _Unknown(f"“{kind}” text")

    # --- Mobiledoc ----------------------------------------------------------------------------

    def mobiledoc(self, document: dict) -> str:
        markups = document.get("markups", [])
        cards = document.get("cards", [])
        atoms = document.get("atoms", [])
        blocks = []
        for section in document.get("sections", []):
            kind = section[0]
            if kind == 1:  # a markup section: p, h2, blockquote…
                text = self._markers(section[2], markups, atoms)
                blocks.append(_markup_section(section[1].lower(), text))
            elif kind == 3:  # a list
                marker = "1." if section[1].lower() == "ol" else "-"
                blocks.append("\n".join(
                    f"{marker} {self._markers(item, markups, atoms)}" for item in section[2]
                ))  # fmt: skip
            elif kind == 10:  # a card
                name, payload = cards[section[1]]
                blocks.append(self.card(name, payload))
            elif kind == 2:  # an old-style image section
                blocks.append(_image(self.image_url(section[1])))
            else:
                raise _Unknown(f"section of kind {kind}")
        return _join(blocks)

    def _markers(self, markers: list, markups: list, atoms: list) -> str:
        out: list[str] = []
        open_tags: list[tuple[str, str]] = []  # (closing text, …)
        for kind, opens, closes, value in markers:
            for index in opens:
                tag, attributes = markups[index][0].lower(), markups[index][1:]
                pairs = attributes[0] if attributes else []
                attrs = dict(zip(pairs[::2], pairs[1::2], strict=False))
                start, end = self._markup(tag, attrs)
                out.append(start)
                open_tags.append((end, tag))
            if kind == 0:
                out.append(escape(value))
            else:  # an atom (a soft line break, a mention): its text
                name, text, _payload = atoms[value]
                out.append("  \n" if name == "soft-return" else escape(text or ""))
            for _ in range(closes):
                out.append(open_tags.pop()[0])
        return "".join(out)

    def _markup(self, tag: str, attrs: dict) -> tuple[str, str]:
        if tag in ("strong", "b"):
            return "**", "**"
        if tag in ("em", "i"):
            return "*", "*"
        if tag == "code":
            return "`", "`"
        if tag == "a":
            return "[", f"]({_href(self.link_url(attrs.get('href', '')))})"
        if tag in ("s", "del", "sup", "sub"):
            tag = "del" if tag == "s" else tag
            return f"<{tag}>", f"</{tag}>"
        return "", ""  # u and anything else: the text alone


_CARD_NODES = {
    name: name
    for name in ("image", "gallery", "bookmark", "callout", "toggle", "button", "codeblock",
                 "html", "markdown", "embed", "horizontalrule", "paywall")
}  # fmt: skip


def _format(text: str, bits: int) -> str:
    if not text:
        return ""
    if bits & _CODE:
        return f"`{text}`" if "`" not in text else f"`` {text} ``"
    out = escape(text)
    lead, core, trail = re.match(r"^(\s*)(.*?)(\s*)$", out, re.DOTALL).groups()
    if not core:
        return out
    for bit, start, end in (
        (_SUPER, "<sup>", "</sup>"),
        (_SUB, "<sub>", "</sub>"),
        (_STRIKE, "<del>", "</del>"),
        (_ITALIC, "*", "*"),
        (_BOLD, "**", "**"),
    ):
        if bits & bit:
            core = f"{start}{core}{end}"
    return lead + core + trail


def _markup_section(tag: str, text: str) -> str:
    if re.fullmatch(r"h[1-6]", tag):
        return "#" * int(tag[1]) + " " + text
    if tag in ("blockquote", "aside"):
        return _quote(text)
    return text
