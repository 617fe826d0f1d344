"""The organizer's figures: a line per race for the race list, and a race's dashboard.

Every figure comes from the database in a fixed number of queries, whatever the number of races,
ticket types, orders or runners: grouped counts and sums where SQL can do the grouping, and one
row per order where the grouping needs Python (days in the race's timezone, age on race day).
"""
from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from models import (
    DiscountCode,
    Order,
    OrderStatus,
    OutboxMessage,
    PriceTier,
    Profile,
    Race,
    Refund,
    RefundStatus,
    Registration,
    TaxMode,
    TicketType,
)
from services.failed_emails import failed_emails
from services.inventory import holding_spot, waitlist_counts
from services.registrants.query import awaiting_runner_condition
from services.runners import gender_label

SOLD_STATUSES = (OrderStatus.PAID, OrderStatus.REFUNDED, OrderStatus.NEEDS_REFUND)
AGE_BANDS = ((0, 17, _l("Under 18")), (18, 29, "18–29"), (30, 39, "30–39"), (40, 49, "40–49"), (50, 59, "50–59"),
             (60, 69, "60–69"), (70, 200, _l("70 and over")))


def _days_between(earlier: datetime, later: datetime, tz) -> int:
    return (later.astimezone(tz).date() - earlier.astimezone(tz).date()).days


# --- the race list --------------------------------------------------------------------------

@dataclass(frozen=True)
class RaceSummary:
    race: Race
    sold: int
    capacity: int
    revenue: int      # collected: paid orders' totals, less what was refunded of them
    days_to_go: int   # calendar days in the race's timezone; negative once it is over

    @property
    def has_sales(self) -> bool:
        return self.sold > 0 or self.revenue > 0


def race_summaries(session: Session, races: Sequence[Race], now: datetime) -> list[RaceSummary]:
    """Sold / capacity, revenue and days to go for each race, in two queries for all of them.

    The races must come with their ticket types loaded (services.permissions.managed_races does).
    """
    ids = [race.id for race in races]
    sold: dict[int, int] = {}
    revenue: dict[int, int] = {}
    if ids:
        sold = dict(session.execute(
            select(Registration.race_id, func.count(Registration.id))
            .join(Order, Order.id == Registration.order_id)
            .where(Registration.race_id.in_(ids), Order.status == OrderStatus.PAID, Registration.refunded_at.is_(None))
            .group_by(Registration.race_id)).all())
        refunded = (select(func.coalesce(func.sum(Refund.amount), 0))
                    .where(Refund.order_id == Order.id, Refund.status == RefundStatus.COMPLETED)
                    .correlate(Order).scalar_subquery())
        revenue = dict(session.execute(
            select(Order.race_id, func.sum(Order.total - refunded))
            .where(Order.race_id.in_(ids), Order.status == OrderStatus.PAID)
            .group_by(Order.race_id)).all())
    return [RaceSummary(race=race, sold=sold.get(race.id, 0),
                        capacity=sum(t.capacity for t in race.ticket_types),
                        revenue=int(revenue.get(race.id) or 0),
                        days_to_go=_days_between(now, race.starts_at, race.tz))
            for race in races]


# --- one race's dashboard -------------------------------------------------------------------

@dataclass(frozen=True)
class TicketTypeFigures:
    ticket_type: TicketType
    sold: int   # paid, not refunded
    held: int   # in someone's checkout right now
    offered: int = 0   # held by waitlist offers not yet taken
    waiting: int = 0   # people on the waitlist

    @property
    def capacity(self) -> int:
        return self.ticket_type.capacity

    @property
    def left(self) -> int:
        return max(self.capacity - self.sold - self.held - self.offered, 0)


@dataclass(frozen=True)
class PriceStepFigures:
    """Tickets sold at one price step (paid, not refunded) and what they came to at that price, before codes."""

    step: PriceTier
    sold: int
    revenue: int


