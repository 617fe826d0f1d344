"""The race editor in a real browser: typing saves, and the value is there after a reload."""
from datetime import UTC, datetime

import pytest
from playwright.sync_api import expect

from models import RaceStatus
from services import race_editing
from tests.browser import screenshot
from tests.factories import login, make_profile, make_race
from tests.registrant_factories import organized_race, runner

pytestmark = pytest.mark.browser


def browser_login(page, live_server, app, profile):
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


def test_moving_the_start_moves_the_deadline_shown_beside_it(live_server, page, app, db):
    organizer = make_profile(db)
    race = make_race(db, organizer=organizer, title="Lake 10K", status=RaceStatus.DRAFT,
                     starts_at=datetime(2031, 2, 8, 13, 0, tzinfo=UTC),            # Sat 08:00 in New York
                     registration_closes_at=datetime(2031, 2, 7, 13, 0, tzinfo=UTC))  # the day before, 08:00
    browser_login(page, live_server, app, organizer)
    page.goto(f"{live_server.url}/manage/races/{race.id}")

    page.locator("#when-start").fill("09:30")
    page.locator("#state-when .autosave-status").filter(has_text="sign-up now closes Fri 7 Feb 2031, 9:30 AM EST").wait_for()
    assert page.locator("#closes-closes_time").input_value() == "09:30"

    page.locator("#closes-closes_time").fill("10:00")  # the deadline's own form knows it moved: no conflict
    page.locator("#state-closes .autosave-status").filter(has_text="Saved").wait_for()
    screenshot(page, "editor-deadline-moved")


def test_publishing_shows_the_link_and_copy_link_copies_it(live_server, page, app, db):
    organizer = make_profile(db, full_name="Olga Organizer")
    race = make_race(db, organizer=organizer, title="Lake 10K", slug="lake-10k", status=RaceStatus.DRAFT,
                     tickets=[("10K", 4500, 50)])
    race_editing.set_waiver_text(db.session, race, "At my own risk.")
    db.session.commit()
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    browser_login(page, live_server, app, organizer)
    page.goto(f"{live_server.url}/manage/races/{race.id}")
    page.get_by_label("Web address").focus()
    screenshot(page, "editor-hints-focus-390")

    page.get_by_role("button", name="Publish").click()
    page.get_by_text("Your race is live").wait_for()
    link = page.locator("#race-link")
    assert link.inner_text() == "http://localhost/races/lake-10k"  # SITE_URL, the public address
    page.get_by_role("button", name="Copy link").click()
    page.locator("#copy-status").filter(has_text="Copied.").wait_for()
    assert page.evaluate("navigator.clipboard.readText()") == "http://localhost/races/lake-10k"
    assert page.url.endswith(f"/manage/races/{race.id}")  # copied, not followed
    screenshot(page, "editor-published-390")
    page.set_viewport_size({"width": 1280, "height": 900})
    page.get_by_label("Web address").focus()
    screenshot(page, "editor-published-1280")


def test_hints_sit_clear_of_their_inputs_focus_ring(live_server, page, app, db):
    organizer = make_profile(db)
    race = make_race(db, organizer=organizer, title="Lake 10K", status=RaceStatus.DRAFT, tickets=[("10K", 4500, 50)])
    browser_login(page, live_server, app, organizer)
    page.goto(f"{live_server.url}/manage/races/{race.id}")

    # The focus ring is a 3px outline 2px outside the input: the hint's top must be below it.
    gaps = page.evaluate("""() => [...document.querySelectorAll('.autosave small.hint[id]')].map(hint => {
        const input = document.querySelector('[aria-describedby~="' + hint.id + '"]');
        return [hint.id, hint.getBoundingClientRect().top - input.getBoundingClientRect().bottom];
    })""")
    assert gaps and all(gap >= 6 for _, gap in gaps), gaps
    page.locator("#tickets").scroll_into_view_if_needed()
    screenshot(page, "editor-one-ticket-type-390")
    assert page.get_by_role("button", name="Move up").count() == 0


@pytest.mark.parametrize("width", [390, 1280])
def test_the_section_list_lines_up_with_the_content(live_server, page, app, db, width):
    organizer = make_profile(db)
    race = make_race(db, organizer=organizer, title="Lake 10K", status=RaceStatus.DRAFT)
    browser_login(page, live_server, app, organizer)
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(f"{live_server.url}/manage/races/{race.id}")

    # The first section's name starts where the page's heading does (Pico pulls a nav's list out by 0.5rem).
    left = page.evaluate("""() => {
        const text = element => { const range = document.createRange(); range.selectNodeContents(element);
                                  return range.getBoundingClientRect().left; };
        return [text(document.querySelector('.editor-nav li a')), text(document.querySelector('#editor-title'))];
    }""")
    assert left[0] == pytest.approx(left[1], abs=0.5), left


def test_the_time_zone_menu_gets_every_zone_when_used_and_saves_one(live_server, page, app, db):
    organizer = make_profile(db)
    race = make_race(db, organizer=organizer, title="Lake 10K", status=RaceStatus.DRAFT)
    race.timezone = "America/Chicago"
    db.session.commit()
    browser_login(page, live_server, app, organizer)
    page.goto(f"{live_server.url}/manage/races/{race.id}")

    menu = page.get_by_label("Time zone")
    assert menu.locator("option").count() < 25  # the common zones: the rest are fetched once the page is idle
    page.wait_for_function("() => performance.getEntriesByType('resource').some(r => r.name.endsWith('/time-zones'))")
    menu.focus()  # used: every zone joins the menu before it opens, the race's still chosen
    # The fetched list is read into the menu after the request ends: wait for a zone only it has.
    expect(menu.locator("option[value='America/Argentina/Salta']")).to_be_attached()
    assert menu.locator("option").count() > 400
    expect(menu).to_have_value("America/Chicago")
    menu.select_option("America/Argentina/Salta")
    page.locator("#state-when .autosave-status").filter(has_text="Saved").wait_for()
    db.session.expire_all()
    assert db.session.get(type(race), race.id).timezone == "America/Argentina/Salta"


def test_a_corrected_birth_date_outside_the_age_limits_is_refused_beside_it(live_server, page, app, db):
    organizer = make_profile(db, full_name="Olga Organizer")
    race = organized_race(db, organizer, title="Kids Dash", tickets=[("Kids 1K", 500, 100)])
    race.ticket_types[0].min_age, race.ticket_types[0].max_age = 6, 12
    db.session.commit()
    child = runner(db, race, race.ticket_types[0], "Tom", "Thumb",
                   date_of_birth=race.starts_at.date().replace(year=race.starts_at.year - 9))
    browser_login(page, live_server, app, organizer)
    page.goto(f"{live_server.url}/manage/races/{race.id}/registrants/{child.id}")

    page.get_by_text("Correct these details").click()
    page.get_by_label("Date of birth").fill("1980-03-04")
    page.get_by_role("button", name="Save changes").click()

    page.locator("#date_of_birth-error").filter(has_text="must be 6 to 12 years old").wait_for()
    page.get_by_label("Date of birth").focus()
    screenshot(page, "registrant-age-refused-390")
