"""A visitor's cart before they have an account: its key, the merge into their account's cart at
sign-in, and its expiry.

The visitor's browser keeps a random key in a signed cookie; the database keeps only its sha256
(`Order.guest_key`), so a leaked table opens no cart. Such a cart is bounded
(services/cart.py: MAX_GUEST_TICKETS), holds no spots, and is deleted with its runners a week after
its last change. At sign-in, sign-up or an email link it moves into the account: every runner
someone filled in survives, and the discount code is checked again.
"""
from __future__ import annotations

import hashlib
import secrets
import uuid
from collections import defaultdict
from datetime import datetime, timedelta

from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from models import DiscountCode, Order, OrderStatus, Race, Registration, WaitlistEntry
from services.cart import MAX_PER_TYPE, CartOwner, blank_then_newest, cart_registrations, find_cart, reprice
from services.discounts import CodeRefused, check_code
from services.runners import is_blank

GUEST_CART_LIFETIME = timedelta(days=7)


def new_guest_key() -> str:
    """A fresh key for a visitor's cart cookie: 32 random bytes, URL-safe."""
    return secrets.token_urlsafe(32)


def guest_key_hash(key: str) -> str:
    """What the database keeps of a guest's key."""
    return hashlib.sha256(key.encode()).hexdigest()


def guest_owner(key: str) -> CartOwner:
    return CartOwner(guest_key=guest_key_hash(key))


# --- the merge at sign-in -----------------------------------------------------------------

def merge_guest_carts(session: Session, guest_key: str, buyer_id: uuid.UUID, now: datetime) -> list[str]:
    """Move every cart of this guest (by hashed key) into the buyer's cart for the same race. Commits once.

    A race the buyer has no cart for takes the guest's cart as it is. Otherwise the guest's tickets
    join the buyer's: the buyer's code stays; else the guest's, if it still passes. Where a ticket
    type now has more than MAX_PER_TYPE, blank tickets go first; runners someone filled in are
    never dropped (the cart then asks the buyer to choose). Returns what the buyer should be told.

    Both carts are read under their row locks (on Postgres), as every change of a cart is (services/cart.py): a
    checkout of the account's cart in another browser, making it an order at the payment step, is waited for, and
    the cart is then no longer found, so the guest's tickets become the account's new cart instead of joining the
    order already priced and sent to the payment page. Two sign-ins of one visitor at once merge their carts once.
    """
    guest = and_(Order.guest_key == guest_key, Order.status == OrderStatus.CART)
    # Every cart the merge changes, locked in the order of their ids before it reads any (as deleting a code locks
    # the carts that have it): the guest's, and the account's for the same races.
    session.execute(select(Order.id).where(Order.status == OrderStatus.CART, or_(
        guest, and_(Order.buyer_id == buyer_id, Order.race_id.in_(select(Order.race_id).where(guest)))))
        .order_by(Order.id).with_for_update())
    guest_carts = list(session.scalars(select(Order).where(guest).order_by(Order.id)
                                       .execution_options(populate_existing=True)))
    notices: list[str] = []
    owner = CartOwner(profile_id=buyer_id)
    for guest in guest_carts:
        race = session.get(Race, guest.race_id)
        account = find_cart(session, owner, race.id, lock=True)
        guest_code_id = guest.discount_code_id
        if account is None:
            try:
                with session.begin_nested():
                    guest.guest_key, guest.buyer_id, guest.discount_code_id = None, buyer_id, None
                account = guest
            except IntegrityError:  # another browser of this account made its cart for the race just now: join it
                account = find_cart(session, owner, race.id, lock=True)
        if account is not guest:
            session.execute(update(Registration).where(Registration.order_id == guest.id)  # a cart's to a cart
                            .values(order_id=account.id, order_status=OrderStatus.CART),
                            execution_options={"synchronize_session": False})
            # A waitlist offer's hold follows its tickets into the account's cart.
            session.execute(update(WaitlistEntry).where(WaitlistEntry.order_id == guest.id)
                            .values(order_id=account.id), execution_options={"synchronize_session": False})
            session.execute(delete(Order).where(Order.id == guest.id), execution_options={"synchronize_session": False})
            session.expunge(guest)
        session.flush()
        notices += _drop_blank_tickets_over_the_limit(session, account)
        if account.discount_code_id is None and guest_code_id is not None:
            notices += _keep_code_if_it_passes(session, race, account, guest_code_id, now)
        reprice(session, account, now)
    session.commit()
    return notices


def _drop_blank_tickets_over_the_limit(session: Session, order: Order) -> list[str]:
    by_type: dict[int, list[Registration]] = defaultdict(list)
    for registration in cart_registrations(session, order):
        by_type[registration.ticket_type_id].append(registration)
    notices = []
    for tickets in by_type.values():
        blank = [r for r in blank_then_newest(tickets)[:max(0, len(tickets) - MAX_PER_TYPE)] if is_blank(r)]
        for registration in blank:
            session.delete(registration)
        if blank:
            notices.append(ngettext(
                "Your carts together had more than %(max)d %(name)s tickets, so we took out %(num)d that had no "
                "runner yet.",
                "Your carts together had more than %(max)d %(name)s tickets, so we took out %(num)d that had no "
                "runner yet.", len(blank), max=MAX_PER_TYPE, name=tickets[0].ticket_type.name))
    session.flush()
    return notices


def _keep_code_if_it_passes(session: Session, race: Race, order: Order, code_id: int, now: datetime) -> list[str]:
    code = session.get(DiscountCode, code_id)
    try:
        check_code(session, race, code.code, order, now)
    except CodeRefused as refused:
        return [_("The code %(code)s no longer applies to your cart, so it was taken off: %(reason)s", code=code.code,
                  reason=refused.message)]
    order.discount_code_id = code.id
    return []


# --- expiry --------------------------------------------------------------------------------

def expire_guest_carts(session: Session, now: datetime) -> int:
    """Delete guest carts unchanged for GUEST_CART_LIFETIME, with their runners (no personal data is
    kept for a visitor who left). Returns how many carts went. Commits.

    The stale carts are read under their row locks, skipping any another transaction holds: one being changed or
    merged into an account at this moment (signed in after a week away) is that visitor's again, and a later run
    finds it if it stays unchanged. The deletes name the carts still stale (SQLite takes no row locks)."""
    stale = (Order.guest_key.is_not(None), Order.status == OrderStatus.CART, Order.updated_at < now - GUEST_CART_LIFETIME)
    ids = list(session.scalars(select(Order.id).where(*stale).order_by(Order.id).with_for_update(skip_locked=True)))
    gone = 0
    if ids:
        still_stale = select(Order.id).where(Order.id.in_(ids), *stale)
        session.execute(delete(Registration).where(Registration.order_id.in_(still_stale)),
                        execution_options={"synchronize_session": False})
        gone = session.execute(delete(Order).where(Order.id.in_(ids), *stale),
                               execution_options={"synchronize_session": False}).rowcount
    session.commit()
    return gone