@dataclass
class Money:
    """From paid orders; fully refunded orders are counted apart."""

    currency: str
    orders: int = 0
    subtotal: int = 0           # ticket prices before discounts
    discount: int = 0
    tax: int = 0
    total: int = 0              # what buyers paid
    partly_refunded: int = 0    # refunds of some tickets of orders that are still paid
    partly_refunded_tax: int = 0
    refunded_orders: int = 0
    refunded_total: int = 0     # what fully refunded orders had paid (all of it went back)
    tax_included: bool = False  # tax is part of the prices rather than added on top

    @property
    def net(self) -> int:
        """What the race keeps before the payment provider's fees: paid, less tax, less refunds (net of their tax)."""
        return self.total - self.tax - (self.partly_refunded - self.partly_refunded_tax)


@dataclass(frozen=True)
class CodeFigures:
    code_id: int
    code: str
    uses: int
    discount: int
    revenue: int


@dataclass(frozen=True)
class DayCount:
    day: date
    count: int
    cumulative: int


@dataclass(frozen=True)
class OrderRow:
    order: Order
    buyer_email: str
    buyer_name: str
    code: str | None
    tickets: int            # all the order's tickets
    active_tickets: int     # not refunded
    refunded: int           # money sent back so far (completed refunds)
    refunded_tax: int
    refund_pending: bool
    refund_failed: bool = False  # its latest refund was accepted by Stripe and then failed


@dataclass(frozen=True)
class RecentRegistration:
    registration: Registration
    ticket_type_name: str
    paid_at: datetime | None
    order_status: OrderStatus


@dataclass
class Dashboard:
    race: Race
    ticket_types: list[TicketTypeFigures]
    money: Money
    codes: list[CodeFigures]
    timeline: list[DayCount]
    sizes: list[tuple[str, int]]
    ages: list[tuple[str, int]]
    genders: list[tuple[str, int]]
    recent_registrations: list[RecentRegistration]
    recent_orders: list[OrderRow]
    needs_refund: list[OrderRow]
    refunds_pending: list[OrderRow]
    refunds_failed: list[OrderRow]
    failed_emails: list[OutboxMessage]
    runners: int = 0
    checked_in: int = 0     # of the runners (paid, not refunded tickets)
    awaiting_runners: int = 0  # of the runners, those who haven't yet filled in their own details
    held: int = 0
    capacity: int = 0
    days_to_go: int = 0
    price_steps: dict[int, list[PriceStepFigures]] = field(default_factory=dict)  # per ticket type id


def dashboard(session: Session, race: Race, now: datetime, *, recent: int = 10) -> Dashboard:
    """Everything on a race's dashboard, in six queries."""
    types = list(session.scalars(select(TicketType).where(TicketType.race_id == race.id)
                                 .order_by(TicketType.position, TicketType.id)))
    runner_rows = _runner_groups(session, race, now)
    orders = _order_rows(session, race)
    recent_registrations = _recent_registrations(session, race, recent)
    failed = failed_emails(session, race)
    steps = _price_step_sales(session, race)

    sold, held = Counter(), Counter()
    sizes, genders, ages = Counter(), Counter(), Counter()
    race_day = race.starts_at.astimezone(race.tz).date()
    checked_in = awaiting = 0
    for status, type_id, size, gender, born, count, arrived, waiting in runner_rows:
        if status != OrderStatus.PAID:
            held[type_id] += count
            continue
        sold[type_id] += count
        checked_in += arrived
        awaiting += waiting
        sizes[size or ""] += count
        genders[gender or ""] += count
        ages[_age_band(born, race_day)] += count

    waitlist = waitlist_counts(session, [t.id for t in types], now)
    figures = [TicketTypeFigures(t, sold.get(t.id, 0), held.get(t.id, 0), waitlist.held[t.id], waitlist.waiting[t.id])
               for t in types]
    paid = [row for row in orders if row.order.status == OrderStatus.PAID]
    return Dashboard(
        race=race, ticket_types=figures, money=_money(race, orders), codes=_codes(paid),
        timeline=_timeline(race, paid, now), sizes=_ordered_sizes(race, sizes),
        ages=[(str(label), ages[str(label)]) for *_, label in AGE_BANDS if ages[str(label)]] + (
            [(_("Not given"), ages[_("Not given")])] if ages[_("Not given")] else []),
        genders=sorted(((gender_label(g) or _("Not given"), n) for g, n in genders.items()),
                       key=lambda item: (-item[1], item[0])),
        recent_registrations=recent_registrations,
        recent_orders=sorted((r for r in orders if r.order.status in (OrderStatus.PAID, OrderStatus.REFUNDED)),
                             key=_newest_first)[:recent],
        needs_refund=sorted((r for r in orders if r.order.status == OrderStatus.NEEDS_REFUND), key=_newest_first),
        refunds_pending=[r for r in orders if r.refund_pending],
        refunds_failed=sorted((r for r in orders if r.refund_failed and r.order.status != OrderStatus.NEEDS_REFUND),
                              key=_newest_first),
        failed_emails=failed,
        runners=sum(sold.values()), held=sum(held.values()), capacity=sum(t.capacity for t in types),
        checked_in=checked_in, awaiting_runners=awaiting,
        days_to_go=_days_between(now, race.starts_at, race.tz), price_steps=steps,
    )


