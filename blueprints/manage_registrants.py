"""Organizer pages for race week and race morning: registrants (search, filters, CSV, edits, bibs) and check-in."""
from __future__ import annotations

import csv
import io
from datetime import datetime
from urllib.parse import urlsplit

from flask import Response, g, request, stream_with_context, url_for
from wtforms.fields.choices import SelectChoice

from blueprints.cart_forms import RunnerDetailsForm
from blueprints.errors import abort_for_user
from blueprints.manage import bp, organizer_required
from blueprints.rendering import is_fragment_request, local_time, redirect_to, render
from extensions import db
from models import Race
from services import clock
from services import registrants as service
from services.registrants import (
    AlreadyCheckedIn,
    BadFilter,
    BibRefused,
    CheckInRefused,
    Registrant,
    RegistrantFilters,
    RegistrantRefused,
)
from services.runners import GENDERS, age_on, race_day


def _htmx() -> bool:
    return request.headers.get("HX-Request") == "true"


def _local_next(default: str) -> str:
    """Where a form without JavaScript goes back to: a local path it named, else `default`."""
    target = request.form.get("next", "")
    parts = urlsplit(target)
    if target.startswith("/") and not target.startswith("//") and not parts.scheme and not parts.netloc:
        return target
    return default


def checkin_time(at: datetime | None, race: Race, now: datetime) -> str:
    """"7:42 AM" on the day, "Fri 13 Mar, 5:10 PM" for a check-in (say, at packet pick-up) on another day."""
    if at is None:
        return ""
    same_day = at.astimezone(race.tz).date() == now.astimezone(race.tz).date()
    return local_time(at, race.timezone, "h:mm a" if same_day else "EEE d MMM, h:mm a")


def _registrant_or_404(race: Race, registration_id: int) -> Registrant:
    registrant = service.registration_for_race(db.session, race.id, registration_id)
    if registrant is None:
        abort_for_user(404, "That registrant isn't part of this race.")
    return registrant


# --- the registrant list -------------------------------------------------------------------

def _filters() -> RegistrantFilters:
    try:
        return RegistrantFilters.from_args(request.args)
    except BadFilter as problem:
        abort_for_user(400, str(problem))


def _list_context(race: Race, filters: RegistrantFilters, now: datetime) -> dict:
    ticket_types = service.race_ticket_types(db.session, race.id)
    if filters.ticket is not None and filters.ticket not in {t.id for t in ticket_types}:
        abort_for_user(400, "That ticket type isn't part of this race.")
    return {
        "race": race, "filters": filters, "page": service.registrant_page(db.session, race.id, filters, now),
        "ticket_types": ticket_types, "waivers": service.race_waivers(db.session, race.id),
        "statuses": service.STATUSES, "now": now, "checkin_time": checkin_time,
        "bibs_message": None, "bibs_error": None, "bibs_values": {},
    }


@bp.get("/races/<int:race_id>/registrants")
@organizer_required
def registrants(race: Race):
    """Everyone registered: search as you type, filter, sort, page through; the list is a bookmarkable URL."""
    now = clock.now()
    return render("manage/registrants.html", block="results", **_list_context(race, _filters(), now))


