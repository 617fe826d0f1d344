"""Race-morning check-in for a phone: find a runner by name or bib, one tap to check them in, undo a mistake."""
from __future__ import annotations

from datetime import datetime

from flask import current_app, flash, g, redirect, request, session, url_for
from flask_babel import gettext as _

from blueprints.auth import login_required
from blueprints.errors import abort_for_user
from blueprints.manage import bp, organizer_required
from blueprints.manage.forms import DeskWaiverForm, first_errors
from blueprints.rendering import is_fragment_request, local_minute, redirect_to, render
from blueprints.security import CAMERA_PERMISSIONS_POLICY, content_security_policy
from extensions import db
from models import Race, WaiverVersion
from services import clock
from services.ages import age_on, is_minor, local_today, race_day
from services.languages import supported
from services.permissions import managed_races
from services.registrants import checkin as checkins
from services.registrants import checkin_sync, desk_waiver, query
from services.registrants.query import Registrant
from services.runners import waiver_to_sign


def checkin_time(at: datetime | None, race: Race, now: datetime) -> str:
    """"7:42 AM" on the day, "Fri 13 Mar, 5:10 PM" for a check-in (say, at packet pick-up) on another day."""
    if at is None:
        return ""
    zone = race.tz
    same_day = at.astimezone(zone).date() == now.astimezone(zone).date()
    return local_minute(at, race.timezone, "h:mm a" if same_day else "EEE d MMM, h:mm a")


@bp.get("/checkin")
@login_required
def checkin_shortcut():
    """The app's Check-in shortcut (the manifest's): the desk of your race on now or next, else your races."""
    race = checkin_sync.desk_race(managed_races(db.session, g.user.id), clock.now())
    return redirect(url_for("manage.checkin", race_id=race.id) if race else url_for("manage.index"))


@bp.get("/races/<int:race_id>/checkin")
@organizer_required
def checkin(race: Race):
    """Race-morning check-in for a phone: find a runner by name or bib, one tap to check them in."""
    now = clock.now()
    q = query.search_text(request.args.get("q", ""), limit=100)
    response = render("manage/checkin.html", block="results", race=race, q=q, now=now,
                      results=checkins.checkin_search(db.session, race.id, q, now),
                      waiver=waiver_to_sign(db.session, race.id) if q else None,
                      counts=checkins.checkin_counts(db.session, race.id, now), checkin_time=checkin_time,
                      notes=checkin_notes())
    # The Scan button: the camera, and the QR reader's WebAssembly where the browser has no BarcodeDetector.
    response.headers["Content-Security-Policy"] = content_security_policy(current_app.config, wasm=True)
    response.headers["Permissions-Policy"] = CAMERA_PERMISSIONS_POLICY
    return response


def _checkin_answer(race: Race, registrant: Registrant, *, status: int = 200, message: str | None = None,
                    undone: bool = False):
    """The updated row (desk) or ticket block (QR link page), with the counter out of band; or a redirect."""
    now = clock.now()
    view = request.form.get("view", "desk")
    code = registrant.registration.ticket_code
    if not is_fragment_request():
        if message:  # said on the page the redirect shows, in this runner's row (or on their ticket)
            flash(message, checkin_note_category(registrant.registration.id))
        if view == "ticket":
            return redirect_to(url_for("tickets.show", code=code))
        q = _desk_query()
        return redirect_to(url_for("manage.checkin", race_id=race.id, q=q or None) + f"#reg-{registrant.registration.id}")
    context = {"race": race, "r": registrant, "message": message, "undone": undone, "now": now,
               "waiver": waiver_to_sign(db.session, race.id),
               "checkin_time": checkin_time, "counts": checkins.checkin_counts(db.session, race.id, now), "oob": True,
               "q": _desk_query()}
    if view == "ticket":
        return render("tickets/checkin.html", block="checkin", status=status, registration=registrant.registration,
                      order=registrant.order, ticket_type=registrant.ticket_type, can_check_in=True, **context)
    return render("manage/checkin.html", block="row", status=status, **context)


_NOTE = "checkin:"


def checkin_note_category(registration_id: int) -> str:
    """The flash category of what a check-in without JavaScript said of this registration (a refusal, "Already
    checked in at …", "Waiver signed"): the desk and the ticket page show it once, after the redirect."""
    return f"{_NOTE}{registration_id}"


def checkin_notes() -> dict[int, str]:
    """The check-in messages flashed for this page, by registration id (`checkin_note_category`), taken out of the
    session; any other flash stays there for its own page (Flask's get_flashed_messages would take them all: the
    cart's notices of a sign-in that lands on the desk were lost)."""
    flashed = session.get("_flashes") or []
    notes = {int(category[len(_NOTE):]): message for category, message in flashed
             if category.startswith(_NOTE) and category[len(_NOTE):].isdigit()}
    if notes:
        rest = [(category, message) for category, message in flashed if not category.startswith(_NOTE)]
        if rest:
            session["_flashes"] = rest
        else:
            session.pop("_flashes")
    return notes


