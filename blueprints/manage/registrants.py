"""Registrants for race week: the list (search, filters, CSV), one registrant's page, corrections and bibs."""
from __future__ import annotations

from datetime import datetime

from flask import Response, current_app, g, request, stream_with_context, url_for
from flask_babel import get_locale, ngettext
from flask_babel import gettext as _
from flask_wtf.csrf import generate_csrf
from jinja2_fragments.flask import render_block
from markupsafe import Markup

from blueprints.auth import safe_next
from blueprints.errors import abort_for_user
from blueprints.manage import bp, organizer_required
from blueprints.manage.checkin import checkin_time
from blueprints.manage.forms import RegistrantForm, first_errors
from blueprints.rendering import is_fragment_request, redirect_to, render
from extensions import db
from models import Race
from services import clock, runner_invites
from services.ages import age_on, race_day
from services.page_cache import app_cache
from services.registrants import bibs, choices, edits, export, list_cache, listing, query
from services.registrants.query import Registrant, RegistrantFilters
from services.registrants.search import SEARCH_CAP
from services.registration_changes.panel import change_panel


def _registrant_or_404(race: Race, registration_id: int) -> Registrant:
    registrant = query.registration_for_race(db.session, race.id, registration_id)
    if registrant is None:
        abort_for_user(404, _("That registrant isn't part of this race."))
    return registrant


# --- the registrant list -------------------------------------------------------------------

def _refuse_foreign_ticket(filters: RegistrantFilters, ticket_type_ids) -> None:
    try:
        choices.refuse_foreign_ticket(filters, ticket_type_ids)
    except query.BadFilter as problem:
        abort_for_user(400, str(problem))


def _export_filters(race: Race) -> RegistrantFilters:
    """The list's filters for a CSV of it, refused as the list refuses them."""
    filters = _filters()
    _refuse_foreign_ticket(filters, [t.id for t in query.race_ticket_types(db.session, race.id)])
    return filters


def _filters() -> RegistrantFilters:
    try:
        return RegistrantFilters.from_args(request.args)
    except query.BadFilter as problem:
        abort_for_user(400, str(problem))


def _list_context(race: Race, filters: RegistrantFilters, now: datetime, *, results: bool = True) -> dict:
    """What the list page renders; without `results`, not its results block (a response of the bib range's block)."""
    ticket_types, waivers = choices.race_choices(db.session, race.id)
    _refuse_foreign_ticket(filters, [t.id for t in ticket_types])
    # The status names translated once for the page (a lazy one is translated each time it is written), the
    # filter's and each row's badge ("Pending" rather than "Pending payment").
    statuses = {name: str(label) for name, label in query.STATUSES.items()}
    context = {
        "race": race, "filters": filters, "ticket_types": ticket_types, "waivers": waivers,
        "statuses": statuses, "details_choices": query.DETAILS, "now": now, "checkin_time": checkin_time,
        "row_statuses": {**statuses, "pending": _("Pending")},
        "search_cap": SEARCH_CAP,
        "bibs_message": None, "bibs_error": None, "bibs_values": {},
    }
    if results:
        context["results_html"] = _results(context)
    return context


def _results(context: dict) -> Markup:
    """The list's results block (counts, rows, pages): as stored for the race's list version, or read and rendered
    now (and stored when the list has settled), with this visitor's CSRF token in the rows' bib forms."""
    race, filters, now = context["race"], context["filters"], context["now"]
    config = current_app.config  # the rendered registrant results (services/registrants/list_cache.py)
    cache = app_cache(current_app.extensions, "registrant_list_cache", config["REGISTRANT_CACHE_SECONDS"],
                      config["REGISTRANT_CACHE_SIZE"])
    key = name = None
    if cache.max_age > 0 and cache.size > 0:
        version = list_cache.list_version(db.session, race.id, now)
        if version is not None:
            name = (race.id, filters, str(get_locale()))
            key = (version, race.version, race.timezone, now.astimezone(race.tz).date(),
                   tuple(context["ticket_types"]), tuple(context["waivers"]))
    stored = cache.get(name, key) if key is not None else None
    if stored is None:
        page = listing.registrant_page(db.session, race.id, filters, now, ticket_types=context["ticket_types"],
                                       waivers=context["waivers"])
        html = render_block("manage/registrants.html", "results", **context, page=page,
                            results_csrf=list_cache.CSRF_STAND_IN)
        if key is not None:  # as UTF-8: a str with one character past U+00FF (the sort arrows) takes 2 bytes each
            cache.put(name, key, html.encode(), etag="")
    else:
        html = stored.body.decode()
    if list_cache.CSRF_STAND_IN in html:  # only a page with rows has bib forms
        html = html.replace(list_cache.CSRF_STAND_IN, generate_csrf())
    return Markup(html)


