"""Every email in its recipient's language, chosen when it is queued and kept on the outbox row; the API's problem
documents in the request's language."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from extensions import db as app_db  # the app's session, beside the test's `db` fixture
from models import Order, OutboxMessage
from services.mail.worker import send_due_for
from services.messages import sending
from services.messages.sending import Draft
from services.money import format_money
from services.notifications import queue_auth_link, queue_refund_notice
from tests.browser import screenshot
from tests.factories import make_lake_run_order, make_profile
from tests.registrant_factories import organized_race, runner
from tests.smtp import smtp_server  # noqa: F401  (fixture)

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


def paid_order(app, db, *, buyer_language=None, friend_language=None, race_language="en"):
    """Lake Run's order (tests/factories.py), its friend Carl with an account in `friend_language`."""
    make_profile(db, email="carl@example.com", full_name="Carl Friend", language=friend_language)
    return make_lake_run_order(app, db, buyer_language=buyer_language, race_language=race_language)


def outbox(db, **where) -> list[OutboxMessage]:
    query = select(OutboxMessage).filter_by(**where).order_by(OutboxMessage.id)
    return list(db.session.scalars(query))


def row_to(db, address: str, kind: str) -> OutboxMessage:
    [row] = [row for row in outbox(db, kind=kind) if address in row.to_address]
    return row


def test_a_spanish_speaking_buyer_gets_the_confirmation_in_spanish_with_spanish_money(app, db):
    paid_order(app, db, buyer_language="es")
    confirmation = row_to(db, "bea@example.com", "order_confirmation")

    assert confirmation.language == "es"
    assert confirmation.subject == "Ya estás inscrito: Lake Run"
    spanish_total = format_money(9000, "USD", "es")
    assert spanish_total != format_money(9000, "USD", "en")  # "90,00 US$", not "$90.00"
    assert f"Total pagado: {spanish_total}" in confirmation.text_body
    assert "¡Nos vemos en la salida!" in confirmation.text_body
    assert "Total paid" not in confirmation.text_body and "See you" not in confirmation.text_body
    assert "Tus entradas" in confirmation.html_body and '<html lang="es">' in confirmation.html_body
    assert "sábado" in confirmation.text_body.lower() or "sáb" in confirmation.text_body.lower()  # the date too


def test_an_english_buyer_gets_english_and_their_spanish_friend_spanish_in_the_same_checkout(app, db):
    paid_order(app, db, friend_language="es")
    confirmation = row_to(db, "bea@example.com", "order_confirmation")
    ticket = row_to(db, "carl@example.com", "ticket")

    assert confirmation.language == "en"
    assert confirmation.subject == "You're in: Lake Run"
    assert "Total paid: $90.00" in confirmation.text_body
    assert ticket.language == "es"
    assert ticket.subject == "Tu entrada para Lake Run"
    assert "Bea Buyer te inscribió en Lake Run (10K)." in ticket.text_body
    assert "Tu entrada para Lake Run" in ticket.html_body and '<html lang="es">' in ticket.html_body


def test_without_a_chosen_language_the_race_s_own_is_used(app, db):
    paid_order(app, db, race_language="es")
    assert {row.language for row in outbox(db)} == {"es"}
    assert row_to(db, "carl@example.com", "ticket").subject == "Tu entrada para Lake Run"


def test_an_email_queued_by_the_worker_outside_any_request_is_in_the_buyer_s_language(app, db):
    order = paid_order(app, db, buyer_language="es")
    with app.app_context():  # as the worker and the scheduled jobs run: no request, no page language
        queue_refund_notice(app_db.session, app_db.session.get(Order, order.id), 4500)
        app_db.session.commit()
    [row] = outbox(db, kind="refund_notice")
    assert row.language == "es" and row.subject == "Reembolso para Lake Run"
    assert f"Se reembolsaron {format_money(4500, 'USD', 'es')} de tu pedido para Lake Run." in row.text_body


def test_an_organizer_message_goes_to_each_runner_in_their_own_language(db):
    organizer = make_profile(db, full_name="Olga Organizer", email="olga@example.com")
    race = organized_race(db, organizer, slug="lake-10k", title="Lake 10K")
    ten_k = race.ticket_types[0]
    runner(db, race, ten_k, "Ana", email="ana@example.com")
    runner(db, race, ten_k, "Ben", email="ben@example.com")
    make_profile(db, email="ana@example.com", full_name="Ana Runner", language="es")

    message, sent = sending.send_message(db.session, race, organizer, Draft("Packet pick-up", "Friday 4-8 pm."),
                                         "k" * 24, NOW)
    assert sent
    ana, ben = (row_to(db, address, sending.KIND) for address in ("ana@example.com", "ben@example.com"))

    assert (ana.language, ben.language) == ("es", "en")
    assert ana.subject == ben.subject == "Packet pick-up"  # the organizer's words stay theirs
    assert "Hola Ana:" in ana.text_body and "Friday 4-8 pm." in ana.text_body
    assert "Enviado por Olga Organizer" in ana.text_body and "Dejar de recibir mensajes sobre Lake 10K" in ana.text_body
    assert "Darte de baja" in ana.html_body and "Sent by" not in ana.html_body
    assert "Hi Ben," in ben.text_body and "Sent by Olga Organizer" in ben.text_body


