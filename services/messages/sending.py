"""Writing and sending a message: the draft's rules, the test send, the send itself, and the sent list with counts.

Sending is one transaction: the RaceMessage row, then every recipient's outbox row in one multi-row INSERT,
committed together; the outbox worker delivers them with its retries. The compose form's key is unique per
race, so a second click on Send finds the first click's message and queues nothing.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from email.headerregistry import Address

from flask_babel import format_number
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import case, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from models import OutboxMessage, OutboxStatus, Profile, Race, RaceMessage
from services.languages import language_for
from services.mail.languages import page_language
from services.mail.outbox import InvalidEmail, outbox_row, queue_email, queue_emails
from services.messages.audience import (
    CHECKED_IN,
    DETAILS,
    SOURCES,
    Audience,
    AudienceList,
    audience_list,
    ticket_type_belongs,
)
from services.messages.emails import RenderedMessage, recipient_languages, render_message
from services.messages.unsubscribe import token_maker

log = logging.getLogger(__name__)

SUBJECT_MAX = 150
BODY_MAX = 20_000
KIND = "race_message"
TEST_KIND = "race_message_test"
TICKET_TYPE_PROBLEM = _l("Pick one of this race's ticket types.")
NOBODY = _l("Nobody matches these filters yet, so there's no one to send it to.")


class MessageRefused(ValueError):
    """A draft that can't be sent, with a message per form field."""

    def __init__(self, problems: dict[str, str]):
        super().__init__("; ".join(problems.values()))
        self.problems = problems


@dataclass(frozen=True)
class Draft:
    subject: str
    body: str
    audience: Audience = field(default_factory=Audience)
    essential: bool = False


def draft_problems(session: Session, race: Race, draft: Draft) -> dict[str, str]:
    """What is wrong with a draft, by form field; empty when it can be sent."""
    problems = {}
    if not draft.subject.strip():
        problems["subject"] = _("Write a subject.")
    elif len(draft.subject) > SUBJECT_MAX:
        problems["subject"] = _("Keep the subject under %(max)d characters.", max=SUBJECT_MAX)
    elif any(ord(ch) < 32 or ch in "\u2028\u2029\x7f" for ch in draft.subject):
        problems["subject"] = _("Keep the subject on one line, without invisible characters.")
    if not draft.body.strip():
        problems["body"] = _("Write the message.")
    elif len(draft.body) > BODY_MAX:
        problems["body"] = _("Keep the message under %(max)s characters (it has %(length)s).",
                             max=format_number(BODY_MAX), length=format_number(len(draft.body)))
    elif any(ord(ch) < 32 and ch not in "\n\r\t" for ch in draft.body):
        problems["body"] = _("Remove the invisible control characters from the message.")
    audience = draft.audience
    if audience.source not in SOURCES:
        problems["source"] = _("Pick who gets the message from the list.")
    if audience.ticket_type_id is not None and not ticket_type_belongs(session, race.id, audience.ticket_type_id):
        problems["ticket_type"] = str(TICKET_TYPE_PROBLEM)
    if audience.checked_in not in CHECKED_IN:
        problems["checked_in"] = _("Pick checked in, not checked in, or either.")
    if audience.details not in DETAILS:
        problems["details"] = _("Pick details pending, or either.")
    return problems


def check_draft(session: Session, race: Race, draft: Draft) -> None:
    if problems := draft_problems(session, race, draft):
        raise MessageRefused(problems)


def recipients(session: Session, race: Race, draft: Draft) -> AudienceList:
    """Who the draft would go to right now (checked first: raises MessageRefused for a bad audience)."""
    problems = {k: v for k, v in draft_problems(session, race, draft).items() if k not in ("subject", "body")}
    if problems:
        raise MessageRefused(problems)
    return audience_list(session, race.id, draft.audience, essential=draft.essential)


def _sender_name(sender: Profile) -> str:
    """The organizer's name as the From line and the email show it: one line, printable."""
    return " ".join("".join(ch for ch in sender.display_name if ch.isprintable() or ch.isspace()).split())[:200]


def _rendered(race: Race, sender: Profile, draft: Draft) -> RenderedMessage:
    return render_message(race, _sender_name(sender), draft.subject, draft.body, essential=draft.essential)


def preview(race: Race, sender: Profile, draft: Draft) -> tuple[str, str]:
    """(text, HTML) of the email as a runner named Ann would get it."""
    return _rendered(race, sender, draft).for_recipient("Ann", None if draft.essential else "preview")


def _reply_to(sender: Profile) -> str:
    return str(Address(display_name=_sender_name(sender), addr_spec=sender.email))