@bp.get("/races/<int:race_id>/registrants")
@organizer_required
def registrants(race: Race):
    """Everyone registered: search as you type, filter, sort, page through; the list is a bookmarkable URL."""
    now = clock.now()
    return render("manage/registrants.html", block="results", **_list_context(race, _filters(), now))


def _csv_download(race: Race, chunks, name: str) -> Response:
    response = Response(stream_with_context(chunks), mimetype="text/csv")
    today = clock.now().astimezone(race.tz).date().isoformat()
    response.headers["Content-Disposition"] = f'attachment; filename="{race.slug}-{name}-{today}.csv"'
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.get("/races/<int:race_id>/registrants.csv")
@organizer_required
def registrants_csv(race: Race):
    """The registrants the current filters show, every field, as a spreadsheet-safe UTF-8 CSV, streamed."""
    return _csv_download(race, export.csv_chunks(db.session, race, _export_filters(race), clock.now()), "registrants")


@bp.get("/races/<int:race_id>/registrants-timing.csv")
@organizer_required
def registrants_timing_csv(race: Race):
    """The paid runners the other filters show, by bib, with raw values in the columns timing programs import."""
    return _csv_download(race, export.timing_chunks(db.session, race, _export_filters(race), clock.now()), "timing")


# --- one registrant ------------------------------------------------------------------------

