"""(being written) The page cache for anonymous readers, invalidated by the site generation."""

from flask import Flask


def init_app(app: Flask) -> None:
    """Wire the cache into the request cycle."""
