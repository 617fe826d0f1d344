"""Statements built once per shape of the registrant list (issue 17): the list's filters with their values left
out decide a statement's SQL, and the race, the time, the ticket type and the waiver version are its parameters,
so a request spends no Python building it and SQLAlchemy's compiled cache finds it.
"""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from sqlalchemy import DateTime, Integer, Select, bindparam

from models import Registration
from services.registrants.query import RegistrantFilters, filtered, filtered_but_status_and_details

# The values a statement built once is run with.
RACE = bindparam("race_id", type_=Integer)
NOW = bindparam("now", type_=DateTime(timezone=True))
TICKET = bindparam("ticket", type_=Integer)
WAIVER = bindparam("waiver", type_=Integer)


def filters_shape(filters: RegistrantFilters) -> RegistrantFilters:
    """The filters with their values left out (the search, the ticket type's and waiver version's ids, the page and
    cursors): what decides the SQL of a statement built once for them (`filtered_by_shape`)."""
    return RegistrantFilters(ticket=0 if filters.ticket is not None else None, status=filters.status,
                             checked_in=filters.checked_in, details=filters.details, sort=filters.sort,
                             dir=filters.dir, waiver="0" if filters.waiver not in ("", "none") else filters.waiver)


def shape_values(race_id: int, filters: RegistrantFilters, now: datetime) -> dict:
    """The values a statement built for `filters_shape(filters)` is run with: the race, the time, the ticket type
    and the waiver version."""
    waiver = filters.waiver
    return {"race_id": race_id, "now": now, "ticket": filters.ticket,
            "waiver": int(waiver) if waiver not in ("", "none") else None}


def filtered_by_shape(query: Select, shape: RegistrantFilters, *, status_and_details: bool = True) -> Select:
    """`filtered` (or, without `status_and_details`, `filtered_but_status_and_details`) for a shape
    (`filters_shape`): the ticket type and the waiver version are the parameters TICKET and WAIVER."""
    plain = replace(shape, ticket=None, waiver="" if shape.waiver == "0" else shape.waiver)
    query = filtered(query, plain) if status_and_details else filtered_but_status_and_details(query, plain)
    if shape.ticket is not None:
        query = query.where(Registration.ticket_type_id == TICKET)
    if shape.waiver == "0":
        query = query.where(Registration.waiver_version_id == WAIVER)
    return query
