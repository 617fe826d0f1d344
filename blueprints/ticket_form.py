"""The race page's ticket form, for the race page that shows it and the cart that takes it: the race
behind the address (or 404), the quantities asked for, and what races/race.html's tickets block needs.
"""
from __future__ import annotations

import re
from datetime import datetime

from flask import g
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from blueprints.errors import abort_for_user
from extensions import db
from services import clock
from services import races as race_service
from services.cart import MAX_PER_TYPE
from services.sales import signup_closed_reason
from services.typed_input import is_whole_number

_QUANTITY_FIELD = re.compile(r"^qty-(\d{1,9})$")
_ADD_PARAM = re.compile(r"^(\d{1,9}):(\d{1,2})$")
NO_SUCH_RACE = _l("There's no race at this address. It may have been renamed or removed.")


def race_card_or_404(slug: str, now: datetime | None = None) -> race_service.RaceCard:
    """The race at this address with its ticket offers (at `now`, by default the clock's), if the visitor
    may see it; else 404."""
    viewer = g.get("user")
    card = race_service.race_for_page(db.session, slug, now or clock.now(), viewer.id if viewer else None)
    if card is None:
        abort_for_user(404, NO_SUCH_RACE)
    return card


def parse_quantities(form) -> tuple[dict[int, int], dict[int, str], dict[int | None, str]]:
    """The quantities a ticket form asks for: (numbers, what was typed, problems per ticket type)."""
    numbers, typed, problems = {}, {}, {}
    for key in form:
        match = _QUANTITY_FIELD.match(key)
        if not match:
            continue
        type_id, raw = int(match.group(1)), (form.get(key) or "").strip()
        typed[type_id] = raw[:4]
        if raw == "":
            numbers[type_id] = 0
        elif is_whole_number(raw, max_digits=4):
            numbers[type_id] = int(raw)
        else:
            problems[type_id] = _("Choose a number of tickets from 0 to %(max)s.", max=MAX_PER_TYPE)
    return numbers, typed, problems


def parse_add_param(value: str | None) -> dict[int, str]:
    """`?add=12:2,13:1` (a choice kept in a link, as sign-in used to keep it) → {12: "2", 13: "1"}; junk is ignored."""
    chosen = {}
    for part in (value or "")[:200].split(","):
        match = _ADD_PARAM.match(part.strip())
        if match and int(match.group(2)) > 0:
            chosen[int(match.group(1))] = str(min(int(match.group(2)), MAX_PER_TYPE))
    return chosen


def ticket_form_context(card: race_service.RaceCard, now, *, chosen: dict[int, str] | None = None,
                        errors: dict | None = None, returning: bool = False,
                        in_cart: dict[int, int] | None = None) -> dict:
    """What races/race.html needs for its tickets block, from the race page and the cart alike.

    `in_cart` ({ticket type id: tickets}) is what this person's cart holds: each type says how many, and
    its menu offers more.
    """
    shown = {o.ticket_type.id for o in card.offers}
    ticket_errors: dict[int | None, str] = {}
    for type_id, message in (errors or {}).items():
        key = type_id if type_id in shown else None  # about a type the page doesn't list: say it on top
        ticket_errors[key] = f"{ticket_errors[key]} {message}" if key in ticket_errors else message
    closed_reason = signup_closed_reason(card.race, now)
    return {"card": card, "race": card.race, "closed_reason": closed_reason, "registration_open": closed_reason is None,
            "chosen": chosen or {}, "ticket_errors": ticket_errors, "returning": returning,
            "in_cart": in_cart or {},
            "max_per_type": MAX_PER_TYPE}
