"""The cart and the order page in Spanish on a phone (issue 19): add two tickets, see the cart, pay on the test
gateway, land on the order; screenshots es-cart-390 and es-order-390 for a person to look at."""
from datetime import date

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from models import Order, OrderStatus, Registration
from tests.browser import follow, screenshot
from tests.factories import login, make_profile, make_race

pytestmark = pytest.mark.browser


def sign_in_and_speak_spanish(page, live_server, app, profile):
    """The buyer's session cookies, and the language switcher's cookie set to Spanish."""
    client = app.test_client()
    login(client, profile)
    cookies = [{"name": name, "value": client.get_cookie(name).value} for name in ("sl_access", "sl_refresh")]
    cookies.append({"name": "sl_lang", "value": "es"})
    page.context.add_cookies([{**cookie, "url": live_server.url, "httpOnly": True, "sameSite": "Lax"}
                              for cookie in cookies])


def fill_in_runners(db, buyer, race):
    """Both runners' details, as if typed and saved (the cards themselves belong to another test)."""
    order = db.session.scalar(select(Order).where(Order.buyer_id == buyer.id, Order.status == OrderStatus.CART))
    for n, registration in enumerate(db.session.scalars(select(Registration).where(Registration.order_id == order.id)
                                                        .order_by(Registration.id)), start=1):
        registration.first_name, registration.last_name = ("Ana", "López") if n == 1 else ("Bea", "Núñez")
        registration.email = f"runner{n}@example.com"
        registration.date_of_birth = date(1990, 4, 21)
        registration.tshirt_size = "M"
        registration.emergency_name, registration.emergency_phone = "Luis López", "+52 55 5555 0100"
    db.session.commit()
    return order


def test_add_two_tickets_see_the_cart_and_the_order_in_spanish(live_server, page, app, db):
    race = make_race(db, slug="lago", title="Carrera del Lago", tshirt_sizes="S,M,L",
                     tickets=[("10K", 4000, 100), ("5K", 2500, 100)])
    buyer = make_profile(db, full_name="Ana López", email="ana@example.com")
    app.config["SITE_URL"] = live_server.url  # the test gateway's page is on this site
    sign_in_and_speak_spanish(page, live_server, app, buyer)

    page.goto(f"{live_server.url}/races/lago")
    page.locator(f"#qty-{race.ticket_types[0].id}").select_option("2")
    follow(page, page.locator("#add-to-cart"))
    expect(page.locator("html")).to_have_attribute("lang", "es")
    expect(page.locator("#cart-badge")).to_contain_text("Carrito")
    expect(page.locator("#cart-badge .visually-hidden")).to_have_text(" inscripciones")
    expect(page.get_by_role("heading", name="Tu carrito")).to_be_visible()
    expect(page.locator(".cart-line")).to_contain_text("2 × 40,00\u00a0US$")
    expect(page.locator(".cart-totals .total")).to_contain_text("80,00\u00a0US$")
    expect(page.get_by_role("button", name="Una inscripción de 10K más")).to_be_visible()
    expect(page.locator("#cart-todo")).to_contain_text("Completa los datos y los deslindes de responsabilidad de "
                                                       "los corredores 1 y 2.")
    # A checklist with its bullets (the summary is an <aside>, whose items Pico makes blocks, markerless).
    expect(page.locator("#cart-todo li").first).to_have_css("display", "list-item")
    expect(page.locator("#cart-todo li").first).to_have_css("list-style-type", "disc")
    expect(page.locator("#pay-submit")).to_have_text("Continuar al pago")
    # Nothing wider than the phone: long Spanish words wrap instead of pushing the page sideways.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(page, "es-cart-390")

    fill_in_runners(db, buyer, race)
    page.reload()
    expect(page.locator("#cart-todo")).to_have_count(0)
    follow(page, page.locator("#pay-submit"))
    expect(page.get_by_role("heading", name="Pagar Carrera del Lago")).to_be_visible()
    expect(page.locator(".test-banner")).to_contain_text("Modo de prueba: no se cobra ninguna tarjeta.")
    follow(page, page.get_by_role("button", name="Pagar 80,00\u00a0US$"))

    expect(page.get_by_role("heading", name="¡Ya estás inscrito!")).to_be_visible()
    expect(page.locator(".ticket-card")).to_have_count(2)
    expect(page.get_by_role("link", name="Ver entrada de Ana López")).to_be_visible()
    expect(page.get_by_role("button", name="Todas mis entradas")).to_be_visible()
    expect(page.locator(".order-totals .total")).to_contain_text("80,00\u00a0US$")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(page, "es-order-390")
