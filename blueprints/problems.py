"""Errors as RFC 9457 problem documents (`application/problem+json`) for the JSON API, with the pages' own words.

The pages show a title and a message (blueprints/errors.py); an API client gets the same message as the
problem's `detail`, the HTTP status phrase as its `title`, and, for bad input, each field's message in `errors`.
All in the request's language (Accept-Language, else the caller's profile: blueprints/languages.py), said in
Content-Language; `type`, `status` and the field names stay the same in every language.
"""
from __future__ import annotations

from http import HTTPStatus

from flask import Response, json, request
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import HTTPException

from blueprints.request_log import current_request_id
from services.languages import current_language

PROBLEM_JSON = "application/problem+json"
API_PREFIX = "/api/"
# HTTPStatus's phrases of the statuses an API answer can carry, for translating (any other stays English).
TITLES = {400: _l("Bad Request"), 401: _l("Unauthorized"), 403: _l("Forbidden"), 404: _l("Not Found"),
          405: _l("Method Not Allowed"), 409: _l("Conflict"), 410: _l("Gone"), 412: _l("Precondition Failed"),
          413: _l("Request Entity Too Large"), 415: _l("Unsupported Media Type"), 422: _l("Unprocessable Entity"),
          428: _l("Precondition Required"), 429: _l("Too Many Requests"), 500: _l("Internal Server Error"),
          502: _l("Bad Gateway"), 503: _l("Service Unavailable"), 504: _l("Gateway Timeout")}


class ApiProblem(HTTPException):
    """A refusal for an API client: raised anywhere in an API view, answered as a problem document."""

    def __init__(self, status: int, detail: str, *, errors: list[dict] | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(detail)
        self.code, self.detail, self.errors, self.extra_headers = status, detail, errors, headers or {}

    def get_response(self, environ=None, scope=None) -> Response:
        return problem_response(self.code, self.detail, errors=self.errors, headers=self.extra_headers)


def is_api_request() -> bool:
    """Whether this request is the API's (whose errors are problem documents, never pages)."""
    return request.path.startswith(API_PREFIX)


def problem_response(status: int, detail: str, *, errors: list[dict] | None = None,
                     headers: dict[str, str] | None = None) -> Response:
    # str(): a message may be lazy (a module's constant), written now in the request's language.
    title = TITLES.get(status) or HTTPStatus(status).phrase
    body = {"type": "about:blank", "title": str(title), "status": status, "detail": str(detail),
            "instance": request.path}
    if errors:
        body["errors"] = [{**problem, "detail": str(problem["detail"])} for problem in errors]
    if status >= 500:
        body["request_id"] = current_request_id()
    response = Response(json.dumps(body), status=status, mimetype=PROBLEM_JSON)
    response.headers.update(headers or {})
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Language"] = current_language()
    return response


def problem_for(error: HTTPException, detail: str) -> Response:
    """An HTTP error raised outside the API's own refusals (no such address, rate limit, ...) as a problem,
    keeping the headers it carries (Retry-After, Allow)."""
    if isinstance(error, ApiProblem):
        return error.get_response()
    headers = {name: value for name, value in error.get_headers() if name.lower() in ("retry-after", "allow")}
    return problem_response(error.code or 500, detail, headers=headers)
