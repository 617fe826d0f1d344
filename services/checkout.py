"""From a complete cart to a payment page: reserve the spots under a lock, then open Checkout.

The one rule that matters here: never oversell. Capacity is paid tickets plus unexpired
reservations, checked while the order's ticket type rows are locked (in id order, so two
checkouts never wait on each other in a circle). The payment provider is called only after
that transaction has committed, so no lock is held across the network.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import bindparam, select, update
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from models import CheckoutSession, DiscountCode, Order, OrderStatus, Profile, Race, Registration
from models.base import utcnow
from models.order import hold_ran_out, tickets_touched
from services import clock, price_tiers, pricing
from services.capacity import order_capacity
from services.cart_status import cart_problems
from services.discounts import CodeRefused, check_code
from services.fulfillment import fulfill_free_order, record_provider_amounts
from services.inventory import counting_held, expire_stored_counts, keeping_counts
from services.locking import lock_order_and_its_types, lock_ticket_types
from services.payments import CheckoutRequest, Gateway, PaymentUnavailable
from services.registration_changes.apply import close_change_order, is_change_order
from services.sales import sale_problems
from services.transactions import commit_without_waiting_for_disk, end_if_only_read
from services.waitlist import mark_reserved, unmark_reserved

log = logging.getLogger(__name__)

RESERVATION = timedelta(minutes=30)
# Spots stay held this long past the moment the payment page closes: a card paid in the page's
# last seconds is confirmed by Stripe a little later, and that payment must find its spots held.
EXPIRY_GRACE = timedelta(minutes=5)


class CheckoutRefused(Exception):
    """Why this cart cannot be paid for right now, in words for the runner."""

    def __init__(self, message: str, problems: list[str] | None = None):
        super().__init__(message)
        self.message, self.problems = message, problems or []


class SoldOut(CheckoutRefused):
    pass


@dataclass(frozen=True)
class CheckoutStart:
    order: Order
    redirect_url: str   # the payment page, or the order page when nothing is left to pay


def reserve(session: Session, order: Order, now: datetime) -> pricing.Quote:
    """Hold spots for this order for RESERVATION (longer once a payment page is open, see
    `start_checkout`); its quote at the prices now fixed on its tickets. Commits; SoldOut /
    CheckoutRefused roll back."""
    try:
        quote = _reserve(session, order, now)
    except CheckoutRefused:
        _roll_back_keeping(session, [(Race, order.race_id), (Profile, order.buyer_id)])
        raise
    session.commit()
    return quote


def _roll_back_keeping(session: Session, keys: list[tuple[type, object]]) -> None:
    """Roll back (or commit, when it only read: services/transactions.py), the loaded rows named by `keys` (the race
    and the buyer: no refusal writes them) staying loaded.

    The refusal's answer (half of a registration opening's requests are "sold out") names the race and is
    drawn under the buyer's name: kept out of the rollback's expiry, neither is read again.
    """
    kept = [obj for cls, key in keys if (obj := session.identity_map.get(session.identity_key(cls, key))) is not None
            and not session.is_modified(obj)]
    for obj in kept:
        session.expunge(obj)
    if not end_if_only_read(session):  # a refusal before the locks only read: its prepared statements are kept
        session.rollback()
    for obj in kept:
        session.add(obj)


def _reserve(session: Session, order: Order, now: datetime) -> pricing.Quote:
    # Everything that does not depend on what is left comes first, without a lock: at a registration
    # opening a thousand checkouts queue on the same ticket type rows, so the locked part is kept to
    # what must be counted under it (its time times the queue is the last buyer's wait).
    # The sold-out fast path: a snapshot that already has no room for this cart refuses at once, before
    # the runner checks, so the buyers who lose never queue on the locks. It only ever refuses (time
    # passing frees spots, never takes them); the check under the locks below lets anyone through.
    # The same statement reads the order, its tickets and their types, whose sale is checked first.
    order, registrations, capacity = order_capacity(session, order.id, now)
    if not registrations:
        raise CheckoutRefused(_("Your cart is empty."))
    checked = _as_checked(registrations)
    if order.status != OrderStatus.CART:
        raise CheckoutRefused(str(ALREADY_PAYING))
    race = session.get(Race, order.race_id)
    problems = sale_problems(race, capacity.types, now)
    if problems:
        raise CheckoutRefused(problems[0], problems)
    if capacity.problems:
        raise SoldOut(" ".join(capacity.problems), capacity.problems)
    problems = cart_problems(session, order, now, registrations)
    if problems:
        raise CheckoutRefused(_("Some runner details are missing."), problems)
    code_id = order.discount_code_id
    code = session.get(DiscountCode, code_id) if code_id is not None else None
    if code is not None:
        _check_code(session, race, code, order, now, lock=False)

    commit_without_waiting_for_disk(session)
    # The locked part: each of its statements is a round trip every buyer queued behind this one waits for.
    lock_ticket_types(session, (r.ticket_type_id for r in registrations))
    # Re-read under the order's lock: it may have been paid for, or its code changed, since; and its tickets, with it.
    locked, registrations, capacity = order_capacity(session, order.id, now, lock=True)
    if locked is None or locked.status != OrderStatus.CART:
        raise CheckoutRefused(str(ALREADY_PAYING))
    if locked.discount_code_id != code_id:
        raise CheckoutRefused(_("Your discount code changed a moment ago; please check your cart and try again."))
    # What was checked above without the locks must be what is paid for: a ticket added, removed or edited
    # since (another tab) would otherwise skip the runner checks, or the capacity check of its own type.
    if _as_checked(registrations) != checked:
        raise CheckoutRefused(str(CART_CHANGED))
    if capacity.problems:
        raise SoldOut(" ".join(capacity.problems), capacity.problems)
    if code is not None and code.max_uses is not None:  # its last use is counted under its row lock
        _check_code(session, race, code, locked, now, lock=True)
    # Today's price step, counted under the ticket type locks, is fixed on each ticket: a step that
    # ends while the runner is on the payment page still charges (and the webhook checks) this price.
    price_tiers.fix_prices(session, race, registrations, now, stepped=capacity.stepped)  # in id order, as read
    # Priced from the tickets just read and fixed, as `pricing.quote_order` would price them from the database.
    quote = pricing.quote_lines(race, pricing.registration_lines(registrations, [r.price for r in registrations]),
                                code)
    _hold_spots(session, locked, registrations, quote, now + RESERVATION)
    if capacity.offered_to_order:  # a waitlist offer in this cart: the order holds its spots now
        mark_reserved(session, locked.id, now)
    return quote


def _hold_spots(session: Session, order: Order, tickets: list[Registration], quote: pricing.Quote,
                reserved_until: datetime) -> None:
    """The order holds its tickets' spots until `reserved_until`, at `quote`'s totals: PENDING, and its tickets given
    that status and marked changed for the API's delta sync (as Order's `after_update` hook does on a flush), and
    counted in their types' `held_count` (services.inventory: a cart held nothing, so its tickets are what the count
    gains, where `keeping_counts` would count them before and after). It runs with the ticket types locked and the
    order a cart: one statement on Postgres, where the ORM's flush and `keeping_counts` send five."""
    written_at = _write_order(session, order, {
        "status": OrderStatus.PENDING, "reserved_until": reserved_until, "currency": quote.currency,
        "subtotal": quote.subtotal, "discount": quote.discount, "tax": quote.tax, "total": quote.total},
        companions=("tickets_changed", "held_counted"))
    expire_stored_counts(session, {ticket.ticket_type_id for ticket in tickets})
    for ticket in tickets:
        set_committed_value(ticket, "order_status", OrderStatus.PENDING)
        set_committed_value(ticket, "updated_at", written_at)