def _price_step_sales(session: Session, race: Race) -> dict[int, list[PriceStepFigures]]:
    """Per ticket type, its price steps with the tickets sold at each and their revenue; one query."""
    paid = and_(Order.id == Registration.order_id, Order.status == OrderStatus.PAID)
    rows = session.execute(
        select(PriceTier, func.count(Order.id), func.coalesce(func.sum(case((Order.id.isnot(None), Registration.price),
                                                                            else_=0)), 0))
        .join(TicketType, TicketType.id == PriceTier.ticket_type_id)
        .outerjoin(Registration, and_(Registration.price_tier_id == PriceTier.id, Registration.refunded_at.is_(None)))
        .outerjoin(Order, paid)
        .where(TicketType.race_id == race.id)
        .group_by(PriceTier.id)
        .order_by(PriceTier.ticket_type_id, PriceTier.position, PriceTier.id))
    steps: dict[int, list[PriceStepFigures]] = {}
    for step, sold, revenue in rows:
        steps.setdefault(step.ticket_type_id, []).append(PriceStepFigures(step, sold, int(revenue)))
    return steps


def _newest_first(row: OrderRow):
    moment = row.order.paid_at or row.order.updated_at or row.order.created_at
    return (-moment.timestamp(), str(row.order.id))


def _runner_groups(session: Session, race: Race, now: datetime):
    """Tickets holding a spot, counted per (order status, ticket type, size, gender, date of birth), with how many
    of them have checked in (for paid ones, the check-in desk's own count: paid and not refunded) and how many
    wait for their runner's own details."""
    return session.execute(
        select(Order.status, Registration.ticket_type_id, Registration.tshirt_size, Registration.gender,
               Registration.date_of_birth, func.count(Registration.id), func.count(Registration.checked_in_at),
               func.count(case((awaiting_runner_condition(), Registration.id))))
        .join(Order, Order.id == Registration.order_id)
        .where(Registration.race_id == race.id, holding_spot(now))
        .group_by(Order.status, Registration.ticket_type_id, Registration.tshirt_size, Registration.gender,
                  Registration.date_of_birth)).all()


def _order_rows(session: Session, race: Race) -> list[OrderRow]:
    """Every order that was paid (still paid, refunded, or waiting for a refund), with its buyer, code,
    ticket counts and refunds: one row each."""
    tickets = (select(func.count(Registration.id)).where(Registration.order_id == Order.id)
               .correlate(Order).scalar_subquery())
    active = (select(func.count(Registration.id))
              .where(Registration.order_id == Order.id, Registration.refunded_at.is_(None))
              .correlate(Order).scalar_subquery())
    completed = and_(Refund.order_id == Order.id, Refund.status == RefundStatus.COMPLETED)
    refunded = select(func.coalesce(func.sum(Refund.amount), 0)).where(completed).correlate(Order).scalar_subquery()
    refunded_tax = select(func.coalesce(func.sum(Refund.tax), 0)).where(completed).correlate(Order).scalar_subquery()
    pending = (select(func.count(Refund.id)).where(Refund.order_id == Order.id, Refund.status == RefundStatus.PENDING)
               .correlate(Order).scalar_subquery())
    latest_at_provider = (select(Refund.status).where(Refund.order_id == Order.id, Refund.gateway_refund_id != "")
                          .order_by(Refund.id.desc()).limit(1).correlate(Order).scalar_subquery())
    rows = session.execute(
        select(Order, Profile.email, Profile.full_name, DiscountCode.code, tickets, active, refunded, refunded_tax,
               pending, latest_at_provider)
        .join(Profile, Profile.id == Order.buyer_id)
        .outerjoin(DiscountCode, DiscountCode.id == Order.discount_code_id)
        .where(Order.race_id == race.id, Order.status.in_(SOLD_STATUSES))).all()
    return [OrderRow(order=o, buyer_email=email, buyer_name=name or "", code=code, tickets=n, active_tickets=a,
                     refunded=int(r or 0), refunded_tax=int(rt or 0), refund_pending=bool(p),
                     refund_failed=latest == RefundStatus.FAILED)
            for o, email, name, code, n, a, r, rt, p, latest in rows]


