"""Security headers on every response (a Content-Security-Policy without inline scripts, and friends), and
the one exception to Flask-WTF's CSRF tokens: the forms a visitor without a session posts from the public pages.

Cookieless forms. The race list and a race page are the same for every anonymous visitor, so they set no
cookie and can be cached (blueprints/races.py, services/page_cache.py). Their forms (Add to cart, Join the waitlist) then carry
no per-visitor token, and they need none when the request carries no session: a cross-site POST without
the visitor's session has nothing to forge. What remains (a forged POST that plants the attacker's cart, a
login-CSRF-like trick) is refused the way Go 1.25's `http.CrossOriginProtection` refuses it, from what the
browser says about where the request comes from:

- `Sec-Fetch-Site` other than `same-origin` or `none` (a user typing the address): refused, 403;
- no `Sec-Fetch-Site` but an `Origin` whose host is not this request's host: refused, 403;
- neither header (an old browser, or no browser at all): allowed, as Go does.

A request that does carry the session cookie or the sign-in cookies still needs the Flask-WTF token, unless
`Sec-Fetch-Site: same-origin` says the browser itself vouches for the page it came from. Only the views in
COOKIELESS_FORMS get this treatment; every other POST needs its token as before. The pages in COOKIELESS_PAGES
(and the 404 of an address that is no page) issue no token to a visitor without a session (`csrf_field()` and
`issues_csrf_token()` in templates).
"""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, Response, current_app, request, session
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup
from werkzeug.middleware.proxy_fix import ProxyFix

from blueprints.auth import ACCESS_COOKIE, REFRESH_COOKIE
from blueprints.cart_owner import GUEST_COOKIE
from blueprints.rendering import render
from extensions import csrf

# Stripe Checkout is a redirect to Stripe's page (never embedded), so no payment permission.
PERMISSIONS_POLICY = "camera=(), microphone=(), geolocation=(), payment=()"
HSTS = "max-age=63072000; includeSubDomains"


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


# The check-in page's scanner uses the camera (and nothing else does).
CAMERA_PERMISSIONS_POLICY = PERMISSIONS_POLICY.replace("camera=()", "camera=(self)")


def content_security_policy(config, style_hashes: tuple[str, ...] = (), *, wasm: bool = False) -> str:
    """Scripts, styles and requests from our own origin only; images also from Supabase Storage.

    htmx is a file of ours and evaluates nothing (allowEval is off), pages carry no inline
    script, style element or style attribute, and forms post to us or, after a redirect, to
    Stripe Checkout. `style_hashes` lets a page show an email in a sandboxed srcdoc frame (which
    inherits this policy): exactly those style attributes, by their SHA-256, and no other. `wasm` lets a page
    compile WebAssembly of ours ('wasm-unsafe-eval', which allows no JavaScript eval): the check-in page's
    QR reader where the browser has no BarcodeDetector.
    """
    images = ["'self'", "data:", "blob:"]
    if config.get("STORAGE") == "supabase" and _origin(config.get("SUPABASE_URL", "")):
        images.append(_origin(config["SUPABASE_URL"]))
    form_targets = ["'self'", "https://checkout.stripe.com"]
    if _origin(config.get("STRIPE_API_BASE") or ""):  # a local stand-in's payment page
        form_targets.append(_origin(config["STRIPE_API_BASE"]))
    directives = {
        "default-src": ["'self'"],
        "script-src": ["'self'", *(["'wasm-unsafe-eval'"] if wasm else [])],
        "style-src": ["'self'", *(["'unsafe-hashes'", *(f"'sha256-{h}'" for h in style_hashes)] if style_hashes else [])],
        "img-src": images,
        "connect-src": ["'self'"],
        "form-action": form_targets,
        "frame-ancestors": ["'none'"],
        "base-uri": ["'self'"],
        "object-src": ["'none'"],
    }
    return "; ".join(f"{name} {' '.join(sources)}" for name, sources in directives.items())


