"""Every email the site sends, one function each: orders and tickets, runners who fill in their own
details, refunds, sign-up and reset links, and a race's team.

Each body is a template in templates/emails/ and each link comes from the route table
(services.links.public_url). Each email is an outbox row added to the caller's session, so it is
written in the same transaction as the change that causes it and sent by the worker (services/mail/).
Each is written in its recipient's language (services/mail/languages.py), under flask_babel.force_locale, so
its dates and money follow that language too; the row records which.
"""
from __future__ import annotations

import io
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address

import segno
from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Order, Profile, Race, Registration, TicketType
from services.calendar import site_race_calendar
from services.languages import language_for
from services.links import public_url
from services.mail.languages import account_language, buyer_language, page_language, runner_language
from services.mail.outbox import Attachment, InvalidEmail, queue_email
from services.sales import signup_deadline

log = logging.getLogger(__name__)


def ticket_url(code: str) -> str:
    """A ticket's public page: the link in its email and what its QR code holds."""
    return public_url("tickets.show", code=code)


def qr_png(data: str, scale: int = 6) -> bytes:
    out = io.BytesIO()
    segno.make(data, error="m").save(out, kind="png", scale=scale, border=2)
    return out.getvalue()


def qr_svg(data: str) -> str:
    """An inline SVG QR code (for pages); dark modules on white, scales with CSS."""
    out = io.BytesIO()
    segno.make(data, error="m").save(out, kind="svg", scale=4, border=2, xmldecl=False, svgns=True,
                                     omitsize=True, title=_("Ticket QR code"))
    return out.getvalue().decode()


@dataclass(frozen=True)
class TicketLine:
    registration: Registration
    ticket_type: TicketType
    content_id: str


def _context(session: Session, order: Order, registrations: list[Registration]):
    race = session.get(Race, order.race_id)
    buyer = session.get(Profile, order.buyer_id)
    types = {t.id: t for t in session.scalars(select(TicketType).where(
        TicketType.id.in_({r.ticket_type_id for r in registrations})))}
    lines = [TicketLine(r, types[r.ticket_type_id], f"ticket-{r.id}@startline") for r in registrations]
    return race, buyer, lines


def _ics(race: Race) -> Attachment:
    return Attachment(f"{race.slug}.ics", "text/calendar", site_race_calendar(race))


def _queue(session, **kwargs) -> None:
    try:
        queue_email(session, **kwargs)
    except InvalidEmail as exc:  # a bad runner address must not undo a paid order
        log.warning("email to %r not queued: %s", kwargs.get("to"), exc)


def queue_order_confirmation(session: Session, order: Order, registrations: list[Registration]) -> None:
    """To the buyer: every ticket with its QR code, the total, and the race in a calendar file. A ticket
    whose runner fills in their own details has no QR code yet: the email says who still has to."""
    race, buyer, lines = _context(session, order, registrations)
    context = {"order": order, "race": race, "buyer": buyer, "lines": lines, "ticket_url": ticket_url,
               "tickets_url": public_url("tickets.index"), "deadline": signup_deadline(race)}
    images = {line.content_id: _qr_image(line) for line in lines if not line.registration.awaiting_runner}
    language = buyer_language(buyer, race)
    with force_locale(language):
        _queue(session, to=_recipient(buyer.display_name, buyer.email),
               subject=_("You're in: %(race)s", race=race.title),
               text=render_template("emails/order_confirmation.txt", **context),
               html=render_template("emails/order_confirmation.html", **context),
               attachments=[*images.values(), _ics(race)], kind="order_confirmation", race_id=race.id,
               order_id=order.id, language=language)
    # Runners the buyer registered get their own ticket, at their own address (those filling in their
    # own details get an invitation instead, services/runner_invites.py).
    for line in lines:
        if line.content_id in images and (line.registration.email or "").strip().lower() != buyer.email.lower():
            _queue_runner_ticket(session, {**context, "lines": [line]}, images[line.content_id],
                                 runner_language(session, line.registration, buyer, race))


