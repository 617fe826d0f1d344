"""The API's public races: the list with its search, paged by cursor, and one race with today's prices."""
from __future__ import annotations

from datetime import datetime

from flask import request
from spectree import Response

from blueprints.api.core import BAD_INPUT, bp, spec
from blueprints.api.schemas import Money, Problem, RaceDetail, RaceList, RaceQuery, RaceSummary, TicketTypeOut
from blueprints.problems import ApiProblem
from blueprints.races import RaceSearchForm
from blueprints.ticket_form import race_card_or_404
from extensions import db
from services import clock
from services import races as race_service
from services.links import public_url
from services.registrants.query import BadFilter, decode_keys, encode_cursor


def money(amount: int | None, currency: str) -> Money | None:
    return None if amount is None else Money(amount=amount, currency=currency)


def summary_fields(card: race_service.RaceCard) -> dict:
    race = card.race
    return {"slug": race.slug, "title": race.title, "summary": race.summary, "starts_at": race.starts_at,
            "timezone": race.timezone, "location_name": race.location_name, "address": race.address,
            "status": race.status.value, "price_from": money(card.price_from, race.currency),
            "spots_left": card.spots_left, "sold_out": card.sold_out,
            "url": public_url("races.race_page", slug=race.slug)}


def _search_problems() -> RaceSearchForm:
    """The race list page's own search form checks the words and month, with the page's messages."""
    form = RaceSearchForm(formdata=request.args)
    if not form.validate():
        raise ApiProblem(422, BAD_INPUT, errors=[{"field": name, "detail": messages[0]}
                                                 for name, messages in form.errors.items()])
    return form


@bp.get("/v1/races")
@spec.validate(query=RaceQuery, resp=Response("HTTP_304", HTTP_200=RaceList, HTTP_401=Problem, HTTP_422=Problem),
               tags=["races"])
def races(query: RaceQuery):
    """Published races, upcoming (soonest first) or past (latest first), searched as on the race list."""
    _search_problems()
    try:
        after = decode_keys(query.after, (datetime, int)) if query.after else None
    except BadFilter as problem:
        raise ApiProblem(422, BAD_INPUT, errors=[{"field": "after", "detail": str(problem)}]) from None
    cards, more = race_service.list_races(db.session, clock.now(), q=query.q.strip(), month=query.month,
                                          past=query.when == "past", per_page=query.limit, after=after)
    last = cards[-1].race if cards else None
    return RaceList(items=[RaceSummary(**summary_fields(card)) for card in cards],
                    next_cursor=encode_cursor((last.starts_at, last.id)) if more and last else None)


@bp.get("/v1/races/<slug>")
@spec.validate(resp=Response("HTTP_304", HTTP_200=RaceDetail, HTTP_401=Problem, HTTP_404=Problem), tags=["races"])
def race(slug: str):
    """One race with its ticket types: today's price, the next price step, spots left, whether on sale."""
    card = race_card_or_404(slug)  # a draft only for its organizers, as on the page
    race = card.race
    return RaceDetail(
        **summary_fields(card), description_html=race.description_html,
        registration_closes_at=race.registration_closes_at,
        ticket_types=[TicketTypeOut(
            id=offer.ticket_type.id, name=offer.ticket_type.name, description=offer.ticket_type.description,
            price=money(offer.price.price, race.currency), next_price=money(offer.price.next_price, race.currency),
            next_price_on=offer.price.next_on, spots_left=offer.spots_left, on_sale=offer.on_sale,
            sold_out=offer.sold_out, min_age=offer.ticket_type.min_age, max_age=offer.ticket_type.max_age)
            for offer in card.offers])