@bp.get("/races/<int:race_id>/registrants.csv")
@organizer_required
def registrants_csv(race: Race):
    """The registrants the current filters show, every field, as a spreadsheet-safe UTF-8 CSV, streamed."""
    filters = _filters()
    now = clock.now()

    def lines():
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        buffer.write("\ufeff")  # the byte order mark makes Excel read UTF-8, so accents survive
        writer.writerow(service.CSV_HEADER)
        for n, row in enumerate(service.csv_rows(db.session, race, filters, now), start=1):
            writer.writerow([service.spreadsheet_safe(cell) for cell in row])
            if n % 200 == 0:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()

    today = now.astimezone(race.tz).date().isoformat()
    response = Response(stream_with_context(lines()), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{race.slug}-registrants-{today}.csv"'
    response.headers["Cache-Control"] = "private, no-store"
    return response


# --- one registrant ------------------------------------------------------------------------

class RegistrantForm(RunnerDetailsForm):
    """An organizer's correction of a runner's details; the rules are services.registrants.edit_problems."""

    def bind(self, race: Race, registrant: Registrant) -> RegistrantForm:
        registration = registrant.registration
        genders = list(GENDERS) + ([registration.gender] if registration.gender and registration.gender not in GENDERS else [])
        sizes = race.tshirt_size_list + ([registration.tshirt_size] if registration.tshirt_size
                                         and registration.tshirt_size not in race.tshirt_size_list else [])
        self.gender.choices = [SelectChoice("", "Not given")] + [SelectChoice(x, x) for x in genders]
        self.tshirt_size.choices = [SelectChoice("", "No shirt")] + [SelectChoice(x, x) for x in sizes]
        return self

    @classmethod
    def of(cls, race: Race, registrant: Registrant) -> RegistrantForm:
        r = registrant.registration
        return cls(formdata=None, data={name: getattr(r, name) for name in service.EDITABLE}).bind(race, registrant)

    def values(self) -> dict:
        return {name: (self[name].data if name == "date_of_birth" else (self[name].data or ""))
                for name in service.EDITABLE}


def _detail(race: Race, registrant: Registrant, *, block: str = "content", status: int = 200,
            form: RegistrantForm | None = None, errors: dict | None = None, saved: list | None = None,
            bib_error: str | None = None, bib_value: str | None = None):
    now = clock.now()
    registration = registrant.registration
    born = registration.date_of_birth
    return render("manage/registrant.html", block=block, status=status, race=race, r=registrant, now=now,
                  form=form or RegistrantForm.of(race, registrant), errors=errors or {}, saved=saved,
                  audits=service.audit_lines(db.session, registration),
                  age=age_on(born, race_day(race)) if born else None, labels=service.FIELD_LABELS,
                  checkin_time=checkin_time, bib_error=bib_error,
                  bib_value=bib_value if bib_value is not None else (registration.bib or ""))


@bp.get("/races/<int:race_id>/registrants/<int:registration_id>")
@organizer_required
def registrant(race: Race, registration_id: int):
    """One registrant: every field, the waiver exactly as signed, and who changed what."""
    return _detail(race, _registrant_or_404(race, registration_id))


@bp.post("/races/<int:race_id>/registrants/<int:registration_id>")
@organizer_required
def edit_registrant(race: Race, registration_id: int):
    """Correct a runner's details (a typo, a T-shirt swap); each change is written to the audit trail."""
    registrant = _registrant_or_404(race, registration_id)
    form = RegistrantForm().bind(race, registrant)
    errors = {} if form.validate() else {name: messages[0] for name, messages in form.errors.items() if messages}
    if not errors:
        try:
            changed = service.update_registrant(db.session, race, registrant.registration, form.values(), g.user.id,
                                                clock.now())
        except RegistrantRefused as refused:
            errors = refused.problems
    if errors:
        db.session.rollback()
        return _detail(race, _registrant_or_404(race, registration_id), block="details", status=422, form=form,
                       errors=errors)
    db.session.commit()
    if not is_fragment_request():
        return redirect_to(url_for("manage.registrant", race_id=race.id, registration_id=registration_id))
    return _detail(race, registrant, block="details", saved=changed)


@bp.post("/races/<int:race_id>/registrants/<int:registration_id>/bib")
@organizer_required
def set_bib(race: Race, registration_id: int):
    """Give one runner a bib number (or clear it); a number already taken is refused with who has it."""
    registrant = _registrant_or_404(race, registration_id)
    typed = request.form.get("bib", "")[:20]
    try:
        changed = service.set_bib(db.session, race.id, registrant, service.parse_bib(typed), g.user.id, clock.now())
    except BibRefused as refused:
        db.session.rollback()
        if not _htmx():
            return _detail(race, _registrant_or_404(race, registration_id), status=422, bib_error=str(refused),
                           bib_value=typed)
        return render("manage/_bib_form.html", block="bib", status=422, race=race, registration=registrant.registration,
                      bib_value=typed, bib_error=str(refused), bib_saved=False, next_url=_local_next(""))
    db.session.commit()
    if not _htmx():
        return redirect_to(_local_next(url_for("manage.registrant", race_id=race.id, registration_id=registration_id)))
    return render("manage/_bib_form.html", block="bib", race=race, registration=registrant.registration,
                  bib_value=registrant.registration.bib or "", bib_error=None, bib_saved=changed,
                  next_url=_local_next(""))


@bp.post("/races/<int:race_id>/bibs")
@organizer_required
def assign_bibs(race: Race):
    """Number every paid runner of one ticket type who has no bib yet from a range, all at once or not at all."""
    now = clock.now()
    values = {name: request.form.get(name, "").strip()[:20] for name in ("ticket_type", "first", "last")}
    ticket_types = {str(t.id): t for t in service.race_ticket_types(db.session, race.id)}
    ticket_type = ticket_types.get(values["ticket_type"])
    try:
        if ticket_type is None:
            raise BibRefused("Pick the ticket type to number.")
        if not (service.is_whole_number(values["first"]) and service.is_whole_number(values["last"])):
            raise BibRefused("Enter the first and last bib of the range as whole numbers, like 1000 and 1999.")
        done = service.assign_bibs(db.session, race.id, ticket_type, int(values["first"]), int(values["last"]),
                                   g.user.id, now)
    except BibRefused as refused:
        db.session.rollback()
        context = _list_context(race, RegistrantFilters(), now)
        context.update(bibs_error=str(refused), bibs_values=values)
        return render("manage/registrants.html", block="bibs", status=422, **context)
    db.session.commit()
    if not _htmx():
        return redirect_to(url_for("manage.registrants", race_id=race.id, ticket=ticket_type.id, sort="bib"))
    context = _list_context(race, RegistrantFilters(), now)
    context["bibs_message"] = (f"Gave 1 {ticket_type.name} runner bib {done.first}." if done.count == 1 else
                               f"Gave {done.count} {ticket_type.name} runners bibs {done.first}–{done.last}.")
    response = render("manage/registrants.html", block="bibs", **context)
    response.headers["HX-Trigger"] = "registrants-changed"  # the list below refreshes itself
    return response


# --- check-in ------------------------------------------------------------------------------

@bp.get("/races/<int:race_id>/checkin")
@organizer_required
def checkin(race: Race):
    """Race-morning check-in for a phone: find a runner by name or bib, one tap to check them in."""
    now = clock.now()
    q = service.search_text(request.args.get("q", ""), limit=100)
    return render("manage/checkin.html", block="results", race=race, q=q, now=now,
                  results=service.checkin_search(db.session, race.id, q, now),
                  counts=service.checkin_counts(db.session, race.id, now), checkin_time=checkin_time)


def _checkin_answer(race: Race, registrant: Registrant, *, status: int = 200, message: str | None = None,
                    undone: bool = False):
    """The updated row (desk) or ticket block (QR link page), with the counter out of band; or a redirect."""
    now = clock.now()
    view = request.form.get("view", "desk")
    code = registrant.registration.ticket_code
    if not _htmx():
        if view == "ticket":
            return redirect_to(url_for("tickets.show", code=code))
        q = request.form.get("q", "")[:100]
        return redirect_to(url_for("manage.checkin", race_id=race.id, q=q or None) + f"#reg-{registrant.registration.id}")
    context = {"race": race, "r": registrant, "message": message, "undone": undone, "now": now,
               "checkin_time": checkin_time, "counts": service.checkin_counts(db.session, race.id, now), "oob": True,
               "q": request.form.get("q", "")[:100]}
    if view == "ticket":
        return render("tickets/checkin.html", block="checkin", status=status, registration=registrant.registration,
                      order=registrant.order, ticket_type=registrant.ticket_type, can_check_in=True, **context)
    return render("manage/checkin.html", block="row", status=status, **context)


def _registrant_by_code_or_404(race: Race, code: str) -> Registrant:
    registrant = service.registration_by_code(db.session, race.id, code)
    if registrant is None:
        abort_for_user(404, "There's no ticket with that code for this race.")
    return registrant


@bp.post("/races/<int:race_id>/checkin/<code>")
@organizer_required
def check_in(race: Race, code: str):
    """Check a runner in by their ticket code. Twice says when the first was; a refunded ticket is refused."""
    registrant = _registrant_by_code_or_404(race, code)
    now = clock.now()
    try:
        service.check_in(db.session, registrant, g.user.id, now)
    except AlreadyCheckedIn as already:
        db.session.rollback()
        return _checkin_answer(race, registrant, status=409,
                               message=f"Already checked in at {checkin_time(already.at, race, now)}.")
    except CheckInRefused as refused:
        db.session.rollback()
        return _checkin_answer(race, registrant, status=422, message=str(refused))
    db.session.commit()
    return _checkin_answer(race, registrant)


@bp.post("/races/<int:race_id>/checkin/<code>/undo")
@organizer_required
def undo_check_in(race: Race, code: str):
    """Take back a check-in made by mistake."""
    registrant = _registrant_by_code_or_404(race, code)
    service.undo_check_in(db.session, registrant, g.user.id, clock.now())
    db.session.commit()
    return _checkin_answer(race, registrant, undone=True)
