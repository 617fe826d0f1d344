"""The API's sign-in: access and refresh tokens for a native app, from a password or a refresh token.

Both go through the configured provider (services/auth/providers.py), local or Supabase Auth, so the tokens are
the same JWTs the sign-in cookies carry. With Supabase an app may also get them from Supabase Auth directly.
"""
from __future__ import annotations

import jwt
from flask_babel import lazy_gettext as _l
from spectree import Response
from werkzeug.datastructures import MultiDict

from blueprints.api.core import BAD_INPUT, bp, spec
from blueprints.api.schemas import Problem, TokenRequest, TokenResponse
from blueprints.auth import auth_limit, auth_provider
from blueprints.auth_forms import SignInForm
from blueprints.problems import ApiProblem
from services import clock
from services.auth import AuthError, AuthSession

NO_REFRESH_TOKEN = _l("Send the refresh token you were given with your access token.")
SEND_JSON = _l("Send the request as JSON (Content-Type: application/json).")


def _checked_sign_in(body: TokenRequest) -> SignInForm:
    """The sign-in page's form checks the email and password, with its messages."""
    form = SignInForm(formdata=MultiDict({"email": body.email or "", "password": body.password or ""}),
                      meta={"csrf": False})
    if not form.validate():
        raise ApiProblem(422, BAD_INPUT, errors=[{"field": name, "detail": messages[0]}
                                                 for name, messages in form.errors.items()])
    return form


def _answer(tokens: AuthSession) -> TokenResponse:
    expires = jwt.decode(tokens.access_token, options={"verify_signature": False})["exp"]
    return TokenResponse(access_token=tokens.access_token, refresh_token=tokens.refresh_token,
                         expires_in=max(int(expires - clock.now().timestamp()), 0))


@bp.post("/v1/auth/token")
@auth_limit  # the sign-in page's limit, shared with it: failed attempts per address
@spec.validate(json=TokenRequest, resp=Response(HTTP_200=TokenResponse, HTTP_401=Problem, HTTP_403=Problem,
                                                HTTP_415=Problem, HTTP_422=Problem, HTTP_429=Problem),
               tags=["auth"])
def token(json: TokenRequest):
    """Sign in with `grant_type=password` (email, password), or swap a refresh token for a new pair
    (`grant_type=refresh_token`); each refresh token works once."""
    if json is None:  # a form-encoded body, which spectree leaves unread
        raise ApiProblem(415, SEND_JSON)
    try:
        if json.grant_type == "password":
            form = _checked_sign_in(json)
            tokens = auth_provider().sign_in(form.email.data, form.password.data)
        else:
            if not json.refresh_token:
                raise ApiProblem(422, BAD_INPUT, errors=[{"field": "refresh_token", "detail": NO_REFRESH_TOKEN}])
            tokens = auth_provider().refresh(json.refresh_token)
    except AuthError as error:
        raise ApiProblem(error.status, error.message,
                         errors=[{"field": error.field, "detail": error.message}] if error.field else None) from None
    return _answer(tokens)