def test_an_auth_link_is_written_in_the_language_of_the_page_that_asked_for_it(app, db):
    with app.test_request_context("/auth/sign-up", headers={"Accept-Language": "es-MX,es;q=0.9"}):
        queue_auth_link(app_db.session, "signup", "new@example.com", "http://localhost/auth/confirm?t=1")
        app_db.session.commit()
    [row] = outbox(db, kind="auth_signup")
    assert row.language == "es"
    assert row.subject == "Confirma tu correo para Startline"
    assert "Confirma tu dirección de correo para terminar de crear tu cuenta:" in row.text_body


def test_a_spanish_subject_arrives_over_smtp_encoded_and_reads_back_the_same(app, db, smtp_server):
    paid_order(app, db, buyer_language="es")
    app.config["SMTP_URL"] = smtp_server.url
    report = send_due_for(app)
    assert report.failed == 0, report

    [email] = [d.message for d in smtp_server.deliveries if d.rcpt_tos == ["bea@example.com"]
               and "Lake Run" in d.message["Subject"] and "entrada" not in d.message["Subject"]]
    raw_subject = dict(email.raw_items())["Subject"]  # as it came over the wire
    assert raw_subject.isascii() and "=?utf-8?" in raw_subject.lower()  # RFC 2047 encoded words
    assert email["Subject"] == "Ya estás inscrito: Lake Run"
    assert "¡Nos vemos en la salida!" in email.get_body(preferencelist=("plain",)).get_content()


# --- the API's problems ------------------------------------------------------------------------------

def test_an_api_404_is_a_spanish_problem_with_accept_language_es(client):
    response = client.get("/api/v1/races/no-such-race", headers={"Accept-Language": "es"})
    assert response.status_code == 404 and response.mimetype == "application/problem+json"
    assert response.headers["Content-Language"] == "es"
    assert "Accept-Language" in response.headers["Vary"] or response.headers.get("Cache-Control") == "no-store"
    body = response.get_json()
    assert body["title"] == "No encontrado" and body["status"] == 404 and body["type"] == "about:blank"


def test_an_api_422_is_a_spanish_problem_field_by_field(client):
    response = client.post("/api/v1/auth/token", json={"grant_type": "refresh_token"},
                           headers={"Accept-Language": "es-ES,es;q=0.9,en;q=0.5"})
    body = response.get_json()
    assert response.status_code == 422 and response.headers["Content-Language"] == "es"
    assert body["title"] == "Entidad no procesable"
    assert body["detail"] == "Revisa algunos de los datos que ingresaste."
    assert body["errors"] == [{"field": "refresh_token",
                               "detail": "Envía el token de actualización que recibiste con tu token de acceso."}]


def test_pydantic_s_field_messages_are_ours_and_translated(client):
    english = client.get("/api/v1/races", query_string={"limit": "abc"}).get_json()
    spanish = client.get("/api/v1/races", query_string={"limit": "abc"},
                         headers={"Accept-Language": "es"}).get_json()
    assert {e["field"]: e["detail"] for e in english["errors"]}["limit"] == "Send a whole number here."
    assert {e["field"]: e["detail"] for e in spanish["errors"]}["limit"] == "Envía un número entero aquí."


@pytest.mark.parametrize("headers", [{}, {"Accept-Language": "en-US,en;q=0.9"}, {"Accept-Language": "de"}])
def test_an_api_problem_stays_english_without_a_spanish_request(client, headers):
    response = client.post("/api/v1/auth/token", json={"grant_type": "refresh_token"}, headers=headers)
    body = response.get_json()
    assert response.headers["Content-Language"] == "en"
    assert body["title"] == "Unprocessable Entity" and body["detail"] == "Some of what you entered needs another look."


@pytest.mark.browser
@pytest.mark.parametrize("kind", ["order_confirmation", "ticket"])
def test_the_spanish_emails_hold_their_longer_words_at_390_px(app, db, chromium, kind):
    """A phone's mail client: the buyer's Spanish confirmation and the friend's Spanish ticket at 390 px, inline
    images resolved, nothing wider than the screen; screenshots for a person to look at."""
    paid_order(app, db, buyer_language="es", friend_language="es")
    [row] = outbox(db, kind=kind)
    assert row.language == "es"
    html = row.html_body
    for item in row.attachments:
        if item.get("content_id"):
            html = html.replace(f"cid:{item['content_id']}", f"data:{item['content_type']};base64,{item['data']}")
    page = chromium.new_page(viewport={"width": 390, "height": 844})
    page.set_content(html)
    screenshot(page, f"es-email-{kind.replace('_', '-')}-390")
    assert page.evaluate("document.documentElement.lang") == "es"
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert page.evaluate("[...document.images].every(i => i.naturalWidth > 0)")
    page.close()
