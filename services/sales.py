"""Whether a race is open for sign-up and a ticket type on sale, worded one way on every path.

The race page, the cart and checkout all ask these functions, so the same refusal reads the
same wherever the runner meets it. "Spots left" is services/inventory.py's (`spots_left`,
`spots_problem`).
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from flask_babel import gettext as _

from models import Race, RaceStatus, TicketType
from services.stored_sentences import say


def signup_closed_reason(race: Race, now: datetime) -> str | None:
    """Why nobody can sign up for this race right now, or None while sign-up is open."""
    if race.status == RaceStatus.DRAFT:
        return _("Sign-up hasn't opened for this race yet.")
    if now >= race.starts_at:
        return _("This race has already taken place.")
    if race.status != RaceStatus.PUBLISHED or (race.registration_closes_at is not None
                                               and now >= race.registration_closes_at):
        return _("Sign-up for this race is closed.")
    return None


def signup_deadline(race: Race) -> datetime:
    """When sign-up ends: the organizer's deadline, or the start of the race if that comes first or none is set."""
    closes = race.registration_closes_at
    return closes if closes is not None and closes < race.starts_at else race.starts_at


def signup_open(race: Race, now: datetime) -> bool:
    return signup_closed_reason(race, now) is None


def off_sale_reason(ticket_type: TicketType, now: datetime) -> str | None:
    """Why this ticket type can't be bought right now, or None while it is on sale."""
    if ticket_type.hidden:
        return say("type_hidden", name=ticket_type.name)
    if ticket_type.sales_start is not None and now < ticket_type.sales_start:
        return say("type_not_on_sale_yet", name=ticket_type.name)
    if ticket_type.sales_end is not None and now >= ticket_type.sales_end:
        return say("type_sales_ended", name=ticket_type.name)
    return None


def on_sale(ticket_type: TicketType, now: datetime) -> bool:
    return off_sale_reason(ticket_type, now) is None


def sale_problems(race: Race, ticket_types: Iterable[TicketType], now: datetime) -> list[str]:
    """Why these tickets can't be sold now: the race's reason alone, or one line per type off sale."""
    closed = signup_closed_reason(race, now)
    if closed:
        return [closed]
    return [reason for ticket_type in ticket_types if (reason := off_sale_reason(ticket_type, now))]
