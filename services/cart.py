"""The cart: an Order in status `cart`, one per buyer and race, whose registrations are its tickets.

A cart holds no spots. Adding tickets checks what is on sale and what is left (the soft check,
so nobody fills in eight runner forms for a sold-out race); the payment step checks again
under a lock before it reserves anything. Every change re-prices the order with
`services.pricing` and stores the totals on it.

The changes a buyer makes (add, set a quantity, remove a ticket, use or drop a code) are use
cases: each commits once, or rolls back and raises its refusal. What the cart holds and still
needs is read by services/cart_status.py.
"""
from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from flask_babel import gettext as _
from sqlalchemy import exists, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload

from models import DiscountCode, Order, OrderStatus, Race, Registration, TicketType
from services import price_tiers, pricing
from services.discounts import CodeRefused, check_code
from services.inventory import spots_left, spots_problem
from services.runners import is_blank
from services.sales import off_sale_reason, signup_closed_reason

MAX_PER_TYPE = 10  # tickets of one type in one order: a family or a club, not a reseller
MAX_GUEST_TICKETS = 20  # in a cart without an account (services/guest_carts.py): nobody hoards with a script


class RaceGone(Exception):
    """The race was deleted (it had no sales) while a cart for it was being made."""


class CartRefused(Exception):
    """The cart can't change that way. `problems` maps a ticket type id (or None) to a message."""

    def __init__(self, problems: dict[int | None, str]):
        super().__init__(" ".join(problems.values()))
        self.problems = problems

    @property
    def message(self) -> str:
        return " ".join(self.problems.values())


@contextmanager
def _one_change(session: Session) -> Iterator[None]:
    """One use case, one transaction: commit when the change is made, roll back when it is refused."""
    try:
        yield
    except (CartRefused, CodeRefused):
        session.rollback()
        raise
    session.commit()


# --- whose cart, and finding it -----------------------------------------------------------

@dataclass(frozen=True)
class CartOwner:
    """Whose carts these are: a signed-in buyer (their profile id), or a visitor without an account
    (the sha256 of the random key in their signed cart cookie; the key itself is never stored)."""

    profile_id: uuid.UUID | None = None
    guest_key: str | None = None

    def __post_init__(self):
        if (self.profile_id is None) == (self.guest_key is None):
            raise ValueError("a cart belongs to a profile or to a guest key, exactly one")

    @property
    def is_guest(self) -> bool:
        return self.profile_id is None

    def owns_clause(self):
        """The SQL condition "this order is theirs"."""
        return Order.guest_key == self.guest_key if self.is_guest else Order.buyer_id == self.profile_id

    @classmethod
    def of(cls, order: Order) -> CartOwner:
        return cls(profile_id=order.buyer_id) if order.buyer_id is not None else cls(guest_key=order.guest_key)


def find_cart(session: Session, owner: CartOwner, race_id: int, *, lock: bool = False) -> Order | None:
    """The owner's cart for this race, if any; with `lock`, under its row lock (on Postgres), so a checkout in
    another tab that makes it an order at the payment step first is waited for, and it is then no cart. Every
    change of a cart takes it so (blueprints/cart.py's `_own_cart_or_404`, `_add_tickets`): a ticket removed, a
    quantity lowered or a code changed after checkout priced the order would change an order being paid for. The
    locked read refreshes the order if the session had it already: what another transaction changed before the lock
    was granted counts, not what the session read earlier."""
    query = select(Order).where(owner.owns_clause(), Order.race_id == race_id, Order.status == OrderStatus.CART)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return session.scalar(query)


