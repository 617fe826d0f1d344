"""The email outbox: queued with the change that causes it, delivered over real SMTP, never lost."""
from __future__ import annotations

import io
import logging
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from email import policy
from email.parser import BytesParser
from email.utils import parsedate_to_datetime

import pytest
import segno
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app import create_app
from models import OutboxMessage, OutboxStatus, Race
from services import clock
from services.mail.message import build_message
from services.mail.outbox import Attachment, InvalidEmail, queue_email, retry
from services.mail.transports import FileTransport, SmtpTransport, transport_for
from services.mail.worker import due_condition, send_due
from services.worker import start_worker_thread
from tests.factories import make_race
from tests.smtp import SmtpServer

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
SENDER = "Startline <no-reply@startline.local>"
ICS = b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nSUMMARY:Lakeside 5K\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"


def qr_png() -> bytes:
    buffer = io.BytesIO()
    segno.make("TICKET-ABC123").save(buffer, kind="png", scale=4)
    return buffer.getvalue()


def queue(db, *, to="ann@example.com", subject="Your ticket", text="See you at the start line.", **kw):
    """Queue one email and commit, as the code that causes it would."""
    kw.setdefault("kind", "ticket")
    message = queue_email(db.session, to=to, subject=subject, text=text, **kw)
    db.session.commit()
    return message


def send(db, url: str, **kw):
    return send_due(db.session, SmtpTransport.from_url(url), clock.now(), sender=SENDER, **kw)


def reloaded(db, message: OutboxMessage) -> OutboxMessage:
    db.session.refresh(message)
    return message


@pytest.fixture
def nobody_listening():
    """An SMTP server that is down: its port refuses connections until the test calls .start()."""
    server = SmtpServer()
    yield server
    server.close()


# --- delivery --------------------------------------------------------------------------------------

def test_a_queued_email_arrives_with_headers_both_parts_an_attachment_and_an_inline_image(db, smtp_server):
    clock.freeze(T0)
    race = make_race(db, title="Lakeside 5K")
    order_id = uuid.uuid4()
    png = qr_png()
    message = queue(
        db, to="Ann Runner <ann@example.com>", subject="Your ticket for Lakeside 5K",
        text="Hi Ann, your ticket is attached.",
        html='<p>Hi Ann, show this at the start:</p><img src="cid:qr-1@startline" alt="QR">',
        attachments=[Attachment("ticket-qr.png", "image/png", png, content_id="qr-1@startline"),
                     Attachment("lakeside-5k.ics", "text/calendar", ICS)],
        kind="order_confirmation", race_id=race.id, order_id=order_id)

    report = send(db, smtp_server.url)

    assert (report.sent, report.retrying, report.failed) == (1, 0, 0)
    [delivery] = smtp_server.deliveries
    assert delivery.mail_from == "no-reply@startline.local"
    assert delivery.rcpt_tos == ["ann@example.com"]
    email = delivery.message
    assert email["From"] == SENDER
    assert email["To"] == "Ann Runner <ann@example.com>"
    assert email["Subject"] == "Your ticket for Lakeside 5K"
    assert email["Message-ID"] == f"<outbox.{message.id}.20260301090000000000@startline.local>"
    assert parsedate_to_datetime(email["Date"]) == T0
    assert email.get_body(("plain",)).get_content().strip() == "Hi Ann, your ticket is attached."
    assert 'src="cid:qr-1@startline"' in email.get_body(("html",)).get_content()
    [image] = [part for part in email.walk() if part["Content-ID"]]
    assert image["Content-ID"] == "<qr-1@startline>"
    assert image.get_content_disposition() == "inline"
    assert image.get_content_type() == "image/png" and image.get_content() == png
    [ics] = list(email.iter_attachments())
    assert ics.get_filename() == "lakeside-5k.ics"
    assert ics.get_content_type() == "text/calendar"
    assert ics.get_payload(decode=True) == ICS

    row = reloaded(db, message)
    assert row.status == OutboxStatus.SENT and row.sent_at == T0 and row.attempts == 1
    assert (row.race_id, row.order_id, row.kind) == (race.id, order_id, "order_confirmation")


