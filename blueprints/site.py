"""Site-wide endpoints: health check, the web app manifest and locally stored media."""
from __future__ import annotations

from flask import Blueprint, abort, current_app, jsonify, send_from_directory, url_for
from flask_babel import gettext as _

from blueprints.languages import current_language
from extensions import db
from services.health import database_answers
from services.storage import CACHE_SECONDS, LocalStorage, is_valid_key, storage_for

bp = Blueprint("site", __name__)


@bp.get("/healthz")
def healthz():
    """200 when the database answers, 503 when it does not (for load balancers and uptime checks)."""
    if not database_answers(db.session):
        return jsonify(status="unavailable", database=False), 503
    return jsonify(status="ok", database=True)


# Real screenshots of the app (the race list), shown by the browser's install dialog: (file, size, form factor).
SCREENSHOTS = (("screenshots/races-390.png", "390x844", "narrow"), ("screenshots/races-1280.png", "1280x800", "wide"))


@bp.get("/manifest.webmanifest")
def manifest():
    """The web app manifest that makes the site installable on a phone (every field Chromium asks for), in the
    page's language: base.html links it with the page's `?lang=`, and the texts and `lang` follow."""
    name = current_app.config["SITE_NAME"]

    def icon(filename: str, size: str, purpose: str = "any") -> dict:
        return {"src": url_for("static", filename=filename), "sizes": size, "type": "image/png", "purpose": purpose}

    response = jsonify({
        "id": "/",
        "name": name,
        "short_name": name,
        "description": _("Find a race and sign up in a minute; your tickets and the check-in desk work offline."),
        "lang": current_language(),
        "dir": "ltr",
        "start_url": "/",
        "scope": "/",
        "display": "standalone",
        "orientation": "any",
        "background_color": "#ffffff",
        "theme_color": "#0b6e4f",
        "categories": ["sports", "lifestyle"],
        "icons": [
            icon("icons/icon-192.png", "192x192"),
            icon("icons/icon-512.png", "512x512"),
            icon("icons/icon-maskable-512.png", "512x512", "maskable"),
        ],
        "screenshots": [
            {"src": url_for("static", filename=filename), "sizes": size, "type": "image/png", "form_factor": factor,
             "label": _("%(site)s: the race list", site=name)}
            for filename, size, factor in SCREENSHOTS
        ],
        "shortcuts": [
            {"name": _("My tickets"), "short_name": _("Tickets"),
             "description": _("Your tickets and their QR codes, offline too"),
             "url": url_for("tickets.index"), "icons": [icon("icons/icon-192.png", "192x192")]},
            {"name": _("Check-in"), "short_name": _("Check-in"), "description": _("Check runners in at your races"),
             "url": url_for("manage.checkin_shortcut"), "icons": [icon("icons/icon-192.png", "192x192")]},
        ],
    })
    response.mimetype = "application/manifest+json"
    response.vary.update(("Cookie", "Accept-Language"))  # without ?lang=, the language comes from these
    return response


@bp.get("/media/<path:key>")
def media(key: str):
    """A race image kept on local disk (STORAGE=local); a key never changes, so caches keep it a year."""
    storage = storage_for(current_app)
    if not isinstance(storage, LocalStorage) or not is_valid_key(key):
        abort(404)
    # send_from_directory joins safely as well, and answers 404 for a file that is not there.
    response = send_from_directory(storage.root, key, max_age=CACHE_SECONDS)
    response.cache_control.public = True
    response.cache_control.immutable = True
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
