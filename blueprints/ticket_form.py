"""The race page's ticket form, for the race page that shows it and the cart that takes it: the race
behind the address (or 404), the quantities asked for, and what races/race.html's tickets block needs.
"""
from __future__ import annotations

import re
from datetime import datetime

from flask import g
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from blueprints.errors import abort_for_user
from blueprints.languages import current_language
from blueprints.rendering import local_time
from extensions import db
from services import clock
from services import races as race_service
from services.cart import MAX_PER_TYPE
from services.languages import og_locale
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


def share_preview(race) -> dict[str, str]:
    """What a link to the race page shows where it is shared (og:locale, og:description): the race's own, in
    the race's language, whoever opened the page ("sáb 14 mar 2026 · Lima. …" for a Spanish race)."""
    with force_locale(race.language):
        when = local_time(race.starts_at, race.timezone, "EEE d MMM y")
    place = f" · {race.location_name}" if race.location_name else ""
    return {"locale": og_locale(race.language), "description": f"{when}{place}. {race.summary or ''}"}


def ticket_form_context(card: race_service.RaceCard, now, *, chosen: dict[int, str] | None = None,
                        errors: dict | None = None, returning: bool = False,
                        in_cart: dict[int, int] | None = None) -> dict:
    """What races/race.html needs, from the race page and the cart alike (which shows the page again with the
    tickets block's errors): the tickets block's state, the share preview and the description for this page's
    language.

    `in_cart` ({ticket type id: tickets}) is what this person's cart holds: each type says how many, and
    its menu offers more.
    """
    shown = {o.ticket_type.id for o in card.offers}
    ticket_errors: dict[int | None, str] = {}
    for type_id, message in (errors or {}).items():
        key = type_id if type_id in shown else None  # about a type the page doesn't list: say it on top
        ticket_errors[key] = f"{ticket_errors[key]} {message}" if key in ticket_errors else message
    closed_reason = signup_closed_reason(card.race, now)
    return {"card": card, "race": card.race, "share": share_preview(card.race),
            "description_html": race_service.description_html(db.session, card.race, current_language()),
            "closed_reason": closed_reason, "registration_open": closed_reason is None,
            "chosen": chosen or {}, "ticket_errors": ticket_errors, "returning": returning,
            "in_cart": in_cart or {},
            "max_per_type": MAX_PER_TYPE}
