"""The order confirmation and ticket emails, delivered to a real SMTP server and read back."""
from __future__ import annotations

import pytest
from icalendar import Calendar
from sqlalchemy import select

from models import OutboxMessage, Registration
from services.mail.worker import send_due_for
from services.notifications import _recipient
from tests.browser import ARTIFACTS
from tests.factories import make_lake_run_order


@pytest.fixture
def paid_order(app, db):
    return make_lake_run_order(app, db)


def deliver_all(app, smtp_server):
    app.config["SMTP_URL"] = smtp_server.url
    report = send_due_for(app)
    assert report.failed == 0, report
    return smtp_server.messages


def test_buyer_gets_every_ticket_with_qr_codes_a_calendar_file_and_the_total(app, db, smtp_server, paid_order):
    messages = deliver_all(app, smtp_server)
    confirmation = next(m for m in messages if m["Subject"] == "You're in: Lake Run")

    assert confirmation["To"] == "Bea Buyer <bea@example.com>"
    assert confirmation["Message-ID"] and confirmation["Date"]
    text = confirmation.get_body(preferencelist=("plain",)).get_content()
    html = confirmation.get_body(preferencelist=("html",)).get_content()
    assert "Sat 3 May 2031" in text or "Saturday 3 May 2031, 8:00 AM" in text  # 13:00 UTC in Chicago
    assert "Boathouse, 1 Lake Rd" in text and "Total paid: $90.00" in text
    assert "Ada Runner 0: 10K" in text and "Carl Friend: 10K" in text
    assert "http://localhost/tickets/" in text and "http://localhost/tickets" in html

    images = [part for part in confirmation.walk() if part.get_content_type() == "image/png"]
    assert len(images) == 2
    for image in images:
        content_id = image["Content-ID"].strip("<>")
        assert f"cid:{content_id}" in html
        assert image.get_content().startswith(b"\x89PNG")

    ics = next(part for part in confirmation.walk() if part.get_content_type() == "text/calendar")
    assert ics.get_filename() == "lake-run.ics"
    event = Calendar.from_ical(ics.get_content()).walk("VEVENT")[0]
    assert str(event["SUMMARY"]) == "Lake Run"
    assert str(event["URL"]) == "http://localhost/races/lake-run"


def test_a_runner_registered_by_someone_else_gets_their_own_ticket(app, db, smtp_server, paid_order):
    messages = deliver_all(app, smtp_server)
    ticket = next(m for m in messages if m["To"] == "Carl Friend <carl@example.com>")
    assert ticket["Subject"] == "Your ticket for Lake Run"
    body = ticket.get_body(preferencelist=("plain",)).get_content()
    assert "Bea Buyer registered you" in body
    code = db.session.scalar(select(Registration.ticket_code).where(Registration.email == "carl@example.com"))
    assert f"/tickets/{code}" in body
    assert sum(1 for part in ticket.walk() if part.get_content_type() == "image/png") == 1


def test_confirmation_is_queued_in_the_same_transaction_as_the_payment(app, db, paid_order):
    kinds = sorted(db.session.scalars(select(OutboxMessage.kind).where(OutboxMessage.order_id == paid_order.id)))
    assert kinds == ["order_confirmation", "ticket"]


@pytest.mark.parametrize("name", ["Ann\r\nBcc: evil@example.com", "Ann\nBcc: evil@example.com", 'Ann "Quotes" <x>'])
def test_names_cannot_add_headers(name):
    recipient = _recipient(name, "ann@example.com")
    assert "\n" not in recipient and "\r" not in recipient
    assert recipient.endswith("<ann@example.com>") or recipient == "ann@example.com"


@pytest.mark.browser
def test_the_confirmation_looks_right_in_a_browser(app, db, paid_order, chromium, tmp_path):
    """Render the HTML part as a mail client would (inline images resolved) and keep a screenshot."""
    message = db.session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "order_confirmation"))
    html = message.html_body
    for item in message.attachments:
        if item.get("content_id"):
            html = html.replace(f"cid:{item['content_id']}", f"data:{item['content_type']};base64,{item['data']}")
    assert "cid:" not in html
    page = chromium.new_page(viewport={"width": 600, "height": 900})
    page.set_content(html)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "email-confirmation.png"), full_page=True)
    assert page.locator("img").count() == 2
    assert page.evaluate("[...document.images].every(i => i.naturalWidth > 0)")
    page.close()

