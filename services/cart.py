"""The cart: an Order in status `cart`, one per buyer and race, whose registrations are its tickets.

A cart holds no spots. Adding tickets checks what is on sale and what is left (the soft check,
so nobody fills in eight runner forms for a sold-out race); the payment step checks again
under a lock before it reserves anything. Every change re-prices the order with
`services.pricing` and stores the totals on it.
"""
from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload

from models import DiscountCode, Order, OrderStatus, Profile, Race, RaceStatus, Registration, TicketType, WaiverVersion
from services import pricing
from services.discounts import CodeRefused, check_code
from services.inventory import spots_left, spots_problem
from services.runners import RunnerDetails, is_blank, runner_problems, waiver_to_sign

MAX_PER_TYPE = 10  # tickets of one type in one order: a family or a club, not a reseller


class CartRefused(Exception):
    """The cart can't change that way. `problems` maps a ticket type id (or None) to a message."""

    def __init__(self, problems: dict[int | None, str]):
        super().__init__(" ".join(problems.values()))
        self.problems = problems

    @property
    def message(self) -> str:
        return " ".join(self.problems.values())


# --- finding the cart ----------------------------------------------------------------------

def find_cart(session: Session, buyer_id: uuid.UUID, race_id: int) -> Order | None:
    return session.scalar(select(Order).where(Order.buyer_id == buyer_id, Order.race_id == race_id,
                                              Order.status == OrderStatus.CART))


def get_or_create_cart(session: Session, buyer: Profile, race: Race) -> Order:
    """The buyer's cart for this race, made on first use.

    Two tabs adding at the same moment both try to insert; the partial unique index lets one
    win, and the other picks up the winner's cart.
    """
    cart = find_cart(session, buyer.id, race.id)
    if cart is not None:
        return cart
    try:
        with session.begin_nested():
            cart = Order(race_id=race.id, buyer_id=buyer.id, status=OrderStatus.CART, currency=race.currency)
            session.add(cart)
    except IntegrityError:
        cart = find_cart(session, buyer.id, race.id)
        if cart is None:
            raise
    return cart


def cart_registrations(session: Session, order: Order) -> list[Registration]:
    """The cart's tickets with their ticket types, in one query, in the order they were added."""
    return list(session.scalars(select(Registration).options(joinedload(Registration.ticket_type))
                                .where(Registration.order_id == order.id).order_by(Registration.id)))


# --- what may be added --------------------------------------------------------------------

def closed_reason(race: Race, now: datetime) -> str | None:
    """Why nobody can sign up for this race right now, or None while sign-up is open."""
    if race.status == RaceStatus.DRAFT:
        return "Sign-up hasn't opened for this race yet."
    if now >= race.starts_at:
        return "This race has already taken place."
    if not race.registration_open(now):
        return "Sign-up for this race is closed."
    return None


def _sale_problem(ticket_type: TicketType, now: datetime) -> str | None:
    if ticket_type.hidden:
        return f"The {ticket_type.name} isn't available any more."
    if ticket_type.sales_start is not None and now < ticket_type.sales_start:
        return f"The {ticket_type.name} isn't on sale yet."
    if ticket_type.sales_end is not None and now >= ticket_type.sales_end:
        return f"Sales for the {ticket_type.name} have ended."
    return None


def _limit_problem(ticket_type: TicketType, in_cart: int, wanted: int) -> str | None:
    if wanted <= MAX_PER_TYPE:
        return None
    message = f"You can buy at most {MAX_PER_TYPE} tickets for the {ticket_type.name} in one order."
    if in_cart:
        message += f" Your cart already has {in_cart}."
    return message


def _types_of_race(session: Session, race: Race, ids) -> dict[int, TicketType]:
    return {t.id: t for t in session.scalars(select(TicketType).where(TicketType.race_id == race.id,
                                                                      TicketType.id.in_(list(ids))))}


def add_tickets(session: Session, buyer: Profile, race: Race, quantities: dict[int, int],
                now: datetime) -> tuple[Order, list[Registration]]:
    """Put tickets in the buyer's cart: {ticket_type_id: how many}. All of them, or none (CartRefused).

    Each ticket is a Registration with the ticket type's price at this moment and no runner yet.
    """
    wanted = {type_id: n for type_id, n in quantities.items() if n}
    if any(n < 0 for n in wanted.values()):
        raise CartRefused({None: "Quantities can't be negative."})
    if not wanted:
        raise CartRefused({None: "Choose how many tickets you want."})
    reason = closed_reason(race, now)
    if reason:
        raise CartRefused({None: reason})

    types = _types_of_race(session, race, wanted)
    cart = find_cart(session, buyer.id, race.id)
    in_cart = _quantities(session, cart) if cart is not None else Counter()
    left = spots_left(session, types.values(), now)
    problems: dict[int | None, str] = {}
    for type_id, n in wanted.items():
        ticket_type = types.get(type_id)
        if ticket_type is None:
            problems[type_id] = "That ticket type isn't part of this race."
            continue
        total = in_cart[type_id] + n
        problem = (_sale_problem(ticket_type, now) or _limit_problem(ticket_type, in_cart[type_id], total)
                   or spots_problem(ticket_type, total, left[type_id]))
        if problem:
            problems[type_id] = problem
    if problems:
        raise CartRefused(problems)

    cart = cart or get_or_create_cart(session, buyer, race)
    added = []
    for ticket_type in sorted((types[i] for i in wanted), key=lambda t: (t.position, t.id)):
        for _ in range(wanted[ticket_type.id]):
            added.append(Registration(order_id=cart.id, race_id=race.id, ticket_type_id=ticket_type.id,
                                      price=ticket_type.price))
    session.add_all(added)
    session.flush()
    reprice(session, cart)
    return cart, added


