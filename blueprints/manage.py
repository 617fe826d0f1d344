"""Organizer pages: their races, creating one, and the race editor that saves as you type."""
from __future__ import annotations

import functools
import json
from datetime import date, datetime

from flask import Blueprint, abort, current_app, g, request, url_for
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import DateField, SelectField, StringField
from wtforms.validators import DataRequired, InputRequired, Length

from blueprints.auth import login_required
from blueprints.errors import abort_for_user
from blueprints.manage_forms import GROUPS, FieldGroup, choices, submitted_values, timezone_choices
from blueprints.rendering import local_time, redirect_to, render
from extensions import db
from models import SOCIAL_KINDS, MediaKind, Race, RaceMedia, TicketType
from services import clock, race_editing
from services.inventory import taken_counts
from services.media import MediaError, delete_race_image, save_race_image
from services.money import CURRENCIES, format_money, to_minor
from services.permissions import can_manage, managed_races
from services.storage import StorageError, storage_for

bp = Blueprint("manage", __name__, url_prefix="/manage")


def organizer_required(view):
    """Load the race named by `race_id` for one of its organizers; everyone else is turned away.

    Every route under /manage/races/<race_id> goes through this one check.
    """

    @functools.wraps(view)
    @login_required
    def wrapped(race_id: int, **kwargs):
        race = db.session.get(Race, race_id)
        if race is None:
            abort_for_user(404, "There's no race with that number.")
        if not can_manage(db.session, race.id, g.user.id):
            abort_for_user(403, "Only this race's organizers can manage it.")
        return view(race, **kwargs)

    return wrapped


# --- the organizer's races ----------------------------------------------------------------

class NewRaceForm(FlaskForm):
    title = StringField("Race name", validators=[DataRequired("Give the race a name."), Length(max=120)])
    day = DateField("Race day", validators=[InputRequired("Pick the race day.")],
                    invalid_value_message="Enter a real date, like 2027-05-02.")
    timezone = SelectField("Time zone", validate_choice=False)
    currency = SelectField("Currency", choices=choices((c, c) for c in CURRENCIES))

    def validate_timezone(self, field):
        from wtforms.validators import ValidationError

        from blueprints.manage_forms import TIMEZONES
        if field.data not in TIMEZONES:
            raise ValidationError("Pick a time zone from the list.")

    def validate_day(self, field):
        from wtforms.validators import ValidationError

        today = clock.now().date()
        if field.data and not today <= field.data <= date(today.year + 5, 12, 31):
            raise ValidationError("Pick a day from today to five years ahead.")


def _new_race_form() -> NewRaceForm:
    form = NewRaceForm(timezone="America/New_York", currency="USD")
    form.timezone.choices = timezone_choices()
    return form


@bp.get("/")
@login_required
def index():
    """The races I organize, with a form to start a new one."""
    return render("manage/index.html", summaries=_race_summaries(), form=_new_race_form(), now=clock.now())


def _race_summaries():
    """The organizer's races with sold / capacity, revenue and days to go, in a fixed number of queries."""
    from services.race_stats import race_summaries

    return race_summaries(db.session, managed_races(db.session, g.user.id), clock.now())


@bp.post("/races")
@login_required
def create():
    """Start a draft race from a name and a date."""
    form = _new_race_form()
    if not form.validate():
        return render("manage/index.html", block="new_race", summaries=_race_summaries(), form=form, now=clock.now(),
                      status=422)
    race = race_editing.create_race(db.session, g.user, title=form.title.data, day=form.day.data,
                                    timezone=form.timezone.data, currency=form.currency.data)
    return redirect_to(url_for("manage.edit", race_id=race.id))


@bp.post("/races/sample")
@login_required
def create_sample():
    """One click to a complete, realistic draft to look around in."""
    race = race_editing.create_sample_race(db.session, g.user, clock.now())
    try:
        from services.sample_images import sample_cover

        save_race_image(db.session, storage_for(current_app), race, sample_cover(race.title), kind=MediaKind.COVER,
                        filename="sample-cover.png")
    except (MediaError, StorageError):
        current_app.logger.warning("sample race %s created without a cover image", race.id, exc_info=True)
    return redirect_to(url_for("manage.edit", race_id=race.id))


