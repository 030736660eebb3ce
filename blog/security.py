"""(being written) Security headers on every response."""

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the after-request hook that sets the security headers."""