def _write_order(session: Session, order: Order, values: dict, *, companions: tuple[str, ...], **params) -> datetime:
    """`values` written onto the loaded order by a Core UPDATE, with the `_COMPANIONS` statements named `companions`
    (bound with `params`) as its CTEs on Postgres, after it on SQLite (which has no DML in a WITH), and kept on the
    order as written; `updated_at` moves as a flush moves it, to the time returned. For checkout's two writes, where
    the ORM's flush cost more CPU than its statements (issue 17)."""
    written_at = utcnow()
    connection = session.connection()
    bound = {"order_row": order.id, "written_at": written_at, **params,
             **{f"new_{name}": value for name, value in values.items()}}
    for statement in _order_update(connection.dialect.name == "postgresql", tuple(values), companions):
        connection.execute(statement, bound)
    for name, value in {**values, "updated_at": written_at}.items():
        set_committed_value(order, name, value)
    return written_at


_COMPANIONS = {
    # Order's after_update hook does this on a flush that changes its status: a ticket's status is its order's.
    "tickets_changed": lambda dialect: tickets_touched(bindparam("order_row"), bindparam("new_status"),
                                                       bindparam("written_at")),
    # The order's tickets (it was a cart: none counted yet) counted in their types' `held_count`.
    "held_counted": lambda dialect: counting_held(bindparam("order_row")),
    # A provider's replay may hand back a page already known, which stays as it is.
    "payment_page": lambda dialect: (dialect.insert(CheckoutSession)
                                         .values(id=bindparam("page_id"), order_id=bindparam("order_row"),
                                                 expires_at=bindparam("page_expires_at"),
                                                 created_at=bindparam("written_at"))
                                         .on_conflict_do_nothing(index_elements=["id"])),
}


