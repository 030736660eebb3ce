"""Signing in and out, first-run setup, two-factor authentication."""

from importlib import import_module

from flask import Blueprint, Flask

bp = Blueprint("auth", __name__)
# Each adds its views to `bp` when imported; `register` imports them before registering `bp`.
ROUTE_MODULES = ("two_factor", "views", "password_reset", "invitations", "email_change")


def register(app: Flask) -> None:
    """Register the sign-in pages on the app, with the views of every route module."""
    for name in ROUTE_MODULES:
        import_module(f"{__name__}.{name}")
    app.register_blueprint(bp)