def queue_runner_ticket(session: Session, order: Order, registration: Registration) -> None:
    """To a runner who has just filled in their own details: their ticket with its QR code."""
    race, buyer, lines = _context(session, order, [registration])
    context = {"order": order, "race": race, "buyer": buyer, "lines": lines, "ticket_url": ticket_url}
    # They are on the page that sent it: its language is theirs unless their account chose one.
    language = language_for(account_language(session, registration.email), page_language(), race.language)
    _queue_runner_ticket(session, context, _qr_image(lines[0]), language)


def _qr_image(line: TicketLine) -> Attachment:
    return Attachment(f"ticket-{line.registration.id}.png", "image/png",
                      qr_png(ticket_url(line.registration.ticket_code)), content_id=line.content_id)


def _queue_runner_ticket(session: Session, context: dict, image: Attachment, language: str) -> None:
    registration, race = context["lines"][0].registration, context["race"]
    if not (registration.email or "").strip():
        return
    with force_locale(language):
        _queue(session, to=_recipient(registration.runner_name, registration.email.strip().lower()),
               subject=_("Your ticket for %(race)s", race=race.title),
               text=render_template("emails/ticket.txt", **context),
               html=render_template("emails/ticket.html", **context), attachments=[image, _ics(race)], kind="ticket",
               race_id=race.id, order_id=context["order"].id, language=language)


def queue_runner_invite(session: Session, registration: Registration, *, race: Race, ticket_type: TicketType,
                        buyer: Profile, link: str, reminder: bool, deadline: datetime | None = None) -> None:
    """To a runner the buyer left to fill in their own details: who bought the ticket, and their personal link
    (working until `deadline`, sign-up's close unless said)."""
    context = {"registration": registration, "race": race, "ticket_type": ticket_type, "buyer": buyer, "link": link,
               "deadline": deadline or signup_deadline(race), "reminder": reminder}
    language = runner_language(session, registration, buyer, race)
    with force_locale(language):
        subject = (_("Reminder: fill in your details for %(race)s", race=race.title) if reminder
                   else _("%(buyer)s got you a ticket for %(race)s: fill in your details", buyer=buyer.display_name,
                          race=race.title))
        _queue(session, to=_recipient(registration.runner_name, registration.email), subject=subject,
               text=render_template("emails/runner_invite.txt", **context),
               html=render_template("emails/runner_invite.html", **context),
               kind="runner_reminder" if reminder else "runner_invite", race_id=race.id,
               order_id=registration.order_id, language=language)


def queue_runner_age_problem(session: Session, registration: Registration, *, race: Race, ticket_type: TicketType,
                             buyer: Profile, organizers: list[Profile], problem: str) -> None:
    """The runner's age doesn't fit their ticket type: tell the buyer, and the organizers (who can switch or refund).
    `problem` is as the ticket keeps it (services.stored_sentences), worded in each recipient's language."""
    context = {"registration": registration, "race": race, "ticket_type": ticket_type, "buyer": buyer,
               "problem": problem}
    link = public_url("manage.registrant", race_id=race.id, registration_id=registration.id)
    recipients = [(buyer, buyer_language(buyer, race), False)]
    recipients += [(organizer, language_for(organizer.language, race.language), True) for organizer in organizers]
    for person, language, for_organizer in recipients:
        with force_locale(language):
            _queue(session, to=_recipient(person.display_name, person.email),
                   subject=_("%(runner)s's ticket for %(race)s needs a change", runner=registration.runner_name,
                             race=race.title),
                   text=render_template("emails/runner_age_problem.txt", for_organizer=for_organizer, link=link,
                                        **context),
                   kind="runner_age_problem", race_id=race.id, order_id=registration.order_id, language=language)


def _queue_buyer_notice(session: Session, order: Order, template: str, subject: Callable[[str], str], kind: str,
                        **context) -> None:
    """An email about an order to its buyer, from `emails/<template>`; `subject` writes the subject for a race
    title (in the buyer's language, as it is called under force_locale)."""
    race = session.get(Race, order.race_id)
    buyer = session.get(Profile, order.buyer_id)
    language = buyer_language(buyer, race)
    with force_locale(language):
        text = render_template(f"emails/{template}", race=race, buyer=buyer, order=order, **context)
        _queue(session, to=_recipient(buyer.display_name, buyer.email), subject=subject(race.title),
               text=text, kind=kind, race_id=race.id, order_id=order.id, language=language)


