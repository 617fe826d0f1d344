"""The API's frame: its blueprint and OpenAPI generator, who is calling (a bearer token, or our own pages'
cookies with their CSRF token), the organizer check, and the ETag every GET carries.

A request with `Authorization: Bearer <access token>` acts as that token's user: the same local or Supabase
JWT the sign-in cookies carry, checked by the same verifier. Such a request sets no cookie and needs no CSRF
token, as long as it carries no cookie session: an unsafe request that carries one (the PWA calling from our
own pages) must send the page's token in X-CSRFToken, as htmx does.
"""
from __future__ import annotations

import functools

import flask_babel
import jwt
from flask import Blueprint, Response, current_app, g, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_wtf.csrf import CSRFError
from spectree import SecurityScheme, SecuritySchemeData, SpecTree
from spectree.models import SecureType
from werkzeug.exceptions import InternalServerError

from blueprints.problems import PROBLEM_JSON, ApiProblem
from blueprints.security import SAFE_METHODS, carries_session
from blueprints.ticket_form import NO_SUCH_RACE
from extensions import csrf, db
from models import Race
from services.auth import auth_error
from services.auth.access_tokens import TemporaryAuthFailure, profile_for_claims
from services.permissions import can_manage
from services.races import race_by_slug

bp = Blueprint("api", __name__, url_prefix="/api")

SIGN_IN_FIRST = _l("Sign in first: send your access token as Authorization: Bearer <token>.")
BAD_INPUT = _l("Some of what you entered needs another look.")
CSRF_EXPIRED = _l("Reload the page and try again. (The security token was missing or too old.)")


def _schema_name(response: dict) -> str:
    ref = response.get("content", {}).get("application/json", {}).get("schema", {}).get("$ref", "")
    return ref.rpartition("/")[2].partition(".")[0]  # "#/components/schemas/Problem.1a2b3c4" -> "Problem"


class ApiSpec(SpecTree):
    """spectree's document, with the problem responses under their own media type (RFC 9457), and without the
    422 spectree adds by default where nothing can be invalid (bad input is a Problem, never its own format)."""

    def _generate_spec(self):
        document = super()._generate_spec()
        for path in document["paths"].values():
            for operation in path.values():
                responses = operation.get("responses", {})
                for status, response in list(responses.items()):
                    if _schema_name(response) == "Problem":
                        response["content"] = {PROBLEM_JSON: response["content"]["application/json"]}
                    elif _schema_name(response) == "ValidationError":
                        del responses[status]
        document["components"]["schemas"] = {name: schema for name, schema in document["components"]["schemas"].items()
                                             if not name.startswith("ValidationError")}
        return document


def field_problems(error) -> list[dict]:
    """A pydantic validation error as the problem document's `errors`, field by field, in the request's language."""
    return [{"field": ".".join(str(part) for part in problem["loc"]) or "body", "detail": field_message(problem)}
            for problem in error.errors(include_url=False)]


def field_message(problem: dict) -> str:
    """One of pydantic's problems in the request's language: the kinds an API client meets, in our words; any
    other kind (a validator's own message) as pydantic says it."""
    ctx = problem.get("ctx") or {}
    kind = problem["type"]
    if kind == "missing":
        return _("This field is required.")
    if kind == "extra_forbidden":
        return _("This field isn't one we know: leave it out.")
    if kind in ("string_type", "string_unicode"):
        return _("Send text here.")
    if kind == "string_nul":
        return _("Send text without the NUL character (\\u0000).")
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return _("Send a whole number here.")
    if kind in ("bool_type", "bool_parsing"):
        return _("Send true or false here.")
    if kind in ("list_type", "tuple_type"):
        return _("Send a list here.")
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return _("Send an object here.")
    if kind.startswith(("datetime_", "date_", "timezone_")):
        return _("Send a date and time in ISO 8601 with a time zone, like 2026-05-01T08:00:00Z.")
    if kind in ("uuid_type", "uuid_parsing"):
        return _("Send a UUID here.")
    if kind == "string_too_long" and "max_length" in ctx:
        return ngettext("Keep it to %(num)d character.", "Keep it to %(num)d characters.", ctx["max_length"])
    if kind == "string_too_short" and "min_length" in ctx:
        return ngettext("Send at least %(num)d character.", "Send at least %(num)d characters.", ctx["min_length"])
    if kind == "too_long" and "max_length" in ctx:
        return ngettext("Send at most %(num)d item.", "Send at most %(num)d items.", ctx["max_length"])
    if kind == "too_short" and "min_length" in ctx:
        return ngettext("Send at least %(num)d item.", "Send at least %(num)d items.", ctx["min_length"])
    if kind in ("string_pattern_mismatch", "literal_error", "enum"):
        return _("That value isn't one this field takes.")
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        return _("That number is out of range.")
    if kind == "json_invalid":
        return _("The body isn't valid JSON.")
    return problem["msg"]


