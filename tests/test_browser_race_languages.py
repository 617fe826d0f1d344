"""The race editor in Spanish in a real browser, at phone width and on a desktop: the language tabs of the
description and the waiver, reached with the keyboard, autosave like every other field."""
import pytest
from sqlalchemy import select

from models import RaceStatus, RaceText, WaiverVersion
from services import race_editing
from tests.browser import screenshot
from tests.factories import make_profile, make_race
from tests.test_browser_manage import browser_login

pytestmark = pytest.mark.browser


def spanish_page(page, live_server):
    page.context.add_cookies([{"name": "sl_lang", "value": "es", "url": live_server.url}])


def no_sideways_scroll(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


@pytest.mark.parametrize("width", [390, 1280])
def test_the_spanish_editor_adds_a_language_and_its_tabs_autosave(live_server, page, app, db, width):
    page.set_viewport_size({"width": width, "height": 900})
    organizer = make_profile(db, full_name="Olga Organizadora")
    race = make_race(db, organizer=organizer, title="10K de Miraflores", status=RaceStatus.DRAFT,
                     description="Run along the cliffs of Lima.")
    race_editing.set_waiver_text(db.session, race, "I run at my own risk.")
    db.session.commit()
    browser_login(page, live_server, app, organizer)
    spanish_page(page, live_server)
    page.goto(f"{live_server.url}/manage/races/{race.id}")

    assert page.locator("html").get_attribute("lang") == "es"
    assert page.get_by_label("Idioma de la carrera").input_value() == "en"
    page.get_by_label("Agregar un idioma").select_option("es")
    page.get_by_role("button", name="Agregar", exact=True).click()

    # The Spanish tab of the description opens; English, the race's own, comes first.
    tabs = page.get_by_role("navigation", name="Idiomas de la descripción")
    tabs.get_by_role("link", name="Español").wait_for()
    assert tabs.get_by_role("link").all_inner_texts() == ["English", "Español"]
    assert tabs.get_by_role("link", name="Español").get_attribute("aria-current") == "page"
    spanish = page.get_by_label("Descripción en Español")
    spanish.fill("## Recorrido\n\nDos vueltas **planas** junto al mar.")
    page.locator("#description-es-preview h2").filter(has_text="Recorrido").wait_for()
    page.locator("#state-description-es .autosave-status").filter(has_text="Guardado").wait_for()

    # The waiver's Spanish tab, reached with the keyboard: focus the tab, press Enter.
    waiver_tabs = page.get_by_role("navigation", name="Idiomas del deslinde de responsabilidad")
    waiver_tabs.get_by_role("link", name="Español").focus()
    page.keyboard.press("Enter")
    page.get_by_label("Texto del deslinde de responsabilidad en Español").fill("Corro bajo mi propio riesgo.")
    page.locator("#state-waiver-es .autosave-status").filter(has_text="Guardado").wait_for()
    assert no_sideways_scroll(page)
    screenshot(page, "es-editor-390" if width == 390 else "es-editor-1280")

    db.session.expire_all()
    [text] = db.session.scalars(select(RaceText).where(RaceText.race_id == race.id)).all()
    assert (text.language, "<strong>planas</strong>" in text.description_html) == ("es", True)
    newest = db.session.scalars(select(WaiverVersion).where(WaiverVersion.race_id == race.id)
                                .order_by(WaiverVersion.number.desc())).first()
    assert (newest.language, newest.text) == ("es", "Corro bajo mi propio riesgo.")

    # Back on the English tab the race's own text is untouched.
    page.get_by_role("navigation", name="Idiomas de la descripción").get_by_role("link", name="English").click()
    assert page.get_by_label("Descripción en English").input_value() == "Run along the cliffs of Lima."
