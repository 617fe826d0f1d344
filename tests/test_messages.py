"""Messages to runners: who gets one, what the email carries, sending once, unsubscribing, and the sent counts."""
from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from models import MessageUnsubscribe, OrderStatus, OutboxMessage, OutboxStatus, RaceMessage
from services import clock
from services.mail.transports import SmtpTransport
from services.mail.worker import send_due
from services.messages import sending
from services.messages.audience import Audience, audience_list
from services.messages.sending import Draft, MessageRefused
from services.messages.unsubscribe import open_link, token_maker, unsubscribe
from tests.factories import make_profile
from tests.registrant_factories import (  # noqa: F401  (fixtures)
    awaiting_runner,
    many_paid_runners,
    organized_race,
    organizer,
    race,
    runner,
    signed_in,
)
from tests.smtp import smtp_server  # noqa: F401  (fixture)

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


def emails(db, race, audience=Audience(), *, essential=False) -> list[str]:
    return sorted(p.email for p in audience_list(db.session, race.id, audience, essential=essential).recipients)


def without_email(db, registration):
    """A runner whose buyer gave no email for them (a child, say)."""
    registration.email = ""
    db.session.commit()
    return registration


def send(db, race, sender, subject="Packet pick-up", body="Friday **4-8 pm** at the boathouse.", *, key="k" * 24,
         audience=Audience(), essential=False):
    message, _ = sending.send_message(db.session, race, sender, Draft(subject, body, audience, essential), key, NOW)
    return message


def queued(db, message) -> list[OutboxMessage]:
    return list(db.session.scalars(select(OutboxMessage).where(OutboxMessage.message_id == message.id)
                                   .order_by(OutboxMessage.to_address)))


# --- the audience ------------------------------------------------------------------------------

def test_everyone_means_paid_tickets_not_refunded_pending_or_abandoned(db, race):
    ten_k = race.ticket_types[0]
    runner(db, race, ten_k, "Ann", email="ann@example.com")
    runner(db, race, ten_k, "Rae", email="rae@example.com", refunded=True)  # refunded on its own, order still paid
    runner(db, race, ten_k, "Ref", email="ref@example.com", status=OrderStatus.REFUNDED)
    runner(db, race, ten_k, "Pam", email="pam@example.com", status=OrderStatus.PENDING,
           reserved_until=datetime.now(UTC) + timedelta(minutes=20))
    runner(db, race, ten_k, "Nia", email="nia@example.com", status=OrderStatus.NEEDS_REFUND)

    assert emails(db, race) == ["ann@example.com"]


def test_one_email_per_address_whatever_its_case_and_a_runner_without_one_reaches_their_buyer(db, race):
    ten_k, five_k = race.ticket_types
    buyer = make_profile(db, email="dad@example.com", full_name="Dan Dad")
    runner(db, race, ten_k, "Ann", email="ann@example.com")
    runner(db, race, five_k, "Ann", email="ANN@example.com ")
    without_email(db, runner(db, race, ten_k, "Kid", buyer=buyer))
    without_email(db, runner(db, race, five_k, "Kid2", buyer=buyer))
    other_race = organized_race(db, make_profile(db), slug="elsewhere")
    runner(db, other_race, other_race.ticket_types[0], "Out", email="out@example.com")

    people = audience_list(db.session, race.id, Audience(), essential=False).recipients

    assert [(p.email, p.first_name) for p in people] == [("ann@example.com", "Ann"), ("dad@example.com", "Dan")]


def test_a_buyer_who_also_runs_is_greeted_by_their_own_runner_name(db, race):
    ten_k = race.ticket_types[0]
    buyer = make_profile(db, email="mia@example.com", full_name="Mia Mum")
    without_email(db, runner(db, race, ten_k, "Kid", buyer=buyer))
    runner(db, race, ten_k, "Mia", email="mia@example.com", buyer=buyer)

    [person] = audience_list(db.session, race.id, Audience(), essential=False).recipients
    assert (person.email, person.first_name) == ("mia@example.com", "Mia")


def test_filters_pick_a_ticket_type_check_in_and_pending_details(db, race):
    ten_k, five_k = race.ticket_types
    runner(db, race, ten_k, "Ann", email="ann@example.com", checked_in_at=datetime.now(UTC))
    runner(db, race, ten_k, "Bob", email="bob@example.com")
    runner(db, race, five_k, "Cat", email="cat@example.com")
    awaiting_runner(db, race, five_k, "Fay", email="fay@example.com")

    assert emails(db, race, Audience(ticket_type_id=ten_k.id)) == ["ann@example.com", "bob@example.com"]
    assert emails(db, race, Audience(checked_in="yes")) == ["ann@example.com"]
    assert emails(db, race, Audience(checked_in="no")) == ["bob@example.com", "cat@example.com", "fay@example.com"]
    assert emails(db, race, Audience(details="pending")) == ["fay@example.com"]
    assert emails(db, race, Audience(ticket_type_id=ten_k.id, checked_in="no")) == ["bob@example.com"]


