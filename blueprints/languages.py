"""The language of each page: Flask-Babel's selector, and the header's switcher that changes it.

The choice, first that applies: `?lang=` on the address (the hreflang alternates' links), the switcher's
cookie, a signed-in person's profile, the browser's Accept-Language, the race's own language on its pages,
English.
"""
from __future__ import annotations

from datetime import timedelta

import flask_babel
from flask import Blueprint, Flask, current_app, g, has_request_context, redirect, request, url_for
from flask_babel import gettext as _

from blueprints.auth import safe_next
from blueprints.page_gettext import template_gettext, template_ngettext
from blueprints.rendering import render
from extensions import babel, db
from services.languages import (
    DEFAULT_LANGUAGE,
    language_name,
    languages,
    remember_language,
    supported,
)
from services.links import public_url

LANGUAGE_COOKIE = "sl_lang"
COOKIE_MAX_AGE = int(timedelta(days=365).total_seconds())

bp = Blueprint("languages", __name__)


def select_language() -> str:
    """This request's language code (Flask-Babel asks once per request and keeps the answer)."""
    if not has_request_context():
        return DEFAULT_LANGUAGE
    user = g.get("user")
    # Signing in writes the profile's language to the cookie (auth.pages): it is this request's cookie already.
    cookie = g.get("sign_in_language") or request.cookies.get(LANGUAGE_COOKIE)
    for choice in (request.args.get("lang"), cookie,
                   user.language if user is not None else None):
        code = supported(choice)
        if code:
            return code
    return (request.accept_languages.best_match(languages())
            or supported(g.get("race_language")) or DEFAULT_LANGUAGE)


def use_race_language(code: str | None) -> None:
    """On a race's pages: the race's own language is the fallback of a visitor whose browser asks for none of
    ours (before anything on the page is translated)."""
    g.race_language = code
    flask_babel.refresh()


def current_language() -> str:
    """The code of the language this page is in ("en", "es")."""
    return str(flask_babel.get_locale() or DEFAULT_LANGUAGE)


def _this_page_query() -> dict[str, list[str]]:
    """This page's query arguments, for a link to it in another language: without `lang`, and without any that
    would clash with the route's own arguments or url_for's (`endpoint`, `_external`…): only a made-up address
    has those, and it must not turn the page into a 500 or point the links at another race."""
    reserved = {*(request.view_args or {}), "lang", "endpoint", "values"}
    query = {key: values for key, values in request.args.to_dict(flat=False).items()
             if key not in reserved and not key.startswith("_")}
    if "next" in query:  # a sign-in page's way back: only one of ours travels on (safe_next), never //evil
        query["next"] = [value for value in query["next"] if safe_next(value, "") == value]
    return query


def language_alternates() -> list[tuple[str, str]]:
    """(hreflang, address) of this page in each language, and x-default: for <link rel="alternate">. At SITE_URL,
    never the request's Host: the anonymous pages are cached and shared (a forged Host must not reach them)."""
    if request.endpoint is None or request.method != "GET" or request.endpoint.startswith(("static", "api.")):
        return []
    here = {**_this_page_query(), **(request.view_args or {})}
    alternates = [(code, public_url(request.endpoint, **here, lang=code)) for code in languages()]
    return [*alternates, ("x-default", public_url(request.endpoint, **here))]


def language_arg() -> str | None:
    """The `lang` a link from this page to something written in its language (the manifest) carries: none for
    an English page nobody asked for by address, whose link then stays as it always was."""
    language = current_language()
    return language if language != DEFAULT_LANGUAGE or "lang" in request.args else None


def switcher_next() -> str:
    """Where the switcher comes back to: this page, without a `lang` it may have had."""
    if request.method != "GET" or request.endpoint is None:
        return url_for("races.index")
    return url_for(request.endpoint, **_this_page_query(), **(request.view_args or {}))


@bp.post("/language")
def switch():
    """Read the site in another language: kept in a cookie, and on the profile of a signed-in person."""
    code = supported(request.form.get("lang"))
    if code is None:
        return render("errors.html", code=400, title=_("We don't have that language"),
                      detail=_("Choose one of the languages in the list."), status=400)
    response = redirect(safe_next(request.form.get("next"), url_for("races.index")), 303)
    response.set_cookie(LANGUAGE_COOKIE, code, max_age=COOKIE_MAX_AGE, httponly=True, samesite="Lax",
                        secure=current_app.config["SESSION_COOKIE_SECURE"])
    if g.get("user") is not None:
        remember_language(db.session, g.user, code)
    return response


def register(app: Flask) -> None:
    babel.init_app(app, locale_selector=select_language)  # catalogs in translations/, compiled by make
    # Flask-Babel's gettext looks the catalog up on every message; these keep it for the request (issue 17).
    app.jinja_env.globals.update(_=template_gettext, gettext=template_gettext, ngettext=template_ngettext)
    app.register_blueprint(bp)
    app.jinja_env.globals.update(current_language=current_language, language_alternates=language_alternates,
                                 languages=languages, language_name=language_name, switcher_next=switcher_next,
                                 language_arg=language_arg)
