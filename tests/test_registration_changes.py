"""Transfers and distance changes: every rule, free changes at once, paid ones through the payment machinery."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from flask import current_app
from sqlalchemy import select

from models import (
    ChangeStatus,
    Order,
    OrderKind,
    OrderStatus,
    PriceTier,
    Race,
    Refund,
    RefundStatus,
    Registration,
    RegistrationAudit,
    RegistrationChange,
)
from services.fulfillment import pay_on_test_gateway
from services.payments import gateway_for
from services.permissions import may_change_ticket
from services.registration_changes.links import change_link_token, open_change_link
from services.registration_changes.rules import ChangeRefused, ticket_value
from services.registration_changes.start import (
    RUNNER_LINK,
    Actor,
    NewRunner,
    NewRunnerRefused,
    cancel_pending,
    start_distance_change,
    start_transfer,
)
from services.stored_sentences import worded
from services.stripe_events import handle_event
from tests.change_factories import buyer_actor, make_change_race, outbox, paid_ticket, ticket_type, urls
from tests.factories import forged, make_profile, recount_race

BO = NewRunner("Bo", "Lee", "bo@example.com")


def now() -> datetime:
    return datetime.now(UTC)


def transfer(db, app, registration, runner=BO, actor=None, at=None):
    with current_app.test_request_context():  # the test gateway's page is a URL of ours
        return start_transfer(db.session, gateway_for(app), registration, runner, actor or buyer_actor(db, registration),
                          at or now(), urls)


def change_distance(db, app, registration, name, actor=None, at=None):
    new_type = ticket_type(db, db.session.get(Race, registration.race_id), name)
    with current_app.test_request_context():
        return start_distance_change(db.session, gateway_for(app), registration, new_type.id,
                                 actor or buyer_actor(db, registration), at or now(), urls)


def fresh(db, registration) -> Registration:
    db.session.expire_all()
    return db.session.get(Registration, registration.id)


# --- transfers ---------------------------------------------------------------------------------

def test_a_free_transfer_gives_the_ticket_to_the_new_runner_with_a_new_code_and_their_link(db, app):
    race = make_change_race(db)
    ticket = paid_ticket(db, race, date_of_birth=date(1990, 1, 1), club="Harriers", bib=7)
    old_code = ticket.ticket_code
    started = transfer(db, app, ticket)
    assert started.payment_url is None
    ticket = fresh(db, ticket)
    assert (ticket.first_name, ticket.last_name, ticket.email) == ("Bo", "Lee", "bo@example.com")
    assert ticket.date_of_birth is None and ticket.club == "" and ticket.waiver_signature == ""
    assert ticket.awaiting_runner and ticket.invite_nonce and ticket.invite_sent_at is not None
    assert ticket.ticket_code != old_code and ticket.bib == 7
    assert [m.to_address for m in outbox(db, "runner_invite")] == ["Bo Lee <bo@example.com>"]
    assert sorted(m.to_address for m in outbox(db, "change_transferred")) == ["ada@example.com", "ana@example.com"]
    change = db.session.get(RegistrationChange, started.change.id)
    assert change.status == ChangeStatus.APPLIED and change.old_ticket_code == old_code
    audit = db.session.scalar(select(RegistrationAudit).where(RegistrationAudit.registration_id == ticket.id))
    assert (audit.field, audit.old_value, audit.new_value) == (
        "transfer", "Ada Lovelace <ada@example.com>", "Bo Lee <bo@example.com>")


def test_a_transfer_frees_the_bib_when_the_race_says_so(db, app):
    race = make_change_race(db, keeps_bib=False)
    ticket = paid_ticket(db, race, bib=7)
    transfer(db, app, ticket)
    assert fresh(db, ticket).bib is None


def test_the_old_code_stops_working_and_says_transferred(db, app, client):
    race = make_change_race(db)
    ticket = paid_ticket(db, race)
    old_code = ticket.ticket_code
    transfer(db, app, ticket)
    gone = client.get(f"/tickets/{old_code}")
    assert gone.status_code == 410 and "transferred" in gone.get_data(as_text=True)
    assert client.get(f"/tickets/{fresh(db, ticket).ticket_code}").status_code == 200


def test_a_transfer_to_the_same_email_is_refused(db, app):
    race = make_change_race(db)
    ticket = paid_ticket(db, race)
    with pytest.raises(ChangeRefused, match="email this ticket already has"):
        transfer(db, app, ticket, NewRunner("Ada", "Again", "ADA@example.com "))
    assert fresh(db, ticket).first_name == "Ada"


@pytest.mark.parametrize("runner, field", [(NewRunner("", "Lee", "bo@example.com"), "first_name"),
                                           (NewRunner("Bo", "Lee", "not-an-email"), "email"),
                                           (NewRunner("Bo", "x" * 500, "bo@example.com"), "last_name")])
def test_a_transfer_needs_a_real_name_and_email(db, app, runner, field):
    race = make_change_race(db)
    ticket = paid_ticket(db, race)
    with pytest.raises(NewRunnerRefused) as refused:
        transfer(db, app, ticket, runner)
    assert field in refused.value.problems
    assert db.session.scalar(select(RegistrationChange.id)) is None


def test_transfers_turned_off_are_refused(db, app):
    race = make_change_race(db)
    race.transfers_enabled = False
    db.session.commit()
    with pytest.raises(ChangeRefused, match="doesn't allow transfers"):
        transfer(db, app, paid_ticket(db, race))


def test_a_transfer_after_its_date_is_refused(db, app):
    race = make_change_race(db)
    race.transfers_until = now() + timedelta(days=2)
    db.session.commit()
    ticket = paid_ticket(db, race)
    with pytest.raises(ChangeRefused, match="closed"):
        transfer(db, app, ticket, at=now() + timedelta(days=3))
    transfer(db, app, ticket, at=now() + timedelta(days=1))  # before it: fine


def test_without_a_date_transfers_close_with_sign_up(db, app):
    race = make_change_race(db)
    ticket = paid_ticket(db, race)
    with pytest.raises(ChangeRefused, match="closed"):
        transfer(db, app, ticket, at=race.registration_closes_at + timedelta(minutes=1))


def test_a_checked_in_or_refunded_ticket_cannot_move(db, app):
    race = make_change_race(db)
    ticket = paid_ticket(db, race)
    ticket.checked_in_at = now()
    db.session.commit()
    with pytest.raises(ChangeRefused, match="checked in"):
        transfer(db, app, ticket)
    other = paid_ticket(db, race, email="eve@example.com")
    other.refunded_at = now()
    recount_race(db, other.race_id)
    db.session.commit()
    with pytest.raises(ChangeRefused, match="refunded"):
        transfer(db, app, other)


def test_a_transfer_fee_is_paid_on_the_payment_page_before_the_transfer_happens(db, app):
    race = make_change_race(db, fee=1000)
    ticket = paid_ticket(db, race)
    started = transfer(db, app, ticket)
    assert started.payment_url and "/test-gateway/" in started.payment_url
    order = db.session.get(Order, started.change.order_id)
    assert (order.kind, order.status, order.total) == (OrderKind.CHANGE, OrderStatus.PENDING, 1000)
    assert fresh(db, ticket).first_name == "Ada"  # nothing moves before the money
    with pytest.raises(ChangeRefused, match="waiting for its payment"):
        transfer(db, app, ticket, NewRunner("Cy", "Park", "cy@example.com"))
    pay_on_test_gateway(db.session, order, now())
    assert fresh(db, ticket).email == "bo@example.com"
    db.session.expire_all()
    assert db.session.get(Order, order.id).status == OrderStatus.PAID
    assert db.session.get(RegistrationChange, started.change.id).status == ChangeStatus.APPLIED


def _paid_event(order: Order, event_id: str, intent: str = "pi_change_1") -> dict:
    return {"id": event_id, "type": "checkout.session.completed",
            "data": {"object": {"id": order.stripe_session_id, "payment_status": "paid", "amount_total": order.total,
                                "currency": order.currency.lower(), "payment_intent": intent,
                                "metadata": {"app_env": "test", "order_id": str(order.id)},
                                "client_reference_id": str(order.id)}}}


def test_the_webhook_delivered_twice_transfers_once(db, app):
    race = make_change_race(db, fee=1000)
    ticket = paid_ticket(db, race)
    order = db.session.get(Order, transfer(db, app, ticket).change.order_id)
    gateway = gateway_for(app)
    assert handle_event(db.session, _paid_event(order, "evt_1"), "test", now(), gateway) == "paid"
    code = fresh(db, ticket).ticket_code
    assert handle_event(db.session, _paid_event(order, "evt_1"), "test", now(), gateway) == "duplicate"
    # Stripe may also send the news again under another event (async success after completed).
    assert handle_event(db.session, _paid_event(order, "evt_2"), "test", now(), gateway) == "already_done"
    assert fresh(db, ticket).ticket_code == code
    assert len(outbox(db, "runner_invite")) == 1
    assert db.session.scalar(select(RegistrationAudit.id).where(RegistrationAudit.field == "transfer")) is not None
    assert len(list(db.session.scalars(select(RegistrationAudit).where(RegistrationAudit.field == "transfer")))) == 1


def test_a_payment_after_the_change_was_cancelled_is_refunded_not_applied(db, app):
    race = make_change_race(db, fee=1000)
    ticket = paid_ticket(db, race)
    started = transfer(db, app, ticket)
    assert cancel_pending(db.session, gateway_for(app), fresh(db, ticket))
    order = db.session.get(Order, started.change.order_id)
    assert order.status == OrderStatus.CANCELED
    assert handle_event(db.session, _paid_event(order, "evt_late"), "test", now(), gateway_for(app)) == "needs_refund"
    db.session.expire_all()
    assert db.session.get(Order, order.id).status == OrderStatus.NEEDS_REFUND
    assert db.session.get(RegistrationChange, started.change.id).status == ChangeStatus.CANCELED
    assert fresh(db, ticket).email == "ada@example.com"
    assert [m.to_address for m in outbox(db, "change_refund_pending")] == ["ana@example.com"]


def test_an_expired_payment_page_ends_the_change_and_frees_the_ticket_for_another(db, app):
    from services.checkout import expire_reservations

    race = make_change_race(db, fee=1000)
    ticket = paid_ticket(db, race)
    started = transfer(db, app, ticket)
    assert expire_reservations(db.session, gateway_for(app), now() + timedelta(hours=1)) == 1
    db.session.expire_all()
    assert db.session.get(Order, started.change.order_id).status == OrderStatus.EXPIRED  # never a cart
    assert db.session.get(RegistrationChange, started.change.id).status == ChangeStatus.CANCELED
    transfer(db, app, fresh(db, ticket), NewRunner("Cy", "Park", "cy@example.com"))


def test_a_paid_transfer_whose_deadline_passed_meanwhile_is_refunded(db, app):
    race = make_change_race(db, fee=1000)
    ticket = paid_ticket(db, race)
    order = db.session.get(Order, transfer(db, app, ticket).change.order_id)
    pay_on_test_gateway(db.session, order, race.registration_closes_at + timedelta(seconds=1))
    db.session.expire_all()
    assert db.session.get(Order, order.id).status == OrderStatus.NEEDS_REFUND
    assert fresh(db, ticket).email == "ada@example.com"


def test_the_runner_acting_by_link_is_named_in_the_audit_trail(db, app):
    race = make_change_race(db)
    ticket = paid_ticket(db, race)
    transfer(db, app, ticket, actor=Actor(None, ticket.email, RUNNER_LINK))
    audit = db.session.scalar(select(RegistrationAudit))
    assert audit.profile_id is None and audit.actor == RUNNER_LINK


# --- distance changes ---------------------------------------------------------------------------

def test_a_dearer_distance_is_paid_for_then_changed(db, app):
    race = make_change_race(db)
    ticket = paid_ticket(db, race, bib=7)
    started = change_distance(db, app, ticket, "Half")
    order = db.session.get(Order, started.change.order_id)
    assert order.total == 1500 and fresh(db, ticket).ticket_type_id == ticket_type(db, race, "10K").id
    pay_on_test_gateway(db.session, order, now())
    ticket = fresh(db, ticket)
    assert ticket.ticket_type_id == ticket_type(db, race, "Half").id
    # The ticket's price stays what its own order charged; the difference is its change order's money.
    assert ticket.price == 4500 and ticket_value(db.session, ticket) == 6000
    assert ticket.ticket_code and ticket.bib == 7  # the same ticket, code and bib
    assert {m.to_address for m in outbox(db, "change_distance")} == {"ada@example.com", "ana@example.com"}


def test_a_distance_change_costs_the_new_distances_price_today_and_counts_in_its_step(db, app):
    """With an early price on the Half ($50 for the first 100, then $60), the difference is from $50, and the
    ticket counts toward that step (not the 10K's)."""
    race = make_change_race(db)
    half = ticket_type(db, race, "Half")
    early = PriceTier(ticket_type_id=half.id, position=0, price=5000, until_sold=100, label="Early bird")
    db.session.add_all([early, PriceTier(ticket_type_id=half.id, position=1, price=6000,
                                         starts_on=(now() + timedelta(days=30)).date())])
    db.session.commit()
    ticket = paid_ticket(db, race)
    started = change_distance(db, app, ticket, "Half")
    order = db.session.get(Order, started.change.order_id)
    assert order.total == 500
    pay_on_test_gateway(db.session, order, now())
    ticket = fresh(db, ticket)
    assert ticket.ticket_type_id == half.id and ticket_value(db.session, ticket) == 5000
    assert ticket.price_tier_id == early.id


def test_a_full_distance_is_refused(db, app):
    race = make_change_race(db, half_capacity=1)
    paid_ticket(db, race, type_name="Half", email="hal@example.com")
    ticket = paid_ticket(db, race)
    with pytest.raises(ChangeRefused, match="sold out"):
        change_distance(db, app, ticket, "Half")


def test_a_distance_that_fills_up_before_the_payment_arrives_is_refunded(db, app):
    race = make_change_race(db, half_capacity=1)
    ticket = paid_ticket(db, race)
    order = db.session.get(Order, change_distance(db, app, ticket, "Half").change.order_id)
    paid_ticket(db, race, type_name="Half", email="hal@example.com")  # the last spot goes meanwhile
    pay_on_test_gateway(db.session, order, now())
    db.session.expire_all()
    assert db.session.get(Order, order.id).status == OrderStatus.NEEDS_REFUND
    assert "sold out" in worded(db.session.get(Order, order.id).problem)
    assert fresh(db, ticket).ticket_type_id == ticket_type(db, race, "10K").id


def test_an_age_that_does_not_fit_the_new_distance_is_refused(db, app):
    race = make_change_race(db)
    ticket_type(db, race, "Half").min_age = 40
    db.session.commit()
    ticket = paid_ticket(db, race, date_of_birth=date(2000, 1, 1))
    with pytest.raises(ChangeRefused, match="40 or older"):
        change_distance(db, app, ticket, "Half")


def test_the_same_distance_or_distance_changes_off_are_refused(db, app):
    race = make_change_race(db)
    ticket = paid_ticket(db, race)
    with pytest.raises(ChangeRefused, match="already for the 10K"):
        change_distance(db, app, ticket, "10K")
    race.distance_changes_enabled = False
    db.session.commit()
    with pytest.raises(ChangeRefused, match="doesn't allow changing distance"):
        change_distance(db, app, ticket, "Half")


def test_a_cheaper_distance_is_changed_at_once_and_the_difference_refunded(db, app):
    race = make_change_race(db)
    ticket = paid_ticket(db, race)
    started = change_distance(db, app, ticket, "5K")
    assert started.payment_url is None and started.refund_problem == ""
    ticket = fresh(db, ticket)
    assert ticket.ticket_type_id == ticket_type(db, race, "5K").id and ticket.price == 2500
    refund = db.session.scalar(select(Refund).where(Refund.order_id == ticket.order_id))
    assert (refund.amount, refund.status) == (2000, RefundStatus.COMPLETED)
    assert ticket.refunded_at is None and db.session.get(Order, ticket.order_id).status == OrderStatus.PAID


def test_a_cheaper_distance_without_refund_keeps_the_money(db, app):
    race = make_change_race(db, refund_difference=False)
    ticket = paid_ticket(db, race)
    change_distance(db, app, ticket, "5K")
    ticket = fresh(db, ticket)
    assert ticket.ticket_type_id == ticket_type(db, race, "5K").id and ticket.price == 4500
    assert db.session.scalar(select(Refund.id)) is None


def test_the_organizer_waives_the_fee_and_a_dearer_distances_difference(db, app):
    race = make_change_race(db, fee=1000)
    ticket = paid_ticket(db, race)
    organizer = Actor(race.organizer_id, "olga@example.com", by_organizer=True)
    assert transfer(db, app, ticket, actor=organizer).payment_url is None
    assert change_distance(db, app, fresh(db, ticket), "Half", actor=organizer).payment_url is None
    ticket = fresh(db, ticket)
    assert ticket.email == "bo@example.com" and ticket.ticket_type_id == ticket_type(db, race, "Half").id
    assert ticket.price == 4500  # what was paid
    assert db.session.scalar(select(Order.id).where(Order.kind == OrderKind.CHANGE)) is None


# --- the runner's link -------------------------------------------------------------------------

def test_the_runners_link_lasts_an_hour_and_dies_with_a_transfer(db, app):
    race = make_change_race(db)
    ticket = paid_ticket(db, race)
    token = change_link_token(ticket, now())
    assert open_change_link(db.session, token, now() + timedelta(minutes=59)).id == ticket.id
    with pytest.raises(ChangeRefused) as expired:
        open_change_link(db.session, token, now() + timedelta(minutes=61))
    assert expired.value.status == 410
    with pytest.raises(ChangeRefused) as forgery:
        open_change_link(db.session, forged(token), now())
    assert forgery.value.status == 404
    transfer(db, app, ticket)
    with pytest.raises(ChangeRefused) as transferred:
        open_change_link(db.session, token, now())
    assert transferred.value.status == 404


def test_an_expired_event_arriving_after_the_payment_changes_nothing(db, app):
    race = make_change_race(db, fee=1000)
    ticket = paid_ticket(db, race)
    started = transfer(db, app, ticket)
    order = db.session.get(Order, started.change.order_id)
    gateway = gateway_for(app)
    assert handle_event(db.session, _paid_event(order, "evt_paid"), "test", now(), gateway) == "paid"
    expired = {"id": "evt_expired", "type": "checkout.session.expired",
               "data": {"object": {"id": order.stripe_session_id, "metadata": {"app_env": "test"}}}}
    assert handle_event(db.session, expired, "test", now(), gateway) == "nothing held"
    db.session.expire_all()
    assert db.session.get(Order, order.id).status == OrderStatus.PAID
    assert db.session.get(RegistrationChange, started.change.id).status == ChangeStatus.APPLIED


def test_a_transfer_during_a_pending_distance_change_is_refused(db, app):
    race = make_change_race(db)
    ticket = paid_ticket(db, race)
    assert change_distance(db, app, ticket, "Half").payment_url
    with pytest.raises(ChangeRefused, match="waiting for its payment"):
        transfer(db, app, fresh(db, ticket))


def test_a_refund_notice_for_a_change_paid_by_link_goes_to_the_runner_who_paid(db, app):
    race = make_change_race(db, fee=1000)
    ticket = paid_ticket(db, race)
    started = transfer(db, app, ticket, actor=Actor(None, ticket.email, RUNNER_LINK))
    order = db.session.get(Order, started.change.order_id)
    pay_on_test_gateway(db.session, order, race.registration_closes_at + timedelta(seconds=1))
    assert [m.to_address for m in outbox(db, "change_refund_pending")] == ["ada@example.com"]


def test_only_the_buyer_or_the_runners_own_account_may_change_a_ticket_themselves(db, app):
    race = make_change_race(db)
    ticket = paid_ticket(db, race)
    buyer_id = db.session.get(Order, ticket.order_id).buyer_id
    runner, stranger = make_profile(db, email="ada-account@example.com"), make_profile(db, email="eve@example.com")
    ticket.runner_profile_id = runner.id
    db.session.commit()
    assert may_change_ticket(db.session, ticket, buyer_id)
    assert may_change_ticket(db.session, ticket, runner.id)
    assert not may_change_ticket(db.session, ticket, stranger.id)
    assert not may_change_ticket(db.session, ticket, None)


@pytest.mark.postgres
def test_a_transfer_fee_paid_while_the_ticket_is_being_refunded_is_refunded_and_the_ticket_stays(db, app):
    """The new runner pays the transfer fee just as the organizer refunds the ticket: the payment waits for the refund
    and then finds the ticket refunded, so its fee goes back and the ticket is not transferred."""
    from sqlalchemy.orm import Session

    from extensions import db as database
    from services.fulfillment import Payment, fulfill
    from services.locking import lock_order_and_its_types
    from tests.concurrency import waits_for

    race = make_change_race(db, fee=1000)
    ticket = paid_ticket(db, race)
    fee_order = db.session.get(Order, transfer(db, app, ticket).change.order_id)
    fee_order_id, total, currency = fee_order.id, fee_order.total, fee_order.currency
    with app.app_context():
        engine = database.engine
    refunding = Session(engine)  # the organizer's refund of the ticket, written, not yet committed
    lock_order_and_its_types(refunding, ticket.order_id)
    refund = Refund(order_id=ticket.order_id, race_id=race.id, status=RefundStatus.PENDING, whole_order=False,
                    amount=4500, tax=0, created_at=now())
    refunding.add(refund)
    refunding.flush()
    refunding.get(Registration, ticket.id).refund_id = refund.id
    refunding.flush()
    outcome = {}

    def webhook():
        with app.app_context(), Session(engine) as session:
            outcome["result"] = fulfill(session, fee_order_id, Payment(total, currency, "pi_fee"), now()).result
            session.commit()

    waits_for(refunding, webhook)

    assert outcome == {"result": "needs_refund"}
    db.session.expire_all()
    assert fresh(db, ticket).email == "ada@example.com"
    assert db.session.get(Order, fee_order_id).status == OrderStatus.NEEDS_REFUND
