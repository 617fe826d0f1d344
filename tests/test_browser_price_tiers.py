"""Prices by date in a real browser at phone width: the organizer adds an early-bird price, runners see and pay it."""
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from models import Order, OrderStatus, PriceTier, Registration
from services import clock, race_editing
from tests.browser import screenshot
from tests.factories import login, make_cart, make_profile, make_race

pytestmark = pytest.mark.browser


def browser_login(page, live_server, app, profile):
    page.context.clear_cookies()
    client = app.test_client()
    login(client, profile)
    for name in ("sl_access", "sl_refresh"):
        page.context.add_cookies([{"name": name, "value": client.get_cookie(name).value,
                                   "url": live_server.url, "httpOnly": True, "sameSite": "Lax"}])


def test_an_early_bird_price_added_in_the_editor_is_shown_and_charged_until_its_day(live_server, page, app, db):
    clock.freeze(datetime(2027, 1, 15, 17, 0, tzinfo=UTC))
    organizer = make_profile(db, full_name="Olga Organizer")
    race = make_race(db, organizer=organizer, slug="lake-10k", title="Lake 10K",
                     starts_at=datetime(2027, 3, 6, 13, 0, tzinfo=UTC), tickets=[("10K", 4000, 100)])
    race_editing.set_waiver_text(db.session, race, "At my own risk.")
    db.session.commit()
    ten_k = race.ticket_types[0]

    # The organizer: the 10K's Price ($40) becomes the early bird; $50 from 1 February.
    browser_login(page, live_server, app, organizer)
    page.goto(f"{live_server.url}/manage/races/{race.id}")
    steps = page.locator(f"#prices-tt{ten_k.id}")
    steps.locator("summary").click()
    steps.get_by_label("Starts on").fill("2027-02-01")
    steps.get_by_label("Price (USD)").fill("50")
    steps.get_by_role("button", name="Add price").click()
    page.locator(f"#prices-tt{ten_k.id} .autosave-status").filter(has_text="Saved").wait_for()
    page.locator(f"#tt{ten_k.id}-step0-label").fill("Early bird")
    # Autosaves on change. The status already says "Saved" (from Add price, the same minute on the frozen clock):
    # wait for this save's answer itself.
    with page.expect_response(lambda response: response.request.method == "POST"
                              and response.url.endswith(f"/tickets/{ten_k.id}/prices")):
        page.locator(f"#tt{ten_k.id}-step0-label").press("Tab")
    page.locator(f"#prices-tt{ten_k.id} .autosave-status").filter(has_text="Saved").wait_for()
    page.locator(f"#prices-tt{ten_k.id}").scroll_into_view_if_needed()
    screenshot(page, "price-steps-editor-390")
    db.session.expire_all()
    assert [(t.price, t.label) for t in db.session.scalars(
        select(PriceTier).where(PriceTier.ticket_type_id == ten_k.id).order_by(PriceTier.position))] \
        == [(4000, "Early bird"), (5000, "")]

    # A runner sees today's price and the next step, and checkout charges the early price.
    runner = make_profile(db, full_name="Ana López", email="ana@example.com")
    order = make_cart(db, race, {ten_k: 1}, buyer=runner)
    browser_login(page, live_server, app, runner)
    page.goto(f"{live_server.url}/races/lake-10k")
    page.get_by_text("Early bird: $40.00 until 31 Jan, then $50.00").wait_for()
    screenshot(page, "price-steps-race-page-390")
    page.goto(f"{live_server.url}/races/lake-10k/cart")
    page.get_by_text("1 × $40.00").wait_for()
    app.config["SITE_URL"] = live_server.url  # the test gateway's page is on this site
    page.get_by_role("button", name="Continue to payment").click()
    page.wait_for_url("**/test-gateway/**")

    # The early price ends while the runner is on the payment page: the reserved price is honoured.
    clock.freeze(datetime(2027, 2, 1, 5, 10, tzinfo=UTC))  # ten past midnight in New York
    page.get_by_role("button", name="Pay $40.00").click()
    page.wait_for_url("**/orders/**")
    db.session.expire_all()
    paid = db.session.get(Order, order.id)
    assert paid.status == OrderStatus.PAID and paid.total == 4000
    assert db.session.scalar(select(Registration.price).where(Registration.order_id == order.id)) == 4000

    # From now on the race page shows the regular price.
    page.goto(f"{live_server.url}/races/lake-10k")
    assert page.locator(".ticket-price").first.inner_text() == "$50.00"
    assert page.get_by_text("until 31 Jan").count() == 0

    # The organizer's dashboard counts the ticket at its price step (looked at on a desk too).
    browser_login(page, live_server, app, organizer)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{live_server.url}/manage/races/{race.id}/dashboard")
    row = page.locator("table.price-step-sales tbody tr").first
    assert row.inner_text().split() == ["Early", "bird", "·", "$40.00", "1", "$40.00"]
    screenshot(page, "price-steps-dashboard-1280")