# --- the editor ---------------------------------------------------------------------------

def _editor_context(race: Race) -> dict:
    types = list(db.session.scalars(select(TicketType).where(TicketType.race_id == race.id)
                                    .order_by(TicketType.position, TicketType.id)))
    now = clock.now()
    taken = taken_counts(db.session, [t.id for t in types], now)
    media = list(db.session.scalars(select(RaceMedia).where(RaceMedia.race_id == race.id)
                                    .order_by(RaceMedia.kind, RaceMedia.position)))
    waiver = race_editing.current_waiver(db.session, race.id)
    return {
        "race": race, "ticket_types": types, "taken": taken, "now": now,
        "values": {name: group.current(race, db.session) for name, group in GROUPS.items()},
        "timezones": timezone_choices(), "currencies": CURRENCIES, "social_kinds": SOCIAL_KINDS,
        "cover": next((m for m in media if m.kind == MediaKind.COVER), None),
        "gallery": [m for m in media if m.kind == MediaKind.GALLERY],
        "waiver": waiver, "checklist": race_editing.publish_checklist(race, types, waiver, now),
        "errors": {}, "money_text": _money_text, "local_input": _local_input,
    }


def _local_input(value: datetime | None, timezone: str) -> str:
    """A UTC time as a datetime-local input's value in the race's timezone."""
    from zoneinfo import ZoneInfo

    return value.astimezone(ZoneInfo(timezone)).strftime("%Y-%m-%dT%H:%M") if value else ""


def _money_text(amount: int, currency: str) -> str:
    """Minor units as an editable amount: 4500 USD → "45.00"."""
    from services.money import minor_digits

    digits = minor_digits(currency)
    return f"{amount / 10 ** digits:.{digits}f}" if digits else str(amount)


@bp.get("/races/<int:race_id>")
@organizer_required
def edit(race: Race):
    """The race editor: every field saves itself as the organizer types."""
    return render("manage/edit.html", **_editor_context(race))


def _saved_state(race: Race, group: FieldGroup, values: dict, *, status: int = 200, error: str | None = None,
                 field_errors: dict | None = None, conflict: bool = False):
    return render("manage/_autosave_state.html", block="state", group=group.name, race=race, values=values,
                  error=error, field_errors=field_errors or {}, conflict=conflict, status=status, oob=True,
                  saved_at=local_time(clock.now(), race.timezone, "h:mm a"))


@bp.post("/races/<int:race_id>/fields/<group_name>")
@organizer_required
def save_field(race: Race, group_name: str):
    """Autosave one field (or a small group of fields that belong together)."""
    group = GROUPS.get(group_name) or abort(404)
    form = group.form()
    form.race = race
    current = group.current(race, db.session)
    htmx = request.headers.get("HX-Request") == "true"
    if not form.validate():
        errors = {name: messages[0] for name, messages in form.errors.items() if messages}
        if not htmx:
            return _editor_page_with_errors(race, errors, status=422)
        return _saved_state(race, group, current, status=422, field_errors=errors,
                            error=next(iter(errors.values())))
    submitted = submitted_values(form, group)
    try:
        originals = json.loads(request.form.get("_original", "{}"))
        if not isinstance(originals, dict):
            raise ValueError
    except ValueError:
        originals = {}
    try:
        race_editing.check_unchanged(race, {k: str(v) for k, v in originals.items()}, current, submitted)
    except race_editing.EditConflict as conflict:
        message = (f"Someone changed this at {local_time(conflict.changed_at, race.timezone, 'h:mm a')} "
                   "in another tab or session. Reload to see their version; your text is still here.")
        if not htmx:
            return _editor_page_with_errors(race, {"_conflict": message}, status=409)
        # Keep the values the page showed, so saving keeps refusing until the organizer reloads.
        return _saved_state(race, group, originals, status=409, error=message, conflict=True)
    group.apply(db.session, race, form)
    race_editing.touch(race)
    db.session.commit()
    if not htmx:
        return redirect_to(url_for("manage.edit", race_id=race.id) + f"#{group.section}")
    return _saved_state(race, group, group.current(race, db.session))


