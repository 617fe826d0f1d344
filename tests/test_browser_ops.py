"""The organizer's dashboard, codes and team pages in a real browser, at phone and desktop widths."""
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta

import pytest

from models import (
    OrderStatus,
    OrganizerInvite,
    OrganizerRole,
    OutboxMessage,
    OutboxStatus,
    RaceOrganizer,
    RaceStatus,
    TaxMode,
)
from tests.browser import page_at, screenshot
from tests.factories import make_code, make_order, make_paid_order, make_profile, make_race, recount_race
from tests.test_browser_manage import browser_login

pytestmark = pytest.mark.browser

SIZES = ["S", "M", "M", "L", "XL", "M", "S", "L"]
GENDERS = ["Female", "Male", "Female", "Non-binary", "", "Male", "Female", "Male"]


@pytest.fixture
def busy_race(db):
    organizer = make_profile(db, full_name="Olga Organizer", email="olga@example.com")
    race = make_race(db, organizer=organizer, title="Lakeside Autumn 10K", tickets=[("10K", 4500, 120), ("5K", 3000, 150),
                                                                                     ("Kids 1K", 800, 60)])
    race.tax_mode, race.tax_rate_bps, race.tax_label = TaxMode.EXCLUSIVE, 825, "Sales tax"
    db.session.commit()
    friends = make_code(db, race, code="FRIENDS", percent_off=20)
    club = make_code(db, race, code="CLUB5", amount_off=500, max_uses=40)
    make_code(db, race, code="EARLYBIRD", percent_off=15, active=False)
    start = datetime.now(UTC) - timedelta(days=24)
    ten_k, five_k, kids = race.ticket_types
    for day in range(24):
        for n in range(day % 4 + (2 if day > 18 else 0)):
            i = day * 3 + n
            make_paid_order(db, race, {(ten_k, five_k, kids)[i % 3]: 1 + (i % 5 == 0)},
                            code=(friends, club, None, None)[i % 4], paid_at=start + timedelta(days=day, hours=n),
                            runners=[{"tshirt_size": SIZES[i % 8], "gender": GENDERS[i % 8],
                                      "date_of_birth": date(1960 + (i * 7) % 50, 1 + i % 12, 1 + i % 27),
                                      "first_name": ["Ada", "Ben", "Chloé", "Dev", "Eun-ji", "Farah"][i % 6],
                                      "last_name": ["Lovelace", "Okafor", "Martin", "Patel", "Kim", "Haddad"][i % 6]}])
    stuck = make_order(db, race, ten_k, 2, status=OrderStatus.NEEDS_REFUND)
    stuck.problem = "Payment arrived after the reservation ran out, and the race had filled up: The 10K is sold out."
    stuck.total, stuck.subtotal = 9000, 9000
    stuck.paid_at = datetime.now(UTC) - timedelta(hours=3)
    db.session.add(OutboxMessage(to_address="ada@exmaple.con", subject="You're in: Lakeside Autumn 10K", text_body="…",
                                 kind="order_confirmation", race_id=race.id, status=OutboxStatus.FAILED, attempts=6,
                                 last_error="recipient refused: 550 5.1.1 ada@exmaple.con: no such domain"))
    helper = make_profile(db, full_name="Hiro Helper", email="hiro@example.com")
    db.session.add(RaceOrganizer(race_id=race.id, profile_id=helper.id, role=OrganizerRole.CO_ORGANIZER,
                                 invited_by_id=organizer.id))
    db.session.add(OrganizerInvite(race_id=race.id, email="sam.newcomer@example.com", token_hash="0" * 64,
                                   invited_by_id=organizer.id))
    make_race(db, organizer=organizer, title="Spring Trail Half (draft)", status=RaceStatus.DRAFT)
    db.session.commit()
    return race, organizer


@pytest.mark.parametrize("width", [390, 1280])
def test_dashboard_codes_and_team_pages_look_finished(live_server, chromium, app, db, busy_race, width):
    race, organizer = busy_race
    with page_at(chromium, width) as page:
        browser_login(page, live_server, app, organizer)
        for path, name in [("dashboard", "dashboard"), ("codes", "codes"), ("team", "team")]:
            page.goto(f"{live_server.url}/manage/races/{race.id}/{path}")
            assert page.locator("h1").first.is_visible()
            # Nothing wider than the screen: no sideways scrolling on a phone.
            assert page.evaluate("document.documentElement.scrollWidth") <= width + 1, path
            screenshot(page, f"{name}-{width}")
        page.goto(f"{live_server.url}/manage/")
        screenshot(page, f"races-{width}")
        page.goto(f"{live_server.url}/manage/races/{race.id}/dashboard")
        page.get_by_role("button", name="Refund order").last.click()  # the confirmation, from the orders list
        page.get_by_role("heading", name="Refund").wait_for()
        page.wait_for_load_state()  # measured once the stylesheets apply, as page.goto does above
        assert page.evaluate("document.documentElement.scrollWidth") <= width + 1
        screenshot(page, f"refund-confirm-{width}")
        page.get_by_role("link", name="Keep it, go back").click()
        page.get_by_role("heading", name="Tickets").wait_for()
        screenshot(page, f"order-{width}")


