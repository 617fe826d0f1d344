"""What a ticket's change page shows: which changes are open, the fee, each other distance's price
difference and whether it can take the runner, and a change waiting for its payment."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import ChangeKind, Order, Race, Registration, RegistrationChange, TicketType
from services.price_tiers import price_book
from services.registration_changes.rules import (
    change_amount,
    closed_reason,
    distance_deadline,
    distance_problem,
    pending_change,
    ticket_problem,
    ticket_value,
    transfer_deadline,
)


@dataclass(frozen=True)
class DistanceChoice:
    ticket_type: TicketType
    amount: int               # to pay (> 0), or the cheaper distance's difference (< 0)
    problem: str | None       # why the ticket can't move there now


@dataclass(frozen=True)
class ChangePanel:
    registration: Registration
    race: Race
    ticket_type: TicketType
    problem: str | None              # why this ticket can't change at all
    transfer_closed: str | None
    distance_closed: str | None
    transfer_fee: int
    transfer_deadline: datetime
    distance_deadline: datetime
    choices: tuple[DistanceChoice, ...]
    pending: RegistrationChange | None
    pending_url: str                 # its open payment page


def change_panel(session: Session, registration: Registration, now: datetime, *, by_organizer: bool) -> ChangePanel:
    race = session.get(Race, registration.race_id)
    current = session.get(TicketType, registration.ticket_type_id)
    others = session.scalars(select(TicketType).where(TicketType.race_id == race.id, TicketType.id != current.id,
                                                      TicketType.hidden.is_(False))
                             .order_by(TicketType.position, TicketType.id))
    others = list(others)
    book = price_book(session, race, [t.id for t in others], now)
    value = ticket_value(session, registration)
    choices = tuple(DistanceChoice(t, change_amount(race, value, ChangeKind.DISTANCE, book.price_of(t).price,
                                                    by_organizer=by_organizer),
                                   distance_problem(session, registration, race, t, now)) for t in others)
    pending = pending_change(session, registration.id)
    order = session.get(Order, pending.order_id) if pending is not None and pending.order_id else None
    return ChangePanel(registration, race, current, ticket_problem(session, registration),
                       None if by_organizer else closed_reason(race, ChangeKind.TRANSFER, now),
                       None if by_organizer else closed_reason(race, ChangeKind.DISTANCE, now),
                       change_amount(race, value, ChangeKind.TRANSFER, None, by_organizer=by_organizer),
                       transfer_deadline(race), distance_deadline(race), choices, pending,
                       order.checkout_url if order is not None else "")
