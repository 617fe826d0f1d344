"""The waitlist's offer job (`run_offers`, scheduled as "waitlist-offers", also `flask waitlist-offers`): offers
whose hold is over end, then every ticket type with people waiting hands the spots nobody holds to the head of
its line, under the ticket type's lock (the checkout's own, services/locking.py). The rules of the line are
services/waitlist.py's.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from models import Race, TicketType, WaitlistEntry, WaitlistStatus
from services.inventory import free_spots
from services.locking import lock_ticket_types
from services.sales import off_sale_reason, signup_closed_reason
from services.waitlist_emails import queue_lapsed, queue_offer


@dataclass(frozen=True)
class OfferRun:
    lapsed: int
    offered: int

    @property
    def summary(self) -> str:
        return f"{self.lapsed} offer(s) lapsed, {self.offered} offer(s) made."


def make_offer(session: Session, entry: WaitlistEntry, race: Race, ticket_type: TicketType, spots: int,
               now: datetime) -> None:
    """Offer `spots` to `entry` (locked, waiting) for the race's hold time, and email them. Flushes."""
    entry.status = WaitlistStatus.OFFERED
    entry.offered_spots = spots
    entry.offered_at = now
    entry.offer_expires_at = now + timedelta(hours=race.waitlist_hold_hours)
    session.flush()
    queue_offer(session, entry, race, ticket_type)


def offer_free_spots(session: Session, ticket_type: TicketType, now: datetime) -> int:
    """Under the ticket type's lock: hand its free spots to the head of the line. Returns offers made. Flushes."""
    race = session.get(Race, ticket_type.race_id)
    if race.waitlist_paused or signup_closed_reason(race, now) or off_sale_reason(ticket_type, now):
        return 0
    lock_ticket_types(session, [ticket_type.id])
    free = free_spots(session, [ticket_type], now)[ticket_type.id]
    offered = 0
    while free > 0:
        # Under its row lock, skipping one that someone holds (leaving, or being removed, at this moment).
        head = session.scalar(select(WaitlistEntry).where(
            WaitlistEntry.ticket_type_id == ticket_type.id, WaitlistEntry.status == WaitlistStatus.WAITING)
            .order_by(WaitlistEntry.created_at, WaitlistEntry.id).limit(1)
            .with_for_update(skip_locked=True).execution_options(populate_existing=True))
        if head is None:
            break
        spots = min(head.spots, free)
        make_offer(session, head, race, ticket_type, spots, now)
        free -= spots
        offered += 1
    return offered


def expire_offers(session: Session, now: datetime) -> int:
    """End offers whose hold is over (an accepted cart not yet reserved included) and tell each person. Commits."""
    due = list(session.scalars(select(WaitlistEntry.id).where(WaitlistEntry.status == WaitlistStatus.OFFERED,
                                                              WaitlistEntry.offer_expires_at <= now)))
    lapsed = 0
    for entry_id in due:
        # Conditional, so an order reserved a moment ago (accepted) is never marked lapsed.
        ended = session.execute(update(WaitlistEntry).where(
            WaitlistEntry.id == entry_id, WaitlistEntry.status == WaitlistStatus.OFFERED,
            WaitlistEntry.offer_expires_at <= now).values(status=WaitlistStatus.EXPIRED),
            execution_options={"synchronize_session": False}).rowcount
        if ended:
            entry = session.get(WaitlistEntry, entry_id, populate_existing=True)
            queue_lapsed(session, entry, session.get(Race, entry.race_id),
                         session.get(TicketType, entry.ticket_type_id))
            lapsed += 1
        session.commit()
    return lapsed


def run_offers(session: Session, now: datetime) -> OfferRun:
    """Expire lapsed offers, then offer every free spot to the line, one ticket type (one commit) at a time."""
    lapsed = expire_offers(session, now)
    type_ids = list(session.scalars(select(WaitlistEntry.ticket_type_id).where(
        WaitlistEntry.status == WaitlistStatus.WAITING).distinct().order_by(WaitlistEntry.ticket_type_id)))
    offered = 0
    for type_id in type_ids:
        offered += offer_free_spots(session, session.get(TicketType, type_id), now)
        session.commit()
    return OfferRun(lapsed, offered)
