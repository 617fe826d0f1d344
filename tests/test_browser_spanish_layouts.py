"""The main pages in Spanish at 390 and 1280 px, empty, with one row and with many (issue 19): the longer Spanish
words wrap instead of pushing the page, a button, a tab or a card wider than its box. One seeded database and
one browser context per width serve every case; each page is saved as artifacts/es-layout-<case>-<width>.png
for a person to look at."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from models import RaceText, TaxMode
from services import race_editing
from services.markdown import render_markdown
from tests.browser import page_at, screenshot
from tests.factories import make_cart, make_paid_order, make_profile, make_race, tokens_for
from tests.registrant_factories import many_paid_runners, organized_race, runner

pytestmark = pytest.mark.browser

WIDTHS = (390, 1280)
# What must keep inside its box: buttons and links drawn as buttons, tabs, and the cards of the lists.
BOXES = ("button, [role=button], .tabs a, .race-tabs a, .account-tabs a, .race-card, .ticket, .ticket-card, "
         ".runner-card, .code-card, .auth-card, .kpis > *, .panel, .notice")
# The elements that are wider than their box, or stick out past the right edge of the screen.
OVERFLOWS = """(selector) => {
  const doc = document.documentElement, bad = [];
  if (doc.scrollWidth > doc.clientWidth) bad.push(`the page: ${doc.scrollWidth} > ${doc.clientWidth}`);
  const shown = (el) => el.getClientRects().length && !el.closest("details:not([open]) > :not(summary)");
  for (const el of document.querySelectorAll(selector)) {
    if (!shown(el)) continue;
    const name = `${el.tagName.toLowerCase()}.${[...el.classList].join(".")} “${el.textContent.trim().slice(0, 40)}”`;
    if (el.scrollWidth > el.clientWidth + 1) bad.push(`${name}: ${el.scrollWidth} > ${el.clientWidth}`);
    if (el.getBoundingClientRect().right > doc.clientWidth + 1) bad.push(`${name} ends past the screen`);
  }
  // A placeholder or a chosen option cut short: its text against the room inside its field.
  const ruler = document.createElement("canvas").getContext("2d");
  for (const field of document.querySelectorAll("input[placeholder]:placeholder-shown, select:not([multiple])")) {
    if (!shown(field)) continue;
    const style = getComputedStyle(field);
    const text = field.tagName === "SELECT" ? (field.selectedOptions[0] || {}).text || "" : field.placeholder;
    ruler.font = `${style.fontWeight} ${style.fontSize} ${style.fontFamily}`;
    const room = field.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
    const width = ruler.measureText(text).width;
    if (width > room + 1) bad.push(`${field.id || field.name} “${text}”: ${Math.ceil(width)} > ${Math.floor(room)}`);
  }
  return bad;
}"""

LONG_TITLES = ("Medio Maratón Internacional de la Ciudad de Guadalajara", "Carrera Nocturna Ciudad Universitaria",
               "Trail de las Barrancas del Cobre", "Maratón Internacional Conmemorativo de la Independencia")
TICKETS = [("Medio maratón individual", 65000, 3000), ("Carrera recreativa familiar 5K", 35000, 3000),
           ("Infantil 1K (hasta 12 años)", 15000, 400)]
DESCRIPTION = """## El recorrido

Dos vueltas al **Bosque de Chapultepec**, con abastecimiento cada cinco kilómetros y guardarropa gratuito.

