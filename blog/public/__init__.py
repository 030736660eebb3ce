"""Pages for readers: home, articles, listings, archives, feeds, search, sitemap, media."""

from importlib import import_module

from flask import Blueprint, Flask

bp = Blueprint("public", __name__)
# Each adds its views to `bp` when imported; `register` imports them before registering `bp`.
ROUTE_MODULES = (
    "comments",
    "comment_feeds",
    "feeds",
    "listings",
    "media",
    "newsletter",
    "preview",
    "search",
    "seo",
    "views",
)


def register(app: Flask) -> None:
    """Register the reader pages on the app, with the views of every route module."""
    for name in ROUTE_MODULES:
        import_module(f"{__name__}.{name}")
    app.register_blueprint(bp)
