"""A race's ticket types as its organizer edits them: adding, saving what was typed, ordering, hiding, deleting.

`save_ticket_type` parses what was typed once (money in the race's currency, the sales window from the
race's local time to UTC) and keeps the rules: a price limit, capacity never below what is sold or held,
ages in order, a sales window that ends after it starts. Each function here is a use case and commits.
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from sqlalchemy import exists, func, select, update
from sqlalchemy.orm import Session

from models import PriceTier, Race, Registration, TicketType
from services.inventory import taken_counts
from services.money import money_text, to_minor
from services.race_editing import day_problem, local_to_utc, touch
from services.typed_input import is_whole_number

PRICE_MAX = 100_000_00  # in minor units
WHOLE_NUMBERS = (("capacity", _l("Spots")), ("min_age", _l("Minimum age")), ("max_age", _l("Maximum age")))
SALES_WINDOW = (("sales_start", _l("On sale from")), ("sales_end", _l("On sale until")))


class TicketTypeRefused(Exception):
    """The values break at least one rule; `problems` maps each field to its message. Nothing changed."""

    def __init__(self, problems: dict[str, str]):
        super().__init__(next(iter(problems.values())))
        self.problems = problems


class TicketTypeInUse(Exception):
    """Tickets of this type exist; it can be hidden but not deleted."""


def _ordered(session: Session, race: Race) -> list[TicketType]:
    return list(session.scalars(select(TicketType).where(TicketType.race_id == race.id)
                                .order_by(TicketType.position, TicketType.id)))


def add_ticket_type(session: Session, race: Race, *, name: str = "", price: int = 0,
                    capacity: int = 100) -> TicketType:
    """A new ticket type at the end of the list, with defaults to edit in place. Commits."""
    name = name or _("New distance")
    position = session.scalar(select(func.coalesce(func.max(TicketType.position), -1))
                              .where(TicketType.race_id == race.id)) + 1
    ticket_type = TicketType(race_id=race.id, name=name, price=price, capacity=capacity, position=position)
    session.add(ticket_type)
    touch(race)
    session.commit()
    return ticket_type


def parse_ticket_type(session: Session, race: Race, ticket_type: TicketType, raw: Mapping[str, str],
                      now: datetime) -> tuple[dict, dict[str, str]]:
    """The typed values as model values, and what is wrong with them per field."""
    problems: dict[str, str] = {}
    values: dict = {}
    try:
        values["price"] = to_minor(raw.get("price") or "", race.currency)
        if values["price"] < 0 or values["price"] > PRICE_MAX:
            problems["price"] = _("Use a price from 0 up to 100,000.")
    except (ValueError, ArithmeticError):
        problems["price"] = _("Enter the price as a number, like %(example)s.", example=money_text(4500, race.currency))
    for name, label in WHOLE_NUMBERS:
        text = (raw.get(name) or "").strip()
        if not text and name != "capacity":
            values[name] = None
            continue
        if not is_whole_number(text, max_digits=6):
            problems[name] = _("%(field)s must be a whole number, 0 or more.", field=label)
            continue
        values[name] = int(text)
    if "capacity" in values:
        sold = taken_counts(session, [ticket_type.id], now).get(ticket_type.id, 0)
        if values["capacity"] < sold:
            problems["capacity"] = ngettext("%(num)d spot is already sold or held; capacity can't go below that.",
                                           "%(num)d spots are already sold or held; capacity can't go below that.", sold)
    if values.get("min_age") is not None and values.get("max_age") is not None and values["min_age"] > values["max_age"]:
        problems["max_age"] = _("The maximum age can't be below the minimum.")
    for name, label in SALES_WINDOW:
        text = (raw.get(name) or "").strip()
        if not text:
            values[name] = None
            continue
        try:
            local = datetime.strptime(text, "%Y-%m-%dT%H:%M")
        except ValueError:
            problems[name] = _("%(field)s: enter a date and time, like 2027-03-01T09:00.", field=label)
            continue
        if problem := day_problem(local.date()):
            problems[name] = _("%(field)s: %(problem)s", field=label, problem=problem[0].lower() + problem[1:])
            continue
        values[name] = local_to_utc(local.date(), local.time(), race.timezone)
    if values.get("sales_start") and values.get("sales_end") and values["sales_start"] >= values["sales_end"]:
        problems["sales_end"] = _("Sales have to end after they start.")
    values["name"] = (raw.get("name") or "").strip()
    values["description"] = (raw.get("description") or "").strip()
    return values, problems


def save_ticket_type(session: Session, race: Race, ticket_type: TicketType, raw: Mapping[str, str], now: datetime,
                     *, form_problems: Mapping[str, str] | None = None) -> None:
    """Save a ticket type's typed fields. Commits, or raises TicketTypeRefused with every problem.

    `form_problems` are what the form found wrong with the shape (a missing name, say); they are
    refused together with the rules broken here, so the organizer sees all of them at once, and a
    field's shape problem comes before its rule.
    """
    values, problems = parse_ticket_type(session, race, ticket_type, raw, now)
    problems = {**(form_problems or {}), **{k: v for k, v in problems.items() if k not in (form_problems or {})}}
    if problems:
        session.rollback()
        raise TicketTypeRefused(problems)
    for name, value in values.items():
        setattr(ticket_type, name, value)
    # With price steps, the first step is this price (services/price_tier_editing.py).
    session.execute(update(PriceTier).where(PriceTier.ticket_type_id == ticket_type.id, PriceTier.position == 0)
                    .values(price=ticket_type.price))
    touch(race)
    session.commit()


def move_ticket_type(session: Session, race: Race, ticket_type: TicketType, direction: int) -> None:
    """Swap with the neighbour above (-1) or below (+1); positions are renumbered 0..n-1. Commits."""
    types = _ordered(session, race)
    index = types.index(ticket_type)
    target = index + direction
    if 0 <= target < len(types):
        types[index], types[target] = types[target], types[index]
    for position, each in enumerate(types):
        each.position = position
    touch(race)
    session.commit()


def set_hidden(session: Session, race: Race, ticket_type: TicketType, hidden: bool) -> None:
    """Hide a ticket type from sale, or show it again; tickets sold stay valid. Commits."""
    ticket_type.hidden = hidden
    touch(race)
    session.commit()


def delete_ticket_type(session: Session, race: Race, ticket_type: TicketType) -> None:
    """Delete a ticket type nobody has a ticket of, paid, pending or in a cart. Commits, or raises TicketTypeInUse."""
    if session.scalar(select(exists().where(Registration.ticket_type_id == ticket_type.id))):
        session.rollback()
        raise TicketTypeInUse(ticket_type.name)
    session.delete(ticket_type)
    touch(race)
    session.commit()
