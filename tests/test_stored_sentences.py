"""Sentences rows keep for later readers (issue 19): an order's problem, a change's, a refund's and a second payment's
error, a runner's age problem. Each is kept as a code and worded for whoever reads it, on a page and in an email;
a row written before the codes still shows its words."""
from __future__ import annotations

import html
import re
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from flask import current_app
from flask_babel import force_locale
from sqlalchemy import select, update

from models import (
    DuplicatePayment,
    DuplicatePaymentStatus,
    Order,
    OrderStatus,
    OutboxMessage,
    Refund,
    RefundStatus,
    Registration,
    RegistrationAudit,
    RegistrationChange,
)
from services import clock
from services import runner_invites as invites
from services.fulfillment import Payment, fulfill, pay_on_test_gateway
from services.payments import gateway_for
from services.registration_changes.links import status_token
from services.registration_changes.start import RUNNER_LINK, Actor, start_distance_change, start_transfer
from services.runner_invites import AgeRefused
from services.stored_sentences import keep, say, worded
from tests.change_factories import buyer_actor, make_change_race, paid_ticket, ticket_type, urls
from tests.factories import login, make_cart, make_paid_order, make_profile, make_race, put_at_payment_step, recount_race
from tests.runner_invite_factories import buy_for_friend, emails, make_friend_race
from tests.test_refunds import organizer  # noqa: F401  (a fixture: Olga Organizer)
from tests.test_registration_changes import BO
from tests.test_runner_invites import BEN, T0, _open, _signed

# --- the module ----------------------------------------------------------------------------------------------


def test_a_kept_sentence_is_worded_in_the_language_being_written(db):
    kept = keep(say("paid_other_total", paid=(100, "USD"), total=(4871, "USD")))
    assert kept.startswith("{") and "Paid" not in kept
    with force_locale("en"):
        assert worded(kept) == "Paid $1.00, but the order was for $48.71."
    with force_locale("es"):
        assert worded(kept) == "Se pagaron 1,00\xa0US$, pero el pedido era de 48,71\xa0US$."


def test_a_sentence_inside_another_and_plural_forms_are_worded_again(db):
    kept = keep(say("change_not_made", problem=say("filled_up", problems=[say("spots_left", name="Half", num=2),
                                                                           say("sold_out", name="5K")])))
    with force_locale("en"):
        assert worded(kept) == ("Paid for a ticket change that couldn't be made: Payment arrived after the reservation "
                                "ran out, and the race had filled up: Only 2 spots left in the Half. The 5K is sold out.")
    with force_locale("es"):
        spanish = worded(kept)
    assert spanish.startswith("Se pagó un cambio de inscripción que no se pudo hacer: El pago llegó")
    assert "Half" in spanish and "Only" not in spanish and "sold out" not in spanish


@pytest.mark.parametrize("old", [
    "Paid $1.00, but the order was for $48.71.",  # free English from before the codes
    "{not json",
    '{"code": "no_such_code"}',
    '{"code": "sold_out"}',  # a parameter missing
    '{"code": "change_not_made", "problem": {"code": "no_such_code"}}',
    "",
])
def test_a_value_that_is_not_a_kept_code_is_said_as_it_is(db, old):
    with force_locale("es"):
        assert worded(old) == old
    assert worded(None) == ""


def test_a_sentence_too_long_for_its_column_is_kept_in_english_words(db):
    many = say("filled_up", problems=[say("sold_out", name=f"Distance number {n:03}") for n in range(20)])
    with force_locale("es"):
        kept = keep(many, 500)
    assert len(kept) == 500 and kept.startswith("Payment arrived after the reservation ran out")


def test_the_text_a_sentence_holds_is_its_wording_now(db):
    with force_locale("es"):
        sold_out = say("sold_out", name="10K")
    assert sold_out == "Las plazas de 10K están agotadas." and sold_out.code == "sold_out"
    assert sold_out.kept == '{"code":"sold_out","name":"10K"}'


# --- pages and emails -----------------------------------------------------------------------------------------

def text(response) -> str:
    body = re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))
    return " ".join(html.unescape(body).split())


def reader(app, profile, language: str):
    client = app.test_client()
    login(client, profile)
    client.set_cookie("sl_lang", language)
    return client


@pytest.fixture
def race(db, organizer):
    """Lake Run, whose 10K ($45.00) has ten spots."""
    return make_race(db, organizer=organizer, tickets=[("10K", 4500, 10)])


