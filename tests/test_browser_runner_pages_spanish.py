"""The runner's pages in Spanish in a real browser at phone width (issue 19): signing in with a profile whose
language is Spanish (this browser then keeps it), the tickets list, a ticket, its change page, and joining a
waitlist; nothing wider than the screen where the Spanish words are longer."""
import pytest
from playwright.sync_api import expect

from tests.browser import follow, screenshot
from tests.change_factories import make_change_race, paid_ticket
from tests.factories import make_account
from tests.waitlist_factories import sold_out_race

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery"


def fits_the_phone(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth") <= 390


def test_sign_in_tickets_a_ticket_and_the_waitlist_in_spanish_at_phone_width(live_server, page, db):
    ana = make_account(db, "ana@example.com", PASSWORD, full_name="Ana López", language="es")
    race = make_change_race(db, fee=500, slug="carrera-del-lago", title="Carrera del Lago 10K")
    paid_ticket(db, race, buyer=ana, first_name="Ana", last_name="López", email="ana@example.com", bib="1042")
    sold_out_race(db, slug="media-maraton", title="Media Maratón de la Sierra")

    page.goto(f"{live_server.url}/auth/sign-in?lang=es&next=/tickets/")
    expect(page.locator("html")).to_have_attribute("lang", "es")
    expect(page.get_by_role("heading", name="Iniciar sesión")).to_be_visible()
    assert fits_the_phone(page)
    screenshot(page, "es-sign-in-390")
    page.get_by_label("Correo electrónico").fill("ana@example.com")
    page.get_by_label("Contraseña").fill(PASSWORD)
    follow(page, page.get_by_role("button", name="Iniciar sesión"))

    # No ?lang= from here on: signing in set the profile's language on this browser.
    page.wait_for_url("**/tickets/")
    assert {c["name"]: c["value"] for c in page.context.cookies()}.get("sl_lang") == "es"
    expect(page.get_by_role("heading", name="Mis entradas")).to_be_visible()
    expect(page.get_by_text("Dorsal 1042")).to_be_visible()
    assert fits_the_phone(page)
    screenshot(page, "es-tickets-390")

    follow(page, page.get_by_role("link", name="Abrir entrada"))
    expect(page.locator("html")).to_have_attribute("lang", "es")
    expect(page.get_by_role("link", name="Transferir o cambiar de distancia")).to_be_visible()
    expect(page.get_by_text("Página de la carrera")).to_be_visible()
    assert fits_the_phone(page)
    screenshot(page, "es-ticket-390")

    follow(page, page.get_by_role("link", name="Transferir o cambiar de distancia"))
    expect(page.get_by_role("heading", name="Transferir a otro corredor")).to_be_visible()
    expect(page.get_by_role("button", name="Cambiar de distancia")).to_be_visible()
    assert fits_the_phone(page)
    screenshot(page, "es-ticket-change-390")

    page.goto(f"{live_server.url}/races/media-maraton")
    join = page.locator("#waitlist")
    expect(join.get_by_role("heading", name="Apuntarme a la lista de espera")).to_be_visible()
    expect(join.get_by_label("Tu nombre")).to_have_value("Ana López")
    join.get_by_label("Cuántas plazas").select_option("2")
    assert fits_the_phone(page)
    screenshot(page, "es-waitlist-join-390")
    join.get_by_role("button", name="Apuntarme a la lista de espera").click()
    page.get_by_text("Eres el número 1 en la lista de espera de 10K.").wait_for()
    expect(join.get_by_role("heading", name="Estás en la lista de espera")).to_be_visible()
    assert fits_the_phone(page)
    screenshot(page, "es-waitlist-joined-390")