def refuse_bad_input(req, resp, error, instance, *rest) -> None:
    """spectree's hook before a view: input that doesn't fit its schema is a 422 problem, field by field."""
    if error is None:
        return
    raise ApiProblem(422, BAD_INPUT, errors=field_problems(error))


def _refuse_bad_output(req, resp, error, instance, *rest) -> None:
    """spectree's hook after a view: an answer that doesn't fit its own schema is our bug, logged, never sent."""
    if error is not None:
        current_app.logger.error("API response of %s %s does not fit its schema: %s", req.method, req.path, error)
        raise InternalServerError()


spec = ApiSpec(
    "flask", mode="strict", page_templates={},
    title="Startline API", version="1",
    path="api/openapi",  # spectree leaves the routes under this out: only the document itself is there
    description=" ".join(("Races, your orders and tickets, and the organizer's registrants and figures.",
                          "Errors are RFC 9457 problem documents; lists page by cursor; every GET has an ETag.")),
    security_schemes=[SecurityScheme(name="bearer", data=SecuritySchemeData(
        type=SecureType.HTTP, scheme="bearer", bearer_format="JWT",
        description="an access token from POST /api/v1/auth/token (or Supabase Auth)"))],
    before=refuse_bad_input, after=_refuse_bad_output, annotations=True)


def bearer_token() -> str | None:
    """The token of an `Authorization: Bearer …` header, or None without one."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


@bp.before_request
def authenticate() -> None:
    """The bearer token's user (else the cookies' user, already in g.user), and CSRF for a cookie session."""
    token = bearer_token()
    if token is None and request.headers.get("Authorization"):
        raise ApiProblem(401, SIGN_IN_FIRST, headers={"WWW-Authenticate": "Bearer"})
    if token is not None:
        g.user = _user_of(token)
        flask_babel.refresh()  # the caller's profile may choose the language of the answer's words
    if request.method not in SAFE_METHODS and carries_session():
        try:
            csrf.protect()
        except CSRFError:
            raise ApiProblem(400, CSRF_EXPIRED) from None


def _user_of(token: str):
    try:
        claims = current_app.extensions["startline_token_verifier"].verify(token)
    except TemporaryAuthFailure:
        raise ApiProblem(503, auth_error(None).message) from None
    except jwt.PyJWTError:  # expired, forged, another server's: the same answer, sign in again
        raise ApiProblem(401, auth_error("session_expired").message,
                         headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}) from None
    profile = profile_for_claims(db.session, claims)
    if profile is None:  # that session was signed out
        raise ApiProblem(401, auth_error("session_not_found").message,
                         headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
    g.auth_claims = claims
    return profile


def signed_in(view):
    """Refuse a caller who is nobody (401)."""

    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        if g.get("user") is None:
            raise ApiProblem(401, SIGN_IN_FIRST, headers={"WWW-Authenticate": "Bearer"})
        return view(*args, **kwargs)

    return wrapped


def managed_race(slug: str) -> Race:
    """The race at `slug` for one of its organizers (services/permissions.py); 404 for everyone else, so the
    API says no more about another organizer's race than that there is nothing here for you."""
    race = race_by_slug(db.session, slug)
    if race is None or not can_manage(db.session, race.id, g.user.id):
        raise ApiProblem(404, NO_SUCH_RACE)
    return race


@bp.after_request
def conditional_get(response: Response) -> Response:
    """Every successful GET has an ETag (a 304 for If-None-Match), and nothing in between keeps it."""
    if request.method in ("GET", "HEAD") and response.status_code == 200 and not response.direct_passthrough:
        response.add_etag()
        # By ETag only: If-Modified-Since is the registrants' delta sync, decided by their view (a Last-Modified
        # of whole seconds must not hide a change later in the same second).
        if request.if_none_match.contains_weak(response.get_etag()[0]):
            response.status_code = 304
            response.set_data(b"")
            for name in ("Content-Type", "Content-Length"):
                response.headers.pop(name, None)
    response.headers.setdefault("Cache-Control", "private, no-cache")
    response.vary.update(("Authorization", "Cookie", "Accept-Language"))
    return response