@cache
def _order_update(postgres: bool, fields: tuple[str, ...], companions: tuple[str, ...]) -> tuple:
    """`_write_order`'s statements, built once per shape."""
    also = [_COMPANIONS[name](postgresql if postgres else sqlite) for name in companions]
    written = (update(Order).where(Order.id == bindparam("order_row"))
               .values({**{name: bindparam(f"new_{name}") for name in fields}, "updated_at": bindparam("written_at")}))
    if postgres:
        return (written.add_cte(*(statement.cte(name) for statement, name in zip(also, companions, strict=True))),)
    return written, *also


CART_CHANGED = _l("Your cart changed a moment ago; please check it and try again.")
ALREADY_PAYING = _l("This order is already being paid for.")
_TICKET_FIELDS = tuple(attr.key for attr in sa_inspect(Registration).column_attrs)


def _as_checked(registrations: list[Registration]) -> tuple:
    """Every field of every ticket, to tell whether they changed between two reads."""
    return tuple(tuple(getattr(r, key) for key in _TICKET_FIELDS) for r in registrations)


def _check_code(session: Session, race: Race, code: DiscountCode, order: Order, now: datetime, *, lock: bool) -> None:
    try:
        check_code(session, race, code.code, order, now, lock=lock)
    except CodeRefused as refused:
        raise CheckoutRefused(refused.message) from refused


def release(session: Session, order: Order, *, reason: OrderStatus = OrderStatus.EXPIRED,
            now: datetime | None = None) -> None:
    """Give a pending order's spots back (its types' `held_count`, services.inventory). It becomes the buyer's cart
    again when they have no other cart for this race; otherwise it ends as `reason`. A waitlist offer it had accepted
    holds its spots again until the offer's own end. Call with the order locked, its ticket types before it
    (services.locking.lock_order_and_its_types). Does not commit."""
    if order.status != OrderStatus.PENDING:
        return
    if is_change_order(order):  # it pays a ticket change, holds no tickets, never becomes a cart
        order.reserved_until, order.checkout_url = None, ""
        close_change_order(session, order, reason)
        return
    other_cart = session.scalar(select(Order.id).where(
        Order.buyer_id == order.buyer_id, Order.race_id == order.race_id, Order.status == OrderStatus.CART,
        Order.id != order.id))
    with keeping_counts(session, order.id):
        order.status = reason if other_cart else OrderStatus.CART
        order.reserved_until, order.checkout_url = None, ""  # with the status: a pending order has an end
    unmark_reserved(session, order.id, now or clock.now())


def cancel_checkout(session: Session, gateway: Gateway, order: Order) -> None:
    """The buyer came back from the payment page without paying: release the spots, then close that page.

    Commits before the provider is told, so no lock is held across the network.
    """
    locked = lock_order_and_its_types(session, order.id)  # a payment may have landed since the page read it
    if locked is None or locked.status != OrderStatus.PENDING:
        session.rollback()
        return
    session_id = locked.stripe_session_id
    release(session, locked, reason=OrderStatus.CANCELED)
    session.commit()
    if session_id:
        gateway.expire(session_id)


