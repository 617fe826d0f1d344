"""A registrant list's counts per status: from the ticket types' stored sold counts and the few others when the
list is not narrowed, else a COUNT of its matching registrants (a search's come from services/registrants/search.py).

The statements here are built once with the race, the time and the ticket type as parameters (shapes.py's `RACE`,
`NOW`, `TICKET`), as the list's page statements are (services/registrants/listing.py).
"""
from __future__ import annotations

import functools
from datetime import datetime

from sqlalchemy import (
    CompoundSelect,
    Select,
    String,
    case,
    cast,
    func,
    literal,
    union_all,
)
from sqlalchemy.orm import Session

from models import Order, OrderStatus, Registration
from models.order import holding_at
from services.inventory import sold_for_good
from services.registrants.choices import TicketChoice
from services.registrants.query import (
    STATUSES,
    RegistrantFilters,
    awaiting_runner_condition,
    filtered_but_status_and_details,
    registrants_query,
    status_column,
)
from services.registrants.shapes import NOW, RACE, TICKET


def _counted(everyone: int, awaiting: int, details: str) -> int:
    """How many of `everyone` (of whom `awaiting` wait for their runner's details) the details filter shows."""
    return {"": everyone, "pending": awaiting, "complete": everyone - awaiting}[details]


def count_statuses(session: Session, race_id: int, filters: RegistrantFilters, now: datetime,
           ticket_types: list[TicketChoice]) -> tuple[dict[str, int], int]:
    """A COUNT per status (and of those waiting for their runner) in one query: see `tally_statuses`."""
    if _unnarrowed(filters):
        sold = sum(t.sold_count for t in ticket_types if filters.ticket is None or t.id == filters.ticket)
        rows = [("paid", sold, 0), *session.execute(_stored_counts(filters.ticket is not None),
                                                    {"race_id": race_id, "now": now, "ticket": filters.ticket})]
    else:
        rows = session.execute(_counted_rows(race_id, filters, now)).all()
    return tally_statuses(rows, filters)


def tally_statuses(rows, filters: RegistrantFilters) -> tuple[dict[str, int], int]:
    """From (status, registrants, of them waiting for their runner) rows: the status counts, and how many of the
    registrants the status filter shows wait for their runner's details."""
    counted: dict[str, tuple[int, int]] = {}
    for name, everyone, awaiting in rows:
        had = counted.get(name, (0, 0))
        counted[name] = (had[0] + int(everyone or 0), had[1] + int(awaiting or 0))
    names = [name for name in STATUSES if name != "all"]
    status_counts = {name: _counted(*counted.get(name, (0, 0)), filters.details) for name in names}
    status_counts["all"] = sum(status_counts.values())
    shown = names if filters.status == "all" else [filters.status]
    return status_counts, sum(counted.get(name, (0, 0))[1] for name in shown)


def _unnarrowed(filters: RegistrantFilters) -> bool:
    """Whether the counts may come from the stored sold counts: no search or filter but status, details, ticket."""
    return not (filters.q or filters.checked_in or filters.waiver)


def _status_counts(query: Select) -> Select:
    """(status, registrants, of them waiting for their runner) per status of `query`'s registrants."""
    status = cast(status_column(), String).label("listed_status")
    return (query.with_only_columns(status, func.count(Registration.id),
                                    func.count(case((awaiting_runner_condition(), Registration.id))))
            .group_by(status))


def _counted_rows(race_id: int, filters: RegistrantFilters, now: datetime) -> Select:
    """The counts of a filtered list: its matching registrants counted (the filters' indexes find them)."""
    return _status_counts(filtered_but_status_and_details(registrants_query(race_id, now=now, ticket_type=False),
                                                          filters))


@functools.lru_cache(maxsize=2)
def _stored_counts(one_ticket: bool) -> CompoundSelect:
    """The same counts for the whole list (or one ticket type), flat in the data: the paid registrants are the
    ticket types' stored `sold_count` (services/inventory.py keeps it: paid, not refunded, exactly the "paid"
    status), which the page has read with the ticket types; this counts the rest, the few registrants found
    through partial indexes: paid ones waiting for their runner, orders needing or given a refund, live
    reservations, tickets refunded on their own. The parts share no registrant, and together with the paid
    ones they are every listed one.

    Built once (for the whole list, and for one ticket type) with the race, the time and the ticket type as
    parameters: run it with {"race_id", "now", "ticket"}. Each part's condition names listed registrants only
    (paid, needing or given a refund, or a live reservation), so the list's own condition is left out: the
    same rows, and a fifth less for Postgres to plan (issue 17).
    """
    listed = registrants_query(RACE, now=NOW, ticket_type=False, listed_only=False)
    if one_ticket:
        listed = listed.where(Registration.ticket_type_id == TICKET)
    paid_awaiting = listed.with_only_columns(literal("paid"), literal(0), func.count(Registration.id)).where(
        sold_for_good(), awaiting_runner_condition())
    return union_all(
        paid_awaiting,
        _status_counts(listed.where(Order.status.in_([OrderStatus.NEEDS_REFUND, OrderStatus.REFUNDED]))),
        _status_counts(listed.where(holding_at(NOW))),
        _status_counts(listed.where(Order.status == OrderStatus.PAID, Registration.refunded_at.is_not(None))))