def _recent_registrations(session: Session, race: Race, limit: int) -> list[RecentRegistration]:
    rows = session.execute(
        select(Registration, TicketType.name, Order.paid_at, Order.status)
        .join(Order, Order.id == Registration.order_id)
        .join(TicketType, TicketType.id == Registration.ticket_type_id)
        .where(Registration.race_id == race.id, Order.status.in_((OrderStatus.PAID, OrderStatus.REFUNDED)))
        .order_by(Order.paid_at.desc(), Registration.id.desc()).limit(limit)).all()
    return [RecentRegistration(r, name, paid_at, status) for r, name, paid_at, status in rows]


def _money(race: Race, orders: list[OrderRow]) -> Money:
    money = Money(currency=race.currency, tax_included=race.tax_mode == TaxMode.INCLUSIVE)
    for row in orders:
        order = row.order
        if order.status == OrderStatus.PAID:
            money.orders += 1
            money.subtotal += order.subtotal
            money.discount += order.discount
            money.tax += order.tax
            money.total += order.total
            money.partly_refunded += row.refunded
            money.partly_refunded_tax += row.refunded_tax
        elif order.status == OrderStatus.REFUNDED:
            money.refunded_orders += 1
            money.refunded_total += order.total
    return money


def _codes(paid: list[OrderRow]) -> list[CodeFigures]:
    uses: dict[int, list] = {}
    for row in paid:
        order = row.order
        if order.discount_code_id is None:
            continue
        entry = uses.setdefault(order.discount_code_id, [row.code or "", 0, 0, 0])
        entry[1] += 1
        entry[2] += order.discount
        entry[3] += order.total - row.refunded
    return sorted((CodeFigures(code_id, code, n, discount, revenue)
                   for code_id, (code, n, discount, revenue) in uses.items()), key=lambda c: (-c.uses, c.code))


def _timeline(race: Race, paid: list[OrderRow], now: datetime) -> list[DayCount]:
    """Tickets sold (and not refunded) per day in the race's timezone, from the first sale to today
    (or race day, once it is past), with a running total. Days with no sales are there as zeros."""
    per_day: Counter[date] = Counter()
    for row in paid:
        if row.order.paid_at is not None and row.active_tickets:
            per_day[row.order.paid_at.astimezone(race.tz).date()] += row.active_tickets
    if not per_day:
        return []
    first = min(per_day)
    last = max(max(per_day), min(now.astimezone(race.tz).date(), race.starts_at.astimezone(race.tz).date()))
    days, running, day = [], 0, first
    while day <= last:
        running += per_day[day]
        days.append(DayCount(day, per_day[day], running))
        day += timedelta(days=1)
    return days


def _age_band(born: date | None, race_day: date) -> str:
    if born is None:
        return _("Not given")
    age = race_day.year - born.year - ((race_day.month, race_day.day) < (born.month, born.day))
    for low, high, label in AGE_BANDS:
        if low <= age <= high:
            return str(label)
    return _("Not given")


def _ordered_sizes(race: Race, sizes: Counter) -> list[tuple[str, int]]:
    """The race's own sizes in its order (zeros included, so the list reads like an order form), then anything else."""
    known = race.tshirt_size_list
    listed = [(size, sizes.get(size, 0)) for size in known]
    others = sorted((s, n) for s, n in sizes.items() if s not in known and s)
    missing = [(_("No size given"), sizes[""])] if sizes.get("") else []
    return listed + others + missing


def order_ref(order_id: uuid.UUID) -> str:
    """A short reference an organizer can read out on the phone: the order id's first 8 characters."""
    return str(order_id)[:8].upper()
