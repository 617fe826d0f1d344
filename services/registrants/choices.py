"""What the registrant list offers to filter by and names its rows with: the race's ticket types and waiver versions."""
from __future__ import annotations

import functools
from typing import NamedTuple

from sqlalchemy import CompoundSelect, Integer, bindparam, literal, select, union_all
from sqlalchemy.orm import Session

from models import TicketType, WaiverVersion
from services.registrants.query import FOREIGN_TICKET, BadFilter, RegistrantFilters


class TicketChoice(NamedTuple):
    """What the list needs of a ticket type: to offer it as a filter, name it in rows, and count its paid runners."""
    id: int
    name: str
    position: int
    sold_count: int


class WaiverChoice(NamedTuple):
    id: int
    number: int


@functools.lru_cache(maxsize=1)
def _choices_statement() -> CompoundSelect:
    """The race's ticket types and waiver versions in one statement, built once: run with {"race_id"}."""
    race = bindparam("race_id", type_=Integer)
    return union_all(
        select(literal("ticket").label("kind"), TicketType.id, TicketType.name, TicketType.position.label("position"),
               TicketType.sold_count).where(TicketType.race_id == race),
        select(literal("waiver"), WaiverVersion.id, literal(""), WaiverVersion.number, literal(0))
        .where(WaiverVersion.race_id == race)).order_by("kind", "position", "id")


def race_choices(session: Session, race_id: int) -> tuple[list[TicketChoice], list[WaiverChoice]]:
    """The race's ticket types (by position) and waiver versions (by number), as the registrant list uses them."""
    ticket_types, waivers = [], []
    for kind, id_, name, position, sold in session.execute(_choices_statement(), {"race_id": race_id}):
        if kind == "ticket":
            ticket_types.append(TicketChoice(id_, name, position, sold))
        else:
            waivers.append(WaiverChoice(id_, position))
    return ticket_types, waivers


def refuse_foreign_ticket(filters: RegistrantFilters, ticket_type_ids) -> None:
    """BadFilter(FOREIGN_TICKET) when the ticket filter names no ticket type of the race (`ticket_type_ids`): the
    list, its CSVs and the API all refuse it, rather than show an empty list as if nobody had that ticket."""
    if filters.ticket is not None and filters.ticket not in set(ticket_type_ids):
        raise BadFilter(FOREIGN_TICKET)
