"""The design stylesheet and /favicon.ico, outside the page cache (they are not pages).

Decisions:
- The stylesheet's address carries a digest of its text, so it may be kept for a year; an old
  address still answers (with the current text, not to be stored), so a page from a cache
  never loses its colours.
- /favicon.ico is for clients that ask for it without reading the page (feed readers, old
  browsers): the uploaded favicon as PNG, kept a day, since this address never changes.
"""

from pathlib import Path

from flask import Blueprint, Response, abort, current_app, send_from_directory

from ..public.media import MEDIA_HEADERS
from ..settings import get_settings
from ..uploads import UploadError, safe_media_path
from . import theme

bp = Blueprint("design", __name__)

ONE_YEAR = 365 * 24 * 60 * 60
ONE_DAY = 24 * 60 * 60


@bp.get("/design-<digest>.css")
def stylesheet(digest: str):
    css = theme.stylesheet(get_settings())
    response = Response(css, mimetype="text/css")
    if digest == theme.digest(css):
        response.headers["Cache-Control"] = f"public, max-age={ONE_YEAR}, immutable"
    else:
        response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.get("/favicon.ico")
def favicon():
    name = get_settings().get("favicon_file")
    try:
        path = safe_media_path(Path(current_app.config["UPLOAD_FOLDER"]), name or "")
    except UploadError:
        abort(404)
    if not path.is_file():
        abort(404)
    response = send_from_directory(path.parent, path.name, mimetype="image/png", max_age=ONE_DAY)
    response.headers.update({**MEDIA_HEADERS, "Cache-Control": f"public, max-age={ONE_DAY}"})
    return response