def test_an_order_problem_reads_in_each_readers_language_on_the_pages_and_in_the_buyers_email(app, db, race, organizer):
    buyer = make_profile(db, full_name="Bea Buyer", email="bea@example.com", language="es")
    order = put_at_payment_step(db, make_cart(db, race, {race.ticket_types[0]: 1}, buyer=buyer),
                                clock.now() + timedelta(minutes=30))
    assert fulfill(db.session, order.id, Payment(100, "usd", "pi_short"), clock.now()).result == "needs_refund"
    db.session.commit()
    kept = db.session.get(Order, order.id).problem
    assert kept.startswith('{"code":"paid_other_total"')

    english = "Paid $1.00, but the order was for $45.00."
    spanish = "Se pagaron 1,00 US$, pero el pedido era de 45,00 US$."
    path = f"/manage/races/{race.id}/orders/{order.id}"
    assert english in text(reader(app, organizer, "en").get(path))
    assert spanish in text(reader(app, organizer, "es").get(path))
    assert english in text(reader(app, organizer, "en").get(f"/manage/races/{race.id}/dashboard"))
    assert spanish in text(reader(app, organizer, "es").get(f"/manage/races/{race.id}/dashboard"))
    assert spanish in text(reader(app, buyer, "es").get(f"/orders/{order.id}"))
    assert english in text(reader(app, buyer, "en").get(f"/orders/{order.id}"))

    notice = db.session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "capacity_refund_notice"))
    assert notice.language == "es" and spanish in " ".join(notice.text_body.split())


def test_a_late_payment_for_a_full_race_says_which_tickets_in_the_readers_language(app, db, race, organizer):
    order = put_at_payment_step(db, make_cart(db, race, {race.ticket_types[0]: 1}),
                                clock.now() - timedelta(minutes=1))  # the reservation ran out
    make_paid_order(db, race, {race.ticket_types[0]: 10})  # and the race filled up meanwhile
    assert fulfill(db.session, order.id, Payment(4500, "usd", "pi_late"), clock.now()).result == "needs_refund"
    db.session.commit()
    path = f"/manage/races/{race.id}/orders/{order.id}"
    assert ("Payment arrived after the reservation ran out, and the race had filled up: The 10K is sold out."
            in text(reader(app, organizer, "en").get(path)))
    spanish = text(reader(app, organizer, "es").get(path))
    assert "El pago llegó después de que venció la reserva, y la carrera ya se había llenado:" in spanish
    assert "sold out" not in spanish


def test_an_order_problem_kept_as_english_words_before_the_codes_still_shows(app, db, race, organizer):
    order = make_paid_order(db, race, {race.ticket_types[0]: 1})
    order.status, order.problem = OrderStatus.NEEDS_REFUND, "Paid $1.00, but the order was for $48.71."
    recount_race(db, race)
    db.session.commit()
    page = text(reader(app, organizer, "es").get(f"/manage/races/{race.id}/orders/{order.id}"))
    assert "Paid $1.00, but the order was for $48.71." in page


def test_a_change_that_could_not_be_made_reads_in_each_language_and_its_email_in_the_payers(app, db, organizer):
    race = make_change_race(db, half_capacity=1, organizer=organizer)
    race.language = "es"  # the runner paid by their link, with no account: written to in the race's language
    db.session.commit()
    ticket = paid_ticket(db, race)
    with current_app.test_request_context():
        started = start_distance_change(db.session, gateway_for(current_app), ticket, ticket_type(db, race, "Half").id,
                                        buyer_actor(db, ticket), clock.now(), urls)
    paid_ticket(db, race, type_name="Half", email="hal@example.com")  # the last spot goes meanwhile
    pay_on_test_gateway(db.session, db.session.get(Order, started.change.order_id), clock.now())
    db.session.expire_all()
    change = db.session.get(RegistrationChange, started.change.id)
    assert change.problem == '{"code":"sold_out","name":"Half"}'

    status = f"/ticket-changes/done/{status_token(change, clock.now())}"
    english = app.test_client().get(status, headers={"Accept-Language": "en"})
    assert "the change couldn't be made: The Half is sold out." in text(english)
    spanish = text(app.test_client().get(status + "?lang=es"))
    assert "El pago llegó, pero no se pudo hacer el cambio:" in spanish and "sold out" not in spanish

    order_page = f"/manage/races/{race.id}/orders/{change.order_id}"
    assert "Paid for a ticket change that couldn't be made: The Half is sold out." in text(
        reader(app, organizer, "en").get(order_page))
    assert ("Se pagó un cambio de inscripción que no se pudo hacer: Las plazas de Half están agotadas."
            in text(reader(app, organizer, "es").get(order_page)))
    [email] = db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "change_refund_pending")).all()
    assert email.language == "es" and "Las plazas de Half están agotadas." in email.text_body


