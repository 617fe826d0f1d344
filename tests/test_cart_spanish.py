"""The cart, checkout and order pages in Spanish (issue 19): every word from the cart's own templates and rules
translated, plurals right in both languages, prices written the Spanish way; English as before."""
from __future__ import annotations

import re

import pytest
from flask_babel import force_locale

from models import OrderStatus
from services.cart_status import joined_with_and
from services.inventory import spots_problem
from tests.doubles.stripe_api import StripeServer
from tests.factories import login, make_cart, make_code, make_paid_order, make_profile, make_race, recount_race
from tests.http import csrf_token

SPANISH = {"Accept-Language": "es-MX,es;q=0.9"}


@pytest.fixture
def race(db):
    return make_race(db, slug="lago", title="Carrera del Lago", tshirt_sizes="S,M,L",
                     tickets=[("10K", 4000, 100), ("5K", 2500, 100)])


@pytest.fixture
def buyer(db):
    return make_profile(db, full_name="Ana López", email="ana@example.com")


@pytest.fixture
def signed_in(app, buyer):
    client = app.test_client()
    login(client, buyer)
    return client


def text(response) -> str:
    return response.get_data(as_text=True)


def visible(html: str) -> str:
    """The page's words without its tags, spaces collapsed (no-break spaces kept)."""
    return re.sub(r"[ \t\r\n]+", " ", re.sub(r"<[^>]+>", " ", html))


def test_a_cart_with_two_tickets_reads_in_spanish_with_spanish_prices(signed_in, db, buyer, race):
    make_cart(db, race, {race.ticket_types[0]: 2}, buyer=buyer)
    page = text(signed_in.get("/races/lago/cart", headers=SPANISH))
    assert '<html lang="es"' in page
    words = visible(page)
    for spanish in ("Tu carrito", "Inscripciones", "2 inscripciones de 10K", "Una inscripción de 10K más",
                    "Añadir otras inscripciones", "Corredores", "Guardar todos los corredores", "Resumen",
                    "Código de descuento", "Aplicar", "Subtotal", "Total", "Continuar al pago",
                    "Nombre", "Apellidos", "Talla de camiseta", "Nombre del contacto de emergencia",
                    "Elige una talla", "Carrito"):
        assert spanish in words or spanish in page, spanish
    assert "2 × 40,00\xa0US$" in words and "80,00\xa0US$" in words  # prices in the page's language
    for english in ("Your cart", "Tickets<", "Save all runners", "Summary", "Discount code", "Continue to payment",
                    "Add other tickets", "Choose a size", "One more 10K ticket"):
        assert english not in page, english


def test_lang_es_on_the_address_gives_the_same_spanish_cart(signed_in, db, buyer, race):
    make_cart(db, race, {race.ticket_types[0]: 2}, buyer=buyer)
    page = text(signed_in.get("/races/lago/cart?lang=es"))
    assert '<html lang="es"' in page and "Continuar al pago" in page and "80,00\xa0US$" in page


def test_the_same_cart_in_english_reads_as_before(signed_in, db, buyer, race):
    make_cart(db, race, {race.ticket_types[0]: 2}, buyer=buyer)
    page = text(signed_in.get("/races/lago/cart"))
    assert '<html lang="en"' in page
    words = visible(page)
    for english in ("Your cart", "2 10K tickets", "One more 10K ticket", "Save all runners", "Continue to payment",
                    "2 × $40.00", "$80.00", "Emergency contact&#39;s name"):
        assert english in words or english in page, english
    assert "Continuar" not in page


def test_a_visitor_s_cart_offers_the_account_tabs_in_spanish(app, db, race):
    visitor = app.test_client()
    token = csrf_token(visitor, "/races/lago")
    visitor.post("/races/lago/cart?lang=es", data={"csrf_token": token, f"qty-{race.ticket_types[1].id}": "1"})
    page = text(visitor.get("/races/lago/cart", headers=SPANISH))
    for spanish in ("Soy nuevo", "Tengo una cuenta", "Envíame un enlace", "Crear cuenta y pagar",
                    "1 inscripción de 5K", "Completa los datos y el deslinde de responsabilidad del corredor 1."):
        assert spanish in visible(page), spanish


def test_a_refused_code_and_an_applied_one_in_spanish(signed_in, db, buyer, race):
    make_cart(db, race, {race.ticket_types[0]: 2}, buyer=buyer)
    token = csrf_token(signed_in, "/races/lago/cart")
    refused = signed_in.post("/races/lago/cart/code?lang=es", data={"csrf_token": token, "code": "nada"})
    assert refused.status_code == 422 and "No conocemos el código NADA." in text(refused)
    code = make_code(db, race, code="LAGO10", percent_off=10)
    signed_in.post("/races/lago/cart/code?lang=es", data={"csrf_token": token, "code": code.code})
    page = visible(text(signed_in.get("/races/lago/cart", headers=SPANISH)))
    assert "Código LAGO10 : 10% de descuento" in page and "Descuento (LAGO10)" in page and "Quitar código" in page
    assert "72,00\xa0US$" in page