def test_a_text_only_email_is_a_single_plain_part(db, smtp_server):
    queue(db, text="Just text.")
    send(db, smtp_server.url)
    [email] = smtp_server.messages
    assert email.get_content_type() == "text/plain"
    assert email.get_content().strip() == "Just text."


def test_smtp_login_uses_the_credentials_in_smtp_url(db, smtp_server):
    queue(db)
    send(db, smtp_server.url_with_login("mailer"))
    assert [d.login for d in smtp_server.deliveries] == ["mailer"]


def test_a_wrong_smtp_password_keeps_the_mail_queued_for_later(db, smtp_server):
    clock.freeze(T0)
    message = queue(db)
    report = send(db, smtp_server.url_with_login("mailer", "wrong"))
    assert report.retrying == 1 and smtp_server.messages == []
    row = reloaded(db, message)
    assert row.status == OutboxStatus.QUEUED and "535" in row.last_error


# --- the outbox is transactional -----------------------------------------------------------------

def test_queue_email_does_not_commit_so_a_rollback_loses_the_email_with_its_cause(db):
    race = make_race(db, title="Before")
    race.title = "After"
    queue_email(db.session, to="ann@example.com", subject="Race updated", text="…", kind="race_update",
                race_id=race.id)
    db.session.rollback()

    assert db.session.scalar(select(func.count(OutboxMessage.id))) == 0
    assert db.session.scalar(select(Race.title).where(Race.id == race.id)) == "Before"


def test_an_email_queued_with_a_change_is_committed_with_it(db):
    race = make_race(db, title="Before")
    race.title = "After"
    queue_email(db.session, to="ann@example.com", subject="Race updated", text="…", kind="race_update",
                race_id=race.id)
    db.session.commit()
    db.session.expire_all()

    assert db.session.scalar(select(Race.title).where(Race.id == race.id)) == "After"
    assert db.session.scalars(select(OutboxMessage.status)).all() == [OutboxStatus.QUEUED]


# --- temporary failures and backoff ------------------------------------------------------------------

def test_while_the_smtp_server_is_down_the_email_waits_and_goes_when_it_is_back(db, nobody_listening):
    clock.freeze(T0)
    message = queue(db)

    report = send(db, nobody_listening.url)

    assert (report.sent, report.retrying, report.failed) == (0, 1, 0)
    row = reloaded(db, message)
    assert row.status == OutboxStatus.QUEUED and row.attempts == 1
    assert "cannot reach the mail server" in row.last_error and "ConnectionRefused" in row.last_error
    assert row.next_attempt_at == T0 + timedelta(minutes=1)

    clock.advance(timedelta(seconds=59))
    nobody_listening.start()
    assert send(db, nobody_listening.url).total == 0  # not due yet: nothing is tried
    assert nobody_listening.messages == []

    clock.advance(timedelta(seconds=1))
    assert send(db, nobody_listening.url).sent == 1
    assert [m["Subject"] for m in nobody_listening.messages] == ["Your ticket"]
    row = reloaded(db, message)
    assert row.status == OutboxStatus.SENT and row.attempts == 2 and row.sent_at == T0 + timedelta(minutes=1)


def test_retries_back_off_1m_5m_30m_2h_12h_and_the_next_failure_marks_the_email_failed(db, nobody_listening):
    clock.freeze(T0)
    message = queue(db)

    for attempt, delay in enumerate([timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30),
                                     timedelta(hours=2), timedelta(hours=12)], start=1):
        assert send(db, nobody_listening.url).retrying == 1
        row = reloaded(db, message)
        assert (row.status, row.attempts) == (OutboxStatus.QUEUED, attempt)
        assert row.next_attempt_at == clock.now() + delay
        clock.advance(delay)

    assert send(db, nobody_listening.url).failed == 1
    row = reloaded(db, message)
    assert row.status == OutboxStatus.FAILED and row.attempts == 6
    assert row.last_error.startswith("gave up after 6 attempts: cannot reach the mail server")
    clock.advance(timedelta(days=7))
    assert send(db, nobody_listening.url).total == 0  # failed stays failed until someone retries it


def test_an_unreachable_server_ends_the_round_without_spending_the_other_emails_retries(db, nobody_listening):
    clock.freeze(T0)
    first, second = queue(db, to="a@example.com"), queue(db, to="b@example.com")
    assert send(db, nobody_listening.url).retrying == 1
    assert (reloaded(db, first).attempts, reloaded(db, second).attempts) == (1, 0)
    assert reloaded(db, second).status == OutboxStatus.QUEUED


