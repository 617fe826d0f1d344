"""The waitlist that refills itself: joining a sold-out ticket type, accepting an offer into the cart,
declining, leaving, and what the organizer does with the line. The offer job is services/waitlist_offers.py.

The line is per ticket type, in the order people joined (`created_at`). The offer job (`run_offers`,
scheduled as "waitlist-offers", also `flask waitlist-offers`) first ends offers whose hold is over,
then, for every ticket type with people waiting, takes the ticket type's lock (the checkout's own,
services/locking.py) and hands the spots nobody holds to the head of the line: however a spot came
free (refund, expired hold, capacity raised, a distance change, an offer declined or lapsed) the
arithmetic finds it (services/inventory.py `free_spots`), so no page view is needed.

Head of the line first, never skipped: when the head wants 3 and only 1 is free, they are offered
that 1 (the email says so) and the job stops for that type; accepting takes what was offered and
closes their place in line. An offer holds its spots like a pending order until `offer_expires_at`
(the race's `waitlist_hold_hours`). Accept puts the tickets in the person's cart, linked to the entry;
at reserve (services/checkout.py) the order's own hold makes room for it and the entry becomes
accepted, the pending order holding the spots from then on.

Pausing is per race (`Race.waitlist_paused`): no automatic offers go out for any of its ticket types,
while the line still keeps freed spots from walk-ins (it is the organizer's pause, not the public's
chance). An organizer may still offer by hand to a chosen person when spots are free.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from email_validator import EmailNotValidError, validate_email
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from models import Order, OrderStatus, Race, TicketType, WaitlistEntry, WaitlistStatus
from services.cart import CartOwner, add_tickets, get_or_create_cart
from services.inventory import free_spots, spots_left
from services.locking import lock_ticket_types
from services.runner_invites import LinkRefused  # the one "this personal link opens nothing" refusal
from services.sales import off_sale_reason, signup_closed_reason
from services.waitlist_emails import LEAVE_SALT, OFFER_SALT, queue_joined, queue_left, read_token
from services.waitlist_offers import make_offer, offer_free_spots

MAX_SPOTS = 4
IN_LINE = (WaitlistStatus.WAITING, WaitlistStatus.OFFERED)


class WaitlistRefused(Exception):
    """The join form can't be taken: `problems` maps a field name (or None) to its message."""

    def __init__(self, problems: dict[str | None, str]):
        super().__init__(" ".join(problems.values()))
        self.problems = problems


class ActionRefused(Exception):
    """What an organizer asked for can't be done, in words for them."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


NO_SUCH_LINK = (_l("We couldn't find that link"),
                _l("This link isn't one of ours. Check that it was copied whole from the email."))


@dataclass(frozen=True)
class Joined:
    entry: WaitlistEntry
    merged: bool      # they were in line already: same place, name and spots updated
    position: int


# --- joining ------------------------------------------------------------------------------------

def join_problems(name: str, email: str, spots: int | None) -> dict[str | None, str]:
    """What is wrong with the join form's values, by field."""
    problems: dict[str | None, str] = {}
    if not name.strip():
        problems["name"] = _("Enter your name.")
    elif len(name.strip()) > 120 or any(ord(ch) < 32 for ch in name):
        problems["name"] = _("Enter your name in at most %(num)d characters.", num=120)
    try:
        validate_email(email.strip(), check_deliverability=False)
        if len(email.strip()) > 320:
            raise EmailNotValidError("too long")
    except EmailNotValidError:
        problems["email"] = _("Enter a full email address, like sam@example.com.")
    if spots is None or not 1 <= spots <= MAX_SPOTS:
        problems["spots"] = _("Choose between 1 and %(num)d spots.", num=MAX_SPOTS)
    return problems


def waitlist_open_problem(race: Race, ticket_type: TicketType | None, now: datetime) -> str | None:
    """Why nobody can join this ticket type's waitlist now, or None."""
    if ticket_type is None or ticket_type.race_id != race.id or ticket_type.hidden:
        return _("That ticket type isn't part of this race.")
    return signup_closed_reason(race, now) or off_sale_reason(ticket_type, now)


def position_of(session: Session, entry: WaitlistEntry) -> int:
    """1 for the head of the line."""
    return session.scalar(select(func.count(WaitlistEntry.id)).where(
        WaitlistEntry.ticket_type_id == entry.ticket_type_id, WaitlistEntry.status.in_(IN_LINE),
        (WaitlistEntry.created_at < entry.created_at)
        | ((WaitlistEntry.created_at == entry.created_at) & (WaitlistEntry.id < entry.id)))) + 1


