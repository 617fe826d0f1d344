"""The organizer's races, creating one, and the race editor that saves as you type: fields, images, publishing."""
from __future__ import annotations

import json

from flask import current_app, g, render_template, request, url_for
from flask_babel import gettext as _
from jinja2_fragments.flask import render_block
from sqlalchemy import select

from blueprints.auth import login_required
from blueprints.errors import abort_for_user
from blueprints.lookups import owned_or_404
from blueprints.manage import bp, organizer_required
from blueprints.manage.forms import (
    GROUP_FORMS,
    NewRaceForm,
    first_errors,
    first_timezone_choices,
    submitted,
    timezone_choices,
)
from blueprints.rendering import is_fragment_request, local_time, race_time, redirect_to, render
from extensions import db
from models import SOCIAL_KINDS, MediaKind, Race, RaceMedia, TicketType
from services import clock, price_tier_editing, race_editing, race_fields, race_texts
from services.inventory import taken_counts
from services.links import public_url, share_links
from services.media import MediaError, delete_race_image, save_race_image
from services.money import CURRENCIES, money_text
from services.permissions import managed_races
from services.race_stats import race_summaries
from services.storage import StorageError, storage_for

# --- the organizer's races ----------------------------------------------------------------


def _new_race_form() -> NewRaceForm:
    form = NewRaceForm(timezone="America/New_York", currency="USD")
    form.timezone.choices = timezone_choices()
    return form


def _race_summaries():
    """The organizer's races with sold / capacity, revenue and days to go, in a fixed number of queries."""
    return race_summaries(db.session, managed_races(db.session, g.user.id), clock.now())


@bp.get("/")
@login_required
def index():
    """The races I organize, with a form to start a new one."""
    return render("manage/index.html", summaries=_race_summaries(), form=_new_race_form(), now=clock.now())


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
    race = race_editing.create_sample_race(db.session, storage_for(current_app), g.user, clock.now())
    return redirect_to(url_for("manage.edit", race_id=race.id))


# --- the editor ---------------------------------------------------------------------------

def editor_context(race: Race) -> dict:
    """Everything the editor page shows; its blocks (tickets, images, publish) render from it too."""
    types = list(db.session.scalars(select(TicketType).where(TicketType.race_id == race.id)
                                    .order_by(TicketType.position, TicketType.id)))
    now = clock.now()
    taken = taken_counts(db.session, [t.id for t in types], now)
    media = list(db.session.scalars(select(RaceMedia).where(RaceMedia.race_id == race.id)
                                    .order_by(RaceMedia.kind, RaceMedia.position)))
    waiver = race_editing.current_waiver(db.session, race.id)
    race_url = public_url("races.race_page", slug=race.slug)
    texts = race_texts.race_texts(db.session, race.id)
    enabled = race_texts.enabled_languages(race, texts)
    return {
        "race": race, "ticket_types": types, "taken": taken, "now": now,
        "price_rows": price_tier_editing.editor_rows(db.session, race, [t.id for t in types]), "new_rows": {},
        "values": race_fields.all_current_values(db.session, race, enabled),
        "race_languages": enabled, "addable_languages": race_texts.addable_languages(race, texts),
        "description_language": _tab_language(request.args.get("description"), enabled),
        "waiver_language": _tab_language(request.args.get("waiver"), enabled),
        "description_group": None, "waiver_group": None,  # the open tabs' groups, when not the usual ones
        # Every zone in the menu itself without JavaScript (its link "Every time zone" asks ?zones=all).
        "timezones": timezone_choices(race.timezone), "all_timezones": request.args.get("zones") == "all",
        "first_timezones": first_timezone_choices(race.timezone), "currencies": CURRENCIES, "social_kinds": SOCIAL_KINDS,
        "cover": next((m for m in media if m.kind == MediaKind.COVER), None),
        "gallery": [m for m in media if m.kind == MediaKind.GALLERY],
        "waiver": waiver, "checklist": race_editing.publish_checklist(race, types, waiver, now),
        "errors": {}, "money_text": money_text, "local_input": race_editing.local_input,
        "race_url": race_url, "share_links": share_links(race.title, race_url),
        "just_published": request.args.get("published") == "1",
    }


def _tab_language(asked: str | None, enabled: list[str]) -> str:
    """The language tab to open (`?description=es`): one the race has, else its own."""
    return asked if asked in enabled else enabled[0]


