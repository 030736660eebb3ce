"""Serving uploaded images from the upload folder."""

from pathlib import Path

from flask import abort, current_app, send_from_directory
from werkzeug.exceptions import NotFound

from ..uploads import CONTENT_TYPES, UploadError, safe_media_path
from . import bp

ONE_YEAR = 365 * 24 * 60 * 60

# Stored names are random and never reused, so a file may be cached for good. The policy
# keeps an image opened on its own from running anything, whatever its bytes are.
MEDIA_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; img-src 'self'; sandbox",
    "Content-Disposition": "inline",
    "Cache-Control": f"public, max-age={ONE_YEAR}, immutable",
}


@bp.get("/media/<path:filename>")
def media_file(filename: str):
    """One stored file; any name our uploads could not have written is a 404."""
    try:
        path = safe_media_path(Path(current_app.config["UPLOAD_FOLDER"]), filename)
    except UploadError:
        abort(404)
    content_type = CONTENT_TYPES.get(path.suffix) or abort(404)
    try:
        response = send_from_directory(
            path.parent, path.name, mimetype=content_type, conditional=True, max_age=ONE_YEAR
        )
    except (NotFound, FileNotFoundError):  # also if it vanishes between the check and the read
        abort(404)
    response.headers.update(MEDIA_HEADERS)
    return response