def test_the_unsubscribed_are_left_out_and_counted_unless_the_message_is_essential(db, race):
    ten_k = race.ticket_types[0]
    runner(db, race, ten_k, "Ann", email="Ann@Example.com")
    runner(db, race, ten_k, "Bob", email="bob@example.com")
    unsubscribe(db.session, open_link(db.session, token_maker(race.id)("ann@example.com")), NOW)

    news = audience_list(db.session, race.id, Audience(), essential=False)
    assert [p.email for p in news.recipients] == ["bob@example.com"] and news.unsubscribed == 1
    assert emails(db, race, essential=True) == ["Ann@Example.com", "bob@example.com"]


def test_unsubscribing_is_per_race_and_twice_is_once(db, race):
    other = organized_race(db, make_profile(db), slug="other")
    runner(db, other, other.ticket_types[0], "Ann", email="ann@example.com")
    link = open_link(db.session, token_maker(race.id)("ann@example.com"))
    unsubscribe(db.session, link, NOW)
    unsubscribe(db.session, link, NOW)

    assert db.session.scalar(select(func.count()).select_from(MessageUnsubscribe)) == 1
    assert emails(db, other) == ["ann@example.com"]


# --- the draft's rules -------------------------------------------------------------------------

@pytest.mark.parametrize("subject, body, field", [
    ("", "Hello", "subject"), ("   ", "Hello", "subject"), ("Hi", "", "body"), ("Hi", " \n ", "body"),
    ("x" * 151, "Hello", "subject"), ("Hi", "x" * 20_001, "body"), ("Line\nbreak", "Hello", "subject"),
    ("Hi", "bell\x07", "body"),
])
def test_a_draft_needs_a_one_line_subject_and_a_body_of_sensible_size(db, race, subject, body, field):
    assert field in sending.draft_problems(db.session, race, Draft(subject, body))


def test_a_ticket_type_must_be_one_of_this_race_s(db, race):
    other = organized_race(db, make_profile(db), slug="other")
    for ticket_type_id in (other.ticket_types[0].id, 999_999):
        problems = sending.draft_problems(db.session, race, Draft("Hi", "Hello", Audience(ticket_type_id=ticket_type_id)))
        assert problems == {"ticket_type": "Pick one of this race's ticket types."}
    mine = Audience(ticket_type_id=race.ticket_types[0].id)
    assert sending.draft_problems(db.session, race, Draft("Hi", "x" * 20_000, mine)) == {}


# --- sending -----------------------------------------------------------------------------------

def test_sending_queues_one_personal_email_per_recipient_with_reply_to_and_one_click_unsubscribe(db, race, organizer):
    ten_k = race.ticket_types[0]
    runner(db, race, ten_k, "Ann", email="ann@example.com")
    runner(db, race, ten_k, "Bob", email="bob@example.com")

    message = send(db, race, organizer)

    assert (message.recipient_count, message.essential, message.subject) == (2, False, "Packet pick-up")
    ann, bob = queued(db, message)
    assert ann.to_address == "ann@example.com" and ann.kind == "race_message" and ann.race_id == race.id
    assert ann.sender_name == "Olga Organizer" and ann.status == OutboxStatus.QUEUED
    assert "Hi Ann," in ann.text_body and "Hi Bob," in bob.text_body and "Hi Ann," in ann.html_body
    assert "<strong>4-8 pm</strong>" in ann.html_body and "Lake 10K" in ann.html_body
    assert ann.headers["Reply-To"] == "Olga Organizer <olga@example.com>"
    assert ann.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    ann_link = ann.headers["List-Unsubscribe"].strip("<>")
    assert ann_link in ann.text_body and ann_link in ann.html_body and ann_link not in bob.text_body
    assert open_link(db.session, ann_link.rsplit("/", 1)[-1]).email == "ann@example.com"


def test_an_essential_message_reaches_the_unsubscribed_and_carries_no_unsubscribe_link(db, race, organizer):
    runner(db, race, race.ticket_types[0], "Ann", email="ann@example.com")
    unsubscribe(db.session, open_link(db.session, token_maker(race.id)("ann@example.com")), NOW)

    [email] = queued(db, send(db, race, organizer, "Start moved to 9:00", "Flooding on the river path.", essential=True))

    assert set(email.headers) == {"Reply-To"}
    assert "nsubscribe" not in email.text_body and "nsubscribe" not in email.html_body


def test_the_organizer_s_markdown_is_rendered_safely_as_the_race_description_is(db, race, organizer):
    runner(db, race, race.ticket_types[0], "Ann", email="ann@example.com")
    [email] = queued(db, send(db, race, organizer, body="<script>alert(1)</script> [x](javascript:alert(1)) Hi {0} %s"))
    assert "<script>" not in email.html_body and "&lt;script&gt;" in email.html_body
    assert 'href="javascript' not in email.html_body
    assert "Hi {0} %s" in email.text_body


