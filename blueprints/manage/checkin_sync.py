"""The check-in page's script talks JSON: the roster it keeps for offline use, and the taps it syncs later."""
from __future__ import annotations

import functools

from flask import g, jsonify, request
from flask_wtf.csrf import generate_csrf

from blueprints.manage import bp, organizer_required
from blueprints.rendering import render_error_json
from extensions import db
from models import Race
from services import clock
from services.registrants import checkin_sync

MAX_BODY = 256 * 1024  # 500 items of ~150 bytes fit many times over


def organizer_json(view):
    """organizer_required for a script: a signed-out browser gets a 401 it can act on (wipe the roster),
    not a redirect to the sign-in page."""
    guarded = organizer_required(view)

    @functools.wraps(view)
    def wrapped(race_id: int, **kwargs):
        if g.get("user") is None:
            return render_error_json("You're signed out. Sign in again to check runners in.", 401)
        return guarded(race_id=race_id, **kwargs)

    return wrapped


@bp.get("/races/<int:race_id>/checkin/roster.json")
@organizer_json
def checkin_roster(race: Race):
    """Every ticket of the race for the check-in page to keep offline; 304 when the device has it already."""
    roster = checkin_sync.roster(db.session, race)
    # With a CSRF token of the session as it is now: a page left open while its user signed in again in another
    # tab syncs with this one (it is not part of the ETag: a 304 leaves the page its token).
    response = jsonify({**{key: value for key, value in roster.items() if key != "etag"}, "csrf_token": generate_csrf()})
    response.set_etag(roster["etag"])
    response.headers["Cache-Control"] = "private, no-cache"
    return response.make_conditional(request)


@bp.post("/races/<int:race_id>/checkin/sync")
@organizer_json
def checkin_sync_batch(race: Race):
    """Apply the check-ins and undos a phone made (offline perhaps); answer each item and the runners' state."""
    if (request.content_length or 0) > MAX_BODY:
        return render_error_json(f"Send at most {checkin_sync.MAX_ITEMS} items at a time.", 413)
    payload = request.get_json(silent=True)
    if payload is None:
        return render_error_json("Send the check-ins as JSON (Content-Type: application/json).", 400)
    try:
        items = checkin_sync.parse_items(payload)
    except checkin_sync.BadBatch as bad:
        return render_error_json(str(bad), bad.status)
    result = checkin_sync.apply_batch(db.session, race, g.user.id, items, clock.now())
    return jsonify(result.as_json())