def _detail(race: Race, registrant: Registrant, *, block: str = "content", status: int = 200,
            form: RegistrantForm | None = None, errors: dict | None = None, saved: list | None = None,
            bib_error: str | None = None, bib_value: str | None = None, invite_error: str | None = None,
            invite_sent: bool = False, change_errors: dict | None = None, change_message: str | None = None,
            change_values: dict | None = None):
    now = clock.now()
    registration = registrant.registration
    born = registration.date_of_birth
    return render("manage/registrant.html", block=block, status=status, race=race, r=registrant, now=now,
                  form=form or RegistrantForm.of(race, registrant), errors=errors or {}, saved=saved,
                  editable=edits.EDITABLE, invite_error=invite_error, invite_sent=invite_sent,
                  audits=edits.audit_lines(db.session, registration),
                  age=age_on(born, race_day(race)) if born else None, labels=edits.FIELD_LABELS,
                  checkin_time=checkin_time, bib_error=bib_error,
                  change_panel=change_panel(db.session, registration, now, by_organizer=True),
                  head_oob=block == "details" and is_fragment_request(),
                  change_errors=change_errors or {}, change_message=change_message, change_values=change_values or {},
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
    errors = {} if form.validate() else first_errors(form)
    if errors.get("opened"):  # a form without the version it was opened with (one from before it had one)
        return _changed_since(race, registration_id, edits.DetailsChanged.unversioned)
    if not errors:
        try:
            changed = edits.update_registrant(db.session, race, registrant.registration, registrant.ticket_type,
                                              form.values(), g.user.id, clock.now(), opened=form.opened.data)
        except edits.RegistrantRefused as refused:
            errors = refused.problems
        except edits.DetailsChanged:
            return _changed_since(race, registration_id, edits.DetailsChanged.message)
    if errors:
        return _detail(race, _registrant_or_404(race, registration_id), block="details", status=422, form=form,
                       errors=errors)
    if not is_fragment_request():
        return redirect_to(url_for("manage.registrant", race_id=race.id, registration_id=registration_id))
    return _detail(race, registrant, block="details", saved=changed)


def _changed_since(race: Race, registration_id: int, why) -> Response:
    """The details as they are now, in a fresh form, saying `why` the form sent was not saved (409)."""
    return _detail(race, _registrant_or_404(race, registration_id), block="details", status=409,
                   errors={"form": str(why)})


@bp.post("/races/<int:race_id>/registrants/<int:registration_id>/resend-invite")
@organizer_required
def resend_runner_invite(race: Race, registration_id: int):
    """Send a runner who hasn't filled in their own details their personal link again."""
    registrant = _registrant_or_404(race, registration_id)
    registration = registrant.registration
    if not registration.awaiting_runner:  # the button is only on their page while they haven't
        abort_for_user(409, _("%(name)s has already filled in their details, so there is no link to send.",
                              name=registration.runner_name) if registration.runner_name else
                       _("This runner has already filled in their details, so there is no link to send."))
    try:
        runner_invites.resend_invite(db.session, registration, clock.now())
    except runner_invites.ResendRefused as refused:
        return _detail(race, _registrant_or_404(race, registration_id), block="invite", status=422,
                       invite_error=refused.message)
    if not is_fragment_request():
        return redirect_to(url_for("manage.registrant", race_id=race.id, registration_id=registration_id))
    return _detail(race, _registrant_or_404(race, registration_id), block="invite", invite_sent=True)


def _bib_next(default: str) -> str:
    """Where a bib form without JavaScript goes back to: the local page it named, else `default`."""
    return safe_next(request.form.get("next"), default)


@bp.post("/races/<int:race_id>/registrants/<int:registration_id>/bib")
@organizer_required
def set_bib(race: Race, registration_id: int):
    """Give one runner a bib number (or clear it); a number already taken is refused with who has it."""
    registrant = _registrant_or_404(race, registration_id)
    typed = request.form.get("bib")
    if typed is None:  # a form that says nothing of the bib is no reason to take it away (an empty box is)
        abort_for_user(400, _("The form sent no bib number. Reload the page and try again."))
    try:
        changed = bibs.set_bib(db.session, race.id, registrant, typed, g.user.id, clock.now())
    except bibs.BibRefused as refused:
        if not is_fragment_request():
            return _detail(race, _registrant_or_404(race, registration_id), status=422, bib_error=str(refused),
                           bib_value=typed[:20])
        return render("manage/_bib_form.html", block="bib", status=422, race=race, registration=registrant.registration,
                      bib_value=typed[:20], bib_error=str(refused), bib_saved=False, next_url=_bib_next(""))
    if not is_fragment_request():
        return redirect_to(_bib_next(url_for("manage.registrant", race_id=race.id, registration_id=registration_id)))
    return render("manage/_bib_form.html", block="bib", race=race, registration=registrant.registration,
                  bib_value=registrant.registration.bib or "", bib_error=None, bib_saved=changed,
                  next_url=_bib_next(""))


@bp.post("/races/<int:race_id>/bibs")
@organizer_required
def assign_bibs(race: Race):
    """Number every paid runner of one ticket type who has no bib yet from a range, all at once or not at all."""
    now = clock.now()
    typed = {name: request.form.get(name, "").strip()[:20] for name in ("ticket_type", "first", "last")}
    try:
        done = bibs.assign_bibs(db.session, race.id, typed, g.user.id, now)
    except bibs.BibRefused as refused:
        context = _list_context(race, RegistrantFilters(), now, results=not is_fragment_request())
        context.update(bibs_error=str(refused), bibs_values=typed)
        return render("manage/registrants.html", block="bibs", status=422, **context)
    if not is_fragment_request():
        return redirect_to(url_for("manage.registrants", race_id=race.id, ticket=done.ticket_type.id, sort="bib"))
    name = done.ticket_type.name
    context = _list_context(race, RegistrantFilters(), now, results=False)  # the list refreshes itself (below)
    # A range always numbers two or more (the plural's singular serves languages where 21 is singular).
    context["bibs_message"] = (_("Gave 1 %(name)s runner bib %(first)s.", name=name, first=done.first)
                               if done.count == 1 else
                               ngettext("Gave %(num)d %(name)s runner bibs %(first)s–%(last)s.",
                                        "Gave %(num)d %(name)s runners bibs %(first)s–%(last)s.", done.count,
                                        name=name, first=done.first, last=done.last))
    response = render("manage/registrants.html", block="bibs", **context)
    response.headers["HX-Trigger"] = "registrants-changed"  # the list below refreshes itself
    return response
