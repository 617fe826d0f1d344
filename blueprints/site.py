"""Site-wide endpoints: health check, the web app manifest and locally stored media."""
from __future__ import annotations

from flask import Blueprint, abort, current_app, jsonify, send_from_directory, url_for

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


@bp.get("/manifest.webmanifest")
def manifest():
    """The web app manifest that makes the site installable on a phone."""
    name = current_app.config["SITE_NAME"]
    response = jsonify({
        "name": name,
        "short_name": name,
        "description": "Find a race and sign up in a minute.",
        "start_url": "/",
        "scope": "/",
        "display": "standalone",
        "background_color": "#ffffff",
        "theme_color": "#0b6e4f",
        "icons": [
            {"src": url_for("static", filename="icons/icon-192.png"), "sizes": "192x192",
             "type": "image/png"},
            {"src": url_for("static", filename="icons/icon-512.png"), "sizes": "512x512",
             "type": "image/png"},
            {"src": url_for("static", filename="icons/icon-maskable-512.png"), "sizes": "512x512",
             "type": "image/png", "purpose": "maskable"},
        ],
    })
    response.mimetype = "application/manifest+json"
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