def join(session: Session, race: Race, ticket_type_id: int, *, name: str, email: str, spots: int | None,
         now: datetime) -> Joined:
    """Put someone in line for a sold-out ticket type, or update their place if they are in line already
    (same email, same type: the earlier place is kept). Emails them the link to leave. Commits."""
    problems = join_problems(name, email, spots)
    ticket_type = session.get(TicketType, ticket_type_id)
    closed = waitlist_open_problem(race, ticket_type, now)
    if closed:
        problems[None] = closed
    if problems:
        session.rollback()
        raise WaitlistRefused(problems)
    lock_ticket_types(session, [ticket_type.id])   # two joins by one person make one entry
    address = email.strip().lower()
    entry = session.scalar(select(WaitlistEntry).where(
        WaitlistEntry.ticket_type_id == ticket_type.id, WaitlistEntry.email == address,
        WaitlistEntry.status.in_(IN_LINE)).order_by(WaitlistEntry.created_at).limit(1))
    merged = entry is not None
    if entry is None:
        if spots_left(session, [ticket_type], now)[ticket_type.id] > 0:
            session.rollback()
            raise WaitlistRefused({None: _("The %(ticket_type)s isn't sold out: you can add it to your cart now.",
                                           ticket_type=ticket_type.name)})
        entry = WaitlistEntry(race_id=race.id, ticket_type_id=ticket_type.id, email=address, created_at=now,
                              nonce=secrets.token_urlsafe(16), status=WaitlistStatus.WAITING)
        session.add(entry)
    entry.name = name.strip()
    if entry.status == WaitlistStatus.WAITING:  # an offer out already keeps what it offered
        entry.spots = spots
    session.flush()
    queue_joined(session, entry, race, ticket_type)
    position = position_of(session, entry)
    session.commit()
    return Joined(entry, merged, position)


# --- personal links -----------------------------------------------------------------------------

def _entry_for(session: Session, token: str, salt: str) -> WaitlistEntry:
    found = read_token(token, salt)
    entry = session.get(WaitlistEntry, found[0]) if found else None
    if entry is None or not secrets.compare_digest(entry.nonce, found[1]):
        raise LinkRefused(*NO_SUCH_LINK, 404)
    return entry


def entry_to_leave(session: Session, token: str, now: datetime) -> WaitlistEntry:
    """The entry a leave link names; it works until the race starts."""
    entry = _entry_for(session, token, LEAVE_SALT)
    race = session.get(Race, entry.race_id)
    if race.starts_at <= now:
        raise LinkRefused(_("This link has expired"), _("The race has started, so there's no waitlist to leave."), 410)
    return entry


def _locked(session: Session, entry: WaitlistEntry) -> WaitlistEntry:
    """The entry read again under its row lock: what another request or the offer job wrote since it was read
    counts (someone who left the line is not offered spots; an offer accepted a moment ago is not declined)."""
    return session.scalar(select(WaitlistEntry).where(WaitlistEntry.id == entry.id).with_for_update()
                          .execution_options(populate_existing=True))


def leave(session: Session, entry: WaitlistEntry, now: datetime) -> bool:
    """Take this person out of line (an offer they hold goes to the next). False when they weren't in line. Commits."""
    entry = _locked(session, entry)
    if entry.status not in IN_LINE:
        return False
    entry.status = WaitlistStatus.LEFT
    queue_left(session, entry, session.get(Race, entry.race_id), session.get(TicketType, entry.ticket_type_id))
    session.commit()
    return True


def entry_for_offer(session: Session, token: str, now: datetime) -> WaitlistEntry:
    """The entry an offer link names, while its offer is open; else LinkRefused (410 once the offer is over)."""
    entry = _entry_for(session, token, OFFER_SALT)
    if entry.status == WaitlistStatus.OFFERED and entry.offer_expires_at > now:
        return entry
    raise offer_closed(entry)


def offer_closed(entry: WaitlistEntry) -> LinkRefused:
    """What an offer's link says once the offer is no longer open (accepted, expired, declined, or none yet)."""
    if entry.status == WaitlistStatus.ACCEPTED or (entry.status == WaitlistStatus.OFFERED and entry.order_id):
        return LinkRefused(_("This offer was accepted"), _("The tickets went to your cart when you accepted; if the "
                                                           "hold has run out since, they went to the next person in "
                                                           "line."), 410)
    if entry.status in (WaitlistStatus.OFFERED, WaitlistStatus.EXPIRED):
        return LinkRefused(_("This offer has expired"), _("The hold on these spots ended, so they went to the next "
                                                          "person in line. You can join the waitlist again on the race "
                                                          "page."), 410)
    if entry.status == WaitlistStatus.WAITING:
        return LinkRefused(_("No offer yet"), _("You're still in line: we'll email you when it's your turn."), 410)
    return LinkRefused(_("This offer is closed"), _("This offer was declined, or you left the waitlist."), 410)


def accept(session: Session, entry: WaitlistEntry, owner: CartOwner, now: datetime) -> Order:
    """Put the offered tickets in the owner's cart, linked to the entry, which keeps holding the spots
    until the offer expires. A second Accept finds the same cart. Commits (or CartRefused rolls back)."""
    race = session.get(Race, entry.race_id)
    if entry.order_id is not None:
        order = session.get(Order, entry.order_id)
        if order is not None and order.status == OrderStatus.CART:
            return order
    cart = get_or_create_cart(session, owner, race)
    entry.order_id = cart.id
    session.flush()
    order, _ = add_tickets(session, owner, race, {entry.ticket_type_id: entry.offered_spots}, now)
    return order


