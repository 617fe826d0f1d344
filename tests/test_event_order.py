"""Stripe does not promise the order of its events, and may deliver one twice: whatever order the
events of one payment arrive in, the order ends exactly as it does when they arrive in the order
Stripe created them. Each story below plays a payment out in the loopback Stripe, then delivers its
events in every possible order (a fresh race and order each time) and compares what came of it."""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from models import Order, OutboxMessage, Refund, Registration, StripeEvent, TicketType
from services import clock
from services.inventory import count_drift, taken_counts
from tests.doubles.stripe_api import StripeServer
from tests.factories import login, make_cart, make_profile, make_race
from tests.test_payments import deliver, pay, stripe_app, stripe_server  # noqa: F401  (fixtures)
from tests.test_refunds import refund


@dataclass(frozen=True)
class Story:
    """What happens to one payment in Stripe, and which of its events reach the webhook."""

    name: str
    play: Callable[[StripeServer, str, Callable[[], None]], None]   # (stripe, session id, refund a ticket here)
    event_types: tuple[str, ...]
    twice: tuple[int, ...]   # positions (in creation order) of events delivered a second time
    paid_first: bool = False  # the order is paid (its completion delivered) before the story starts


def _refunded_from_the_dashboard_in_two_steps(stripe: StripeServer, session_id: str, _refund_a_ticket) -> None:
    stripe.pay_session(session_id)
    intent = stripe.sessions[session_id]["payment_intent"]
    stripe.refund_payment(intent, 1000)
    stripe.refund_payment(intent)


def _bank_payment_settles_then_is_refunded(stripe: StripeServer, session_id: str, _refund_a_ticket) -> None:
    stripe.pay_session(session_id, async_pending=True)
    stripe.async_result(session_id, True)
    stripe.refund_payment(stripe.sessions[session_id]["payment_intent"])


def _bank_payment_fails(stripe: StripeServer, session_id: str, _refund_a_ticket) -> None:
    stripe.pay_session(session_id, async_pending=True)
    stripe.async_result(session_id, False)


def _a_ticket_refund_fails_after_stripe_accepted_it(stripe: StripeServer, session_id: str, refund_a_ticket) -> None:
    refund_a_ticket()
    intent = stripe.sessions[session_id]["payment_intent"]
    (accepted,) = [r for r in stripe.refunds.values() if r["payment_intent"] == intent]
    stripe.fail_refund(accepted["id"])


def _a_ticket_refunded_here_and_the_rest_in_the_dashboard(stripe: StripeServer, session_id: str,
                                                          refund_a_ticket) -> None:
    refund_a_ticket()
    stripe.refund_payment(stripe.sessions[session_id]["payment_intent"])


STORIES = [
    Story("refunded from the Dashboard in two steps", _refunded_from_the_dashboard_in_two_steps,
          ("checkout.session.completed", "charge.refunded"), twice=(1,)),
    Story("a bank payment settles, then is refunded", _bank_payment_settles_then_is_refunded,
          ("checkout.session.completed", "checkout.session.async_payment_succeeded", "charge.refunded"), twice=(1,)),
    Story("a bank payment fails", _bank_payment_fails,
          ("checkout.session.completed", "checkout.session.async_payment_failed"), twice=(0,)),
    Story("a ticket refund fails after Stripe accepted it", _a_ticket_refund_fails_after_stripe_accepted_it,
          ("charge.refunded", "refund.failed", "charge.refund.updated"), twice=(0,), paid_first=True),
    Story("a ticket refunded here, the rest in Stripe's Dashboard", _a_ticket_refunded_here_and_the_rest_in_the_dashboard,
          ("charge.refunded",), twice=(0,), paid_first=True),
]


def _what_became_of_it(db, order_id, race_id) -> dict:
    """Everything a permutation must agree on: statuses, tickets, refunds, spots and emails."""
    db.session.expire_all()
    order = db.session.get(Order, order_id)
    tickets = db.session.scalars(select(Registration).where(Registration.order_id == order_id).order_by(Registration.id))
    refunds = db.session.scalars(select(Refund).where(Refund.order_id == order_id).order_by(Refund.id))
    refund_position = {refund_id: i for i, refund_id in enumerate(db.session.scalars(
        select(Refund.id).where(Refund.order_id == order_id).order_by(Refund.id)))}
    types = list(db.session.scalars(select(TicketType.id).where(TicketType.race_id == race_id).order_by(TicketType.id)))
    taken = taken_counts(db.session, types, clock.now())
    mail = db.session.scalars(select(OutboxMessage).where(OutboxMessage.order_id == order_id).order_by(OutboxMessage.id))
    return {
        "order": order.status.value,
        "tickets": [(t.ticket_code is not None, t.refunded_at is not None, refund_position.get(t.refund_id), t.bib)
                    for t in tickets],
        "refunds": [(r.status.value, r.amount, r.tax, r.whole_order, r.requested_by_id is None, bool(r.error))
                    for r in refunds],
        "spots taken": [taken.get(type_id, 0) for type_id in types],
        "emails": [(m.kind, m.subject, re.findall(r"\$[\d,]+\.\d\d", m.text_body) if m.kind == "refund_notice" else [])
                   for m in mail],
    }