def _editor_page_with_errors(race: Race, errors: dict, status: int):
    db.session.rollback()
    context = _editor_context(race)
    context["errors"] = errors
    return render("manage/edit.html", status=status, **context)


@bp.post("/races/<int:race_id>/preview")
@organizer_required
def preview(race: Race):
    """Markdown preview of the description as it is being typed (nothing is saved)."""
    text = request.form.get("description", "")[:20000]
    return render("manage/_preview.html", block="preview", text=text)


# --- ticket types --------------------------------------------------------------------------

class TicketTypeForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired("Give the ticket a name, like 10K."), Length(max=80)])
    description = StringField("Description", validators=[Length(max=280)])
    price = StringField("Price", validators=[DataRequired("Enter a price (0 for free).")])
    capacity = StringField("Spots", validators=[DataRequired("How many spots?")])
    min_age = StringField("Minimum age")
    max_age = StringField("Maximum age")
    sales_start = StringField("On sale from")
    sales_end = StringField("On sale until")


def _ticket_type_or_404(race: Race, ticket_type_id: int) -> TicketType:
    ticket_type = db.session.get(TicketType, ticket_type_id)
    if ticket_type is None or ticket_type.race_id != race.id:
        abort_for_user(404, "That ticket type isn't part of this race.")
    return ticket_type


def _ticket_row(race: Race, ticket_type: TicketType, *, status: int = 200, errors: dict | None = None,
                saved: bool = False):
    taken = taken_counts(db.session, [ticket_type.id], clock.now())
    return render("manage/_ticket_type.html", block="tt_state", race=race, tt=ticket_type, taken=taken,
                  errors={f"tt{ticket_type.id}-{k}": v for k, v in (errors or {}).items()}, saved=saved,
                  money_text=_money_text, local_input=_local_input, status=status,
                  saved_at=local_time(clock.now(), race.timezone, "h:mm a"))


def _parse_ticket_form(race: Race, ticket_type: TicketType, form: TicketTypeForm) -> tuple[dict, dict]:
    """Validated values, or errors per field: money and counts are parsed here, once."""
    errors, values = {}, {}
    if not form.validate():
        errors.update({name: messages[0] for name, messages in form.errors.items() if messages})
    try:
        values["price"] = to_minor(form.price.data or "", race.currency)
        if values["price"] < 0 or values["price"] > 100_000_00:
            errors["price"] = "Use a price from 0 up to 100,000."
    except (ValueError, ArithmeticError):
        errors.setdefault("price", f"Enter the price as a number, like {_money_text(4500, race.currency)}.")
    for name, label in (("capacity", "Spots"), ("min_age", "Minimum age"), ("max_age", "Maximum age")):
        raw = (form[name].data or "").strip()
        if not raw and name != "capacity":
            values[name] = None
            continue
        if not raw.isdigit() or len(raw) > 6:
            errors.setdefault(name, f"{label} must be a whole number, 0 or more.")
            continue
        values[name] = int(raw)
    if "capacity" in values:
        sold = taken_counts(db.session, [ticket_type.id], clock.now()).get(ticket_type.id, 0)
        if values["capacity"] < sold:
            errors["capacity"] = f"{sold} spots are already sold or held; capacity can't go below that."
    if values.get("min_age") is not None and values.get("max_age") is not None and values["min_age"] > values["max_age"]:
        errors["max_age"] = "The maximum age can't be below the minimum."
    for name, label in (("sales_start", "On sale from"), ("sales_end", "On sale until")):
        raw = (form[name].data or "").strip()
        if not raw:
            values[name] = None
            continue
        try:
            local = datetime.strptime(raw, "%Y-%m-%dT%H:%M")
        except ValueError:
            errors.setdefault(name, f"{label}: enter a date and time, like 2027-03-01T09:00.")
            continue
        values[name] = race_editing.local_to_utc(local.date(), local.time(), race.timezone)
    if values.get("sales_start") and values.get("sales_end") and values["sales_start"] >= values["sales_end"]:
        errors["sales_end"] = "Sales have to end after they start."
    values["name"] = (form.name.data or "").strip()
    values["description"] = (form.description.data or "").strip()
    return values, errors