def decline(session: Session, entry: WaitlistEntry, now: datetime) -> bool:
    """Say no to an open offer: its spots go to the next in line at once. Commits. False for an offer no longer open
    (accepted into a cart, or ended, a moment ago), left as it is."""
    lock_ticket_types(session, [entry.ticket_type_id])  # before the entry, as the offer job locks them
    entry = _locked(session, entry)
    if entry.status != WaitlistStatus.OFFERED or entry.order_id is not None:
        session.commit()
        return False
    entry.status = WaitlistStatus.DECLINED
    session.flush()
    offer_free_spots(session, session.get(TicketType, entry.ticket_type_id), now)
    session.commit()
    return True


def mark_reserved(session: Session, order_id, now: datetime) -> None:
    """At reserve: the order's open offers become accepted, its pending order holding their spots. Flushes."""
    session.execute(update(WaitlistEntry).where(WaitlistEntry.order_id == order_id,
                                                WaitlistEntry.status == WaitlistStatus.OFFERED,
                                                WaitlistEntry.offer_expires_at > now)
                    .values(status=WaitlistStatus.ACCEPTED), execution_options={"synchronize_session": False})


def unmark_reserved(session: Session, order_id, now: datetime) -> None:
    """The order's spots were released unpaid (Cancel on the payment page, the hold ran out, the provider
    didn't answer): an offer it had accepted holds its spots again until the offer itself expires, so the
    runner can still pay for them. Flushes."""
    session.execute(update(WaitlistEntry).where(WaitlistEntry.order_id == order_id,
                                                WaitlistEntry.status == WaitlistStatus.ACCEPTED,
                                                WaitlistEntry.offer_expires_at > now)
                    .values(status=WaitlistStatus.OFFERED), execution_options={"synchronize_session": False})


# --- the organizer's side -----------------------------------------------------------------------

@dataclass(frozen=True)
class Line:
    """One ticket type's line as the organizer sees it: entries in order, and what is free for offers."""

    ticket_type: TicketType
    entries: list[WaitlistEntry]
    free: int

    @property
    def waiting(self) -> int:
        return sum(1 for e in self.entries if e.status == WaitlistStatus.WAITING)


def race_lines(session: Session, race: Race, now: datetime) -> list[Line]:
    """Every ticket type of the race with the people in its line (waiting or offered), head first."""
    types = list(session.scalars(select(TicketType).where(TicketType.race_id == race.id)
                                 .order_by(TicketType.position, TicketType.id)))
    entries = list(session.scalars(select(WaitlistEntry).where(
        WaitlistEntry.race_id == race.id, WaitlistEntry.status.in_(IN_LINE))
        .order_by(WaitlistEntry.created_at, WaitlistEntry.id)))
    free = free_spots(session, types, now)
    return [Line(t, [e for e in entries if e.ticket_type_id == t.id], free[t.id]) for t in types]


def waitlist_recipients(session: Session, race_id: int, ticket_type_id: int | None = None) -> list[tuple[str, str]]:
    """(email, name) of everyone waiting or holding an offer, for the organizer's messages."""
    query = select(WaitlistEntry.email, WaitlistEntry.name).where(
        WaitlistEntry.race_id == race_id, WaitlistEntry.status.in_(IN_LINE))
    if ticket_type_id is not None:
        query = query.where(WaitlistEntry.ticket_type_id == ticket_type_id)
    return [(email, name) for email, name in session.execute(query.order_by(WaitlistEntry.created_at))]


def remove(session: Session, entry: WaitlistEntry) -> None:
    """Take someone off the list (an offer they hold is withdrawn, its spots free for the next). Commits."""
    entry = _locked(session, entry)
    if entry.status not in IN_LINE:
        session.rollback()
        raise ActionRefused(_("%(name)s isn't in line any more.", name=entry.name))
    entry.status = WaitlistStatus.REMOVED
    session.commit()


def offer_by_hand(session: Session, entry: WaitlistEntry, now: datetime) -> int:
    """Offer free spots to this person now, wherever they are in line (even while offers are paused).
    Returns the spots offered; ActionRefused when nothing is free. Commits."""
    lock_ticket_types(session, [entry.ticket_type_id])  # before the entry, as the offer job locks them
    entry = _locked(session, entry)
    if entry.status != WaitlistStatus.WAITING:
        session.rollback()
        raise ActionRefused(_("%(name)s isn't waiting: they have an offer already, or left the line.", name=entry.name))
    ticket_type = session.get(TicketType, entry.ticket_type_id)
    race = session.get(Race, entry.race_id)
    free = free_spots(session, [ticket_type], now)[ticket_type.id]
    if free <= 0:
        session.rollback()
        raise ActionRefused(_("No spots are free in the %(ticket_type)s: raise its capacity first.",
                              ticket_type=ticket_type.name))
    spots = min(entry.spots, free)
    make_offer(session, entry, race, ticket_type, spots, now)
    session.commit()
    return spots


def set_paused(session: Session, race: Race, paused: bool) -> None:
    """Stop or restart the automatic offers for every ticket type of the race. Commits."""
    race.waitlist_paused = paused
    session.commit()