def editor_page(race: Race, *, status: int = 200, block: str = "content", **changes):
    """The editor page (or one of its blocks) with `changes` to its context: errors, a message."""
    return render("manage/edit.html", block=block, status=status, **{**editor_context(race), **changes})


@bp.get("/races/<int:race_id>")
@organizer_required
def edit(race: Race):
    """The race editor: every field saves itself as the organizer types."""
    return editor_page(race)


@bp.get("/races/<int:race_id>/time-zones")
@organizer_required
def time_zones(race: Race):
    """Every option of the editor's time zone menu, the race's zone chosen: static/js/editor.js puts them in
    the menu once the editor is idle (the page itself carries only the common zones, see first_timezone_choices)."""
    return render_template("manage/_time_zone_options.html", timezones=timezone_choices(race.timezone),
                           current=race.timezone)


def _saved_state(race: Race, group_name: str, values: dict, *, status: int = 200, error: str | None = None,
                 field_errors: dict | None = None, conflict: bool = False, **extra):
    return render("manage/_autosave_state.html", block="state", group=group_name, race=race, values=values,
                  error=error, field_errors=field_errors or {}, conflict=conflict, status=status, oob=True,
                  saved_at=local_time(clock.now(), race.timezone, "h:mm a"), **extra)


def _originals() -> dict:
    """The values the page showed when the organizer started typing (sent back by the autosave form)."""
    try:
        originals = json.loads(request.form.get("_original", "{}"))
    except ValueError:
        return {}
    return originals if isinstance(originals, dict) else {}


def _language_tab(group_name: str) -> tuple[str, str] | None:
    """("description", "es") for the group of the description in Spanish; None for a group without tabs."""
    part, _sep, code = group_name.partition("-")
    return (part, code) if part in ("description", "waiver") and code else None


def _tab_open(race: Race, group_name: str) -> dict:
    """What the whole page needs to open the language tab of `group_name` (the one just posted) with its input."""
    tab = _language_tab(group_name)
    if tab is None:
        return {}
    part, code = tab
    return {f"{part}_language": code, f"{part}_group": group_name,
            "values": race_fields.all_current_values(db.session, race)}


def _field_refused(race: Race, group_name: str, errors: dict[str, str]):
    if not is_fragment_request():
        # The whole page names each message by its input's id, so it lands beside that one input.
        return editor_page(race, status=422, errors={f"{group_name}-{name}": message for name, message in errors.items()},
                           **_tab_open(race, group_name))
    return _saved_state(race, group_name, race_fields.current_values(db.session, race, group_name), status=422,
                        field_errors=errors, error=next(iter(errors.values())))


def _deadline_moved(race: Race, closes_at) -> dict:
    """What the when group's answer adds once moving the start moved the sign-up deadline too."""
    if closes_at is None:
        return {}
    return {"deadline_note": race_time(closes_at, race.timezone),
            "closes_values": race_fields.current_values(db.session, race, "closes")}


def _no_such_group(group_name: str):
    if group_name.startswith(("description-", "waiver-")):
        abort_for_user(404, _("We don't have that language. Choose one of the languages in the list."))
    abort_for_user(404, _("The editor has no such field. Reload the page and try again."))


@bp.post("/races/<int:race_id>/fields/<group_name>")
@organizer_required
def save_field(race: Race, group_name: str):
    """Autosave one field (or a small group of fields that belong together)."""
    form_class, section = GROUP_FORMS.get(group_name) or _no_such_group(group_name)
    form = form_class()
    if not form.validate():
        return _field_refused(race, group_name, first_errors(form))
    originals = _originals()
    try:
        saved = race_fields.save_field_group(db.session, race, group_name, submitted(form),
                                             {k: str(v) for k, v in originals.items()})
    except race_fields.FieldsRefused as refused:
        return _field_refused(race, group_name, refused.problems)
    except race_fields.EditConflict as conflict:
        message = _("Someone changed this at %(when)s in another tab or session. Reload to see their version; "
                    "your text is still here.", when=race_time(conflict.changed_at, race.timezone))
        if not is_fragment_request():
            return editor_page(race, status=409, errors={"_conflict": message})
        # Keep the values the page showed, so saving keeps refusing until the organizer reloads.
        return _saved_state(race, group_name, originals, status=409, error=message, conflict=True)
    if not is_fragment_request():
        tab = _language_tab(group_name)
        return redirect_to(url_for("manage.edit", race_id=race.id, **({tab[0]: tab[1]} if tab else {})) + f"#{section}")
    if group_name == "language":
        # The tabs follow the race's language: its own comes first, and may have swapped with another's.
        return _saved_state(race, group_name, saved.values, language_sections=_language_sections(race))
    return _saved_state(race, group_name, saved.values, **_deadline_moved(race, saved.deadline_moved_to))


