"""The API for a race's organizers: its registrants (filtered as on the list page, paged by cursor, or every
change since a moment for a device's delta sync) and its dashboard figures. Anyone else gets 404."""
from __future__ import annotations

from datetime import UTC, datetime

from flask import make_response, request
from flask_babel import lazy_gettext as _l
from spectree import Response

from blueprints.api.account import race_ref
from blueprints.api.core import BAD_INPUT, bp, managed_race, signed_in, spec
from blueprints.api.schemas import (
    Dashboard,
    DayCountOut,
    MoneyFigures,
    Problem,
    RegistrantList,
    RegistrantOut,
    RegistrantQuery,
    TicketTypeFiguresOut,
)
from blueprints.problems import ApiProblem
from extensions import db
from services import clock, race_stats
from services.registrants.choices import refuse_foreign_ticket
from services.registrants.feed import FeedRow, registrant_feed
from services.registrants.query import BadFilter, RegistrantFilters, race_ticket_types

FILTER_FIELDS = ("q", "ticket", "status", "checked_in", "waiver", "details", "sort", "dir")
OUT_OF_RANGE = _l("That time is out of range: send an ISO 8601 time between the years 1 and 9999 in UTC.")
ORGANIZERS_ONLY = dict(tags=["organizers"], security={"bearer": []})


def _filters(query: RegistrantQuery, *, changes: bool) -> RegistrantFilters:
    """The list page's filters from the query, each checked by the page's own parser (and so its messages)."""
    given = {name: getattr(query, name) for name in FILTER_FIELDS if getattr(query, name)}
    if changes:  # a device syncing wants to hear that a ticket left "paid" (refunded) too
        given.setdefault("status", "all")
    errors = []
    for name, value in given.items():
        try:
            RegistrantFilters.from_args({name: value})
        except BadFilter as problem:
            errors.append({"field": name, "detail": str(problem)})
    if errors:
        raise ApiProblem(422, BAD_INPUT, errors=errors)
    return RegistrantFilters.from_args(given)


def _registrant(row: FeedRow) -> RegistrantOut:
    r = row.registration
    return RegistrantOut(
        id=r.id, first_name=r.first_name, last_name=r.last_name, email=r.email, ticket_type_id=r.ticket_type_id,
        ticket_type=row.ticket_type_name, status=row.status, bib=r.bib, ticket_code=r.ticket_code,
        checked_in_at=r.checked_in_at, waiver_version=row.waiver_number, awaiting_runner=r.awaiting_runner,
        date_of_birth=r.date_of_birth, gender=r.gender, tshirt_size=r.tshirt_size, club=r.club,
        registered_at=row.registered_at, updated_at=r.updated_at)


@bp.get("/v1/races/<slug>/registrants")
@signed_in
@spec.validate(query=RegistrantQuery, resp=Response("HTTP_304", HTTP_200=RegistrantList, HTTP_401=Problem,
                                                    HTTP_404=Problem, HTTP_422=Problem), **ORGANIZERS_ONLY)
def registrants(slug: str, query: RegistrantQuery):
    """The race's registrants, with the list page's search and filters; with `updated_since` (or
    If-Modified-Since) only those changed since, oldest change first."""
    race = managed_race(slug)
    since = _moment(query.updated_since)
    header_since = request.if_modified_since if since is None else None
    since = since or header_since
    filters = _filters(query, changes=since is not None)
    try:
        refuse_foreign_ticket(filters, [t.id for t in race_ticket_types(db.session, race.id)])
    except BadFilter as problem:
        raise ApiProblem(422, BAD_INPUT, errors=[{"field": "ticket", "detail": str(problem)}]) from None
    try:
        page = registrant_feed(db.session, race.id, filters, clock.now(), limit=query.limit, after=query.after,
                               updated_since=since)
    except BadFilter as problem:
        raise ApiProblem(422, BAD_INPUT, errors=[{"field": "after", "detail": str(problem)}]) from None
    if header_since is not None and not page.rows and not query.after:
        return make_response("", 304)  # nothing changed since the device's copy
    updated_until = page.updated_until
    body = RegistrantList(items=[_registrant(row) for row in page.rows], next_cursor=page.next_cursor,
                          updated_until=updated_until)
    headers = {"Last-Modified": _http_date(updated_until)} if updated_until else {}
    return body, 200, headers


def _moment(since: datetime | None) -> datetime | None:
    """`updated_since` in UTC (UTC when it has no offset); 422 for one no clock reaches (year 1 at +01:00)."""
    try:
        return since.astimezone(UTC) if since is not None and since.tzinfo is not None else (
            since and since.replace(tzinfo=UTC))
    except OverflowError:
        raise ApiProblem(422, BAD_INPUT, errors=[{"field": "updated_since", "detail": OUT_OF_RANGE}]) from None


def _http_date(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")


@bp.get("/v1/races/<slug>/dashboard")
@signed_in
@spec.validate(resp=Response("HTTP_304", HTTP_200=Dashboard, HTTP_401=Problem, HTTP_404=Problem),
               **ORGANIZERS_ONLY)
def dashboard(slug: str):
    """The dashboard's figures: runners, check-ins, sold and left per ticket type, money, sales per day."""
    race = managed_race(slug)
    figures = race_stats.dashboard(db.session, race, clock.now())
    money = figures.money
    return Dashboard(
        race=race_ref(race), runners=figures.runners, checked_in=figures.checked_in,
        awaiting_runners=figures.awaiting_runners, held=figures.held, capacity=figures.capacity,
        days_to_go=figures.days_to_go,
        ticket_types=[TicketTypeFiguresOut(id=t.ticket_type.id, name=t.ticket_type.name, capacity=t.capacity,
                                           sold=t.sold, held=t.held, offered=t.offered, waiting=t.waiting, left=t.left)
                      for t in figures.ticket_types],
        money=MoneyFigures(currency=money.currency, orders=money.orders, subtotal=money.subtotal,
                           discount=money.discount, tax=money.tax, total=money.total,
                           refunded_total=money.refunded_total, net=money.net, tax_included=money.tax_included),
        timeline=[DayCountOut(day=d.day, count=d.count, cumulative=d.cumulative) for d in figures.timeline])