def get_or_create_cart(session: Session, owner: CartOwner, race: Race) -> Order:
    """The owner's cart for this race, made on first use.

    Two tabs adding at the same moment both try to insert; the partial unique index lets one
    win, and the other picks up the winner's cart. Read under its row lock, as every change of a cart is: a
    checkout making the cart a payment is waited for, and a new cart made after it.
    """
    cart = find_cart(session, owner, race.id, lock=True)
    if cart is not None:
        return cart
    try:
        with session.begin_nested():
            cart = Order(race_id=race.id, buyer_id=owner.profile_id, guest_key=owner.guest_key,
                         status=OrderStatus.CART, currency=race.currency)
            session.add(cart)
    except IntegrityError:
        cart = find_cart(session, owner, race.id, lock=True)
        if cart is None and not session.scalar(select(exists().where(Race.id == race.id))):
            raise RaceGone(race.id) from None  # deleted by its organizer while this cart was being made
        if cart is None:
            raise
    return cart


def cart_registrations(session: Session, order: Order) -> list[Registration]:
    """The cart's tickets with their ticket types, in one query, in the order they were added."""
    return list(session.scalars(select(Registration).options(joinedload(Registration.ticket_type))
                                .where(Registration.order_id == order.id).order_by(Registration.id)))


# --- what may be added --------------------------------------------------------------------

def _limit_problem(ticket_type: TicketType, in_cart: int, wanted: int) -> str | None:
    if wanted <= MAX_PER_TYPE:
        return None
    message = _("You can buy at most %(max)d tickets for the %(name)s in one order.", max=MAX_PER_TYPE,
                name=ticket_type.name)
    if in_cart:
        message = " ".join((message, _("Your cart already has %(num)d.", num=in_cart)))
    return message


def _types_of_race(session: Session, race: Race, ids) -> dict[int, TicketType]:
    return {t.id: t for t in session.scalars(select(TicketType).where(TicketType.race_id == race.id,
                                                                      TicketType.id.in_(list(ids))))}


def _guest_limit_problem(owner: CartOwner, in_cart: Counter, wanted: dict[int, int]) -> str | None:
    if not owner.is_guest or sum(in_cart.values()) + sum(wanted.values()) <= MAX_GUEST_TICKETS:
        return None
    return _("A cart holds at most %(max)d tickets until you sign in. Sign in or create an account to add more.",
             max=MAX_GUEST_TICKETS)


def add_tickets(session: Session, owner: CartOwner, race: Race, quantities: dict[int, int],
                now: datetime) -> tuple[Order, list[Registration]]:
    """Put tickets in the owner's cart: {ticket_type_id: how many}. All of them, or none (CartRefused).

    Each ticket is a Registration with today's price (services/price_tiers.py) and no runner yet. Commits.
    """
    with _one_change(session):
        return _add_tickets(session, owner, race, quantities, now)


def _add_tickets(session: Session, owner: CartOwner, race: Race, quantities: dict[int, int],
                 now: datetime) -> tuple[Order, list[Registration]]:
    wanted = {type_id: n for type_id, n in quantities.items() if n}
    if any(n < 0 for n in wanted.values()):
        raise CartRefused({None: _("Quantities can't be negative.")})
    if not wanted:
        raise CartRefused({None: _("Choose how many tickets you want.")})
    reason = signup_closed_reason(race, now)
    if reason:
        raise CartRefused({None: reason})

    types = _types_of_race(session, race, wanted)
    # Locked: tickets added to a cart that a checkout turns into a payment would join an order already priced and
    # sent to the payment page, as a cart's tickets (Registration.order_status). Only the order is locked, not the
    # tickets' types: a checkout holds those `FOR NO KEY UPDATE` (services/locking.py), which lets this add's INSERT
    # check its foreign key, so a checkout caught between its two locks waits for this add and then finds the cart
    # changed, rather than both waiting on each other.
    cart = find_cart(session, owner, race.id, lock=True)
    in_cart = quantities_in_cart(session, cart) if cart is not None else Counter()
    left = spots_left(session, types.values(), now, order_id=cart.id if cart is not None else None)
    problems: dict[int | None, str] = {}
    for type_id, n in wanted.items():
        ticket_type = types.get(type_id)
        if ticket_type is None:
            problems[type_id] = _("That ticket type isn't part of this race.")
            continue
        total = in_cart[type_id] + n
        problem = (off_sale_reason(ticket_type, now) or _limit_problem(ticket_type, in_cart[type_id], total)
                   or spots_problem(ticket_type, total, left[type_id]))
        if problem:
            problems[type_id] = problem
    guest_limit = _guest_limit_problem(owner, in_cart, wanted)
    if guest_limit and not problems:
        problems[None] = guest_limit
    if problems:
        raise CartRefused(problems)

    cart = cart or get_or_create_cart(session, owner, race)
    added = []
    for ticket_type in sorted((types[i] for i in wanted), key=lambda t: (t.position, t.id)):
        for _copy in range(wanted[ticket_type.id]):
            added.append(Registration(order_id=cart.id, race_id=race.id, ticket_type_id=ticket_type.id,
                                      price=ticket_type.price))
    session.add_all(added)
    session.flush()
    reprice(session, cart, now)
    return cart, added


