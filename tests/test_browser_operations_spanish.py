"""The organizer's dashboard and the check-in desk in Spanish on a phone (390 px), the offline status line and the
script's answers included, with their singular and plural forms (issue 19)."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser import open_page, screenshot
from tests.factories import make_paid_order
from tests.test_browser_checkin_offline import race_day  # noqa: F401  (fixture)
from tests.test_browser_manage import browser_login

pytestmark = pytest.mark.browser


def spanish_phone(chromium, live_server, app, organizer):
    page = open_page(chromium, timeout=15_000)
    context = page.context
    context.add_cookies([{"name": "sl_lang", "value": "es", "url": live_server.url}])
    browser_login(page, live_server, app, organizer)
    return context, page


def fits_the_screen(page) -> None:
    """Nothing on the page is wider than the phone (long Spanish words wrap instead)."""
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


def test_the_dashboard_in_spanish_on_a_phone(live_server, app, db, race_day, chromium):  # noqa: F811
    organizer, race, _people = race_day
    make_paid_order(db, race, {race.ticket_types[0]: 2}, runners=[{"tshirt_size": "M", "gender": "Female"}])
    context, page = spanish_phone(chromium, live_server, app, organizer)
    page.goto(f"{live_server.url}/manage/races/{race.id}/dashboard")
    expect(page.locator("html")).to_have_attribute("lang", "es")
    expect(page.locator(".kpis")).to_contain_text("Ingresos netos")
    expect(page.locator("#checkin-progress")).to_contain_text("corredores acreditados")
    expect(page.get_by_role("link", name="Abrir el mostrador de acreditación")).to_be_visible()
    fits_the_screen(page)
    screenshot(page, "es-dashboard-390")
    context.close()


def test_the_check_in_desk_in_spanish_offline_on_a_phone(live_server, app, db, race_day, chromium):  # noqa: F811
    organizer, race, _people = race_day
    context, page = spanish_phone(chromium, live_server, app, organizer)
    page.goto(f"{live_server.url}/manage/races/{race.id}/checkin")
    expect(page.locator("html")).to_have_attribute("lang", "es")
    status = page.locator("#checkin-offline-status")
    expect(status).to_contain_text("Listo para usar sin conexión: 4 corredores, actualizado a las ")
    expect(page.locator("#checkin-scan")).to_have_text("Escanear entrada")

    context.set_offline(True)
    page.get_by_role("searchbox").fill("lovelace")
    row = page.locator(".checkin-row").filter(has_text="Ada Lovelace")
    expect(row).to_contain_text("Dorsal 1001")
    row.get_by_role("button", name="Acreditar").click()
    expect(row).to_contain_text("Aún sin sincronizar")
    expect(row).to_contain_text("Acreditado a las")
    expect(row).to_contain_text("Acreditado.")
    expect(status).to_contain_text("Sin conexión. Listo para usar sin conexión")
    expect(status).to_contain_text("1 acreditación pendiente de sincronizar.")  # the singular form

    page.get_by_role("searchbox").fill("turing")
    page.locator(".checkin-row").filter(has_text="Alan Turing").get_by_role("button", name="Acreditar").click()
    expect(status).to_contain_text("2 acreditaciones pendientes de sincronizar.")  # the plural form
    page.get_by_role("searchbox").fill("nadie")
    expect(page.locator("#checkin-results")).to_contain_text("Nadie se llama “nadie” ni tiene ese dorsal.")
    page.get_by_role("searchbox").fill("refund")
    refunded = page.locator(".checkin-row").filter(has_text="Ray Refund")
    expect(refunded).to_contain_text("Reembolsada")
    expect(refunded).to_contain_text("No se puede acreditar")
    page.get_by_role("searchbox").fill("lovelace")
    fits_the_screen(page)
    screenshot(page, "es-checkin-390")
    context.set_offline(False)
    context.close()
