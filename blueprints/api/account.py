"""The API's answers about the caller: their orders and their tickets, each with the QR code's payload."""
from __future__ import annotations

import uuid
from datetime import datetime

from flask import g
from spectree import Response

from blueprints.api.core import BAD_INPUT, bp, signed_in, spec
from blueprints.api.races import money
from blueprints.api.schemas import OrderList, OrderOut, PageQuery, Problem, RaceRef, TicketList, TicketOut
from blueprints.problems import ApiProblem
from extensions import db
from models import Race
from services.notifications import ticket_url
from services.registrants.query import BAD_CURSOR, BadFilter, decode_keys, encode_cursor, registrant_status
from services.tickets import orders_of, tickets_of


def race_ref(race: Race) -> RaceRef:
    return RaceRef(slug=race.slug, title=race.title, starts_at=race.starts_at, timezone=race.timezone)


def ticket_out(row) -> TicketOut:
    registration, ticket_type, race, order = row
    url = ticket_url(registration.ticket_code)
    return TicketOut(code=registration.ticket_code, qr_payload=url, url=url, race=race_ref(race),
                     ticket_type=ticket_type.name, runner_name=registration.runner_name, bib=registration.bib,
                     status=registrant_status(order.status, registration.refunded_at),
                     checked_in_at=registration.checked_in_at)


@bp.get("/v1/me/tickets")
@signed_in
@spec.validate(resp=Response("HTTP_304", HTTP_200=TicketList, HTTP_401=Problem), tags=["me"],
               security={"bearer": []})
def my_tickets():
    """Every ticket you bought or run on, soonest race first, as the tickets page lists them."""
    return TicketList(items=[ticket_out(row) for row in tickets_of(db.session, g.user.id)])


@bp.get("/v1/me/orders")
@signed_in
@spec.validate(query=PageQuery, resp=Response("HTTP_304", HTTP_200=OrderList, HTTP_401=Problem, HTTP_422=Problem),
               tags=["me"], security={"bearer": []})
def my_orders(query: PageQuery):
    """Your orders past the cart, newest first, with their tickets."""
    try:
        created, order_id = decode_keys(query.after, (datetime, str)) if query.after else (None, None)
        after = (created, uuid.UUID(order_id)) if query.after else None
    except (BadFilter, ValueError):
        raise ApiProblem(422, BAD_INPUT, errors=[{"field": "after", "detail": BAD_CURSOR}]) from None
    orders, more = orders_of(db.session, g.user.id, limit=query.limit, after=after)
    items = [OrderOut(id=bought.order.id, race=race_ref(bought.race), status=bought.order.status.value,
                      subtotal=money(bought.order.subtotal, bought.order.currency),
                      discount=money(bought.order.discount, bought.order.currency),
                      tax=money(bought.order.tax, bought.order.currency),
                      total=money(bought.order.total, bought.order.currency),
                      created_at=bought.order.created_at, paid_at=bought.order.paid_at,
                      tickets=[ticket_out(row) for row in bought.tickets]) for bought in orders]
    last = orders[-1].order if orders else None
    return OrderList(items=items, next_cursor=encode_cursor((last.created_at, str(last.id))) if more and last else None)