def test_a_failed_refund_and_a_failed_second_payment_refund_read_in_each_language(app, db, race, organizer):
    order = make_paid_order(db, race, {race.ticket_types[0]: 1})
    db.session.add(Refund(order_id=order.id, race_id=race.id, amount=4500, tax=0, status=RefundStatus.FAILED,
                          error=keep(say("refund_failed", amount=(4500, "USD"), reason="expired_or_canceled_card"))))
    db.session.add(DuplicatePayment(order_id=order.id, race_id=race.id, payment_intent_id="pi_twice", amount=4500, currency="USD",
                                    status=DuplicatePaymentStatus.FAILED,
                                    error=keep(say("refund_refused", error="Your account cannot make live charges."))))
    db.session.commit()
    path = f"/manage/races/{race.id}/orders/{order.id}"
    english, spanish = text(reader(app, organizer, "en").get(path)), text(reader(app, organizer, "es").get(path))
    assert "Stripe couldn't send $45.00 back: the card has expired or was cancelled." in english
    assert "Stripe no pudo devolver 45,00 US$:" in spanish and "the card has expired" not in spanish
    assert ("The payment provider didn't accept the refund, so nothing was sent back: Your account cannot make live "
            "charges." in english)
    assert "Your account cannot make live charges." in spanish  # the provider's own words, as they came
    assert "didn't accept the refund" not in spanish
    dashboard = text(reader(app, organizer, "es").get(f"/manage/races/{race.id}/dashboard"))
    assert "Your account cannot make live charges." in dashboard and "didn't accept the refund" not in dashboard


def test_an_age_problem_reads_in_each_readers_language_on_the_pages_and_in_each_email(app, db):
    organizer = make_profile(db, full_name="Olga Organizer", email="olga@example.com", language="es")
    race = make_friend_race(db, title="Lake 10K", slug="lake-10k", organizer=organizer)
    ticket = buy_for_friend(db, race, now=T0)  # bought by Ana, who chose no language: the race's, English
    teen = _signed(replace(BEN, date_of_birth=date(T0.year - 15, 1, 1), waiver_guardian_name="Ife Okafor",
                           waiver_signature="Ife Okafor"), db, race)
    with current_app.test_request_context(), force_locale("es"), pytest.raises(AgeRefused):
        invites.submit_details(db.session, _open(db, ticket), teen, T0, "")  # the runner's page was in Spanish
    db.session.expire_all()
    kept = db.session.get(Registration, ticket.id).details_problem
    assert kept.startswith('{"code":"age_at_least"')

    english = "Runners in the 10K must be 18 or older on race day (this runner will be"
    to_buyer = emails(db, "runner_age_problem", to="ana@example.com")[0]
    to_organizer = emails(db, "runner_age_problem", to="olga@example.com")[0]
    assert english in to_buyer.text_body
    assert to_organizer.language == "es" and "Los corredores de 10K deben tener 18 años o más" in to_organizer.text_body

    path = f"/manage/races/{race.id}/registrants/{ticket.id}"
    assert english in text(reader(app, organizer, "en").get(path))
    spanish = text(reader(app, organizer, "es").get(path))
    assert "Los corredores de 10K deben tener 18 años o más el día de la carrera (este corredor tendrá" in spanish
    assert english not in text(reader(app, organizer, "es").get(f"/manage/races/{race.id}/registrants"))


def test_an_age_problem_kept_as_words_before_the_codes_still_shows(app, db):
    organizer = make_profile(db, full_name="Olga Organizer", email="olga@example.com")
    race = make_friend_race(db, organizer=organizer)
    ticket = buy_for_friend(db, race, now=datetime.now(UTC))
    ticket.details_problem = "Runners in the 10K must be 18 or older on race day (this runner will be 15)."
    db.session.commit()
    page = text(reader(app, organizer, "es").get(f"/manage/races/{race.id}/registrants/{ticket.id}"))
    assert "Runners in the 10K must be 18 or older on race day (this runner will be 15)." in page


def test_a_change_the_runner_made_by_link_names_them_in_the_readers_language(app, db, organizer):
    race = make_change_race(db, organizer=organizer)
    ticket = paid_ticket(db, race)
    with current_app.test_request_context():
        start_transfer(db.session, gateway_for(current_app), ticket, BO, Actor(None, ticket.email, RUNNER_LINK),
                       clock.now(), urls)
    assert db.session.scalar(select(RegistrationAudit.actor)) == '{"code":"runner_link"}'
    path = f"/manage/races/{race.id}/registrants/{ticket.id}"
    assert "the runner, by their emailed link transferred the ticket" in text(reader(app, organizer, "en").get(path))
    assert "el corredor, con su enlace por correo transfirió" in text(reader(app, organizer, "es").get(path))

    db.session.execute(update(RegistrationAudit).values(actor="the runner, by their emailed link"))  # before codes
    db.session.commit()
    assert "the runner, by their emailed link" in text(reader(app, organizer, "es").get(path))
