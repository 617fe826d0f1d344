"""The editor's ticket types: adding one, autosaving its fields, moving, hiding and deleting it."""
from __future__ import annotations

from flask import request, url_for
from flask_babel import gettext as _

from blueprints.lookups import owned_or_404
from blueprints.manage import bp, organizer_required
from blueprints.manage.editor import editor_page
from blueprints.manage.forms import TicketTypeForm, first_errors
from blueprints.rendering import is_fragment_request, local_time, redirect_to, render
from extensions import db
from models import Race, TicketType
from services import clock, race_editing, ticket_types
from services.inventory import taken_counts
from services.money import money_text


def _ticket_type_or_404(race: Race, ticket_type_id: int) -> TicketType:
    return owned_or_404(TicketType, ticket_type_id, _("That ticket type isn't part of this race."), race_id=race.id)


def _prefixed(ticket_type: TicketType, errors: dict[str, str]) -> dict[str, str]:
    """A row's errors as the editor page names them: {"price": …} → {"tt5-price": …}."""
    return {f"tt{ticket_type.id}-{name}": message for name, message in errors.items()}


def _ticket_row(race: Race, ticket_type: TicketType, *, status: int = 200, errors: dict | None = None,
                saved: bool = False):
    taken = taken_counts(db.session, [ticket_type.id], clock.now())
    return render("manage/_ticket_type.html", block="tt_state", race=race, tt=ticket_type, taken=taken,
                  errors=_prefixed(ticket_type, errors or {}), saved=saved, money_text=money_text,
                  local_input=race_editing.local_input, status=status,
                  saved_at=local_time(clock.now(), race.timezone, "h:mm a"))


def _tickets_section(race: Race, status: int = 200, message: str | None = None):
    if not is_fragment_request():
        return redirect_to(url_for("manage.edit", race_id=race.id) + "#tickets")
    return editor_page(race, block="tickets", status=status, message=message)


@bp.post("/races/<int:race_id>/tickets")
@organizer_required
def add_ticket_type(race: Race):
    """Add a ticket type (a distance or category) with sensible defaults to edit in place."""
    ticket_types.add_ticket_type(db.session, race)
    return _tickets_section(race)


@bp.post("/races/<int:race_id>/tickets/<int:ticket_type_id>")
@organizer_required
def save_ticket_type(race: Race, ticket_type_id: int):
    """Autosave a ticket type's fields."""
    ticket_type = _ticket_type_or_404(race, ticket_type_id)
    form = TicketTypeForm()
    shape = {} if form.validate() else first_errors(form)
    try:
        ticket_types.save_ticket_type(db.session, race, ticket_type, form.typed(), clock.now(), form_problems=shape)
    except ticket_types.TicketTypeRefused as refused:
        if not is_fragment_request():
            return editor_page(race, status=422, errors=_prefixed(ticket_type, refused.problems))
        return _ticket_row(race, ticket_type, status=422, errors=refused.problems)
    if not is_fragment_request():
        return redirect_to(url_for("manage.edit", race_id=race.id) + "#tickets")
    return _ticket_row(race, ticket_type, saved=True)


@bp.post("/races/<int:race_id>/tickets/<int:ticket_type_id>/move")
@organizer_required
def move_ticket_type(race: Race, ticket_type_id: int):
    """Move a ticket type up or down the list."""
    ticket_type = _ticket_type_or_404(race, ticket_type_id)
    ticket_types.move_ticket_type(db.session, race, ticket_type, -1 if request.form.get("direction") == "up" else 1)
    return _tickets_section(race)


@bp.post("/races/<int:race_id>/tickets/<int:ticket_type_id>/visibility")
@organizer_required
def toggle_ticket_type(race: Race, ticket_type_id: int):
    """Hide a ticket type from sale (or show it again); sold tickets stay valid."""
    ticket_type = _ticket_type_or_404(race, ticket_type_id)
    ticket_types.set_hidden(db.session, race, ticket_type, request.form.get("hidden") == "1")
    return _tickets_section(race)


@bp.post("/races/<int:race_id>/tickets/<int:ticket_type_id>/delete")
@organizer_required
def delete_ticket_type(race: Race, ticket_type_id: int):
    """Remove a ticket type nobody has bought; one with sales can only be hidden."""
    ticket_type = _ticket_type_or_404(race, ticket_type_id)
    try:
        ticket_types.delete_ticket_type(db.session, race, ticket_type)
    except ticket_types.TicketTypeInUse:
        return _tickets_section(race, status=422, message=(
            _("%(name)s has tickets sold or in carts, so it can't be deleted. Hide it instead.", name=ticket_type.name)))
    return _tickets_section(race)
