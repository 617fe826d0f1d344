"""The editor's price steps per ticket type (early bird, regular, late): saving the list, adding and removing a step."""
from __future__ import annotations

from flask import request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from blueprints.lookups import owned_or_404
from blueprints.manage import bp, organizer_required
from blueprints.manage.editor import editor_page
from blueprints.rendering import is_fragment_request, local_time, redirect_to, render
from extensions import db
from models import Race, TicketType
from services import clock, price_tier_editing
from services.money import money_text
from services.typed_input import is_whole_number


def _steps_block(race: Race, ticket_type: TicketType, *, status: int = 200, rows=None, new=None,
                 errors: dict | None = None, saved: bool = False):
    if rows is None:
        rows = price_tier_editing.editor_rows(db.session, race, [ticket_type.id]).get(ticket_type.id, [])
    return render("manage/_ticket_type.html", block="price_steps", status=status, race=race, tt=ticket_type,
                  price_rows={ticket_type.id: rows}, new_rows={ticket_type.id: new or {}},
                  errors={f"tt{ticket_type.id}-{key}": message for key, message in (errors or {}).items()},
                  money_text=money_text, steps_saved=saved,
                  saved_at=local_time(clock.now(), race.timezone, "h:mm a"))


@bp.post("/races/<int:race_id>/tickets/<int:ticket_type_id>/prices")
@organizer_required
def save_price_steps(race: Race, ticket_type_id: int):
    """Save a ticket type's prices by date: edits autosave; Add and Remove change the list."""
    ticket_type = owned_or_404(TicketType, ticket_type_id, _("That ticket type isn't part of this race."), race_id=race.id)
    count = request.form.get("steps", "")
    count = int(count) if is_whole_number(count, max_digits=2) else 0
    rows, new = price_tier_editing.typed_rows(request.form, count)
    if request.form.get("add") != "1":
        new = {}  # a half-typed new price waits for its Add button; autosave leaves it alone
    remove = request.form.get("remove", "")
    try:
        price_tier_editing.save_steps(db.session, race, ticket_type, rows, new,
                                      remove=int(remove) if is_whole_number(remove, max_digits=2) else None)
    except price_tier_editing.PriceStepsRefused as refused:
        if not is_fragment_request():
            return editor_page(race, status=422, price_rows={**_editor_rows(race), ticket_type.id: rows},
                               new_rows={ticket_type.id: new},
                               errors={f"tt{ticket_type.id}-{k}": m for k, m in refused.problems.items()})
        return _steps_block(race, ticket_type, status=422, rows=rows, new=new, errors=refused.problems)
    if not is_fragment_request():
        return redirect_to(url_for("manage.edit", race_id=race.id) + f"#prices-tt{ticket_type.id}")
    return _steps_block(race, ticket_type, saved=True)


def _editor_rows(race: Race) -> dict[int, list[dict[str, str]]]:
    ids = list(db.session.scalars(select(TicketType.id).where(TicketType.race_id == race.id)))
    return price_tier_editing.editor_rows(db.session, race, ids)
