"""Error pages that answer browsers, HTMX and JSON clients alike."""

from __future__ import annotations

from flask import jsonify, render_template, request
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

HANDLED_CODES = (400, 403, 404, 405, 413, 429, 500)

MESSAGES = {
    400: _l("The request could not be understood."),
    403: _l("You do not have permission to do that."),
    404: _l("Nothing here: the page or object does not exist."),
    405: _l("This address does not accept that method."),
    413: _l("The request is too large."),
    429: _l("Too many requests; please slow down."),
    500: _l("Something went wrong on our side. It has been logged."),
}


def wants_json() -> bool:
    """Tell whether the caller is a machine expecting JSON."""
    if request.path.startswith(("/hooks/", "/healthz", "/api/")):
        return True
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "application/json" and not request.headers.get("HX-Request")


def render_error(code: int, message: str):
    """Render an error as JSON, an HTMX fragment or a full page."""
    if wants_json():
        return jsonify(ok=False, error=message), code
    if request.headers.get("HX-Request"):
        return render_template("errors/_message.html", code=code, message=message), code
    return render_template("errors/page.html", code=code, message=message), code


def handle_http_error(error: HTTPException):
    """Answer an HTTP error with a clear message."""
    code = error.code or 500
    message = str(MESSAGES.get(code, error.description))
    if code == 400 and error.description and not isinstance(error, CSRFError):
        message = error.description
    return render_error(code, message)


def handle_csrf_error(error: CSRFError):
    """Explain a missing or stale CSRF token instead of a bare 400."""
    return render_error(
        400, str(_l("Your form expired or was sent from elsewhere. Reload the page and try again."))
    )


def handle_unexpected(error: Exception):
    """Log an unexpected error and show a 500 page (never a traceback)."""
    if isinstance(error, HTTPException):
        return handle_http_error(error)
    from flask import current_app

    current_app.logger.exception("unhandled error on %s %s", request.method, request.path)
    return handle_http_error(InternalServerError())


def register_error_handlers(app) -> None:
    """Attach the error handlers to the app."""
    app.register_error_handler(CSRFError, handle_csrf_error)
    for code in HANDLED_CODES:
        app.register_error_handler(code, handle_http_error)
    app.register_error_handler(Exception, handle_unexpected)
