"""Error pages: a clear message for the visitor and a log line, never a stack trace.

Decisions:
- A NUL or malformed UTF-8 in a request is refused before any view runs, so nothing of it
  is stored. A form view whose refusal would otherwise throw away what someone wrote (the
  post editor) is marked `@shows_unreadable_input`: it runs with the form's bad characters
  replaced by U+FFFD, so the marks show where they were, and must itself refuse the request
  with `unreadable_input()`'s message, showing the form again.
"""

from urllib.parse import unquote_to_bytes

from flask import Flask, current_app, g, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.exceptions import HTTPException, InternalServerError

MESSAGES = {
    400: ("Bad request", "The request could not be understood. Go back and try again."),
    403: ("Not allowed", "Your account does not have permission to do that."),
    404: ("Page not found", "There is no page at this address. It may have moved."),
    405: ("Method not allowed", "That action is not possible on this page."),
    413: ("Too large", "What you sent is larger than this site accepts."),
    429: ("Too many requests", "Slow down a little, then try again."),
    500: ("Something went wrong", "The problem has been logged. Please try again in a moment."),
}


def init_app(app: Flask) -> None:
    app.register_error_handler(CSRFError, handle_csrf_error)
    app.register_error_handler(HTTPException, handle_http_error)
    app.register_error_handler(Exception, handle_unexpected_error)


UNREADABLE_INPUT = (
    "What you sent contains a NUL character or text that is not valid UTF-8. "
    "Remove it and try again."
)
UNREADABLE_FORM = (
    "Nothing was saved: the text contains characters that cannot be stored (a NUL character "
    "or bytes that are not valid UTF-8). They are marked \ufffd below; remove them and send "
    "again."
)


def shows_unreadable_input(view):
    """Mark a form view that shows its form again, text kept, when the input is unreadable."""
    view.shows_unreadable_input = True
    return view


def unreadable_input() -> str | None:
    """In a view marked `shows_unreadable_input`: the message to refuse this request with."""
    return g.get("unreadable_input")


def refuse_unreadable_input():
    """400 for a NUL or malformed UTF-8 in the query string or a form or JSON body; 404 for a
    NUL in the path (no page has such an address).

    Werkzeug would quietly drop or re-quote bad bytes, and PostgreSQL refuses NUL in text with
    an error (a 500): here the sender gets a clear answer and nothing is stored.
    Multipart bodies are checked for NUL only, to avoid holding uploads in memory.
    """
    if "\x00" in request.path:
        return render_error(404)
    if request.mimetype == "application/x-www-form-urlencoded":
        readable = _readable(request.get_data(cache=True))
    elif request.mimetype == "multipart/form-data":
        readable = not any("\x00" in value for _, value in request.form.items(multi=True))
    elif request.is_json:
        readable = not _holds_nul(request.get_json(silent=True))
    else:
        readable = True
    query_readable = _readable(request.query_string)
    if readable and query_readable:
        return None
    current_app.logger.warning(
        "Refused %s %s: NUL or malformed UTF-8 in the request", request.method, request.path
    )
    if query_readable and _view_shows_it_again() and request.mimetype in FORM_TYPES:
        marked = _marked_form()
        request.files  # noqa: B018 parse the body first: Werkzeug then keeps the form set here
        request.form = marked
        g.unreadable_input = UNREADABLE_FORM
        return None
    return render_error(400, UNREADABLE_INPUT)


FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def _view_shows_it_again() -> bool:
    view = current_app.view_functions.get(request.endpoint or "")
    return getattr(view, "shows_unreadable_input", False)


def _marked_form() -> ImmutableMultiDict:
    """The form as sent, each NUL and each malformed UTF-8 sequence replaced by U+FFFD.

    Werkzeug's own parsing would drop a urlencoded body with raw malformed bytes altogether
    and keep encoded ones as "%FF", so such a body is decoded here from its bytes.
    """
    if request.mimetype == "multipart/form-data":  # checked for NUL only, see above
        pairs = request.form.items(multi=True)
    else:
        pairs = (
            (_decoded(name), _decoded(value))
            for name, _, value in (
                part.partition(b"=") for part in request.get_data(cache=True).split(b"&") if part
            )
        )
    return ImmutableMultiDict(
        (name.replace("\x00", "\ufffd"), value.replace("\x00", "\ufffd")) for name, value in pairs
    )


def _decoded(urlencoded: bytes) -> str:
    return unquote_to_bytes(urlencoded.replace(b"+", b" ")).decode("utf-8", "replace")


def _readable(urlencoded: bytes) -> bool:
    """True if the names and values of a query string or form body are UTF-8 without NUL."""
    try:
        text = unquote_to_bytes(urlencoded.replace(b"+", b" ")).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return "\x00" not in text


def _holds_nul(value) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(key) or _holds_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_holds_nul(item) for item in value)
    return False


def render_error(code: int, message: str | None = None):
    title, default_message = MESSAGES.get(code, ("Error", "Something went wrong."))
    if request.accept_mimetypes.best == "application/json":
        return {"error": title, "message": message or default_message}, code
    return render_template(
        "errors/error.html", code=code, title=title, message=message or default_message
    ), code


def handle_csrf_error(error: CSRFError):
    current_app.logger.warning(
        "CSRF check failed for %s %s: %s", request.method, request.path, error.description
    )
    return render_error(
        400,
        "This form has expired or did not come from this site. "
        "Go back, reload the page and send it again.",
    )


def handle_http_error(error: HTTPException):
    if error.code is None or error.code < 400:
        return error
    return render_error(error.code)


def handle_unexpected_error(error: Exception):
    from .extensions import db

    db.session.rollback()
    current_app.logger.exception("Unhandled error on %s %s", request.method, request.path)
    return render_error(InternalServerError.code)