def test_spots_left_and_ticket_counts_are_plural_right_in_both_languages(app, db, signed_in, buyer, race):
    ten_k = race.ticket_types[0]
    with app.test_request_context("/"):
        for language, one, three, sold_out in (
                ("en", "Only 1 spot left in the 10K.", "Only 3 spots left in the 10K.", "The 10K is sold out."),
                ("es", "Solo queda 1 plaza de 10K.", "Solo quedan 3 plazas de 10K.", "Las plazas de 10K están agotadas.")):
            with force_locale(language):
                assert spots_problem(ten_k, 5, 1) == one
                assert spots_problem(ten_k, 5, 3) == three
                assert spots_problem(ten_k, 5, 0) == sold_out
                assert spots_problem(ten_k, 3, 3) is None
                assert joined_with_and(["Ana", "Bo", "Cy"]) == ("Ana, Bo and Cy" if language == "en" else "Ana, Bo y Cy")

    make_cart(db, race, {ten_k: 1}, buyer=buyer)
    for headers, one in (({}, "1 ticket"), (SPANISH, "1 inscripción")):
        listing = visible(text(signed_in.get("/cart", headers=headers)))
        assert "Carrera del Lago" in listing and f" · {one}" in listing
        badge = text(signed_in.get("/races/lago/cart", headers=headers))
        assert re.search(r'<span class="cart-count">1<span class="visually-hidden"> (ticket|inscripción)</span>', badge)
    three = make_profile(db, full_name="Bo Lind", email="bo@example.com")
    make_cart(db, race, {ten_k: 3}, buyer=three)
    other = app.test_client()
    login(other, three)
    assert " · 3 tickets" in visible(text(other.get("/cart")))
    assert " · 3 inscripciones" in visible(text(other.get("/cart", headers=SPANISH)))
    badge = text(other.get("/races/lago/cart?lang=es"))
    assert '<span class="cart-count">3<span class="visually-hidden"> inscripciones</span>' in badge


def test_a_sold_out_checkout_says_so_in_spanish(signed_in, db, buyer, race):
    race.ticket_types[0].capacity = 1
    db.session.commit()
    order = make_cart(db, race, {race.ticket_types[0]: 2}, buyer=buyer)
    token = csrf_token(signed_in, "/races/lago/cart")
    refused = signed_in.post(f"/orders/{order.id}/checkout?lang=es", data={"csrf_token": token})
    assert refused.status_code == 409
    page = visible(text(refused))
    for spanish in ("Agotado", "Solo queda 1 plaza de 10K.", "No se cobró nada.", "Volver a tu carrito"):
        assert spanish in page, spanish
    english = visible(text(signed_in.post(f"/orders/{order.id}/checkout", data={"csrf_token": token})))
    assert "Sold out" in english and "Only 1 spot left in the 10K." in english and "Nothing was charged." in english


def test_the_order_page_in_spanish_paid_and_unpaid(signed_in, db, buyer, race):
    order = make_paid_order(db, race, {race.ticket_types[0]: 2}, buyer=buyer)
    page = text(signed_in.get(f"/orders/{order.id}", headers=SPANISH))
    assert '<html lang="es"' in page
    words = visible(page)
    for spanish in ("Tu pedido", "¡Ya estás inscrito!", "Te enviamos un correo de confirmación.", "Ver entrada",
                    "de Ada Runner1", "Todas mis entradas", "Añadir al calendario", "Subtotal", "Total", "80,00\xa0US$"):
        assert spanish in words, spanish
    assert "<h1>You're in!</h1>" in text(signed_in.get(f"/orders/{order.id}"))

    order.status = OrderStatus.EXPIRED
    recount_race(db, order.race_id)
    db.session.commit()
    unpaid = visible(text(signed_in.get(f"/orders/{order.id}?lang=es")))
    assert "Este pedido no se pagó" in unpaid and "Volver a Carrera del Lago" in unpaid


def test_a_runner_who_fills_in_their_own_details_is_awaited_in_spanish(signed_in, db, buyer, race):
    order = make_paid_order(db, race, {race.ticket_types[0]: 1}, buyer=buyer,
                            runners=[{"runner_fills_in": True, "runner_details_at": None, "first_name": "Zoë"}])
    page = visible(text(signed_in.get(f"/orders/{order.id}?lang=es")))
    assert "Datos pendientes" in page and "Esperando los datos de Zoë." in page
    assert "Su entrada llegará cuando los haya completado" in page
    english = visible(text(signed_in.get(f"/orders/{order.id}")))
    assert "Details pending Waiting for Zoë's details. Their ticket comes once they've filled them in" in english


@pytest.fixture
def stripe_server(app):
    with StripeServer() as server:
        app.config.update(STRIPE_SECRET_KEY=server.api_key, STRIPE_API_BASE=server.url,
                          STRIPE_WEBHOOK_SECRET="whsec_test_startline")
        app.extensions.pop("startline_gateway", None)
        yield server


def test_stripe_s_payment_page_opens_in_the_buyer_s_language(stripe_server, signed_in, db, buyer, race):
    order = make_cart(db, race, {race.ticket_types[0]: 1}, buyer=buyer)
    token = csrf_token(signed_in, "/races/lago/cart")
    assert signed_in.post(f"/orders/{order.id}/checkout?lang=es", data={"csrf_token": token}).status_code == 303
    sessions = stripe_server.requests_to("POST", "/v1/checkout/sessions")
    assert sessions[-1]["params"]["locale"] == "es"
