"""Refunds from the organizer's pages: one ticket or a whole order, through Stripe (the real library
against the loopback Stripe) with the signed charge.refunded webhook completing them, or through the
embedded test gateway, which completes them at once."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from models import (
    Order,
    OrderStatus,
    OutboxMessage,
    Refund,
    RefundStatus,
    Registration,
    StripeEvent,
    TaxMode,
    TicketType,
)
from services import clock
from services.inventory import taken_counts
from tests.factories import login, make_cart, make_code, make_order, make_paid_order, make_profile, make_race, recount_race
from tests.http import csrf_token
from tests.manage_access import EXPECTED_GET, VISITORS, assert_answer, visitor_client
from tests.test_payments import deliver, pay, stripe_app, stripe_server  # noqa: F401  (fixtures)


@pytest.fixture
def organizer(db):
    return make_profile(db, full_name="Olga Organizer", email="olga@example.com")


@pytest.fixture
def race(db, organizer):
    race = make_race(db, organizer=organizer, slug="lake-run", title="Lake Run", tickets=[("10K", 4500, 10), ("5K", 3000, 50)])
    race.tax_mode, race.tax_rate_bps = TaxMode.EXCLUSIVE, 825
    db.session.commit()
    return race


@pytest.fixture
def buyer(db):
    return make_profile(db, email="bea@example.com", full_name="Bea Buyer")


@pytest.fixture
def organizer_client(app, organizer):
    client = app.test_client()
    login(client, organizer)
    return client


@pytest.fixture
def paid_with_stripe(stripe_app, stripe_server, app, db, race, buyer):  # noqa: F811
    """Two 10K tickets with a 20 % code and 8.25 % tax, paid through Checkout and the webhook."""
    code = make_code(db, race, code="FRIENDS", percent_off=20)
    order = make_cart(db, race, {race.ticket_types[0]: 2}, buyer=buyer, code=code)
    buyer_client = app.test_client()
    login(buyer_client, buyer)
    assert pay(buyer_client, order).status_code == 303
    session_id = fresh(db, order.id).stripe_session_id
    assert deliver(app.test_client(), stripe_server.pay_session(session_id)).json["outcome"] == "paid"
    return fresh(db, order.id)


def fresh(db, order_id) -> Order:
    db.session.expire_all()
    return db.session.get(Order, order_id)


def registrations(db, order_id) -> list[Registration]:
    db.session.expire_all()
    return list(db.session.scalars(select(Registration).where(Registration.order_id == order_id).order_by(Registration.id)))


def notices(db, order_id) -> list[OutboxMessage]:
    return list(db.session.scalars(select(OutboxMessage).where(OutboxMessage.order_id == order_id,
                                                               OutboxMessage.kind == "refund_notice")))


def taken(db, race) -> int:
    """Spots taken in the race's 10K (paid or held, not refunded)."""
    ten_k = db.session.scalar(select(TicketType.id).where(TicketType.race_id == race.id, TicketType.name == "10K"))
    return taken_counts(db.session, [ten_k], clock.now()).get(ten_k, 0)


def order_ref(order) -> str:
    return str(order.id)[:8].upper()


def order_url(race, order):
    return f"/manage/races/{race.id}/orders/{order.id}"


def refund(client, race, order, registration_id=None):
    data = {"csrf_token": csrf_token(client, order_url(race, order))}
    if registration_id is not None:
        data["registration"] = str(registration_id)
    return client.post(order_url(race, order) + "/refund", data=data)


def text_of(response) -> str:
    body = re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))
    return " ".join(body.replace("&#39;", "'").replace("&amp;", "&").split())


# --- the order and the confirmation ------------------------------------------------------------

def test_order_page_lists_the_tickets_with_a_refund_button_each(organizer_client, db, race, buyer):
    order = make_paid_order(db, race, {race.ticket_types[0]: 2}, buyer=buyer,
                            runners=[{"first_name": "Ada"}, {"first_name": "Ben"}])
    response = organizer_client.get(order_url(race, order))
    body, page = response.get_data(as_text=True), text_of(response)
    assert response.status_code == 200 and "<html" in body
    assert "Bea Buyer · bea@example.com" in page and "Ada Runner1" in page and "Ben Runner2" in page
    for registration in registrations(db, order.id):
        assert f"/refund?registration={registration.id}" in body
    assert "Refund the whole order" in page