@bp.post("/races/<int:race_id>/tickets")
@organizer_required
def add_ticket_type(race: Race):
    """Add a ticket type (a distance or category) with sensible defaults to edit in place."""
    race_editing.add_ticket_type(db.session, race)
    race_editing.touch(race)
    db.session.commit()
    return _tickets_section(race)


def _tickets_section(race: Race, status: int = 200, message: str | None = None):
    if request.headers.get("HX-Request") != "true":
        return redirect_to(url_for("manage.edit", race_id=race.id) + "#tickets")
    context = _editor_context(race)
    return render("manage/edit.html", block="tickets", status=status, message=message, **context)


@bp.post("/races/<int:race_id>/tickets/<int:ticket_type_id>")
@organizer_required
def save_ticket_type(race: Race, ticket_type_id: int):
    """Autosave a ticket type's fields."""
    ticket_type = _ticket_type_or_404(race, ticket_type_id)
    form = TicketTypeForm()
    values, errors = _parse_ticket_form(race, ticket_type, form)
    if errors:
        if request.headers.get("HX-Request") != "true":
            context = _editor_context(race)
            context["errors"] = {f"tt{ticket_type.id}-{k}": v for k, v in errors.items()}
            return render("manage/edit.html", status=422, **context)
        return _ticket_row(race, ticket_type, status=422, errors=errors)
    for name, value in values.items():
        setattr(ticket_type, name, value)
    race_editing.touch(race)
    db.session.commit()
    if request.headers.get("HX-Request") != "true":
        return redirect_to(url_for("manage.edit", race_id=race.id) + "#tickets")
    return _ticket_row(race, ticket_type, saved=True)


@bp.post("/races/<int:race_id>/tickets/<int:ticket_type_id>/move")
@organizer_required
def move_ticket_type(race: Race, ticket_type_id: int):
    """Move a ticket type up or down the list."""
    ticket_type = _ticket_type_or_404(race, ticket_type_id)
    direction = -1 if request.form.get("direction") == "up" else 1
    race_editing.move_ticket_type(db.session, race, ticket_type, direction)
    race_editing.touch(race)
    db.session.commit()
    return _tickets_section(race)


@bp.post("/races/<int:race_id>/tickets/<int:ticket_type_id>/visibility")
@organizer_required
def toggle_ticket_type(race: Race, ticket_type_id: int):
    """Hide a ticket type from sale (or show it again); sold tickets stay valid."""
    ticket_type = _ticket_type_or_404(race, ticket_type_id)
    ticket_type.hidden = request.form.get("hidden") == "1"
    race_editing.touch(race)
    db.session.commit()
    return _tickets_section(race)


@bp.post("/races/<int:race_id>/tickets/<int:ticket_type_id>/delete")
@organizer_required
def delete_ticket_type(race: Race, ticket_type_id: int):
    """Remove a ticket type nobody has bought; one with sales can only be hidden."""
    ticket_type = _ticket_type_or_404(race, ticket_type_id)
    try:
        race_editing.delete_ticket_type(db.session, ticket_type)
    except race_editing.TicketTypeInUse:
        db.session.rollback()
        return _tickets_section(race, status=422, message=(
            f"{ticket_type.name} has tickets sold or in carts, so it can't be deleted. Hide it instead."))
    race_editing.touch(race)
    db.session.commit()
    return _tickets_section(race)


# --- images --------------------------------------------------------------------------------