def _quantities(session: Session, order: Order) -> Counter:
    rows = session.execute(select(Registration.ticket_type_id, func.count(Registration.id))
                           .where(Registration.order_id == order.id).group_by(Registration.ticket_type_id))
    return Counter(dict(rows.all()))


def set_quantity(session: Session, order: Order, race: Race, ticket_type_id: int, quantity: int,
                 now: datetime) -> None:
    """Change how many tickets of one type the cart holds (0 removes them all).

    Fewer: the tickets nobody has filled in go first, then the newest. More: the same checks
    as adding.
    """
    if quantity < 0:
        raise CartRefused({ticket_type_id: "Quantities can't be negative."})
    tickets = [r for r in cart_registrations(session, order) if r.ticket_type_id == ticket_type_id]
    have = len(tickets)
    if quantity > have:
        add_tickets(session, _buyer_of(session, order), race, {ticket_type_id: quantity - have}, now)
        return
    by_blank_then_newest = sorted(tickets, key=lambda r: (not is_blank(r), -r.id))
    for registration in by_blank_then_newest[:have - quantity]:
        session.delete(registration)
    session.flush()
    reprice(session, order)


def _buyer_of(session: Session, order: Order) -> Profile:
    return session.get(Profile, order.buyer_id)


def remove_registration(session: Session, order: Order, registration: Registration) -> None:
    """Take one ticket (and whatever runner was filled in on it) out of the cart."""
    if registration.order_id != order.id:
        raise ValueError("that ticket belongs to another order")
    session.delete(registration)
    session.flush()
    reprice(session, order)


def apply_code(session: Session, order: Order, race: Race, code_text: str | None, now: datetime) -> DiscountCode:
    """Use a discount code on the cart, or CodeRefused with the reason for the buyer."""
    code = check_code(session, race, code_text, order, now)
    order.discount_code_id = code.id
    reprice(session, order)
    return code


def remove_code(session: Session, order: Order) -> None:
    order.discount_code_id = None
    reprice(session, order)


def reprice(session: Session, order: Order) -> pricing.Quote:
    """Price the cart as it is now and keep the figures on the order."""
    session.flush()
    quote = pricing.quote_order(session, order)
    pricing.store_totals(order, quote)
    return quote


# --- can it be paid for? ------------------------------------------------------------------

@dataclass
class RunnerStatus:
    """One ticket in the cart and what is still missing on it."""

    registration: Registration
    number: int                    # 1, 2, 3… in the order they were added
    problems: dict[str, str] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return not self.problems

    @property
    def blank(self) -> bool:
        return is_blank(self.registration)


@dataclass
class CartView:
    """Everything the cart page shows, loaded in a fixed number of queries."""

    order: Order
    race: Race
    runners: list[RunnerStatus]
    quote: pricing.Quote
    waiver: WaiverVersion | None
    code: DiscountCode | None
    runner_problems: list[str]     # cart_problems: what the buyer must still fill in
    sale_problems: list[str]       # what has changed since the tickets were added

    @property
    def problems(self) -> list[str]:
        return self.runner_problems + self.sale_problems

    @property
    def ready(self) -> bool:
        return bool(self.runners) and not self.problems

    def quantity_of(self, ticket_type_id: int) -> int:
        return sum(1 for r in self.runners if r.registration.ticket_type_id == ticket_type_id)


def runner_statuses(registrations: list[Registration], race: Race, waiver: WaiverVersion | None,
                     now: datetime) -> list[RunnerStatus]:
    return [RunnerStatus(r, i, runner_problems(RunnerDetails.of(r), race, r.ticket_type, waiver, now))
            for i, r in enumerate(registrations, start=1)]