def quantities_in_cart(session: Session, order: Order) -> Counter:
    """{ticket type id: tickets of that type in this cart}."""
    rows = session.execute(select(Registration.ticket_type_id, func.count(Registration.id))
                           .where(Registration.order_id == order.id).group_by(Registration.ticket_type_id))
    return Counter(dict(rows.all()))


# --- changing what is in it ---------------------------------------------------------------

def set_quantity(session: Session, order: Order, race: Race, ticket_type_id: int, quantity: int,
                 now: datetime) -> None:
    """Change how many tickets of one type the cart holds (0 removes them all). Commits.

    Fewer: the tickets nobody has filled in go first, then the newest. More: the same checks
    as adding.
    """
    with _one_change(session):
        if quantity < 0:
            raise CartRefused({ticket_type_id: _("Quantities can't be negative.")})
        tickets = [r for r in cart_registrations(session, order) if r.ticket_type_id == ticket_type_id]
        have = len(tickets)
        if quantity > have:
            _add_tickets(session, CartOwner.of(order), race, {ticket_type_id: quantity - have}, now)
            return
        for registration in blank_then_newest(tickets)[:have - quantity]:
            session.delete(registration)
        session.flush()
        reprice(session, order, now)


def blank_then_newest(tickets: list[Registration]) -> list[Registration]:
    """The order tickets go in when there are too many: nobody filled in first, then the newest."""
    return sorted(tickets, key=lambda r: (not is_blank(r), -r.id))


def remove_registration(session: Session, order: Order, registration: Registration, now: datetime) -> None:
    """Take one ticket (and whatever runner was filled in on it) out of the cart. Commits."""
    if registration.order_id != order.id:
        raise ValueError("that ticket belongs to another order")
    with _one_change(session):
        session.delete(registration)
        session.flush()
        reprice(session, order, now)


def apply_code(session: Session, order: Order, race: Race, code_text: str | None, now: datetime) -> DiscountCode:
    """Use a discount code on the cart, or CodeRefused with the reason for the buyer. Commits."""
    with _one_change(session):
        code = check_code(session, race, code_text, order, now)
        order.discount_code_id = code.id
        reprice(session, order, now)
    return code


def remove_code(session: Session, order: Order, now: datetime) -> None:
    """Stop using the discount code. Commits."""
    with _one_change(session):
        order.discount_code_id = None
        reprice(session, order, now)


def reprice(session: Session, order: Order, now: datetime) -> pricing.Quote:
    """Price the cart as it is now (each ticket at today's price) and keep the figures on the order,
    changed `now` (a guest's cart expires a week after its last change)."""
    session.flush()
    if order.status == OrderStatus.CART:
        race = session.get(Race, order.race_id)
        tickets = list(session.scalars(select(Registration).where(Registration.order_id == order.id)
                                       .order_by(Registration.id)))
        price_tiers.fix_prices(session, race, tickets, now)
    quote = pricing.quote_order(session, order)
    pricing.store_totals(order, quote)
    order.updated_at = now
    return quote
