"""Which price a ticket costs today: a ticket type's price steps (early bird, regular, late), the one rule.

A ticket type without steps costs its plain `price`. With steps (in position order), the price
on a day is found like this:

- The steps whose day has come are those with no `starts_on` (the first: from the start of
  sales) or a `starts_on` on or before today, today being the race's local date. The latest of
  them is the step by date.
- A step with `until_sold` holds for that many tickets (sold, or reserved and not expired: the
  same "holding a spot" as capacity). Once they are gone the next step applies, even before
  its own day: "the first 100 at $40" ends at the 100th ticket or on the next step's day,
  whichever comes first.
- When every step from the step by date on is used up, the last step's price stays (the editor
  refuses a limit on the last step, so this is only a safeguard).

The price therefore is always one of the steps' prices, and changes only on a step's day or
when a step's count is used up. It is fixed on each ticket when its spot is reserved at payment
(services/checkout.py), with the step it came from, counted under the ticket type's lock.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache

from sqlalchemy import and_, bindparam, func, select
from sqlalchemy.orm import Session

from models import Order, PriceTier, Race, Registration, TicketType
from services.inventory import holding_spot


@dataclass(frozen=True)
class Step:
    """One price step as the rule sees it."""

    id: int
    price: int
    starts_on: date | None = None
    until_sold: int | None = None
    label: str = ""

    @classmethod
    def of(cls, tier: PriceTier) -> Step:
        return cls(tier.id, tier.price, tier.starts_on, tier.until_sold, tier.label)


@dataclass(frozen=True)
class PriceNow:
    """Today's price of a ticket type, and what comes next, for the race page and the cart."""

    price: int
    step: Step | None = None           # None: a ticket type without steps
    next_price: int | None = None      # the next step's price, if there is one
    next_on: date | None = None        # the day the next step takes effect by date (if it has one)
    left_at_price: int | None = None   # tickets left at this price, for a step with a count

    @property
    def last_day(self) -> date | None:
        """The last day at this price ("$40 until 31 Jan"): the day before the next step's."""
        return date.fromordinal(self.next_on.toordinal() - 1) if self.next_on else None


def step_index(steps: Sequence[Step], today: date, sold: Mapping[int, int]) -> int | None:
    """The index of the step in effect today, with `sold` tickets at each step id; None without steps."""
    if not steps:
        return None
    by_date = max((i for i, s in enumerate(steps) if s.starts_on is None or s.starts_on <= today), default=0)
    for i in range(by_date, len(steps)):
        limit = steps[i].until_sold
        if limit is None or sold.get(steps[i].id, 0) < limit:
            return i
    return len(steps) - 1


def price_now(plain_price: int, steps: Sequence[Step], today: date, sold: Mapping[int, int]) -> PriceNow:
    """Today's price (and the next step) of a ticket type priced `plain_price` with these steps."""
    index = step_index(steps, today, sold)
    if index is None:
        return PriceNow(plain_price)
    step = steps[index]
    following = steps[index + 1] if index + 1 < len(steps) else None
    left = None
    if step.until_sold is not None and following is not None:
        left = max(step.until_sold - sold.get(step.id, 0), 0)
    return PriceNow(step.price, step, next_price=following.price if following else None,
                    next_on=following.starts_on if following else None, left_at_price=left)


def assign(plain_price: int, steps: Sequence[Step], today: date, sold: Mapping[int, int],
           count: int) -> list[tuple[int, int | None]]:
    """(price, step id) for `count` more tickets taken one after another: the 100th early ticket
    goes to one of them, the 101st is at the next step."""
    taken = dict(sold)
    prices = []
    for _ in range(count):
        index = step_index(steps, today, taken)
        if index is None:
            prices.append((plain_price, None))
            continue
        step = steps[index]
        taken[step.id] = taken.get(step.id, 0) + 1
        prices.append((step.price, step.id))
    return prices


# --- reading them ----------------------------------------------------------------------------

def local_day(race: Race, now: datetime) -> date:
    """Today in the race's timezone: the day a step's `starts_on` is compared with."""
    return now.astimezone(race.tz).date()