@pytest.mark.parametrize("sale_days", [0, 1, 2, 365])
def test_the_sales_chart_reads_as_a_chart_for_0_1_2_and_365_days(live_server, chromium, app, db, sale_days):
    organizer = make_profile(db, full_name="Olga Organizer", email="olga@example.com")
    race = make_race(db, organizer=organizer, title="Harbour 5K", tickets=[("5K", 2500, 5000)],
                     starts_at=datetime.now(UTC) + timedelta(days=30))
    now = datetime.now(UTC)
    today = now.astimezone(race.tz).date()
    midnight = datetime.combine(today, time(), tzinfo=race.tz)

    def sold(days_ago: int) -> datetime:
        """A sale on that day where the race is (the chart's days), in the past: at noon, or today a moment ago.
        (A sale an hour ago was yesterday there in the race's first hour of the day: one bar too many.)"""
        if days_ago:
            return datetime.combine(today - timedelta(days=days_ago), time(12), tzinfo=race.tz)
        return now - min(timedelta(hours=1), (now - midnight) / 2)

    orders = [make_paid_order(db, race, {race.ticket_types[0]: 1 + day % 3}, paid_at=sold(sale_days - 1 - day))
              for day in range(sale_days)]
    if orders:
        orders[-1].registrations[0].checked_in_at = datetime.now(UTC)
        db.session.commit()
    # One year of sales takes seconds to make: both widths read the same race.
    for width in (390, 1280):
        with page_at(chromium, width) as page:
            browser_login(page, live_server, app, organizer)
            page.goto(f"{live_server.url}/manage/races/{race.id}/dashboard")
            assert page.evaluate("document.documentElement.scrollWidth") <= width + 1
            if sale_days:
                bars = page.locator(".sales-chart .chart-bar")
                assert bars.count() == sale_days if sale_days < 92 else 52 <= bars.count() <= 54, width
                widest = page.evaluate("Math.max(...[...document.querySelectorAll('.sales-chart .chart-bar')]"
                                       ".map(bar => bar.getBoundingClientRect().width))")  # one round trip, not 52
                assert widest <= width / 8, width  # bars, never one block across the chart
                assert page.locator(".sales-chart .chart-line-end").is_visible()
                assert "1 of" in page.locator("#checkin-progress").inner_text()
            else:
                assert "No tickets sold yet" in page.locator("main").inner_text()
            page.locator("#checkin-progress").scroll_into_view_if_needed()
            screenshot(page, f"dashboard-{sale_days}-days-{width}")


@contextmanager
def _tap_without_javascript(live_server, chromium, app, db, busy_race, width, change):
    """The desk with JavaScript off, searched for Rhea Refund; `change(rhea)` while its page is open (committed);
    then her Check in tapped, a plain form post and its redirect. Yields the page and Rhea."""
    race, organizer = busy_race
    rhea = make_paid_order(db, race, {race.ticket_types[0]: 1},
                           runners=[{"first_name": "Rhea", "last_name": "Refund"}]).registrations[0]
    with page_at(chromium, width, java_script_enabled=False) as page:
        browser_login(page, live_server, app, organizer)
        page.goto(f"{live_server.url}/manage/races/{race.id}/checkin?q=Rhea")
        change(rhea)
        recount_race(db, race)  # as a refund keeps the stored counts
        db.session.commit()
        page.locator(f"#reg-{rhea.id}").get_by_role("button", name="Check in").click()
        page.wait_for_load_state()
        yield page, rhea


def _refund(rhea) -> None:
    rhea.refunded_at = datetime.now(UTC)


def _rename_and_refund(rhea) -> None:
    rhea.first_name, rhea.refunded_at = "Rita", datetime.now(UTC)


@pytest.mark.parametrize("width", [390, 1280])
def test_check_in_without_javascript_says_a_refusal_in_the_runner_s_row(live_server, chromium, app, db, busy_race,
                                                                        width):
    """A phone with JavaScript off at the desk: a tap is a plain form post and a redirect, and what the check-in
    said (here: the ticket was refunded after the desk loaded) is in that runner's row afterwards, once."""
    with _tap_without_javascript(live_server, chromium, app, db, busy_race, width, _refund) as (page, rhea):
        message = page.locator(f"#reg-{rhea.id} .checkin-message")
        assert message.inner_text() == "This ticket was refunded, so it can't be checked in."
        assert "Can't check in" in page.locator(f"#reg-{rhea.id}").inner_text()
        assert page.evaluate("document.documentElement.scrollWidth") <= width + 1
        screenshot(page, f"checkin-no-javascript-refusal-{width}")
        page.reload()
        assert page.locator(".checkin-message").count() == 0  # said once


@pytest.mark.parametrize("width", [390, 1280])
def test_without_javascript_a_note_for_a_runner_the_search_no_longer_finds_is_said_above_it(
        live_server, chromium, app, db, busy_race, width):
    """Renamed and refunded while the desk's page was open: the search the desk goes back to no longer finds the
    runner, so what the check-in said stands above the empty result."""
    with _tap_without_javascript(live_server, chromium, app, db, busy_race, width, _rename_and_refund) as (page, _):
        results = page.locator("#checkin-results")
        assert results.get_by_role("alert").inner_text() == "This ticket was refunded, so it can't be checked in."
        assert "Nobody called “Rhea”" in results.inner_text()
        screenshot(page, f"checkin-no-javascript-note-above-{width}")
