"""(being written) Media records: saving uploads, URLs and srcset for templates."""

from flask import Flask


def init_app(app: Flask) -> None:
    """Register template helpers."""