def queue_refund_pending_notice(session: Session, order: Order) -> None:
    """Money came in but no ticket could be issued: tell the buyer a refund is on its way, and why (the order's
    problem, worded in the buyer's language)."""
    _queue_buyer_notice(session, order, "refund_pending.txt",
                        lambda race: _("About your payment for %(race)s", race=race), "capacity_refund_notice",
                        problem=order.problem)


def queue_refund_notice(session: Session, order: Order, amount: int) -> None:
    """The buyer's money (or part of it) is on its way back."""
    _queue_buyer_notice(session, order, "refunded.txt", lambda race: _("Refund for %(race)s", race=race),
                        "refund_notice", amount=amount)


def queue_duplicate_refund_notice(session: Session, order: Order, amount: int) -> None:
    """The buyer paid twice for one order: the second payment is back with them, their tickets stand."""
    _queue_buyer_notice(session, order, "duplicate_refunded.txt",
                        lambda race: _("You paid twice for %(race)s: refunded", race=race), "duplicate_refund_notice",
                        amount=amount)


def queue_auth_link(session: Session, kind: str, to: str, link: str) -> None:
    """The embedded auth provider's email: confirm an address ("signup"), reset a password ("recovery") or
    sign in ("magiclink")."""
    site = current_app.config["SITE_NAME"]
    # The person asking is on the page (signing up, or asking for a link): its language, unless their account chose.
    language = language_for(account_language(session, to), page_language())
    with force_locale(language):
        if kind == "signup":
            subject = _("Confirm your email for %(site)s", site=site)
        elif kind == "magiclink":
            subject = _("Your sign-in link for %(site)s", site=site)
        else:
            subject = _("Reset your %(site)s password", site=site)
        context = {"kind": kind, "link": link, "subject": subject, "site_name": site}
        queue_email(session, to=to, subject=subject, text=render_template("emails/auth_link.txt", **context),
                    html=render_template("emails/auth_link.html", **context), kind=f"auth_{kind}", language=language)


def queue_organizer_added(session: Session, race: Race, to: str, inviter: Profile) -> None:
    """Someone with an account was made a co-organizer: tell them, with a link to the race's dashboard."""
    _queue_team_email(session, race, to, "organizer_added", lambda: _("You're now organizing %(race)s", race=race.title),
                      "emails/organizer_added.txt", inviter=inviter,
                      url=public_url("manage.dashboard", race_id=race.id))


def queue_organizer_invite(session: Session, race: Race, to: str, inviter: Profile, token: str,
                           valid_days: int) -> None:
    """Someone without an account is invited to organize: the link that accepts, while it is valid."""
    _queue_team_email(session, race, to, "organizer_invite",
                      lambda: _("%(inviter)s invited you to organize %(race)s", inviter=inviter.display_name,
                                race=race.title),
                      "emails/organizer_invite.txt", inviter=inviter,
                      url=public_url("manage.show_invite", token=token), valid_days=valid_days)


def _queue_team_email(session: Session, race: Race, to: str, kind: str, subject: Callable[[], str], template: str,
                      **context) -> None:
    """To a race's new organizer, in their account's language (someone without an account yet: the race's)."""
    language = language_for(account_language(session, to), race.language)
    # Not _queue: an invitation that cannot be queued fails the change that caused it (the form checked the address).
    with force_locale(language):
        text = render_template(template, race=race, site_name=current_app.config["SITE_NAME"], **context)
        queue_email(session, to=to, subject=subject(), text=text, kind=kind, race_id=race.id, language=language)


def _recipient(name: str, email: str) -> str:
    # Address() quotes the display name; a name with line breaks is dropped rather than trusted.
    name = " ".join((name or "").split())
    if not name or any(ch in name for ch in "\r\n"):
        return email
    try:
        return str(Address(display_name=name, addr_spec=email))
    except (ValueError, IndexError):
        return email