def test_a_recipient_refused_for_now_with_450_is_retried(db, smtp_server):
    clock.freeze(T0)
    smtp_server.refuse("grey@example.com", "450 4.2.0 Greylisted, try again later")
    message = queue(db, to="grey@example.com")
    assert send(db, smtp_server.url).retrying == 1
    row = reloaded(db, message)
    assert row.status == OutboxStatus.QUEUED and row.next_attempt_at == T0 + timedelta(minutes=1)
    assert "450" in row.last_error and "Greylisted" in row.last_error


def test_a_worker_that_dies_mid_send_leaves_the_email_due_again_when_its_lease_ends(db, smtp_server):
    class WorkerKilled(BaseException):
        pass

    class DyingTransport:
        def send(self, email):
            raise WorkerKilled

        def close(self):
            pass

    clock.freeze(T0)
    message = queue(db)
    with pytest.raises(WorkerKilled):
        send_due(db.session, DyingTransport(), clock.now())
    db.session.rollback()
    assert reloaded(db, message).status == OutboxStatus.SENDING

    clock.advance(timedelta(minutes=14))
    assert send(db, smtp_server.url).total == 0  # still claimed: no second send while the lease holds
    clock.advance(timedelta(minutes=1))
    assert send(db, smtp_server.url).sent == 1
    assert len(smtp_server.messages) == 1
    assert reloaded(db, message).attempts == 2


# --- permanent failures ----------------------------------------------------------------------------

def test_a_recipient_the_server_refuses_with_550_fails_at_once_with_the_reason(db, smtp_server):
    clock.freeze(T0)
    smtp_server.refuse("nobody@example.com")
    refused = queue(db, to="nobody@example.com")
    fine = queue(db, to="ann@example.com")

    report = send(db, smtp_server.url)

    assert (report.sent, report.retrying, report.failed) == (1, 0, 1)
    row = reloaded(db, refused)
    assert row.status == OutboxStatus.FAILED and row.attempts == 1
    assert row.last_error == "recipient refused: 550 5.1.1 No such user here"
    assert reloaded(db, fine).status == OutboxStatus.SENT
    assert [d.rcpt_tos for d in smtp_server.deliveries] == [["ann@example.com"]]


def test_an_invalid_address_stored_by_other_code_fails_at_once(db, smtp_server):
    message = OutboxMessage(to_address="not an address", subject="Hi", text_body="x", kind="ticket")
    db.session.add(message)
    db.session.commit()
    assert send(db, smtp_server.url).failed == 1
    row = reloaded(db, message)
    assert row.status == OutboxStatus.FAILED and "not a valid email address" in row.last_error
    assert smtp_server.messages == []


@pytest.mark.parametrize("to", ["not-an-address", "ann@", "ann@example.com, eve@example.com", ""])
def test_queue_email_refuses_what_is_not_one_valid_address(db, to):
    with pytest.raises(InvalidEmail):
        queue_email(db.session, to=to, subject="Hi", text="x", kind="ticket")
    assert not db.session.new


def test_a_failed_email_can_be_retried_and_then_goes_out(db, smtp_server):
    clock.freeze(T0)
    smtp_server.refuse("ann@example.com")
    message = queue(db)
    send(db, smtp_server.url)
    assert reloaded(db, message).status == OutboxStatus.FAILED

    smtp_server.refusals.clear()
    clock.advance(timedelta(hours=3))
    retry(db.session, message.id)
    db.session.commit()
    row = reloaded(db, message)
    assert (row.status, row.attempts, row.next_attempt_at) == (OutboxStatus.QUEUED, 0, T0 + timedelta(hours=3))

    assert send(db, smtp_server.url).sent == 1
    assert reloaded(db, message).status == OutboxStatus.SENT


def test_retrying_a_sent_email_does_not_send_it_again(db, smtp_server):
    message = queue(db)
    send(db, smtp_server.url)
    retry(db.session, message.id)
    db.session.commit()
    assert send(db, smtp_server.url).total == 0
    assert len(smtp_server.messages) == 1
    with pytest.raises(LookupError):
        retry(db.session, 987654)


