"""The JSON API v1 for native apps and the PWA's sync, under /api: documented by an OpenAPI 3.1 document that
spectree makes from the pydantic classes that also validate each request and response (`schemas`), at
/api/openapi.json (`docs`), with a page to read it at /api/docs.

Modules by job: `core` (the blueprint, who is calling, the organizer check, ETags), `tokens` (sign-in),
`races` (public races), `account` (the caller's orders and tickets), `organizers` (registrants, dashboard),
`checkin` (the roster a phone keeps offline, its synced check-ins), `docs`. A new area is one module adding
routes to `core.bp` with `@spec.validate`, listed in AREAS below.
"""
from __future__ import annotations

from flask import Flask

from blueprints.api import account, checkin, docs, organizers, races, tokens
from blueprints.api.core import bp
from extensions import csrf

AREAS = (tokens, races, account, organizers, checkin, docs)


def register(app: Flask) -> None:
    """The API's routes and its document. CSRF is the API's own check (core.authenticate): a bearer call without
    a cookie session needs none, a cookie-authenticated one does."""
    csrf.exempt(bp)
    app.register_blueprint(bp)
