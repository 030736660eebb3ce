"""A post as a newsletter email: made once per send from the stored HTML, never from Markdown
rendered again.

Decisions:
- The HTML part is a single 600-pixel column in a table with inline styles, which is what
  email clients render alike (most ignore <style> blocks and external CSS). The post's HTML is
  already sanitised; here its URLs are made absolute, its images get one width email clients
  handle (a stored variant of at most 1200 px shown at 600, no srcset), and its elements get
  inline styles. Nothing is added that the sanitiser did not allow, but styles and widths.
- The plain-text part is the post's Markdown, which reads well as text, with its site-relative
  links made absolute.
- "Excerpt and link" sends the summary and a button to read on the site.
- Each subscriber's unsubscribe address goes where UNSUBSCRIBE_MARK stands, at send time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from flask import render_template
from markupsafe import Markup

from ..models import Media, NewsletterChoice, Post
from ..urls import absolutize_html, media_absolute_url, post_url, site_url

UNSUBSCRIBE_MARK = "%%unsubscribe_url%%"
COLUMN_WIDTH = 600
LARGEST_IMAGE = 2 * COLUMN_WIDTH  # sharp on high-density screens, still a small download

STYLES = {
    "p": "margin:0 0 16px;",
    "h2": "font-size:22px;line-height:1.3;margin:28px 0 12px;",
    "h3": "font-size:19px;line-height:1.3;margin:24px 0 10px;",
    "h4": "font-size:17px;margin:20px 0 8px;",
    "a": "color:#1a56a8;",
    "blockquote": "margin:0 0 16px;padding:4px 0 4px 16px;border-left:4px solid #d0d0d0;"
    "color:#444444;",
    "pre": "background:#f4f4f4;padding:12px;overflow:auto;font-size:14px;line-height:1.4;"
    "white-space:pre-wrap;word-break:break-word;",
    "code": "font-family:Menlo,Consolas,monospace;font-size:90%;",
    "ul": "margin:0 0 16px;padding-left:24px;",
    "ol": "margin:0 0 16px;padding-left:24px;",
    "li": "margin:0 0 6px;",
    "figure": "margin:0 0 16px;",
    "figcaption": "font-size:14px;color:#555555;margin-top:6px;",
    "table": "border-collapse:collapse;margin:0 0 16px;",
    "th": "border:1px solid #d0d0d0;padding:6px;text-align:left;",
    "td": "border:1px solid #d0d0d0;padding:6px;",
    "hr": "border:0;border-top:1px solid #d0d0d0;margin:24px 0;",
}
IMAGE_STYLE = "display:block;max-width:100%;height:auto;border:0;"
_RELATIVE_MARKDOWN_LINK = re.compile(r"\]\((/[^)\s]*)")


@dataclass
class EmailVersion:
    subject: str
    html: str
    text: str


def make(post: Post) -> EmailVersion:
    """The email for a post, with UNSUBSCRIBE_MARK where each subscriber's link goes."""
    full = post.newsletter != NewsletterChoice.EXCERPT
    base = post_url(post)
    body_html = Markup(email_html(post.body_html, base)) if full else None
    featured = _featured(post)
    context = {
        "post": post,
        "link": base,
        "full": full,
        "body_html": body_html,
        "featured": featured,
        "styles": STYLES,
        "unsubscribe_url": UNSUBSCRIBE_MARK,
        "home": site_url() + "/",
    }
    html = render_template("email/newsletter.html", **context)
    text = render_template(
        "email/newsletter.txt", body_text=_text_body(post) if full else "", **context
    )
    return EmailVersion(subject=post.title, html=html, text=text.strip() + "\n")


def email_html(html: str, base: str) -> str:
    """Stored post HTML made fit for email clients: absolute URLs, one image size, inline
    styles."""
    from bs4 import BeautifulSoup  # only sends need it; the web workers never load it

    soup = BeautifulSoup(absolutize_html(html, base), "html.parser")
    for image in soup.find_all("img"):
        _fit_image(image)
    for name, style in STYLES.items():
        for element in soup.find_all(name):
            element["style"] = style + element.get("style", "")
    return str(soup)


def _fit_image(image) -> None:
    """One URL (the srcset candidate nearest LARGEST_IMAGE without going over), shown at most
    COLUMN_WIDTH wide."""
    candidates = _srcset_widths(image.get("srcset", ""))
    if candidates:
        fitting = [pair for pair in candidates if pair[0] <= LARGEST_IMAGE] or [min(candidates)]
        image["src"] = max(fitting)[1]
    for attribute in ("srcset", "sizes", "loading", "decoding"):
        image.attrs.pop(attribute, None)
    width, height = _number(image.get("width")), _number(image.get("height"))
    if width and width > COLUMN_WIDTH:
        if height:
            image["height"] = str(round(height * COLUMN_WIDTH / width))
        image["width"] = str(COLUMN_WIDTH)
    image["style"] = IMAGE_STYLE


def _srcset_widths(srcset: str) -> list[tuple[int, str]]:
    found = []
    for candidate in srcset.split(","):
        parts = candidate.split()
        if len(parts) == 2 and parts[1].endswith("w") and parts[1][:-1].isdigit():
            found.append((int(parts[1][:-1]), parts[0]))
    return found


def _number(value) -> int | None:
    return int(value) if isinstance(value, str) and value.isdigit() else None


def _featured(post: Post) -> dict | None:
    media: Media | None = post.featured_media
    if media is None:
        return None
    sizes = [(v["width"], v["height"], v["filename"]) for v in media.variants or []]
    sizes.append((media.width, media.height, media.filename))
    fitting = [size for size in sizes if size[0] <= LARGEST_IMAGE] or [min(sizes)]
    width, height, filename = max(fitting)
    shown_width = min(width, COLUMN_WIDTH)
    return {
        "url": media_absolute_url(filename),
        "width": shown_width,
        "height": round(height * shown_width / width) if width else height,
        "alt": post.featured_alt or media.alt_text or "",
        "caption": post.featured_caption or "",
    }


def _text_body(post: Post) -> str:
    root = site_url()
    return _RELATIVE_MARKDOWN_LINK.sub(lambda match: f"]({root}{match.group(1)}", post.body_md)


def personal(version_text: str, unsubscribe_url: str) -> str:
    return version_text.replace(UNSUBSCRIBE_MARK, unsubscribe_url)