def test_sending_twice_with_the_same_form_key_sends_once(db, race, organizer):
    runner(db, race, race.ticket_types[0], "Ann", email="ann@example.com")
    first = send(db, race, organizer, key="same-key-" * 3)
    again, sent_now = sending.send_message(db.session, race, organizer, Draft("Other", "Other"), "same-key-" * 3, NOW)

    assert again.id == first.id and not sent_now
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 1


def test_an_audience_of_nobody_is_refused_and_writes_nothing(db, race, organizer):
    runner(db, race, race.ticket_types[0], "Ann", email="ann@example.com")
    with pytest.raises(MessageRefused) as refused:
        send(db, race, organizer, audience=Audience(checked_in="yes"))
    assert "audience" in refused.value.problems
    assert db.session.scalar(select(func.count()).select_from(RaceMessage)) == 0


def test_a_test_send_goes_to_the_organizer_alone_marked_test(db, race, organizer):
    runner(db, race, race.ticket_types[0], "Ann", email="ann@example.com")
    sending.send_test(db.session, race, organizer, Draft("Packet pick-up", "Friday."))

    [email] = db.session.scalars(select(OutboxMessage)).all()
    assert (email.to_address, email.subject, email.message_id) == ("olga@example.com", "[Test] Packet pick-up", None)
    assert "Hi Olga," in email.text_body and "List-Unsubscribe" in email.headers
    assert db.session.scalar(select(func.count()).select_from(RaceMessage)) == 0


def test_the_email_arrives_over_smtp_from_the_organizer_with_list_unsubscribe(db, race, organizer, smtp_server):
    runner(db, race, race.ticket_types[0], "Ann", email="ann@example.com")
    message = send(db, race, organizer)

    report = send_due(db.session, SmtpTransport.from_url(smtp_server.url), clock.now(),
                      sender="Startline <no-reply@startline.local>")

    assert report.sent == 1
    [email] = smtp_server.messages
    assert email["From"] == "Olga Organizer <no-reply@startline.local>"
    assert email["Reply-To"] == "Olga Organizer <olga@example.com>"
    assert email["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    [row] = queued(db, message)
    assert email["List-Unsubscribe"] == row.headers["List-Unsubscribe"]
    assert email["Subject"] == "Packet pick-up"
    assert "Hi Ann," in email.get_body(("plain",)).get_content()


def test_the_sent_list_counts_delivered_failed_and_queued(db, race, organizer):
    for name in ("Ann", "Bob", "Cat", "Dan"):
        runner(db, race, race.ticket_types[0], name, email=f"{name.lower()}@example.com")
    first = send(db, race, organizer, key="a" * 24)
    rows = queued(db, first)
    rows[0].status, rows[1].status, rows[2].status = OutboxStatus.SENT, OutboxStatus.SENT, OutboxStatus.FAILED
    db.session.commit()

    [sent] = sending.sent_messages(db.session, race)
    assert (sent.delivered, sent.failed, sent.queued, sent.sender_name) == (2, 1, 1, "Olga Organizer")


def test_five_thousand_recipients_are_queued_in_one_transaction(db, race, organizer):
    many_paid_runners(db, race, race.ticket_types[0], 5_000)

    started = time.perf_counter()
    message = send(db, race, organizer)
    elapsed = time.perf_counter() - started

    print(f"\nqueued {message.recipient_count} recipients in {elapsed:.2f} s ({db.engine.dialect.name})")
    assert message.recipient_count == 5_000
    assert db.session.scalar(select(func.count()).where(OutboxMessage.message_id == message.id)) == 5_000


def test_an_organizer_name_with_a_line_break_becomes_one_line_in_from_and_reply_to(db, race, organizer):
    organizer.full_name = "Olga\r\nBcc: everyone@example.com"
    db.session.commit()
    runner(db, race, race.ticket_types[0], "Ann", email="ann@example.com")

    [email] = queued(db, send(db, race, organizer))

    assert email.sender_name == "Olga Bcc: everyone@example.com"
    assert "\n" not in email.headers["Reply-To"] and email.headers["Reply-To"].endswith("<olga@example.com>")


@pytest.mark.parametrize("headers", [{"Bcc": "all@example.com"}, {"List-Unsubscribe": "<https://x>\r\nBcc: all@example.com"},
                                     {"Reply-To": "not an address"}])
def test_an_outbox_row_takes_only_the_known_extra_headers_each_on_one_line(headers):
    from services.mail.outbox import InvalidEmail, outbox_row

    with pytest.raises(InvalidEmail):
        outbox_row(to="ann@example.com", subject="Hi", text="Hello", kind="race_message", headers=headers, now=NOW)
