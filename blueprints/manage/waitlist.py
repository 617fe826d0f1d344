"""The race's waitlist for its organizers: each ticket type's line, removing someone, offering by hand,
and pausing the automatic offers."""
from __future__ import annotations

from flask import request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext

from blueprints.lookups import owned_or_404
from blueprints.manage import bp, organizer_required
from blueprints.rendering import is_fragment_request, redirect_to, render
from extensions import db
from models import Race, WaitlistEntry
from services import clock
from services import waitlist as waitlist_service
from services.waitlist import ActionRefused


def _context(race: Race, notice: str | None = None, message: str | None = None) -> dict:
    now = clock.now()
    return {"race": race, "lines": waitlist_service.race_lines(db.session, race, now), "now": now,
            "notice": notice, "message": message}


def _section(race: Race, *, status: int = 200, **context):
    """After a change: the page again (a redirect without JavaScript), or its section for htmx."""
    if not is_fragment_request() and status < 400:
        return redirect_to(url_for("manage.waitlist", race_id=race.id))
    return render("manage/waitlist.html", block="waitlist_section", status=status, **_context(race, **context))


def _entry_or_404(race: Race, entry_id: int) -> WaitlistEntry:
    return owned_or_404(WaitlistEntry, entry_id, _("That person isn't on this race's waitlist."), race_id=race.id)


@bp.get("/races/<int:race_id>/waitlist")
@organizer_required
def waitlist(race: Race):
    """Each ticket type's line: position, who, when they joined, how many spots, and their offer."""
    return render("manage/waitlist.html", block="waitlist_section", **_context(race))


@bp.post("/races/<int:race_id>/waitlist/pause")
@organizer_required
def pause_waitlist(race: Race):
    """Stop (paused=1) or restart (paused=0) the automatic offers for the race."""
    paused = request.form.get("paused", "")
    if paused not in ("0", "1"):
        return _section(race, status=400, message=_("Choose to pause or to resume the offers."))
    waitlist_service.set_paused(db.session, race, paused == "1")
    return _section(race, notice=_("Offers are paused: nobody gets a new offer until you resume.") if race.waitlist_paused
                    else _("Offers are on: freed spots go to the next in line within a minute."))


@bp.post("/races/<int:race_id>/waitlist/<int:entry_id>/remove")
@organizer_required
def remove_from_waitlist(race: Race, entry_id: int):
    """Take someone off the list; an offer they hold goes to the next in line."""
    entry = _entry_or_404(race, entry_id)
    try:
        waitlist_service.remove(db.session, entry)
    except ActionRefused as refused:
        return _section(race, status=409, message=refused.message)
    return _section(race, notice=_("%(name)s is off the waitlist.", name=entry.name))


@bp.post("/races/<int:race_id>/waitlist/<int:entry_id>/offer")
@organizer_required
def offer_from_waitlist(race: Race, entry_id: int):
    """Offer free spots to this person now, wherever they are in line."""
    entry = _entry_or_404(race, entry_id)
    try:
        spots = waitlist_service.offer_by_hand(db.session, entry, clock.now())
    except ActionRefused as refused:
        return _section(race, status=409, message=refused.message)
    return _section(race, notice=ngettext("Offered %(num)d spot to %(name)s; we've emailed them.",
                                             "Offered %(num)d spots to %(name)s; we've emailed them.", spots, name=entry.name))
