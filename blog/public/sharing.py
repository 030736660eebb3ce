"""Share links under an article: plain links to each service's own "share this" address.

Decisions:
- Plain `<a href>` links, built here: no script, no button widget, no image from another site,
  so nothing leaves the reader's browser until they click one (and the page stays light).
- Only services whose share address needs no account-specific host (email, X, Facebook,
  LinkedIn); the address shared is the article's absolute URL under SITE_URL.
"""

from dataclasses import dataclass
from urllib.parse import urlencode

from ..models import Post
from ..urls import post_url


@dataclass(frozen=True)
class ShareLink:
    label: str  # the visible name of the service
    url: str


# (label, share address, the query parameter names for the address and the title)
SERVICES = (
    ("X", "https://x.com/intent/post", "url", "text"),
    ("Facebook", "https://www.facebook.com/sharer/sharer.php", "u", None),
    ("LinkedIn", "https://www.linkedin.com/sharing/share-offsite/", "url", None),
)


def share_links(post: Post) -> list[ShareLink]:
    """Where a reader can share `post`, in the order shown: email first, then each service."""
    address = post_url(post)
    links = [ShareLink("Email", "mailto:?" + urlencode({"subject": post.title, "body": address}))]
    for label, base, address_name, title_name in SERVICES:
        query = {address_name: address} | ({title_name: post.title} if title_name else {})
        links.append(ShareLink(label, f"{base}?{urlencode(query)}"))
    return links