# --- header injection ------------------------------------------------------------------------------

@pytest.mark.parametrize("field, value", [
    ("to", "Ann\r\nBcc: eve@evil.example <ann@example.com>"),
    ("to", "ann@example.com\nBcc: eve@evil.example"),
    ("subject", "Your ticket, Ann\r\nBcc: eve@evil.example"),
    ("subject", "Your ticket\nX-Injected: yes"),
    ("subject", "Your ticket\u2028Bcc: eve@evil.example"),
])
def test_a_line_break_in_a_name_or_subject_is_refused_when_queueing(db, field, value):
    fields = {"to": "ann@example.com", "subject": "Your ticket", field: value}
    with pytest.raises(InvalidEmail, match="one line"):
        queue_email(db.session, text="x", kind="ticket", **fields)
    assert not db.session.new


def test_a_row_with_a_line_break_in_its_subject_is_never_sent_and_adds_no_header(db, smtp_server):
    # As if written by code that skipped queue_email: the MIME builder refuses it too.
    message = OutboxMessage(to_address="ann@example.com", subject="Hi\r\nBcc: eve@evil.example",
                            text_body="x", kind="ticket")
    db.session.add(message)
    db.session.commit()
    with pytest.raises(ValueError):
        build_message(message, SENDER)

    assert send(db, smtp_server.url).failed == 1
    assert smtp_server.messages == []
    row = reloaded(db, message)
    assert row.status == OutboxStatus.FAILED and "cannot build the message" in row.last_error


def test_a_name_that_looks_like_a_header_stays_inside_the_to_header(db, smtp_server):
    queue(db, to='"Ann Bcc: eve@evil.example" <ann@example.com>', subject="Hi Ann Bcc: eve@evil.example")
    send(db, smtp_server.url)
    [delivery] = smtp_server.deliveries
    assert delivery.rcpt_tos == ["ann@example.com"]
    email = delivery.message
    assert email["Bcc"] is None and email["Cc"] is None
    assert [a.addr_spec for a in email["To"].addresses] == ["ann@example.com"]
    assert email["To"].addresses[0].display_name == "Ann Bcc: eve@evil.example"
    assert email["Subject"] == "Hi Ann Bcc: eve@evil.example"


# --- transports and configuration ------------------------------------------------------------------

def test_the_file_transport_writes_a_parseable_eml_and_logs_where(db, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="services.mail")
    clock.freeze(T0)
    message = queue(db, to="Ann Runner <ann@example.com>", html="<p>Hi</p>",
                    attachments=[Attachment("race.ics", "text/calendar", ICS)])

    report = send_due(db.session, FileTransport(tmp_path / "mail"), clock.now(), sender=SENDER)

    assert report.sent == 1
    [path] = list((tmp_path / "mail").glob("*.eml"))
    email = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
    assert email["To"] == "Ann Runner <ann@example.com>" and email["Subject"] == "Your ticket"
    assert email.get_body(("html",)).get_content().strip() == "<p>Hi</p>"
    assert [a.get_filename() for a in email.iter_attachments()] == ["race.ics"]
    assert f"written to {path}" in caplog.text
    assert reloaded(db, message).status == OutboxStatus.SENT


def test_smtp_url_chooses_the_transport_and_no_smtp_url_means_files_in_instance_mail(app):
    assert isinstance(transport_for(app), FileTransport)
    assert str(transport_for(app)).endswith("instance/mail")
    app.config["SMTP_URL"] = "smtp://127.0.0.1:2525"
    assert isinstance(transport_for(app), SmtpTransport)


@pytest.mark.parametrize("url, expected", [
    ("smtp://mail.example.com", ("mail.example.com", 25, None, None, False, 30.0)),
    ("smtp://apikey:s%40cret%2F1@smtp.example.com:587", ("smtp.example.com", 587, "apikey", "s@cret/1", False, 30.0)),
    ("smtps://me:pw@smtp.example.com?timeout=7.5", ("smtp.example.com", 465, "me", "pw", True, 7.5)),
])
def test_smtp_url_is_read_into_host_port_login_tls_and_timeout(url, expected):
    t = SmtpTransport.from_url(url)
    assert (t.host, t.port, t.username, t.password, t.implicit_tls, t.timeout) == expected
    assert "pw" not in str(t) and "cret" not in str(t)