| Hora | Qué |
| --- | --- |
| 6:00 | Entrega de paquetes de competidor |
| 7:00 | Salida del medio maratón |
"""


@pytest.fixture
def seeded(app, db):
    """Everyone and everything the cases show: an organizer with a race of each size, a page of races and one more
    (pages of 8 here, not 24: the same page, a shorter screenshot), and buyers with no cart or ticket, one of each,
    and six and many."""
    app.config["RACES_PER_PAGE"] = 8
    olga = make_profile(db, full_name="Olga Organizadora Fernández", email="olga@example.com", language="es")
    races = [make_race(db, organizer=olga, slug=f"carrera-{n}", title=f"{LONG_TITLES[n % 4]} {2026 + n // 4}",
                       language="es", location_name="Bosque de Chapultepec, Ciudad de México", tickets=TICKETS,
                       currency="MXN")
             for n in range(9)]
    empty = organized_race(db, olga, slug="sin-ventas", title="Carrera Nocturna sin inscritos todavía", language="es",
                           tickets=TICKETS, currency="MXN", description=DESCRIPTION, tax_mode=TaxMode.INCLUSIVE,
                           tax_label="IVA", tax_rate_bps=1600)
    one = organized_race(db, olga, slug="una-inscripcion", title="Carrera con una sola inscripción", language="es",
                         tickets=TICKETS, currency="MXN")
    full = organized_race(db, olga, slug="sesenta", title=LONG_TITLES[3], language="es", tickets=TICKETS,
                          currency="MXN", description=DESCRIPTION)
    # The editor's language tabs: the description and the waiver in English too.
    db.session.add(RaceText(race_id=empty.id, language="en", description="Two laps of the park.",
                            description_html=render_markdown("Two laps of the park.")))
    race_editing.set_waiver_text(db.session, empty, "I run at my own risk.", language="en")
    runner(db, one, one.ticket_types[0], "Guadalupe", "Hernández-Villaseñor", bib="1")
    many_paid_runners(db, full, full.ticket_types[0], 58)
    runner(db, full, full.ticket_types[1], "Maximiliano", "Fernández de Córdoba", bib="1042")
    runner(db, full, full.ticket_types[2], "Ximena", "Santibáñez", checked_in_at=full.starts_at)

    ana = make_profile(db, full_name="Ana Lucía Domínguez Echeverría", email="ana@example.com", language="es")
    make_cart(db, races[0], {races[0].ticket_types[0]: 1}, buyer=ana)
    make_paid_order(db, races[1], {races[1].ticket_types[1]: 1}, buyer=ana)
    bea = make_profile(db, full_name="Beatriz Santibáñez", email="bea@example.com", language="es")
    make_cart(db, races[0], {races[0].ticket_types[0]: 2, races[0].ticket_types[1]: 2, races[0].ticket_types[2]: 2},
              buyer=bea, complete=False)
    for race in races[1:4]:
        make_paid_order(db, race, {race.ticket_types[0]: 1, race.ticket_types[2]: 2}, buyer=bea)
    carlos = make_profile(db, full_name="Carlos", email="carlos@example.com", language="es")
    db.session.commit()
    return {"olga": olga, "ana": ana, "bea": bea, "carlos": carlos, "race": races[0], "empty": empty, "one": one,
            "full": full}


def cases(seeded) -> list[tuple[str, str | None, str, str]]:
    """(name, who is signed in, path, a text the page shows) for every page and state of the issue."""
    empty, one, full, race = seeded["empty"], seeded["one"], seeded["full"], seeded["race"]
    return [
        ("races-none", None, "/?when=past", "Todavía no hay carreras pasadas."),
        ("races-many", None, "/", "Más carreras"),
        ("race", None, f"/races/{full.slug}", "Agregar al carrito"),
        ("race-taxes", "carlos", f"/races/{empty.slug}", "Los precios incluyen IVA."),
        ("cart-empty", "carlos", "/cart", "Tu carrito está vacío."),
        ("cart-one", "ana", f"/races/{race.slug}/cart", "Ana"),
        ("cart-six", "bea", f"/races/{race.slug}/cart", "Tu carrito"),
        ("tickets-none", "carlos", "/tickets/", "Mis entradas"),
        ("tickets-one", "ana", "/tickets/", "Mis entradas"),
        ("tickets-many", "bea", "/tickets/", "Mis entradas"),
        ("registrants-none", "olga", f"/manage/races/{empty.id}/registrants", "Inscritos"),
        ("registrants-one", "olga", f"/manage/races/{one.id}/registrants", "Hernández-Villaseñor"),
        ("registrants-60", "olga", f"/manage/races/{full.id}/registrants", "Fernández de Córdoba"),
        ("dashboard-none", "olga", f"/manage/races/{empty.id}/dashboard", "Ingresos netos"),
        ("dashboard-many", "olga", f"/manage/races/{full.id}/dashboard", "Ingresos netos"),
        ("editor", "olga", f"/manage/races/{empty.id}?description=en&waiver=en", "Descripción"),
        ("checkin", "olga", f"/manage/races/{full.id}/checkin", "Escanear entrada"),
    ]


def test_the_main_pages_in_spanish_keep_inside_the_screen_empty_and_full(live_server, app, db, chromium, seeded):
    sessions = {name: tokens_for(app, seeded[name]) for name in ("olga", "ana", "bea", "carlos")}
    problems = {}
    for width in WIDTHS:
        with page_at(chromium, width, height=844, locale="es-MX") as page:
            for name, who, path, shows in cases(seeded):
                page.context.clear_cookies()
                cookies = {"sl_lang": "es"}
                if who:
                    cookies |= {"sl_access": sessions[who].access_token, "sl_refresh": sessions[who].refresh_token}
                page.context.add_cookies([{"name": key, "value": value, "url": live_server.url, "httpOnly": True,
                                           "sameSite": "Lax"} for key, value in cookies.items()])
                page.goto(live_server.url + path)
                expect(page.locator("html")).to_have_attribute("lang", "es")
                expect(page.locator("main")).to_contain_text(shows)
                if name == "checkin":  # the desk's rows come from its search
                    page.get_by_role("searchbox").fill("Fernández")
                    expect(page.locator(".checkin-row").first).to_be_visible()
                screenshot(page, f"es-layout-{name}-{width}")
                if found := page.evaluate(OVERFLOWS, BOXES):
                    problems[f"{name} at {width} px"] = found
    assert not problems, "\n".join(f"{case}: {found}" for case, found in problems.items())