def test_order_fragment_for_htmx(organizer_client, db, race):
    order = make_paid_order(db, race, {race.ticket_types[0]: 1})
    body = organizer_client.get(order_url(race, order), headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<html" not in body and body.lstrip().startswith('<div id="order"')


def test_confirmation_says_exactly_what_goes_back_and_which_spot_is_freed(organizer_client, db, race, buyer):
    code = make_code(db, race, code="FRIENDS", percent_off=20)
    order = make_paid_order(db, race, {race.ticket_types[0]: 2}, buyer=buyer, code=code,
                            runners=[{"first_name": "Ada"}, {"first_name": "Ben"}])
    first = registrations(db, order.id)[0]
    assert order.total == 7794  # 9000 − 20 % = 7200, + 8.25 % tax = 594

    one = organizer_client.get(f"{order_url(race, order)}/refund?registration={first.id}")
    page = text_of(one)
    assert one.status_code == 200
    assert "Refund $38.97?" in page and "$38.97 goes back to bea@example.com's card, including $2.97 tax" in page
    assert "Ada Runner1 , 10K" in page and "Ben" not in page and "The rest of the order stays paid" in page
    assert "Test mode: no card is charged or refunded" in page
    whole = text_of(organizer_client.get(f"{order_url(race, order)}/refund"))
    assert "Refund $77.94?" in whole and "Ada Runner1 , 10K" in whole and "Ben Runner2 , 10K" in whole
    fragment = organizer_client.get(f"{order_url(race, order)}/refund", headers={"HX-Request": "true"})
    assert fragment.get_data(as_text=True).lstrip().startswith('<section id="refund"')
    assert fresh(db, order.id).status == OrderStatus.PAID  # looking changes nothing


@pytest.mark.parametrize("path, status", [
    ("/refund?registration=abc", 400),
    ("/refund?registration=999999", 404),
])
def test_bad_refund_addresses(organizer_client, db, race, path, status):
    order = make_paid_order(db, race, {race.ticket_types[0]: 1})
    assert organizer_client.get(order_url(race, order) + path).status_code == status


def test_orders_of_other_races_and_malformed_ids_are_404(organizer_client, db, race):
    elsewhere = make_paid_order(db, make_race(db), {})
    assert organizer_client.get(f"/manage/races/{race.id}/orders/{elsewhere.id}").status_code == 404
    assert organizer_client.get(f"/manage/races/{race.id}/orders/not-a-uuid").status_code == 404
    assert refund(organizer_client, race, elsewhere).status_code == 404
    assert fresh(db, elsewhere.id).status == OrderStatus.PAID


def test_a_ticket_of_another_order_cannot_be_refunded_through_this_one(organizer_client, db, race):
    order = make_paid_order(db, race, {race.ticket_types[0]: 1})
    other = make_paid_order(db, race, {race.ticket_types[0]: 1})
    stranger = registrations(db, other.id)[0]
    assert refund(organizer_client, race, order, stranger.id).status_code == 404
    assert db.session.scalar(select(func.count(Refund.id))) == 0


# --- through Stripe --------------------------------------------------------------------------

def test_refund_one_ticket_through_stripe_and_the_webhook_completes_it(stripe_server, organizer_client, client, db,  # noqa: F811
                                                                       race, paid_with_stripe):
    order = paid_with_stripe
    first, second = registrations(db, order.id)
    assert taken(db, race) == 2

    response = refund(organizer_client, race, order, first.id)

    assert response.status_code == 303 and response.headers["Location"].endswith(f"/orders/{order.id}#refunds")
    sent = stripe_server.requests_to("POST", "/v1/refunds")[-1]["params"]
    assert sent["payment_intent"] == order.payment_intent_id and int(sent["amount"]) == 3897
    pending = db.session.scalar(select(Refund).where(Refund.order_id == order.id))
    assert pending.status == RefundStatus.PENDING and pending.gateway_refund_id.startswith("re_")
    assert registrations(db, order.id)[0].refunded_at is None and taken(db, race) == 2  # not until Stripe says so
    assert "Waiting for Stripe" in text_of(organizer_client.get(order_url(race, order)))

    assert deliver(client, stripe_server.refund_event(order.payment_intent_id)).json["outcome"] == "partially refunded"

    first, second = registrations(db, order.id)
    assert first.refunded_at is not None and second.refunded_at is None
    assert taken(db, race) == 1  # the spot is free again
    assert fresh(db, order.id).status == OrderStatus.PAID
    assert db.session.get(Refund, pending.id).status == RefundStatus.COMPLETED
    (notice,) = notices(db, order.id)
    assert "$38.97 has been refunded" in notice.text_body and notice.to_address == "Bea Buyer <bea@example.com>"

    # The rest of the order: what is left, so the refunds add up to exactly what was paid.
    assert refund(organizer_client, race, order).status_code == 303
    sent = stripe_server.requests_to("POST", "/v1/refunds")[-1]["params"]
    assert int(sent["amount"]) == order.total - 3897
    assert deliver(client, stripe_server.refund_event(order.payment_intent_id)).json["outcome"] == "refunded"
    assert fresh(db, order.id).status == OrderStatus.REFUNDED and taken(db, race) == 0
    assert len(notices(db, order.id)) == 2
    assert db.session.scalar(select(func.sum(Refund.amount)).where(Refund.order_id == order.id)) == order.total


def test_refund_a_whole_order_through_stripe(stripe_server, organizer_client, client, db, race, paid_with_stripe):  # noqa: F811
    order = paid_with_stripe

    assert refund(organizer_client, race, order).status_code == 303

    sent = stripe_server.requests_to("POST", "/v1/refunds")[-1]["params"]
    assert sent["payment_intent"] == order.payment_intent_id and int(sent["amount"]) == order.total
    assert fresh(db, order.id).status == OrderStatus.PAID  # until the webhook
    event = stripe_server.refund_event(order.payment_intent_id)
    assert deliver(client, event).json["outcome"] == "refunded"
    assert fresh(db, order.id).status == OrderStatus.REFUNDED
    assert all(r.refunded_at for r in registrations(db, order.id)) and taken(db, race) == 0
    assert len(notices(db, order.id)) == 1
    assert deliver(client, event).json["outcome"] == "duplicate" and len(notices(db, order.id)) == 1


def test_a_second_request_for_a_ticket_already_on_its_way_is_refused(stripe_server, organizer_client, db, race,  # noqa: F811
                                                                     paid_with_stripe):
    order = paid_with_stripe
    first = registrations(db, order.id)[0]
    assert refund(organizer_client, race, order, first.id).status_code == 303
    count = len(stripe_server.requests_to("POST", "/v1/refunds"))

    again = refund(organizer_client, race, order, first.id)

    assert again.status_code == 409 and "on its way already" in text_of(again)
    assert len(stripe_server.requests_to("POST", "/v1/refunds")) == count


def test_when_stripe_refuses_nothing_changes_and_it_can_be_tried_again(stripe_server, organizer_client, db, race,  # noqa: F811
                                                                       paid_with_stripe):
    order = paid_with_stripe
    stripe_server.fail_next("POST", "/v1/refunds", status=402, type="invalid_request_error",
                            message="Insufficient funds in your Stripe balance.")

    response = refund(organizer_client, race, order)

    assert response.status_code == 502
    assert "didn't accept the refund, so nothing was sent back" in text_of(response)
    failed = db.session.scalar(select(Refund).where(Refund.order_id == order.id))
    assert failed.status == RefundStatus.FAILED and "Insufficient funds" in failed.error
    assert all(r.refund_id is None and r.refunded_at is None for r in registrations(db, order.id))
    assert fresh(db, order.id).status == OrderStatus.PAID and taken(db, race) == 2

    assert refund(organizer_client, race, order).status_code == 303  # Stripe is happy again
    assert db.session.scalar(select(func.count(Refund.id)).where(Refund.status == RefundStatus.PENDING)) == 1


def test_a_payment_that_needs_a_refund_is_refunded_in_full_through_stripe(stripe_server, organizer_client, client, db,  # noqa: F811
                                                                          race, paid_with_stripe):
    tickets = registrations(db, order_id := paid_with_stripe.id)
    order = fresh(db, order_id)
    order.status, order.problem = OrderStatus.NEEDS_REFUND, "Paid $1.00, but the order was for $77.94."
    for registration in tickets:
        registration.ticket_code = None
    recount_race(db, race)
    db.session.commit()

    dashboard = organizer_client.get(f"/manage/races/{race.id}/dashboard").get_data(as_text=True)
    assert f"/orders/{order.id}/refund" in dashboard
    confirm = text_of(organizer_client.get(order_url(race, order) + "/refund"))
    assert "Refund the whole payment?" in confirm and "No tickets were issued" in confirm
    one = refund(organizer_client, race, order, registrations(db, order.id)[0].id)
    assert one.status_code == 409 and "only be refunded as a whole" in text_of(one)

    assert refund(organizer_client, race, order).status_code == 303

    sent = stripe_server.requests_to("POST", "/v1/refunds")[-1]["params"]
    assert sent["payment_intent"] == order.payment_intent_id and "amount" not in sent  # all of whatever was charged
    assert deliver(client, stripe_server.refund_event(order.payment_intent_id)).json["outcome"] == "refunded"
    assert fresh(db, order.id).status == OrderStatus.REFUNDED
    (done,) = db.session.scalars(select(Refund).where(Refund.order_id == order.id))
    assert done.status == RefundStatus.COMPLETED and done.amount == order.total
    assert len(notices(db, order.id)) == 1
    assert f"/orders/{order.id}/refund" not in organizer_client.get(f"/manage/races/{race.id}/dashboard").get_data(
        as_text=True)


def test_a_refund_made_in_stripes_dashboard_is_recorded_and_the_buyer_told(stripe_server, client, db, race,  # noqa: F811
                                                                            paid_with_stripe):
    order = paid_with_stripe
    assert deliver(client, stripe_server.refund_event(order.payment_intent_id)).json["outcome"] == "refunded"
    (outside,) = db.session.scalars(select(Refund).where(Refund.order_id == order.id))
    assert outside.status == RefundStatus.COMPLETED and outside.amount == order.total and outside.requested_by_id is None
    assert fresh(db, order.id).status == OrderStatus.REFUNDED and len(notices(db, order.id)) == 1


def test_the_refund_webhook_is_signed_and_idempotent(stripe_server, organizer_client, client, db, race,  # noqa: F811
                                                     paid_with_stripe):
    order = paid_with_stripe
    refund(organizer_client, race, order, registrations(db, order.id)[0].id)
    event = stripe_server.refund_event(order.payment_intent_id)
    assert deliver(client, event, secret="whsec_wrong").status_code == 400
    assert registrations(db, order.id)[0].refunded_at is None
    assert deliver(client, event).status_code == 200
    assert deliver(client, event).json["outcome"] == "duplicate"
    assert len(notices(db, order.id)) == 1 and db.session.get(StripeEvent, event["id"]).order_id == order.id


def test_a_refund_stripe_fails_after_accepting_it_shows_and_the_ticket_can_be_refunded_again(  # noqa: F811
        stripe_server, organizer_client, client, db, race, paid_with_stripe):
    order = paid_with_stripe
    first = registrations(db, order.id)[0]
    refund(organizer_client, race, order, first.id)
    asked = db.session.scalar(select(Refund).where(Refund.order_id == order.id))

    failed, _updated, _charge_refund_updated = stripe_server.fail_refund(asked.gateway_refund_id)
    assert failed["type"] == "refund.failed" and failed["data"]["object"]["status"] == "failed"
    assert deliver(client, failed).json["outcome"] == "refund failed"

    db.session.expire_all()
    assert db.session.get(Refund, asked.id).status == RefundStatus.FAILED
    first = registrations(db, order.id)[0]
    assert first.refund_id is None and first.refunded_at is None and taken(db, race) == 2
    assert notices(db, order.id) == []  # nothing went back, so the buyer is told nothing
    page = text_of(organizer_client.get(order_url(race, order)))
    assert "A refund failed" in page and "Stripe couldn't send $38.97 back: the card has expired or was cancelled" in page
    dashboard = text_of(organizer_client.get(f"/manage/races/{race.id}/dashboard"))
    assert "1 refund failed" in dashboard and f"Order {order_ref(order)}" in dashboard
    assert organizer_client.get(f"{order_url(race, order)}/refund?registration={first.id}").status_code == 200


def test_a_refund_that_fails_after_it_was_reported_done_is_no_longer_counted(stripe_server, organizer_client,  # noqa: F811
                                                                             client, db, race, paid_with_stripe):
    order = paid_with_stripe
    refund(organizer_client, race, order, registrations(db, order.id)[0].id)
    assert deliver(client, stripe_server.refund_event(order.payment_intent_id)).json["outcome"] == "partially refunded"
    done = db.session.scalar(select(Refund).where(Refund.order_id == order.id))

    *_, charge_refund_updated = stripe_server.fail_refund(done.gateway_refund_id, reason="lost_or_stolen_card")
    assert charge_refund_updated["type"] == "charge.refund.updated"
    assert deliver(client, charge_refund_updated).json["outcome"] == "refund failed"

    assert db.session.get(Refund, done.id, populate_existing=True).status == RefundStatus.FAILED
    page = text_of(organizer_client.get(order_url(race, order)))
    assert "A refund failed" in page and "the card was reported lost or stolen" in page
    assert "Partly refunded" not in page and f"Paid ${order.total / 100:,.2f}" in page
    assert "1 refund failed" in text_of(organizer_client.get(f"/manage/races/{race.id}/dashboard"))


def test_a_refunded_ticket_gives_its_bib_number_back(stripe_server, organizer_client, client, db, race,  # noqa: F811
                                                     paid_with_stripe):
    order = paid_with_stripe
    first, second = registrations(db, order.id)
    first.bib, second.bib = 101, 102
    db.session.commit()

    refund(organizer_client, race, order, first.id)
    deliver(client, stripe_server.refund_event(order.payment_intent_id))
    assert [r.bib for r in registrations(db, order.id)] == [None, 102]

    stripe_server.refund_payment(order.payment_intent_id)  # the rest, from Stripe's Dashboard
    assert deliver(client, stripe_server.refund_event(order.payment_intent_id)).json["outcome"] == "refunded"
    assert [r.bib for r in registrations(db, order.id)] == [None, None]


def test_after_a_partial_refund_the_order_page_shows_paid_refunded_net_and_whose_ticket(organizer_client, db, race,
                                                                                       buyer):
    order = make_paid_order(db, race, {race.ticket_types[0]: 2}, buyer=buyer,
                            runners=[{"first_name": "Ada"}, {"first_name": "Ben"}])
    refund(organizer_client, race, order, registrations(db, order.id)[0].id)
    share = (order.total + 1) // 2

    response = organizer_client.get(order_url(race, order))

    page, body = text_of(response), response.get_data(as_text=True)
    assert "Partly refunded" in page and "Order " in page
    assert f"Paid ${order.total / 100:,.2f} Refunded −${share / 100:,.2f} Net ${(order.total - share) / 100:,.2f}" in page
    assert "Refunded $" in page and "Ada Runner1 (10K)" in page and "tickets · asked" not in page
    assert 'aria-current="page"' not in body  # an order page is not the Dashboard tab


# --- through the embedded test gateway ------------------------------------------------------------

def test_with_the_test_gateway_a_ticket_refund_completes_at_once(organizer_client, db, race, buyer):
    order = make_paid_order(db, race, {race.ticket_types[0]: 2}, buyer=buyer)
    first = registrations(db, order.id)[0]

    assert refund(organizer_client, race, order, first.id).status_code == 303

    done = db.session.scalar(select(Refund).where(Refund.order_id == order.id))
    assert done.status == RefundStatus.COMPLETED and done.gateway_refund_id.startswith("test_refund_")
    assert done.amount == (order.total + 1) // 2  # its share of the total, rounded half up
    first, second = registrations(db, order.id)
    assert first.refunded_at is not None and second.refunded_at is None and taken(db, race) == 1
    assert fresh(db, order.id).status == OrderStatus.PAID and len(notices(db, order.id)) == 1
    page = text_of(organizer_client.get(order_url(race, order)))
    assert "Refunded" in page and f"${done.amount / 100:,.2f}" in page


def test_with_the_test_gateway_a_whole_order_refund_ends_the_order(organizer_client, db, race):
    order = make_paid_order(db, race, {race.ticket_types[0]: 3})
    assert refund(organizer_client, race, order).status_code == 303
    assert fresh(db, order.id).status == OrderStatus.REFUNDED and taken(db, race) == 0
    assert len(notices(db, order.id)) == 1
    again = refund(organizer_client, race, order)
    assert again.status_code == 409 and "refunded already" in text_of(again)


def test_with_the_test_gateway_a_payment_that_needs_a_refund_is_marked_refunded(organizer_client, db, race):
    order = make_order(db, race, race.ticket_types[0], 1, status=OrderStatus.NEEDS_REFUND)
    order.total, order.subtotal, order.payment_intent_id = 4500, 4500, "test_pi_abc"
    order.problem = "Payment arrived after the reservation ran out, and the race had filled up."
    db.session.commit()
    assert refund(organizer_client, race, order).status_code == 303
    assert fresh(db, order.id).status == OrderStatus.REFUNDED and len(notices(db, order.id)) == 1


def test_a_free_ticket_is_cancelled_without_asking_the_gateway(organizer_client, db, race):
    free = make_code(db, race, code="COMP", percent_off=100)
    order = make_paid_order(db, race, {race.ticket_types[0]: 1}, code=free)
    assert order.total == 0
    assert "Nothing was paid for this ticket" in text_of(organizer_client.get(order_url(race, order) + "/refund"))
    assert refund(organizer_client, race, order).status_code == 303
    assert fresh(db, order.id).status == OrderStatus.REFUNDED and taken(db, race) == 0
    assert notices(db, order.id) == []  # no money moved, nothing to tell


def test_partial_refunds_show_on_the_dashboard(organizer_client, db, race):
    order = make_paid_order(db, race, {race.ticket_types[0]: 2})
    refund(organizer_client, race, order, registrations(db, order.id)[0].id)
    page = text_of(organizer_client.get(f"/manage/races/{race.id}/dashboard"))
    share, share_tax = (order.total + 1) // 2, (order.tax + 1) // 2
    assert f"Refunded tickets −${share / 100:,.2f}" in page
    assert f"(after tax and refunds) ${(order.total - order.tax - (share - share_tax)) / 100:,.2f}" in page


# --- who may ----------------------------------------------------------------------------------

@pytest.mark.parametrize("who", VISITORS)
def test_only_the_races_organizers_see_orders_or_refund_them(app, db, race, who):
    order = make_paid_order(db, race, {race.ticket_types[0]: 2})
    client, token = visitor_client(app, db, race, who)
    url = order_url(race, order)

    assert_answer(client.get(url), EXPECTED_GET[who], "order")
    assert_answer(client.get(url + "/refund"), EXPECTED_GET[who], "confirm")
    response = client.post(url + "/refund", data={"csrf_token": token})
    if who in ("owner", "co-organizer"):
        assert response.status_code == 303 and fresh(db, order.id).status == OrderStatus.REFUNDED
        return
    assert_answer(response, EXPECTED_GET[who], "refund")
    assert fresh(db, order.id).status == OrderStatus.PAID
    assert db.session.scalar(select(func.count(Refund.id))) == 0


@pytest.mark.parametrize("event_first", [True, False], ids=["its event first", "its event after"])
def test_a_refund_call_that_fails_after_stripe_made_it_stays_on_its_way_and_its_event_completes_it(
        db, race, buyer, organizer, app, event_first):
    """The call to Stripe times out after Stripe made the refund. Whether Stripe's event completed it before the
    call's failure is recorded or comes after: the refund is not marked failed (that freed its ticket to be refunded
    again, so the money could go back twice); it is on its way, and its event completes it, the ticket refunded once."""
    from sqlalchemy.orm import Session

    from extensions import db as database
    from services.locking import lock_order_and_its_types
    from services.payments import PaymentRecord, PaymentUnavailable, ProviderRefund
    from services.refunds import complete_refund, request_refund

    order = make_paid_order(db, race, {race.ticket_types[0]: 2}, buyer=buyer)
    first = registrations(db, order.id)[0]

    def stripe_s_event(refund_id):
        with Session(database.engine) as webhook:
            lock_order_and_its_types(webhook, order.id)
            complete_refund(webhook, webhook.get(Refund, refund_id), clock.now())
            webhook.commit()

    class TimingOut:
        """Stripe makes the refund, and the answer never arrives."""
        is_test = False
        made = None

        def refund(self, payment_intent, amount, refund_id):
            self.made = refund_id
            if event_first:
                stripe_s_event(refund_id)  # handled while the call waits
            raise PaymentUnavailable("Stripe didn't answer in time.")

        def payment_record(self, payment_intent):
            return PaymentRecord(payment_intent, None, (ProviderRefund("re_1", 4500, "succeeded", "", 0, self.made),))

    done = request_refund(db.session, TimingOut(), order.id, first.id, organizer, clock.now())

    assert done.status == (RefundStatus.COMPLETED if event_first else RefundStatus.PENDING)
    assert done.gateway_refund_id == "re_1"
    if not event_first:
        stripe_s_event(done.id)
    db.session.expire_all()
    first = db.session.get(Registration, first.id)
    assert first.refund_id == done.id and first.refunded_at is not None and taken(db, race) == 1
    assert db.session.get(Refund, done.id).status == RefundStatus.COMPLETED
