"""Friendly error pages (and fragments for htmx) instead of stack traces."""
from __future__ import annotations

from flask import Flask, request
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import HTTPException, InternalServerError, default_exceptions

from blueprints.auth import know_the_user_of_a_refusal
from blueprints.problems import is_api_request, problem_for
from blueprints.rendering import render
from blueprints.request_log import current_request_id
from extensions import db

MESSAGES = {
    400: (_l("That request didn't make sense"), _l("Something in the address or the form was not valid.")),
    403: (_l("Not yours to see"), _l("You don't have access to this page.")),
    404: (_l("We couldn't find that page"), _l("The race may have moved, or the link has a typo.")),
    405: (_l("That didn't work"), _l("This page can't be used that way.")),
    413: (_l("That file is too big"), _l("Uploads can be at most 10 MB.")),
    422: (_l("Please check the form"), _l("Some of what you entered needs another look.")),
    429: (_l("Slow down a little"), _l("Too many attempts. Please wait a minute and try again.")),
    500: (_l("Something went wrong on our side"), _l("We've been told. Please try again in a moment.")),
}


def render_error(error: HTTPException):
    code = error.code or 500
    if code < 500 and not is_api_request():  # a 429 comes before anyone is known: their language all the same
        know_the_user_of_a_refusal()
    title, default_detail = (str(text) for text in MESSAGES.get(code, (error.name, error.description)))
    # Our own abort(400, "…") messages are for the user; Werkzeug's stock texts are not.
    detail = error.description if getattr(error, "user_message", False) else default_detail
    if is_api_request():  # the API's clients get the same words as a problem document
        return problem_for(error, detail)
    return render("errors.html", code=code, title=title, detail=detail, request_id=current_request_id(), status=code)


def register(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        return render_error(error)

    @app.errorhandler(Exception)
    def unexpected_error(error: Exception):
        db.session.rollback()
        app.logger.exception("unhandled error on %s %s", request.method, request.path)  # with the request id
        return render_error(InternalServerError())


def abort_for_user(code: int, message: str):
    """abort() with a message written for the person using the page."""
    error = default_exceptions[code](str(message))
    error.user_message = True
    raise error