def register(app: Flask) -> None:
    if app.config.get("PROXY_HOPS"):
        hops = app.config["PROXY_HOPS"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=0)

    @app.after_request
    def security_headers(response: Response) -> Response:
        headers = response.headers
        headers.setdefault("Content-Security-Policy", content_security_policy(app.config))
        headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        headers.setdefault("X-Frame-Options", "DENY")
        if app.config["APP_ENV"] == "production":
            headers.setdefault("Strict-Transport-Security", HSTS)
        return response


# --- cookieless forms ----------------------------------------------------------------------------

# The forms an anonymous visitor posts from the public pages, by endpoint.
COOKIELESS_FORMS = frozenset({"cart.add", "waitlist.join", "languages.switch"})
# The pages that give a visitor without a session no CSRF token: those whose forms post only to the
# views above (the two forms answer with their own form again, so they are pages here too).
# The offline page (blueprints/offline.py) has no form at all.
COOKIELESS_PAGES = frozenset({"races.index", "races.race_page", "offline.offline_page", *COOKIELESS_FORMS})
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
CROSS_ORIGIN_TITLE = _l("This form was sent from another site")
CROSS_ORIGIN_DETAIL = _l("We only take it from our own pages, so that nobody can fill in your cart for you. "
                         "Open the race page here and send it again.")


def carries_session() -> bool:
    """The request carries a cookie that says who the browser is: the Flask session, the sign-in cookies, or a
    guest's cart (whose page then gives a token, and whose cart a forged POST must not fill)."""
    cookies = request.cookies
    return any(name in cookies for name in (current_app.config["SESSION_COOKIE_NAME"], ACCESS_COOKIE, REFRESH_COOKIE,
                                            GUEST_COOKIE))


def cross_origin_problem() -> str | None:
    """Why this request looks sent from another site (Go's CrossOriginProtection rules), or None."""
    fetch_site = request.headers.get("Sec-Fetch-Site", "")
    if fetch_site in ("same-origin", "none"):
        return None
    if fetch_site:
        return f"Sec-Fetch-Site: {fetch_site[:40]}"
    origin = request.headers.get("Origin", "")
    if not origin:
        return None
    if urlsplit(origin).netloc != request.host:  # "null", another host, or junk
        return f"Origin: {origin[:100]}"
    return None


def issues_csrf_token() -> bool:
    """Whether this page puts a CSRF token in its forms (and so in a session cookie): not on a cookieless page
    or an address that is no page at all (a 404 has no form) for a visitor who has no session (unless this very
    request started one, say with a flashed message)."""
    cookieless = request.endpoint is None or request.endpoint in COOKIELESS_PAGES
    return not cookieless or carries_session() or bool(session)


def csrf_field() -> Markup:
    """The hidden CSRF input of a form on a cookieless page, or nothing where the page issues no token."""
    if not issues_csrf_token():
        return Markup("")
    return Markup('<input type="hidden" name="csrf_token" value="{}">').format(generate_csrf())


def _guard_cookieless_forms():
    if request.endpoint not in COOKIELESS_FORMS or request.method in SAFE_METHODS:
        return None
    if not current_app.config.get("WTF_CSRF_ENABLED", True):
        return None
    problem = cross_origin_problem()
    if problem is not None:
        current_app.logger.warning("cross-origin POST to %s refused (%s)", request.endpoint, problem)
        return render("errors.html", code=403, title=CROSS_ORIGIN_TITLE, detail=CROSS_ORIGIN_DETAIL, status=403)
    if carries_session() and request.headers.get("Sec-Fetch-Site") != "same-origin":
        csrf.protect()  # raises CSRFError without a good token: the usual "This form has expired" page
    return None


def register_cookieless_forms(app: Flask) -> None:
    """After the blueprints: Flask-WTF's own check skips COOKIELESS_FORMS, and this guard takes them."""
    for endpoint in COOKIELESS_FORMS:
        csrf.exempt(app.view_functions[endpoint])
    app.before_request(_guard_cookieless_forms)
    app.jinja_env.globals.update(csrf_field=csrf_field, issues_csrf_token=issues_csrf_token)