def send_test(session: Session, race: Race, sender: Profile, draft: Draft) -> None:
    """Queue the draft to the organizer alone, marked [Test], exactly as runners would get it. Commits."""
    check_draft(session, race, draft)
    rendered = _rendered(race, sender, draft)
    token = None if draft.essential else token_maker(race.id)(sender.email)
    language = language_for(sender.language, page_language(), race.language)  # the organizer is on the page
    text, html = rendered.for_recipient(_sender_name(sender).split(" ")[0], token, language)
    queue_email(session, to=sender.email, subject=f"[Test] {draft.subject}", text=text, html=html, kind=TEST_KIND,
                race_id=race.id, headers=rendered.headers(_reply_to(sender), token),
                sender_name=_sender_name(sender), language=language)
    session.commit()


def send_message(session: Session, race: Race, sender: Profile, draft: Draft, key: str,
                 now: datetime) -> tuple[RaceMessage, bool]:
    """Queue the message to its whole audience in one transaction. Commits.

    Returns the message and whether this call sent it: a key already used returns the message it sent,
    queueing nothing. Raises MessageRefused for a bad draft or an audience of nobody.
    """
    sent = _sent_with_key(session, race, key)
    if sent is not None:
        return sent, False
    check_draft(session, race, draft)
    people = audience_list(session, race.id, draft.audience, essential=draft.essential)
    if not people.recipients:
        raise MessageRefused({"audience": str(NOBODY)})
    message = RaceMessage(race_id=race.id, sender_id=sender.id, subject=draft.subject, body=draft.body,
                          audience=draft.audience.as_json(), essential=draft.essential, idempotency_key=key,
                          recipient_count=0, created_at=now)
    session.add(message)
    try:
        session.flush()
    except IntegrityError:  # the same form sent twice at once: the other request's message is the one
        session.rollback()
        return _sent_with_key(session, race, key), False
    message.recipient_count = queue_emails(session, _outbox_rows(session, race, sender, draft, people, message.id,
                                                                 now))
    session.commit()
    return message, True


def _outbox_rows(session: Session, race: Race, sender: Profile, draft: Draft, people: AudienceList, message_id: int,
                 now: datetime) -> list[dict]:
    rendered = _rendered(race, sender, draft)
    token_for = None if draft.essential else token_maker(race.id)
    reply_to = _reply_to(sender)
    languages = recipient_languages(session, race, (person.email for person in people.recipients))
    rows = []
    for person in people.recipients:
        token = token_for(person.email) if token_for else None
        language = languages[person.email.strip().lower()]
        text, html = rendered.for_recipient(person.first_name, token, language)
        try:
            rows.append(outbox_row(to=person.email, subject=draft.subject, text=text, html=html, kind=KIND,
                                   race_id=race.id, message_id=message_id, sender_name=_sender_name(sender),
                                   headers=rendered.headers(reply_to, token), language=language, now=now))
        except InvalidEmail as error:  # an address stored before today's checks: skip it, send the rest
            log.warning("Message %s skips %r: %s", message_id, person.email, error)
    return rows


def _sent_with_key(session: Session, race: Race, key: str) -> RaceMessage | None:
    return session.scalar(select(RaceMessage).where(RaceMessage.race_id == race.id,
                                                    RaceMessage.idempotency_key == key))


# --- the sent list ---------------------------------------------------------------------------

@dataclass(frozen=True)
class SentMessage:
    message: RaceMessage
    sender_name: str
    delivered: int
    failed: int
    queued: int


def _sent_query(race_id: int):
    status = OutboxMessage.status
    return (select(RaceMessage, Profile.full_name, Profile.email,
                   func.count(case((status == OutboxStatus.SENT, OutboxMessage.id))),
                   func.count(case((status == OutboxStatus.FAILED, OutboxMessage.id))),
                   func.count(case((status.in_([OutboxStatus.QUEUED, OutboxStatus.SENDING]), OutboxMessage.id))))
            .outerjoin(Profile, Profile.id == RaceMessage.sender_id)
            .outerjoin(OutboxMessage, OutboxMessage.message_id == RaceMessage.id)
            .where(RaceMessage.race_id == race_id)
            .group_by(RaceMessage.id, Profile.id))


def _sent(row) -> SentMessage:
    message, full_name, email, delivered, failed, queued = row
    name = full_name or (email.split("@")[0] if email else _("A former organizer"))
    return SentMessage(message, name, delivered, failed, queued)


def sent_messages(session: Session, race: Race) -> list[SentMessage]:
    """The race's messages, latest first, each with its delivered / failed / queued counts: one query."""
    query = _sent_query(race.id).order_by(RaceMessage.created_at.desc(), RaceMessage.id.desc())
    return [_sent(row) for row in session.execute(query)]


def sent_message(session: Session, race: Race, message_id: int) -> SentMessage | None:
    row = session.execute(_sent_query(race.id).where(RaceMessage.id == message_id)).first()
    return _sent(row) if row else None