def _desk_query() -> str:
    """The search the desk showed, to go back to it."""
    return query.search_text(request.values.get("q", ""), limit=100)


def _registrant_by_code_or_404(race: Race, code: str) -> Registrant:
    registrant = query.registration_by_code(db.session, race.id, code)
    if registrant is None:
        abort_for_user(404, str(checkins.NO_SUCH_TICKET))
    return registrant


@bp.post("/races/<int:race_id>/checkin/<code>")
@organizer_required
def check_in(race: Race, code: str):
    """Check a runner in by their ticket code. Twice says when the first was; a refunded ticket is refused."""
    registrant = _registrant_by_code_or_404(race, code)
    now = clock.now()
    try:
        checkins.check_in(db.session, registrant, g.user.id, now)
    except checkins.AlreadyCheckedIn as already:
        return _checkin_answer(race, registrant, status=409,
                               message=_("Already checked in at %(time)s.", time=checkin_time(already.at, race, now)))
    except checkins.CheckInRefused as refused:
        return _checkin_answer(race, registrant, status=422, message=str(refused))
    return _checkin_answer(race, registrant)


@bp.post("/races/<int:race_id>/checkin/<code>/undo")
@organizer_required
def undo_check_in(race: Race, code: str):
    """Take back a check-in made by mistake."""
    registrant = _registrant_by_code_or_404(race, code)
    checkins.undo_check_in(db.session, registrant, g.user.id, clock.now())
    return _checkin_answer(race, registrant, undone=True)


# --- signing the waiver at the desk ---------------------------------------------------------------

def _desk_waiver(race: Race, registrant: Registrant) -> tuple[WaiverVersion | None, list[str]]:
    """The waiver the runner at the desk signs and the languages the desk may show it in
    (services.registrants.desk_waiver.waiver_at_desk), given the language the desk chose, if any."""
    return desk_waiver.waiver_at_desk(db.session, race, registrant, supported(request.values.get("language")))


def _signing(race: Race, registrant: Registrant, form: DeskWaiverForm, *, status: int = 200,
             errors: dict | None = None):
    """The signing form: a page, or (htmx, at the desk) the runner's row holding it."""
    now = clock.now()
    view = "ticket" if request.values.get("view") == "ticket" else "desk"
    registration = registrant.registration
    waiver, offered = _desk_waiver(race, registrant)
    return render("manage/checkin_sign.html", block="sign", status=status, race=race, r=registrant, form=form,
                  errors=errors or {}, waiver=waiver, waiver_languages=offered, view=view, q=_desk_query(),
                  as_row=is_fragment_request() and view == "desk", now=now,
                  minor=is_minor(registration.date_of_birth, local_today(race, now)),
                  age=age_on(registration.date_of_birth, race_day(race)) if registration.date_of_birth else None)


@bp.get("/races/<int:race_id>/checkin/<code>/sign")
@organizer_required
def sign_waiver_at_checkin(race: Race, code: str):
    """A runner who hasn't signed the waiver signs it on the organizer's phone: their typed name, then checked in."""
    registrant = _registrant_by_code_or_404(race, code)
    return _signing(race, registrant, DeskWaiverForm(formdata=None))


@bp.post("/races/<int:race_id>/checkin/<code>/sign")
@organizer_required
def sign_and_check_in(race: Race, code: str):
    """Record the waiver as signed at check-in and check the runner in; a wrong name is refused beside its field."""
    registrant = _registrant_by_code_or_404(race, code)
    form = DeskWaiverForm()
    now = clock.now()
    if not form.validate():
        return _signing(race, registrant, form, status=422, errors=first_errors(form))
    try:
        desk_waiver.sign_and_check_in(db.session, race, registrant, _desk_waiver(race, registrant)[0],
                                      form.signed(), g.user.id, now, request.remote_addr or "")
    except desk_waiver.SignatureRefused as refused:
        return _signing(race, _registrant_by_code_or_404(race, code), form, status=422, errors=refused.problems)
    except checkins.AlreadyCheckedIn as already:
        return _checkin_answer(race, _registrant_by_code_or_404(race, code), status=409,
                               message=_("Already checked in at %(time)s.", time=checkin_time(already.at, race, now)))
    except checkins.CheckInRefused as refused:
        return _checkin_answer(race, _registrant_by_code_or_404(race, code), status=422, message=str(refused))
    return _checkin_answer(race, registrant, message=_("Waiver signed. Checked in."))
