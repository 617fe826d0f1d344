"""The installable app's offline side: the service worker at the site root, the page it shows for an address
it has not kept, and the mark on the pages a device may keep for offline use (static/sw.js reads it).

What a device keeps, and for whom. The service worker keeps a copy of a page only when the page itself says
so with `X-Offline-Account`: the signed-in person's ticket list and tickets (their QR codes), and an
organizer's check-in page (OFFLINE_PAGES). These pages are private, yet keeping them on the phone is the
point, so their `Cache-Control` (which governs the HTTP cache, not the service worker's Cache Storage) does
not stop it. Instead the copies belong to one account: the header names it by a key that says nothing about
the person (an HMAC of their id), the worker files copies under that key, and it throws every copy away
when a page seen online names another account or nobody, and at sign-out (which also sends
`Clear-Site-Data`). A copy never carries a cookie: a service worker never sees `Set-Cookie`, so the
copy cannot replay one. Nothing else is kept: no other page, no answer to a POST, nothing
from another origin.
"""
from __future__ import annotations

import hashlib
import hmac

from flask import Blueprint, Flask, Response, current_app, g, request, send_from_directory, url_for

from blueprints.languages import language_arg
from blueprints.rendering import is_htmx_request, render

bp = Blueprint("offline", __name__)

ACCOUNT_HEADER = "X-Offline-Account"
# The pages a device may keep, by endpoint; static/sw.js lists the same addresses (KEPT_PAGES).
OFFLINE_PAGES = frozenset({"tickets.index", "tickets.show", "manage.checkin"})
# Sent with the sign-out answer: the HTTP cache and every kind of storage of this site on the device
# (Cache Storage with the kept pages, IndexedDB with a check-in roster, the service worker itself).
CLEAR_SITE_DATA = '"cache", "storage"'


def account_key(user_id) -> str:
    """The key a device files an account's kept pages under: the same for one account, telling nobody whose."""
    secret = current_app.config["SECRET_KEY"].encode()
    return hmac.new(secret, f"offline-account:{user_id}".encode(), hashlib.sha256).hexdigest()[:20]


def current_account_key() -> str:
    """This request's account key, or "" when nobody is signed in (the service worker then drops what it kept)."""
    user = g.get("user")
    return account_key(user.id) if user is not None else ""


def kept_offline() -> bool:
    """This page is one a device may keep (its copy then says when it was saved, static/js/offline.js)."""
    return request.endpoint in OFFLINE_PAGES


def worker_url() -> str:
    """/sw.js with the static build in its query: a deploy that changes a file installs a new worker, which
    keeps the new offline page and its stylesheet. And with the page's language when it is not plain English
    (`?lang=es`): switching languages installs a worker that keeps the offline page in the new one."""
    return url_for("offline.service_worker", v=current_app.extensions["static_build_id"], lang=language_arg())


@bp.get("/sw.js")
def service_worker():
    """The service worker, from the site root so that it may control every page (its scope is "/")."""
    response = send_from_directory(current_app.static_folder, "sw.js", mimetype="text/javascript", max_age=0)
    # The browser checks for a new worker on every navigation; no-cache makes it ask us, not its HTTP cache.
    response.cache_control.no_cache = True
    response.cache_control.max_age = None
    response.cache_control.public = False
    response.headers["Service-Worker-Allowed"] = "/"
    return response


@bp.get("/offline")
def offline_page():
    """What the service worker shows for an address it has not kept while the device is offline."""
    return render("offline.html")


def _offline_headers(response: Response) -> Response:
    """The mark on a page the device may keep, and the sign-out's order to clear the device."""
    if (request.endpoint in OFFLINE_PAGES and request.method == "GET" and response.status_code == 200
            and not is_htmx_request() and g.get("user") is not None):
        response.headers[ACCOUNT_HEADER] = current_account_key()
    elif request.endpoint == "auth.sign_out" and response.status_code < 400:
        response.headers["Clear-Site-Data"] = CLEAR_SITE_DATA
    return response


def register(app: Flask) -> None:
    app.register_blueprint(bp)
    app.after_request(_offline_headers)
    app.jinja_env.globals.update(offline_account=current_account_key, service_worker_url=worker_url,
                                 kept_offline=kept_offline)
