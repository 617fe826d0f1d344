"""The race editor in a real browser: typing saves, and the value is there after a reload."""
import pytest

from models import RaceStatus
from services import race_editing
from tests.browser import screenshot
from tests.factories import make_profile, make_race

pytestmark = pytest.mark.browser


def browser_login(page, live_server, app, profile):
    from tests.factories import login

    client = app.test_client()
    login(client, profile)
    for name in ("sl_access", "sl_refresh"):
        page.context.add_cookies([{"name": name, "value": client.get_cookie(name).value,
                                   "url": live_server.url, "httpOnly": True, "sameSite": "Lax"}])


def test_typing_in_the_editor_saves_and_survives_a_reload(live_server, page, app, db):
    organizer = make_profile(db, full_name="Olga Organizer")
    race = make_race(db, organizer=organizer, title="Lake 10K", status=RaceStatus.DRAFT)
    race_editing.set_waiver_text(db.session, race, "At my own risk.")
    db.session.commit()
    browser_login(page, live_server, app, organizer)
    page.goto(f"{live_server.url}/manage/races/{race.id}")

    page.get_by_label("Race name").fill("Lake 10K by Moonlight")
    page.locator("#state-title .autosave-status").filter(has_text="Saved").wait_for()
    page.get_by_label("Venue").fill("The Boathouse")
    page.locator("#state-where .autosave-status").filter(has_text="Saved").wait_for()
    page.locator("#description-description").fill("## Course\n\nTwo **flat** laps.")
    page.locator("#description-preview h2").filter(has_text="Course").wait_for()  # live preview
    page.locator("#state-description .autosave-status").filter(has_text="Saved").wait_for()
    screenshot(page, "editor-390")

    page.reload()

    assert page.get_by_label("Race name").input_value() == "Lake 10K by Moonlight"
    assert page.get_by_label("Venue").input_value() == "The Boathouse"
    assert "Two **flat** laps." in page.locator("#description-description").input_value()


def test_an_invalid_value_shows_its_error_and_keeps_what_was_typed(live_server, page, app, db):
    organizer = make_profile(db)
    race = make_race(db, organizer=organizer, title="Lake 10K", status=RaceStatus.DRAFT)
    browser_login(page, live_server, app, organizer)
    page.goto(f"{live_server.url}/manage/races/{race.id}")

    price = page.locator(f"#tt{race.ticket_types[0].id}-price")
    price.fill("twelve")
    page.locator(f"#state-tt-{race.ticket_types[0].id}").get_by_text("Enter the price as a number").wait_for()
    assert price.input_value() == "twelve"