def _runner_messages(runners: list[RunnerStatus]) -> list[str]:
    """One line for the runners nobody has started on, then one per runner with something wrong."""
    messages = []
    blank = [r.number for r in runners if not r.complete and r.blank]
    if len(blank) == 1:
        messages.append(f"Fill in runner {blank[0]}'s details and waiver.")
    elif blank:
        numbers = ", ".join(str(n) for n in blank[:-1]) + f" and {blank[-1]}"
        messages.append(f"Fill in the details and waivers of runners {numbers}.")
    for runner in runners:
        if runner.complete or runner.blank:
            continue
        registration = runner.registration
        who = registration.runner_name or "no name yet"
        messages.append(f"Runner {runner.number} ({who}, {registration.ticket_type.name}): "
                        f"{next(iter(runner.problems.values()))}")
    return messages


def cart_problems(session: Session, order: Order, now: datetime) -> list[str]:
    """What keeps this cart from the payment step, for the buyer: empty cart, runners missing or invalid.

    Empty when every ticket has a runner whose details and signed waiver are complete and valid
    under today's rules (the current waiver version, the ticket type's age limits).
    """
    registrations = cart_registrations(session, order)
    if not registrations:
        return ["Your cart is empty."]
    race = session.get(Race, order.race_id)
    waiver = waiver_to_sign(session, race.id)
    return _runner_messages(runner_statuses(registrations, race, waiver, now))


def sale_problems(session: Session, race: Race, registrations: list[Registration], code: DiscountCode | None,
                  order: Order, now: datetime) -> list[str]:
    """What changed since the tickets were added: sign-up closed, a type off sale or full, the code.

    The soft version of the payment step's checks, so the cart says so before the buyer presses on.
    """
    reason = closed_reason(race, now)
    if reason:
        return [reason]
    counts = Counter(r.ticket_type_id for r in registrations)
    types = {r.ticket_type_id: r.ticket_type for r in registrations}
    left = spots_left(session, types.values(), now)
    problems = []
    for type_id, ticket_type in sorted(types.items(), key=lambda item: (item[1].position, item[0])):
        off_sale = _sale_problem(ticket_type, now)
        full = spots_problem(ticket_type, counts[type_id], left[type_id])
        if off_sale or (full and left[type_id] <= 0):
            problems.append(f"{off_sale or full} Remove those tickets to continue.")
        elif full:
            problems.append(f"{full} Lower the quantity to continue.")
    if code is not None:
        try:
            check_code(session, race, code.code, order, now)
        except CodeRefused as refused:
            problems.append(f"{refused.message} Remove the code to continue.")
    return problems


def view_cart(session: Session, order: Order, now: datetime) -> CartView:
    """The cart with its runners, prices and problems, for the cart page."""
    race = session.get(Race, order.race_id)
    registrations = cart_registrations(session, order)
    waiver = waiver_to_sign(session, race.id)
    code = session.get(DiscountCode, order.discount_code_id) if order.discount_code_id is not None else None
    runners = runner_statuses(registrations, race, waiver, now)
    quote = pricing.quote_order(session, order)
    runner_messages = _runner_messages(runners) if registrations else ["Your cart is empty."]
    sales = sale_problems(session, race, registrations, code, order, now) if registrations else []
    return CartView(order=order, race=race, runners=runners, quote=quote, waiver=waiver, code=code,
                    runner_problems=runner_messages, sale_problems=sales)


# --- the header badge and the list of carts ----------------------------------------------

@dataclass(frozen=True)
class CartCount:
    """Tickets in the buyer's open carts, and in how many races (for where the badge links)."""

    tickets: int = 0
    races: int = 0
    slug: str | None = None  # the race, when all the tickets are for one

    def __int__(self) -> int:
        return self.tickets


def cart_count(session: Session, buyer_id: uuid.UUID, now: datetime) -> CartCount:
    """One query: tickets in this buyer's carts for races that have not started yet."""
    tickets, races, slug = session.execute(
        select(func.count(Registration.id), func.count(func.distinct(Order.race_id)), func.min(Race.slug))
        .select_from(Order)
        .join(Registration, Registration.order_id == Order.id)
        .join(Race, Race.id == Order.race_id)
        .where(Order.buyer_id == buyer_id, Order.status == OrderStatus.CART, Race.starts_at > now)
    ).one()
    return CartCount(tickets=tickets, races=races, slug=slug if races == 1 else None)


@dataclass(frozen=True)
class CartSummary:
    race: Race
    order: Order
    tickets: int


def open_carts(session: Session, buyer_id: uuid.UUID, now: datetime) -> list[CartSummary]:
    """The buyer's carts that hold tickets for races still to come (as the badge counts them), soonest first."""
    rows = session.execute(
        select(Order, Race, func.count(Registration.id))
        .join(Race, Race.id == Order.race_id)
        .join(Registration, Registration.order_id == Order.id)
        .where(Order.buyer_id == buyer_id, Order.status == OrderStatus.CART, Race.starts_at > now)
        .group_by(Order.id, Race.id)
        .order_by(Race.starts_at, Race.id))
    return [CartSummary(race=race, order=order, tickets=n) for order, race, n in rows]