def steps_and_sold(session: Session, ticket_type_ids: Iterable[int],
                   now: datetime) -> tuple[dict[int, list[Step]], dict[int, int]]:
    """Each ticket type's steps in order, and the tickets holding a spot at each step with a count (`until_sold`:
    the rule reads no other step's); one query, which reads only those steps' tickets, never a race's every ticket."""
    ids = list(ticket_type_ids)
    if not ids:
        return {}, {}
    rows = session.execute(_steps_and_sold_statement(), {"now": now, "ids": ids})
    steps: dict[int, list[Step]] = {}
    sold: dict[int, int] = {}
    for tier, count in rows:
        steps.setdefault(tier.ticket_type_id, []).append(Step.of(tier))
        sold[tier.id] = count
    return steps, sold


@cache
def _steps_and_sold_statement():
    """`steps_and_sold`' statement, built once (`now` and `ids` bound at each run; issue 17)."""
    return (select(PriceTier, func.count(Order.id))
            .outerjoin(Registration, and_(Registration.price_tier_id == PriceTier.id, PriceTier.until_sold.is_not(None)))
            .outerjoin(Order, and_(Order.id == Registration.order_id, holding_spot(bindparam("now"))))
            .where(PriceTier.ticket_type_id.in_(bindparam("ids", expanding=True)))
            .group_by(PriceTier.id)
            .order_by(PriceTier.ticket_type_id, PriceTier.position))


def prices_now(session: Session, races: Iterable[Race], ticket_types: Iterable[TicketType],
               now: datetime) -> dict[int, PriceNow]:
    """Today's price per ticket type id, for types of any of `races`; one query."""
    days = {race.id: local_day(race, now) for race in races}
    types = list(ticket_types)
    steps, sold = steps_and_sold(session, (t.id for t in types), now)
    return {t.id: price_now(t.price, steps.get(t.id, []), days[t.race_id], sold) for t in types}


@dataclass
class PriceBook:
    """The steps and counts of some ticket types at one moment: today's prices, and the prices of
    tickets taken one after another (each taken ticket counts at its step)."""

    steps: dict[int, list[Step]]
    sold: dict[int, int]
    today: date

    def price_of(self, ticket_type: TicketType) -> PriceNow:
        """Today's price of a ticket type and its next step."""
        return price_now(ticket_type.price, self.steps.get(ticket_type.id, []), self.today, self.sold)

    def take(self, ticket_type: TicketType) -> tuple[int, int | None]:
        [(price, step_id)] = assign(ticket_type.price, self.steps.get(ticket_type.id, []), self.today, self.sold, 1)
        if step_id is not None:
            self.sold[step_id] = self.sold.get(step_id, 0) + 1
        return price, step_id


def price_book(session: Session, race: Race, ticket_type_ids: Iterable[int], now: datetime) -> PriceBook:
    """A PriceBook for these ticket types of `race`; one query (none for no types)."""
    steps, sold = steps_and_sold(session, ticket_type_ids, now)
    return PriceBook(steps, sold, local_day(race, now))


def price_registrations(session: Session, race: Race, registrations: Sequence[Registration],
                        now: datetime, book: PriceBook | None = None) -> list[tuple[int, int | None]]:
    """(price, step id) for each of these tickets if their spots were taken now, in order.

    At payment this runs with the ticket types locked, so two checkouts can't both get the last
    ticket of a step. The tickets' own order must not be holding spots (a cart).
    """
    book = book or price_book(session, race, {r.ticket_type_id for r in registrations}, now)
    return [book.take(session.get(TicketType, r.ticket_type_id)) for r in registrations]


def fix_prices(session: Session, race: Race, registrations: Sequence[Registration], now: datetime, *,
               stepped: Iterable[int] | None = None) -> None:
    """Write today's price and its step onto each ticket (a cart's, or an order being reserved). Flushes.

    `stepped`: which of the tickets' types have steps, when the caller has just read it (checkout's capacity check):
    the steps of those alone are read, and none when there are none (types without steps cost their own price)."""
    ids = {r.ticket_type_id for r in registrations}
    book = price_book(session, race, ids if stepped is None else ids & set(stepped), now)
    for registration, (price, step_id) in zip(registrations, price_registrations(session, race, registrations, now, book),
                                               strict=True):
        if (registration.price, registration.price_tier_id) != (price, step_id):  # an unchanged one leaves nothing to flush
            registration.price, registration.price_tier_id = price, step_id
    session.flush()
