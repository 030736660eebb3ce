"""Error pages: a clear message for the visitor and a log line, never a stack trace."""

from flask import Flask, render_template, request
from flask_wtf.csrf import CSRFError
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


def render_error(code: int, message: str | None = None):
    title, default_message = MESSAGES.get(code, ("Error", "Something went wrong."))
    if request.accept_mimetypes.best == "application/json":
        return {"error": title, "message": message or default_message}, code
    return render_template(
        "errors/error.html", code=code, title=title, message=message or default_message
    ), code


def handle_csrf_error(error: CSRFError):
    from flask import current_app

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
    from flask import current_app

    from .extensions import db

    db.session.rollback()
    current_app.logger.exception("Unhandled error on %s %s", request.method, request.path)
    return render_error(InternalServerError.code)
