"""The API for race-day check-in on an organizer's phone, offline when need be (static/js/checkin-offline.js calls
it with the page's cookies and CSRF token; a native app with its bearer token): the roster the device keeps,
and the batch of check-ins and undos it made, applied by services/registrants/checkin_sync.py. Organizers of
the race only; anyone else gets 404."""
from __future__ import annotations

from flask import g, request
from flask_babel import gettext as _
from flask_babel import lazy_ngettext
from flask_wtf.csrf import generate_csrf
from spectree import Response

from blueprints.api.core import bearer_token, bp, field_problems, managed_race, refuse_bad_input, signed_in, spec
from blueprints.api.schemas import CheckInBatch, CheckInResults, Problem, Roster
from blueprints.problems import ApiProblem
from blueprints.security import carries_session
from extensions import db
from services import clock
from services.registrants import checkin_sync

MAX_BODY = 256 * 1024  # 500 items of ~150 bytes fit many times over
TOO_MANY = lazy_ngettext("Send at most %(num)d item at a time.", "Send at most %(num)d items at a time.",
                         checkin_sync.MAX_ITEMS)
ORGANIZERS_ONLY = dict(tags=["check-in"], security={"bearer": []})


def _refuse_bad_batch(req, resp, error, instance, *rest) -> None:
    """A batch too big is a 413; one that doesn't fit its schema a 422 saying, as the service does, which item
    is wrong and how (and, field by field, what the schema found)."""
    if (request.content_length or 0) > MAX_BODY:
        raise ApiProblem(413, TOO_MANY)
    if error is None:
        return
    try:
        checkin_sync.parse_items(request.get_json(silent=True))
    except checkin_sync.BadBatch as bad:
        raise ApiProblem(bad.status, str(bad), errors=None if bad.status == 413 else field_problems(error)) from None
    refuse_bad_input(req, resp, error, instance, *rest)


def _page_csrf_headers() -> dict[str, str]:
    """For the check-in page's script (a cookie session): the session's CSRF token as it is now, so a page left
    open while its user signed in again in another tab syncs with it. Not in the body, so not in the ETag."""
    return {"X-CSRFToken": generate_csrf()} if bearer_token() is None and carries_session() else {}


@bp.get("/v1/races/<slug>/roster")
@signed_in
@spec.validate(resp=Response("HTTP_304", HTTP_200=Roster, HTTP_401=Problem, HTTP_404=Problem), **ORGANIZERS_ONLY)
def checkin_roster(slug: str):
    """Every ticket of the race for a device to check runners in offline: paid ones, refunded ones to turn
    away, the desk's messages, and the day to forget it. Send the ETag back in If-None-Match: 304 when unchanged."""
    race = managed_race(slug)
    roster = checkin_sync.roster(db.session, race)
    del roster["etag"]  # the API's own ETag is of the body
    return Roster.model_validate(roster), 200, _page_csrf_headers()


@bp.post("/v1/races/<slug>/check-ins")
@signed_in
@spec.validate(json=CheckInBatch, resp=Response(HTTP_200=CheckInResults, HTTP_400=Problem, HTTP_401=Problem,
                                                HTTP_404=Problem, HTTP_413=Problem, HTTP_415=Problem,
                                                HTTP_422=Problem),
               before=_refuse_bad_batch, **ORGANIZERS_ONLY)
def check_ins(slug: str, json: CheckInBatch):
    """Apply the check-ins and undos a device made (offline perhaps), each once however often it is sent (by
    its `id`): the first check-in's time stands, a later undo takes it back. Answers each item, with the desk's
    words, and the named runners' state now."""
    race = managed_race(slug)
    if json is None:  # a form-encoded body, which spectree leaves unread
        raise ApiProblem(415, _("Send the check-ins as JSON (Content-Type: application/json)."))
    try:
        items = checkin_sync.parse_items(json.model_dump(mode="json"))
    except checkin_sync.BadBatch as bad:  # the schema let through what the rule refuses
        raise ApiProblem(bad.status, str(bad)) from None
    result = checkin_sync.apply_batch(db.session, race, g.user.id, items, clock.now())
    return CheckInResults.model_validate(result.as_json())
