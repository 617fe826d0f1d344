"""A payment made twice, on the organizer's dashboard and order page in a real browser, at phone and
desktop widths: shown until it is back with the buyer, and refunded with one click."""
from datetime import UTC, datetime, timedelta

import pytest

from models import DuplicatePayment, DuplicatePaymentStatus, OrderStatus
from tests.browser import page_at, screenshot
from tests.factories import make_order, make_paid_order, make_profile, make_race
from tests.test_browser_manage import browser_login

pytestmark = pytest.mark.browser


@pytest.fixture
def paid_twice(db):
    organizer = make_profile(db, full_name="Olga Organizer", email="olga@example.com")
    race = make_race(db, organizer=organizer, title="Lakeside Autumn 10K", tickets=[("10K", 4500, 120)])
    ten_k = race.ticket_types[0]
    buyer = make_profile(db, full_name="Bea Buyer", email="bea.buyer@example.com")
    order = make_paid_order(db, race, {ten_k: 2}, buyer=buyer)
    order.payment_intent_id = "pi_3QxYzAbCdEfGhIjK0a1b2c3d"
    failed = DuplicatePayment(
        order_id=order.id, race_id=race.id, payment_intent_id="pi_3QxYzAbCdEfGhIjK1x9y8z7w",
        checkout_session_id="cs_live_b1Xq2f3HkL9mN0pQ4rS5tU6vW7xY8zA1bC2dE3fG4hJ5kL6mN7pQ8rS9t",
        amount=order.total, currency=order.currency, status=DuplicatePaymentStatus.FAILED,
        error="Stripe didn't accept the refund, so nothing was sent back: Your account cannot currently make live "
              "charges or refunds.", created_at=datetime.now(UTC) - timedelta(minutes=20))
    other = make_paid_order(db, race, {ten_k: 1})
    pending = DuplicatePayment(order_id=other.id, race_id=race.id, payment_intent_id="pi_3QxYzAbCdEfGhIjK2m3n4o5p",
                               checkout_session_id="cs_live_a9", amount=other.total, currency=other.currency,
                               status=DuplicatePaymentStatus.PENDING, gateway_refund_id="re_3QxYz")
    stuck = make_order(db, race, ten_k, 2, status=OrderStatus.NEEDS_REFUND)
    stuck.problem = "Payment arrived after the reservation ran out, and the race had filled up: The 10K is sold out."
    stuck.total, stuck.subtotal = 9000, 9000
    db.session.add_all([failed, pending])
    db.session.commit()
    return race, organizer, order


@pytest.mark.parametrize("width", [390, 1280])
def test_a_payment_made_twice_is_shown_and_refunded_with_one_click(live_server, chromium, app, db, paid_twice, width):
    race, organizer, order = paid_twice
    with page_at(chromium, width) as page:
        browser_login(page, live_server, app, organizer)
        page.goto(f"{live_server.url}/manage/races/{race.id}/dashboard")
        panel = page.locator("#needs-refund")
        assert "3 payments to refund" in panel.inner_text() and "Paid twice" in panel.inner_text()
        assert page.evaluate("document.documentElement.scrollWidth") <= width + 1
        screenshot(page, f"paid-twice-dashboard-{width}")

        page.goto(f"{live_server.url}/manage/races/{race.id}/orders/{order.id}")
        assert page.get_by_role("heading", name="Paid twice").is_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= width + 1
        screenshot(page, f"paid-twice-order-{width}")

        page.get_by_role("button", name="Refund $90.00 paid twice by the buyer").click()
        page.locator("#paid-twice .badge-duplicate-refunded").wait_for()  # the test gateway refunds at once
        assert page.get_by_role("button", name="Refund $90.00 paid twice by the buyer").count() == 0
        screenshot(page, f"paid-twice-order-refunded-{width}")