def start_checkout(session: Session, order: Order, gateway: Gateway, now: datetime, *, customer_email: str,
                   success_url: str, cancel_url: str) -> CheckoutStart:
    """Reserve, then open the payment page (or complete a free order at once)."""
    if order.status == OrderStatus.PENDING and order.reserved_until and order.reserved_until > now and order.checkout_url:
        page = session.get(CheckoutSession, order.stripe_session_id) if order.stripe_session_id else None
        if page is None or page.expires_at > now:
            return CheckoutStart(order, order.checkout_url)  # a second click: same page, same hold
        # The page has closed, but a payment made in its last moments may still be confirmed: the
        # order page waits for it, and offers the cart again once the hold ends.
        return CheckoutStart(order, success_url)
    if order.status == OrderStatus.PENDING:  # its own hold ran out: released first, so that it is a cart again
        expire_reservations(session, gateway, now)
    # Held here so that it stays loaded past reserve's commit: the payment page is then opened while this
    # request holds no database connection (a spike's checkouts wait on Stripe by the dozen).
    race = session.get(Race, order.race_id)  # noqa: F841
    quote = reserve(session, order, now)
    if order.total == 0:
        fulfill_free_order(session, order.id, now)
        session.commit()
        expire_reservations(session, gateway, now)  # everyone else's holds that ran out (see open_payment_page)
        return CheckoutStart(order, success_url)
    code = session.get(DiscountCode, order.discount_code_id) if order.discount_code_id is not None else None
    return open_payment_page(session, order, gateway, quote, code, customer_email=customer_email,
                             success_url=success_url, cancel_url=cancel_url, sweep_at=now)


def open_payment_page(session: Session, order: Order, gateway: Gateway, quote: pricing.Quote,
                      code: DiscountCode | None, *, customer_email: str, success_url: str,
                      cancel_url: str, sweep_at: datetime | None = None) -> CheckoutStart:
    """Open the provider's page for a pending order priced as `quote`: an order of tickets, or one paying a
    ticket change (services/registration_changes). Commits; PaymentUnavailable releases the order.

    `sweep_at`: everyone else's holds that ran out by then are released first (`expire_reservations`), once the
    page is open, in the transaction that records it: a checkout refused (sold out) sweeps nothing, as spots
    count unexpired holds only (services.inventory); the scheduler's job sweeps them too."""
    race = session.get(Race, order.race_id)
    request = CheckoutRequest(order=order, race=race, quote=quote, code=code,
                              customer_email=customer_email, success_url=success_url, cancel_url=cancel_url)
    try:
        page = gateway.open_checkout(request)
    except PaymentUnavailable:
        release(session, lock_order_and_its_types(session, order.id), reason=OrderStatus.CANCELED)
        session.commit()
        raise
    if sweep_at is not None:
        expire_reservations(session, gateway, sweep_at)
    record_provider_amounts(order, page.amount_subtotal, page.amount_discount, page.amount_tax, page.amount_total)
    reserved_until = order.reserved_until
    if page.expires_at is not None:
        # The page is open until the provider's own expiry; the spots are held a little beyond it.
        reserved_until = max(reserved_until, page.expires_at + EXPIRY_GRACE)
    # The order and its page in one statement (on Postgres).
    _write_order(session, order, {"stripe_session_id": page.session_id, "checkout_url": page.url,
                                  "reserved_until": reserved_until, "subtotal": order.subtotal,
                                  "discount": order.discount, "tax": order.tax, "total": order.total},
                 companions=("payment_page",), page_id=page.session_id,
                 page_expires_at=page.expires_at or reserved_until)
    session.commit()
    return CheckoutStart(order, page.url)


def expire_reservations(session: Session, gateway: Gateway, now: datetime) -> int:
    """Release every reservation whose time is up; returns how many. Commits each, then closes its page.

    Each order is re-read under its row lock and released only if it is still pending past its hold:
    a late payment fulfilled a moment ago must never be turned back into a cart. Stripe is told after
    the commit, so no lock is held across the network.
    """
    due = list(session.connection().scalars(_due_statement(), {"now": now}))  # Core: every payment page runs it
    released = 0
    for order_id in due:
        # Released or paid since the list was read (another payment page's sweep, a payment): skipped without
        # queueing for its ticket types' locks, the ones every checkout of the race waits for.
        if session.connection().scalar(_still_due_statement(), {"now": now, "order_id": order_id}) is None:
            continue
        order = lock_order_and_its_types(session, order_id)
        if order is None or order.status != OrderStatus.PENDING or order.reserved_until is None \
                or order.reserved_until > now:
            session.rollback()
            continue
        session_id = order.stripe_session_id
        release(session, order, now=now)
        session.commit()
        released += 1
        if session_id:
            gateway.expire(session_id)
    return released


@cache
def _due_statement():
    """The orders whose hold ran out by "now": the same rule the spots left take them off by (models.order)."""
    return select(Order.id).where(hold_ran_out(bindparam("now")))


@cache
def _still_due_statement():
    return _due_statement().where(Order.id == bindparam("order_id"))