@bp.post("/races/<int:race_id>/media")
@organizer_required
def upload_media(race: Race):
    """Save an uploaded cover or gallery image at once."""
    kind = request.form.get("kind", "gallery")
    if kind not in ("cover", "gallery"):
        abort_for_user(400, "Choose whether the image is the cover or for the gallery.")
    upload = request.files.get("image")
    status, message = 200, None
    if upload is None or not upload.filename:
        status, message = 422, "Choose an image file first."
    else:
        try:
            save_race_image(db.session, storage_for(current_app), race, upload.read(), kind=kind,
                            filename=upload.filename)
        except MediaError as error:
            status, message = 422, str(error)
        except StorageError as error:
            status, message = 503, str(error)
    return _media_section(race, status, message)


@bp.post("/races/<int:race_id>/media/<int:media_id>/delete")
@organizer_required
def delete_media(race: Race, media_id: int):
    """Remove a race image."""
    media = db.session.get(RaceMedia, media_id)
    if media is None or media.race_id != race.id:
        abort_for_user(404, "That image isn't part of this race.")
    delete_race_image(db.session, storage_for(current_app), media)
    return _media_section(race)


def _media_section(race: Race, status: int = 200, message: str | None = None):
    if request.headers.get("HX-Request") != "true" and status == 200:
        return redirect_to(url_for("manage.edit", race_id=race.id) + "#images")
    context = _editor_context(race)
    return render("manage/edit.html", block="images", status=status, media_message=message, **context)


# --- publishing and deleting ---------------------------------------------------------------

@bp.post("/races/<int:race_id>/publish")
@organizer_required
def publish(race: Race):
    """Publish when the checklist is complete; otherwise say what is missing."""
    try:
        race_editing.publish(db.session, race, clock.now())
    except race_editing.NotReadyToPublish as missing:
        db.session.rollback()
        context = _editor_context(race)
        context["publish_error"] = "Before publishing: " + "; ".join(i.label.lower() for i in missing.missing) + "."
        return render("manage/edit.html", block="publish", status=422, **context)
    db.session.commit()
    return redirect_to(url_for("manage.edit", race_id=race.id))


@bp.post("/races/<int:race_id>/unpublish")
@organizer_required
def unpublish(race: Race):
    """Take the race off the public list (its page becomes a draft preview again)."""
    race_editing.unpublish(race)
    db.session.commit()
    return redirect_to(url_for("manage.edit", race_id=race.id))


@bp.post("/races/<int:race_id>/delete")
@organizer_required
def delete(race: Race):
    """Delete a race nobody has bought a ticket for (samples are one click to remove)."""
    media = list(db.session.scalars(select(RaceMedia).where(RaceMedia.race_id == race.id)))
    try:
        race_editing.delete_race(db.session, race)
    except race_editing.RaceHasSales:
        db.session.rollback()
        context = _editor_context(race)
        context["publish_error"] = "This race has registrations, so it can't be deleted. Unpublish it instead."
        return render("manage/edit.html", block="publish", status=422, **context)
    db.session.commit()
    storage = storage_for(current_app)
    for item in media:  # the rows are gone with the race; now the files
        try:
            storage.delete(item.storage_key)
        except StorageError:
            current_app.logger.warning("could not delete %s of deleted race", item.storage_key)
    return redirect_to(url_for("manage.index"))


def errors_with_prefix(errors: dict | None, prefix: str) -> dict:
    """The errors of one ticket type row: {"tt5-price": "…"} → {"price": "…"} for prefix "tt5-"."""
    return {key[len(prefix):]: message for key, message in (errors or {}).items() if key.startswith(prefix)}


def register(app) -> None:
    import blueprints.manage_ops  # noqa: F401  (dashboard, codes, refunds, team: their routes join bp too)
    from blueprints import manage_registrants  # noqa: F401  (its routes join bp before it is registered)
    app.register_blueprint(bp)
    app.jinja_env.globals["errors_with_prefix"] = errors_with_prefix
    app.jinja_env.globals["has_endpoint"] = lambda endpoint: endpoint in app.view_functions
    app.jinja_env.globals["format_money"] = format_money