def _language_sections(race: Race) -> str:
    """The editor's language list and its description and waiver sections, sent out of band."""
    context = {**editor_context(race), "oob": True}
    return "".join(render_block("manage/edit.html", block, **context)
                   for block in ("other_languages", "description_section", "waiver_section"))


# --- the race's languages ---------------------------------------------------------------------

@bp.post("/races/<int:race_id>/languages")
@organizer_required
def add_language(race: Race):
    """Give the race's description and waiver another language; its tab opens."""
    code = request.form.get("language", "")
    try:
        race_texts.add_language(db.session, race, code)
    except race_texts.LanguageRefused as refused:
        return editor_page(race, block="other_languages", status=422, language_error=str(refused))
    return redirect_to(url_for("manage.edit", race_id=race.id, description=code) + "#description")


@bp.post("/races/<int:race_id>/languages/<code>/remove")
@organizer_required
def remove_language(race: Race, code: str):
    """Stop offering the race in one of its other languages (its waiver versions are kept)."""
    try:
        race_texts.remove_language(db.session, race, code)
    except race_texts.LanguageRefused as refused:
        return editor_page(race, block="other_languages", status=422, language_error=str(refused))
    return redirect_to(url_for("manage.edit", race_id=race.id) + "#languages")


@bp.post("/races/<int:race_id>/preview")
@organizer_required
def preview(race: Race):
    """Markdown preview of the description as it is being typed (nothing is saved)."""
    text = request.form.get("description", "")[:20000]
    return render("manage/_preview.html", block="preview", text=text)


# --- images --------------------------------------------------------------------------------

@bp.post("/races/<int:race_id>/media")
@organizer_required
def upload_media(race: Race):
    """Save an uploaded cover or gallery image at once."""
    kind = request.form.get("kind", "gallery")
    if kind not in ("cover", "gallery"):
        abort_for_user(400, _("Choose whether the image is the cover or for the gallery."))
    upload = request.files.get("image")
    status, message = 200, None
    if upload is None or not upload.filename:
        status, message = 422, _("Choose an image file first.")
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
    media = owned_or_404(RaceMedia, media_id, _("That image isn't part of this race."), race_id=race.id)
    delete_race_image(db.session, storage_for(current_app), media)
    return _media_section(race)


def _media_section(race: Race, status: int = 200, message: str | None = None):
    if not is_fragment_request() and status == 200:
        return redirect_to(url_for("manage.edit", race_id=race.id) + "#images")
    return editor_page(race, block="images", status=status, media_message=message)


# --- publishing and deleting ---------------------------------------------------------------

@bp.post("/races/<int:race_id>/publish")
@organizer_required
def publish(race: Race):
    """Publish when the checklist is complete; otherwise say what is missing."""
    try:
        race_editing.publish(db.session, race, clock.now())
    except race_editing.NotReadyToPublish as missing:
        return editor_page(race, block="publish", status=422, publish_error=_(
            "Before publishing: %(missing)s.", missing="; ".join(i.label.lower() for i in missing.missing)))
    if is_fragment_request():
        # The publish block swaps itself for the confirmation: the link, a copy button, share links.
        return editor_page(race, block="publish", just_published=True)
    return redirect_to(url_for("manage.edit", race_id=race.id, published=1) + "#publish")


@bp.post("/races/<int:race_id>/unpublish")
@organizer_required
def unpublish(race: Race):
    """Take the race off the public list (its page becomes a draft preview again)."""
    race_editing.unpublish(db.session, race)
    return redirect_to(url_for("manage.edit", race_id=race.id))


@bp.post("/races/<int:race_id>/delete")
@organizer_required
def delete(race: Race):
    """Delete a race nobody has bought a ticket for (samples are one click to remove)."""
    try:
        race_editing.delete_race(db.session, storage_for(current_app), race)
    except race_editing.RaceHasSales:
        return editor_page(race, block="publish", status=422,
                           publish_error=_("This race has registrations, so it can't be deleted. Unpublish it instead."))
    return redirect_to(url_for("manage.index"))
