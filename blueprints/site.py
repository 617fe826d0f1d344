"""Site-wide endpoints: health check and the web app manifest."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify, url_for
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from app import db

bp = Blueprint("site", __name__)


@bp.get("/healthz")
def healthz():
    """200 when the database answers, 503 when it does not (for load balancers and uptime checks)."""
    try:
        db.session.execute(text("SELECT 1"))
    except SQLAlchemyError:
        db.session.rollback()
        current_app.logger.exception("health check: database unreachable")
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