def _play_and_deliver(app, db, stripe: StripeServer, story: Story, order_of_delivery: tuple[int, ...] | None):
    organizer = make_profile(db)
    race = make_race(db, organizer=organizer, title="Lake Run", tickets=[("10K", 4500, 10)])
    buyer = make_profile(db)
    order = make_cart(db, race, {race.ticket_types[0]: 2}, buyer=buyer)
    buyer_client, webhook = app.test_client(), app.test_client()
    login(buyer_client, buyer)
    assert pay(buyer_client, order).status_code == 303
    db.session.expire_all()
    order = db.session.get(Order, order.id)
    session_id = order.stripe_session_id

    def refund_a_ticket():
        organizer_client = app.test_client()
        login(organizer_client, organizer)
        first = db.session.scalar(select(Registration.id).where(Registration.order_id == order.id)
                                  .order_by(Registration.id))
        assert refund(organizer_client, race, order, first).status_code == 303

    if story.paid_first:
        assert deliver(webhook, stripe.pay_session(session_id)).json["outcome"] == "paid"
    already = {e["id"] for e in stripe.events.values()}
    story.play(stripe, session_id, refund_a_ticket)
    intent = stripe.sessions[session_id]["payment_intent"]
    events = [e for e in stripe.payment_events(intent) if e["type"] in story.event_types and e["id"] not in already]
    order_of_delivery = order_of_delivery or tuple(range(len(events)))
    outcomes = []
    for position in order_of_delivery:
        response = deliver(webhook, events[position])
        assert response.status_code == 200, response.get_data(as_text=True)
        outcomes.append(response.json["outcome"])
    # Whatever order the events came in, each ticket type's stored sold count is what its tickets say.
    assert [d for d in count_drift(db.session) if d.race_slug == race.slug] == [], order_of_delivery
    return _what_became_of_it(db, order.id, race.id), outcomes, len(events)


@pytest.mark.parametrize("story", STORIES, ids=[s.name for s in STORIES])
def test_the_events_of_one_payment_end_the_same_in_any_order(stripe_app, stripe_server, app, db, story):  # noqa: F811
    natural, _, count = _play_and_deliver(app, db, stripe_server, story, None)

    for order_of_delivery in StripeServer.every_delivery_order(count, twice=story.twice):
        ended, outcomes, _ = _play_and_deliver(app, db, stripe_server, story, order_of_delivery)
        assert ended == natural, f"delivered in the order {order_of_delivery} ({outcomes})"


def _pending_at_stripe(app, db, tickets: int):
    """A buyer's order for `tickets` 10K tickets, sent to Stripe Checkout: (race, order, its session id, a webhook client)."""
    race = make_race(db, tickets=[("10K", 4500, 10)])
    buyer = make_profile(db)
    order = make_cart(db, race, {race.ticket_types[0]: tickets}, buyer=buyer)
    buyer_client, webhook = app.test_client(), app.test_client()
    login(buyer_client, buyer)
    pay(buyer_client, order)
    db.session.expire_all()
    return race, order, db.session.get(Order, order.id).stripe_session_id, webhook


def test_a_refund_reported_before_the_payment_still_refunds_the_order(stripe_app, stripe_server, app, db):  # noqa: F811
    race, order, session_id, webhook = _pending_at_stripe(app, db, tickets=2)
    completed = stripe_server.pay_session(session_id)
    refunded = stripe_server.refund_event(stripe_server.sessions[session_id]["payment_intent"])

    first = deliver(webhook, refunded)
    second = deliver(webhook, completed)

    assert (first.json["outcome"], second.json["outcome"]) == ("refunded", "already_done")
    ended = _what_became_of_it(db, order.id, race.id)
    assert ended["order"] == "refunded" and ended["spots taken"] == [0]
    assert [t[1] for t in ended["tickets"]] == [True, True]
    assert db.session.get(StripeEvent, refunded["id"]).order_id == order.id


def test_when_stripe_cannot_be_asked_the_refund_event_is_retried_not_acknowledged(stripe_app, stripe_server, app,  # noqa: F811
                                                                                  db):
    race, order, session_id, webhook = _pending_at_stripe(app, db, tickets=1)
    assert deliver(webhook, stripe_server.pay_session(session_id)).json["outcome"] == "paid"
    refunded = stripe_server.refund_event(stripe_server.sessions[session_id]["payment_intent"])
    stripe_server.fail_next("GET", "/v1/checkout/sessions", status=500, times=3)  # the client tries three times

    first = deliver(webhook, refunded)

    assert first.status_code == 503
    assert db.session.get(StripeEvent, refunded["id"]) is None
    assert _what_became_of_it(db, order.id, race.id)["order"] == "paid"
    assert deliver(webhook, refunded).json["outcome"] == "refunded"  # Stripe's retry


def test_a_refund_of_a_payment_this_database_never_took_is_ignored(stripe_app, stripe_server, app, db):  # noqa: F811
    pending = make_cart(db, make_race(db), {})
    foreign = stripe_server._create_session({
        "mode": "payment", "success_url": "https://elsewhere.example/ok", "metadata": {"app_env": "test"},
        "line_items": [{"quantity": "1", "price_data": {"currency": "usd", "unit_amount": "4500",
                                                        "product_data": {"name": "Someone else's race"}}}]})
    stripe_server.pay_session(foreign["id"])
    refunded = stripe_server.refund_event(stripe_server.sessions[foreign["id"]]["payment_intent"])

    response = deliver(app.test_client(), refunded)

    assert response.status_code == 200 and response.json["outcome"] == "ignored: payment not ours"
    assert db.session.scalar(select(Refund.id)) is None and db.session.get(Order, pending.id).status.value == "cart"
