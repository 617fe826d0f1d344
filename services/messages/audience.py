"""Who gets a message: the audience's filters, one recipient per address, and the addresses that unsubscribed.

Runners are paid, not refunded registrations; a runner without an email of their own is reached through
their buyer's. Addresses are compared folded to lowercase, so one person gets one email.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from models import MessageUnsubscribe, Order, Profile, Registration, TicketType
from services.registrants.query import RegistrantFilters, filtered, registrants_query
from services.waitlist import waitlist_recipients

CHECKED_IN = {"": _l("Checked in or not"), "yes": _l("Checked in"), "no": _l("Not checked in")}
DETAILS = {"": _l("Details in or not"), "pending": _l("Runner's details pending")}


@dataclass(frozen=True)
class Audience:
    """The filters an organizer picked; every one left at its default means everyone."""

    source: str = "registrants"      # a key of SOURCES
    ticket_type_id: int | None = None
    checked_in: str = ""             # a key of CHECKED_IN
    details: str = ""                # a key of DETAILS

    def as_json(self) -> dict:
        return {"source": self.source, "ticket_type_id": self.ticket_type_id, "checked_in": self.checked_in,
                "details": self.details}

    @classmethod
    def from_json(cls, stored: dict) -> Audience:
        return cls(**{key: stored[key] for key in ("source", "ticket_type_id", "checked_in", "details")
                      if key in stored})


@dataclass(frozen=True)
class Recipient:
    email: str
    first_name: str  # for "Hi Ann"; empty when nobody told us


@dataclass(frozen=True)
class AudienceList:
    recipients: list[Recipient]
    unsubscribed: int  # addresses the filters matched that are left out because they unsubscribed


def fold(email: str) -> str:
    """An address as compared and stored for unsubscribing: trimmed, lowercase."""
    return email.strip().lower()


def describe(audience: Audience, ticket_names: dict[int, str]) -> str:
    """The audience in a few words, for the sent list: "Everyone", "10K · not checked in"."""
    parts = []
    if audience.source == "waitlist":
        parts.append(_("Waitlist"))
    if audience.ticket_type_id is not None:
        parts.append(ticket_names.get(audience.ticket_type_id, _("A removed ticket type")))
    if audience.source == "registrants":
        if audience.checked_in:
            parts.append(str(CHECKED_IN[audience.checked_in]).lower())
        if audience.details:
            parts.append(str(DETAILS[audience.details]).lower())
    return " · ".join(parts) or _("Everyone")


def ticket_type_belongs(session: Session, race_id: int, ticket_type_id: int) -> bool:
    return session.scalar(select(TicketType.id).where(TicketType.id == ticket_type_id,
                                                      TicketType.race_id == race_id)) is not None


def audience_list(session: Session, race_id: int, audience: Audience, *, essential: bool) -> AudienceList:
    """The recipients, one per address in the order they signed up; the unsubscribed left out unless `essential`."""
    people: dict[str, Recipient] = {}
    for email, first_name, own in SOURCES[audience.source](session, race_id, audience):
        key = fold(email)
        if key and (key not in people or (own and not people[key].first_name)):
            people[key] = Recipient(email.strip(), first_name.strip())
    unsubscribed = 0
    if not essential and people:
        gone = set(session.scalars(select(MessageUnsubscribe.email).where(MessageUnsubscribe.race_id == race_id)))
        unsubscribed = len(people.keys() & gone)
        people = {key: person for key, person in people.items() if key not in gone}
    return AudienceList(list(people.values()), unsubscribed)


def _registrant_addresses(session: Session, race_id: int, audience: Audience) -> list[tuple[str, str, bool]]:
    """(email, first name, the runner's own address?) of every paid, not refunded registration the filters keep."""
    # The registrant list's own filters, so "checked in" or "details pending" means the same on both pages.
    filters = RegistrantFilters(ticket=audience.ticket_type_id, status="paid", checked_in=audience.checked_in,
                                details=audience.details)
    query = filtered(registrants_query(race_id, Registration.email, Registration.first_name, Profile.email,
                                       Profile.full_name).outerjoin(Profile, Profile.id == Order.buyer_id),
                     filters).order_by(Registration.id)
    rows = []
    for runner_email, runner_first, buyer_email, buyer_name in session.execute(query):
        if runner_email:
            rows.append((runner_email, runner_first, True))
        elif buyer_email:
            rows.append((buyer_email, _first_word(buyer_name), False))
    return rows


def _first_word(name: str | None) -> str:
    return (name or "").split()[0] if (name or "").split() else ""


def _waitlist_addresses(session: Session, race_id: int, audience: Audience) -> list[tuple[str, str, bool]]:
    """(email, first name, own address) of everyone in line or holding an offer (services/waitlist.py)."""
    return [(email, _first_word(name), True)
            for email, name in waitlist_recipients(session, race_id, audience.ticket_type_id)]


# Where each source's people come from: (session, race_id, audience) → [(email, first name, own address?)];
# the compose form offers every source listed here.
SOURCES: dict[str, Callable[[Session, int, Audience], list[tuple[str, str, bool]]]] = {
    "registrants": _registrant_addresses,
    "waitlist": _waitlist_addresses,
}
SOURCE_LABELS = {"registrants": _l("Runners"), "waitlist": _l("People on the waitlist")}
