"""Errors as RFC 9457 problem documents (`application/problem+json`) for the JSON API, with the pages' own words.

The pages show a title and a message (blueprints/errors.py); an API client gets the same message as the
problem's `detail`, the HTTP status phrase as its `title`, and, for bad input, each field's message in `errors`.
"""
from __future__ import annotations

from http import HTTPStatus

from flask import Response, json, request
from werkzeug.exceptions import HTTPException

from blueprints.request_log import current_request_id

PROBLEM_JSON = "application/problem+json"
API_PREFIX = "/api/"


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
    body = {"type": "about:blank", "title": HTTPStatus(status).phrase, "status": status, "detail": detail,
            "instance": request.path}
    if errors:
        body["errors"] = errors
    if status >= 500:
        body["request_id"] = current_request_id()
    response = Response(json.dumps(body), status=status, mimetype=PROBLEM_JSON)
    response.headers.update(headers or {})
    response.headers["Cache-Control"] = "no-store"
    return response


def problem_for(error: HTTPException, detail: str) -> Response:
    """An HTTP error raised outside the API's own refusals (no such address, rate limit, ...) as a problem,
    keeping the headers it carries (Retry-After, Allow)."""
    if isinstance(error, ApiProblem):
        return error.get_response()
    headers = {name: value for name, value in error.get_headers() if name.lower() in ("retry-after", "allow")}
    return problem_response(error.code or 500, detail, headers=headers)
