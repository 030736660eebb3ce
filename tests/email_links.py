"""Reading what a person would click in an email that reached the test SMTP server."""

import re
from urllib.parse import urlsplit


def text_of(message) -> str:
    return message.get_body(("plain",)).get_content()


def link_in(message, path_start: str) -> str:
    """The path (and query) of the one link in the text part whose path starts with
    `path_start`, as a browser would request it from the test client."""
    links = [
        url
        for url in re.findall(r"https?://\S+", text_of(message))
        if urlsplit(url).path.startswith(path_start)
    ]
    assert len(links) == 1, f"expected one {path_start} link in:\n{text_of(message)}"
    parts = urlsplit(links[0])
    return parts.path + (f"?{parts.query}" if parts.query else "")
