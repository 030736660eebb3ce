"""The admin area at /admin: writing, media, categories and tags, users, settings, import."""

from importlib import import_module

from flask import Blueprint, Flask
from flask_login import login_required

bp = Blueprint("admin", __name__)
# Each adds its views to `bp` when imported; `register` imports them before registering `bp`.
ROUTE_MODULES = (
    "comment_requests",
    "comments",
    "design",
    "exporter",
    "fediverse",
    "importer",
    "jobs",
    "media",
    "newsletter",
    "posts",
    "preview_links",
    "site_settings",
    "taxonomy",
    "users",
    "views",
)


@bp.before_request
@login_required
def require_login():
    """Every admin page needs a signed-in user; finer roles are checked per view."""


def register(app: Flask) -> None:
    """Register the admin area on the app, with the views of every route module."""
    for name in ROUTE_MODULES:
        import_module(f"{__name__}.{name}")
    app.register_blueprint(bp, url_prefix="/admin")