@pytest.mark.parametrize("url", ["http://mail.example.com", "smtp://", "smtp://host?tls=on"])
def test_a_malformed_smtp_url_is_refused(url):
    with pytest.raises(ValueError):
        SmtpTransport.from_url(url)


# --- running the worker ------------------------------------------------------------------------------

def test_flask_outbox_worker_once_sends_what_is_due_and_prints_a_summary(app, db, runner, smtp_server):
    app.config["SMTP_URL"] = smtp_server.url
    smtp_server.refuse("nobody@example.com")
    queue(db, to="a@example.com")
    queue(db, to="b@example.com")
    queue(db, to="nobody@example.com")

    result = runner.invoke(args=["outbox-worker", "--once"])

    assert result.exit_code == 0, result.output
    assert "Outbox: 2 sent, 0 to retry, 1 failed." in result.output
    assert sorted(d.rcpt_tos[0] for d in smtp_server.deliveries) == ["a@example.com", "b@example.com"]
    db.session.expire_all()
    assert sorted(db.session.scalars(select(OutboxMessage.status))) == ["failed", "sent", "sent"]


def test_the_in_process_worker_thread_delivers_mail_that_gets_queued(app, db, smtp_server):
    app.config["SMTP_URL"] = smtp_server.url
    worker = start_worker_thread(app, interval=0.05)
    try:
        assert start_worker_thread(app) is worker  # once per app
        queue(db, subject="Sent by the thread")
        deadline = time.monotonic() + 10
        while not smtp_server.messages and time.monotonic() < deadline:
            time.sleep(0.02)  # waiting for the delivery to happen, not for time to pass
    finally:
        worker.stop()
    assert [m["Subject"] for m in smtp_server.messages] == ["Sent by the thread"]


def test_create_app_starts_the_worker_only_when_configured_and_never_in_the_reloader_watcher(app, monkeypatch):
    assert "worker" not in app.extensions
    config = {**app.config, "MAIL_WORKER_IN_PROCESS": True}
    monkeypatch.delenv("WERKZEUG_RUN_MAIN", raising=False)

    watcher = create_app({**config, "DEBUG": True})
    assert "worker" not in watcher.extensions

    served = create_app(config)
    worker = served.extensions["worker"]
    assert worker.is_alive()
    worker.stop()
    assert not worker.is_alive()
    for each in (watcher, served):
        with each.app_context():
            each.extensions["sqlalchemy"].engine.dispose()


# --- several workers at once -----------------------------------------------------------------------

@pytest.mark.postgres
def test_two_workers_at_once_deliver_each_of_30_emails_exactly_once(db, smtp_server):
    clock.freeze(T0)
    smtp_server.delay = 0.01  # slow enough that the two workers overlap
    for n in range(30):
        queue_email(db.session, to=f"runner{n}@example.com", subject=f"Ticket {n}", text="x", kind="ticket")
    db.session.commit()
    engine = db.engine
    start = threading.Barrier(2)
    sent_by: dict[str, int] = {}
    errors: list[BaseException] = []

    def worker(name: str) -> None:
        try:
            with Session(engine) as session:
                start.wait()
                sent = 0
                while session.scalar(select(func.count(OutboxMessage.id)).where(due_condition(T0))):
                    session.commit()
                    sent += send_due(session, SmtpTransport.from_url(smtp_server.url), T0, limit=3).sent
                sent_by[name] = sent
        except BaseException as error:  # surfaced in the test thread below
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(name,)) for name in ("one", "two")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert errors == []
    recipients = [d.rcpt_tos[0] for d in smtp_server.deliveries]
    assert sorted(recipients) == sorted(f"runner{n}@example.com" for n in range(30))
    assert len({m["Message-ID"] for m in smtp_server.messages}) == 30
    assert sent_by["one"] + sent_by["two"] == 30 and sent_by["one"] > 0 and sent_by["two"] > 0
    db.session.expire_all()
    rows = db.session.scalars(select(OutboxMessage)).all()
    assert {(r.status, r.attempts) for r in rows} == {(OutboxStatus.SENT, 1)}
