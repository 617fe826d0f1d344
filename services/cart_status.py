"""What a cart holds and still needs: the cart page's view, the payment step's check, the header
badge and the list of carts. Reading only; the changes are services/cart.py's.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache

from sqlalchemy import and_, bindparam, case, false, func, select
from sqlalchemy.orm import Session, defer, joinedload

from models import DiscountCode, Order, OrderStatus, PriceTier, Profile, Race, Registration, TicketType, WaiverVersion
from services import price_tiers, pricing
from services.cart import MAX_PER_TYPE, CartOwner, cart_registrations
from services.discounts import CodeRefused, check_code
from services.inventory import (
    Held,
    held_columns,
    held_from,
    holding_spot,
    lapsed_holds,
    left_for_buyer,
    spots_left,
    spots_problem,
)
from services.languages import gettext as _
from services.price_tiers import PriceBook, PriceNow, Step
from services.race_editing import current_waiver_id
from services.race_texts import still_current
from services.races import SLUG_RE
from services.runners import RunnerDetails, in_reader_language, is_blank, runner_problems, signable, waiver_to_sign
from services.sales import off_sale_reason, signup_closed_reason, signup_open

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

    @property
    def fills_in(self) -> bool:
        """The buyer gave a name and email: this runner fills in the rest and signs, after payment."""
        return self.registration.awaiting_runner


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
    prices: dict[int, PriceNow] = field(default_factory=dict)  # per ticket type: today's price and the next step

    @property
    def problems(self) -> list[str]:
        return self.runner_problems + self.sale_problems

    @property
    def ready(self) -> bool:
        return bool(self.runners) and not self.problems

    @property
    def invited(self) -> list[RunnerStatus]:
        """Runners who will get a link after payment to fill in their own details and sign."""
        return [r for r in self.runners if r.complete and r.fills_in]

    def quantity_of(self, ticket_type_id: int) -> int:
        return sum(1 for r in self.runners if r.registration.ticket_type_id == ticket_type_id)


def runner_statuses(session: Session, registrations: list[Registration], race: Race, waiver: WaiverVersion | None,
                     now: datetime, buyer_email: str | None = None) -> list[RunnerStatus]:
    # A runner who signed the waiver in another language than this reader's signed a version that may still be
    # current in its own: asked only when some signature isn't of `waiver` (so most carts ask nothing more).
    others = {r.waiver_version_id for r in registrations if r.waiver_version_id is not None} - {
        waiver.id if waiver is not None else None}
    also_current = still_current(session, race.id, others) if waiver is not None and others else frozenset()
    return [RunnerStatus(r, i, runner_problems(RunnerDetails.of(r), race, r.ticket_type, waiver, now,
                                               buyer_email=buyer_email, also_current=also_current))
            for i, r in enumerate(registrations, start=1)]


def buyer_email(session: Session, order: Order) -> str | None:
    """The buyer's email, which no runner filling in by link may have (a guest's cart has no buyer yet)."""
    buyer = session.get(Profile, order.buyer_id) if order.buyer_id is not None else None
    return buyer.email if buyer is not None else None


def joined_with_and(items: list[str]) -> str:
    """"Ana", "Bo and Cy", "Ana, Bo and Cy" in the page's language (a template filter too)."""
    items = [str(item) for item in items]
    if len(items) < 2:
        return "".join(items)
    return _("%(items)s and %(last)s", items=", ".join(items[:-1]), last=items[-1])


def _runner_messages(runners: list[RunnerStatus]) -> list[str]:
    """One line for the runners nobody has started on, then one per runner with something wrong."""
    messages = []
    blank = [r.number for r in runners if not r.complete and r.blank]
    if len(blank) == 1:
        messages.append(_("Fill in runner %(number)d's details and waiver.", number=blank[0]))
    elif blank:
        messages.append(_("Fill in the details and waivers of runners %(numbers)s.", numbers=joined_with_and(blank)))
    for runner in runners:
        if runner.complete or runner.blank:
            continue
        registration = runner.registration
        messages.append(_("Runner %(number)d (%(name)s, %(ticket_type)s): %(problem)s", number=runner.number,
                          name=registration.runner_name or _("no name yet"), ticket_type=registration.ticket_type.name,
                          problem=next(iter(runner.problems.values()))))
    return messages


def cart_problems(session: Session, order: Order, now: datetime,
                  registrations: list[Registration] | None = None) -> list[str]:
    """What keeps this cart from the payment step, for the buyer: empty cart, runners missing or invalid.

    Empty when every ticket has a runner whose details and signed waiver are complete and valid
    under today's rules (the current waiver version, the ticket type's age limits). `registrations`:
    the cart's tickets in the order they were added, when the caller has just read them.
    """
    if registrations is None:
        registrations = cart_registrations(session, order)
    if not registrations:
        return [_("Your cart is empty.")]
    race = session.get(Race, order.race_id)
    waiver = waiver_to_sign(session, race.id)
    return (_runner_messages(runner_statuses(session, registrations, race, waiver, now, buyer_email(session, order)))
            + limit_problems(registrations))


def limit_problems(registrations: list[Registration]) -> list[str]:
    """More than MAX_PER_TYPE tickets of a type, which only a merge at sign-in can make (it never drops a
    runner someone filled in): the buyer chooses which to remove."""
    counts = Counter(r.ticket_type_id for r in registrations)
    names = {r.ticket_type_id: r.ticket_type.name for r in registrations}
    return [_("You can buy at most %(max)d tickets for the %(name)s in one order; your cart has %(num)d. Remove "
              "some to continue.", max=MAX_PER_TYPE, name=names[type_id], num=n)
            for type_id, n in counts.items() if n > MAX_PER_TYPE]


def changes_since_added(session: Session, race: Race, registrations: list[Registration], code: DiscountCode | None,
                        order: Order, now: datetime, held: dict[int, Held] | None = None) -> list[str]:
    """What changed since the tickets were added: sign-up closed, a type off sale or full, the code.

    The soft version of the payment step's checks, so the cart says so before the buyer presses on.
    `held`: what holds spots in the cart's ticket types, when the caller has read it (see `types_now`).
    """
    reason = signup_closed_reason(race, now)
    if reason:
        return [reason]
    counts = Counter(r.ticket_type_id for r in registrations)
    types = {r.ticket_type_id: r.ticket_type for r in registrations}
    left = (spots_left(session, types.values(), now, order_id=order.id) if held is None
            else {type_id: left_for_buyer(t, held[type_id]) for type_id, t in types.items()})
    problems = []
    for type_id, ticket_type in sorted(types.items(), key=lambda item: (item[1].position, item[0])):
        off_sale = off_sale_reason(ticket_type, now)
        full = spots_problem(ticket_type, counts[type_id], left[type_id])
        if off_sale or (full and left[type_id] <= 0):
            problems.append(_("%(problem)s Remove those tickets to continue.", problem=off_sale or full))
        elif full:
            problems.append(_("%(problem)s Lower the quantity to continue.", problem=full))
    if code is not None:
        try:
            check_code(session, race, code.code, order, now)
        except CodeRefused as refused:
            problems.append(_("%(problem)s Remove the code to continue.", problem=refused.message))
    return problems


def _quote_today(session: Session, race: Race, order: Order, registrations: list[Registration],
                 code: DiscountCode | None, now: datetime, book: PriceBook) -> tuple[pricing.Quote, dict[int, PriceNow]]:
    """A cart is priced at today's prices until its spots are reserved (a price step may have
    begun since a ticket was added); from then on, at the prices fixed on its tickets. With each
    ticket type's price now and its next step (from `book`, the cart's ticket types' price steps)."""
    steps = {r.ticket_type_id: book.price_of(r.ticket_type) for r in registrations}
    if order.status != OrderStatus.CART:
        return pricing.quote_order(session, order), steps
    prices = [price for price, _step in price_tiers.price_registrations(session, race, registrations, now, book)]
    return pricing.quote_lines(race, pricing.registration_lines(registrations, prices), code), steps


def types_now(session: Session, race: Race, order: Order, now: datetime) -> tuple[PriceBook, dict[int, Held]]:
    """The ticket types of the order's tickets now: their price steps (a PriceBook, as price_tiers.price_book reads
    it) and what holds their spots (as inventory.held_counts reads it for `order`), in one statement whatever the
    data: the cart page read them in two (issue 17). The statement finds the types by the order's tickets itself
    (their ids bound one by one, an expanding IN, had its text rewritten at every run), and its rows are read
    through the session's connection as plain rows: no ORM object or result machinery for counts and steps."""
    steps: dict[int, list[Step]] = {}
    sold: dict[int, int] = {}
    held: dict[int, Held] = {}
    rows = session.connection().execute(_types_now_statement(), {"now": now, "order_id": order.id, "race_id": race.id})
    for type_id, tickets, offers, offers_for_order, waiting, *tier, tier_sold in rows:
        held[type_id] = held_from(tickets, offers, offers_for_order, waiting)
        if tier[0] is not None:
            step = Step(*tier)
            steps.setdefault(type_id, []).append(step)
            sold[step.id] = tier_sold
    return PriceBook(steps, sold, price_tiers.local_day(race, now)), held


@cache
def _types_now_statement():
    """`types_now`' statement, built once (`now` and `order_id` bound at each run): a row per price step (or one
    for a type without steps) of each type the order has tickets of, each with its type's `held_columns`; a step's
    tickets are counted only for a step with a count (`until_sold`), as price_tiers.steps_and_sold counts them."""
    now, order_id = bindparam("now"), bindparam("order_id")
    tier_sold = (select(func.count(Registration.id)).join(Order, Order.id == Registration.order_id)
                 .where(Registration.price_tier_id == PriceTier.id, holding_spot(now))
                 .correlate(PriceTier).scalar_subquery())
    lapsed = lapsed_holds(now, bindparam("race_id"))  # one pass over the race's lapsed holds, not one per type (issue 17)
    return (select(TicketType.id, *held_columns(now, order_id, lapsed), PriceTier.id, PriceTier.price,
                   PriceTier.starts_on, PriceTier.until_sold, PriceTier.label,
                   case((PriceTier.until_sold.is_(None), 0), else_=tier_sold))
            .outerjoin(lapsed, lapsed.c.ticket_type_id == TicketType.id)
            .outerjoin(PriceTier, PriceTier.ticket_type_id == TicketType.id)
            .where(TicketType.id.in_(select(Registration.ticket_type_id).where(Registration.order_id == order_id)))
            .order_by(TicketType.id, PriceTier.position))


@dataclass(frozen=True)
class LoadedCart:
    """A race, its waiver to sign, and one owner's cart for it with the cart's tickets and their ticket types."""

    race: Race
    waiver: WaiverVersion | None
    order: Order | None


def race_with_cart(session: Session, slug: str, owner: CartOwner | None) -> LoadedCart | None:
    """The race at this address (draft or not) with what the cart page reads, in one query; None for no such race."""
    if not SLUG_RE.match(slug):
        return None
    shape = None if owner is None else "guest" if owner.is_guest else "buyer"
    params = {"slug": slug} | ({} if owner is None else {"owner": owner.guest_key if owner.is_guest else owner.profile_id})
    row = session.execute(_race_with_cart_statement(shape), params).unique().first()
    if row is None:
        return None
    return LoadedCart(race=row[0], waiver=in_reader_language(session, row[0].id, signable(row[1])), order=row[2])


@cache
def _race_with_cart_statement(owner: str | None):
    """`race_with_cart`'s statement for no owner, a guest or a buyer, built once (`slug` and `owner` bound at
    each run): building it cost as much as running it, on every cart page (issue 17). Without the columns the
    cart never reads (`_NOT_ON_THE_CART`), its text is also short enough for psycopg to keep it parsed."""
    owned_by = {None: None, "guest": Order.guest_key, "buyer": Order.buyer_id}[owner]
    owns = and_(owned_by == bindparam("owner"), Order.status == OrderStatus.CART) if owned_by is not None else false()
    return (select(Race, WaiverVersion, Order)
            .outerjoin(WaiverVersion, WaiverVersion.id == current_waiver_id(Race.id))
            .outerjoin(Order, and_(Order.race_id == Race.id, owns))
            .where(Race.slug == bindparam("slug"))
            .options(*_unread(Race), *_unread(WaiverVersion), *_unread(Order),
                     joinedload(Order.registrations).options(
                         *_unread(Registration), joinedload(Registration.ticket_type).options(*_unread(TicketType))),
                     joinedload(Order.discount_code)))


def _unread(entity) -> list:
    """The cart's columns of `entity` left out of race_with_cart's statement (read on access, should one ever be)."""
    return [defer(column) for column in _NOT_ON_THE_CART[entity]]


# Columns the cart never shows or judges by (no cart test reads one), each read per row (a ticket) before (issue 17).
_NOT_ON_THE_CART = {
    Race: (Race.summary, Race.description, Race.description_html, Race.search_key, Race.cover_image, Race.cover_widths,
           Race.stripe_tax_rate_id, Race.stripe_tax_rate_key, Race.transfers_enabled, Race.transfers_until,
           Race.transfer_fee, Race.transfer_keeps_bib, Race.distance_changes_enabled, Race.distance_changes_until,
           Race.distance_refund_difference, Race.created_at, Race.updated_at, Race.is_sample, Race.version,
           Race.location_name, Race.address),
    Order: (Order.stripe_session_id, Order.payment_intent_id, Order.checkout_url, Order.paid_at, Order.problem,
            Order.created_at, Order.updated_at),
    Registration: (Registration.invite_nonce, Registration.invite_sent_at, Registration.invite_reminded_at,
                   Registration.invite_reminders, Registration.waiver_ip, Registration.ticket_code, Registration.bib,
                   Registration.checked_in_at, Registration.waiver_signed_at_checkin, Registration.refund_id,
                   Registration.created_at, Registration.updated_at, Registration.registered_at,
                   Registration.search_key, Registration.details_problem, Registration.runner_profile_id),
    TicketType: (TicketType.description,),
    WaiverVersion: (WaiverVersion.sha256, WaiverVersion.created_at),
}


def view_cart(session: Session, order: Order, now: datetime, loaded: LoadedCart | None = None) -> CartView:
    """The cart with its runners, prices and problems, for the cart page (from `loaded` when the request
    read it with race_with_cart, else read here)."""
    if loaded is not None and loaded.order is order:
        race, registrations, waiver = loaded.race, list(order.registrations), loaded.waiver
    else:
        race = session.get(Race, order.race_id)
        registrations = cart_registrations(session, order)
        waiver = waiver_to_sign(session, race.id)
    code = session.get(DiscountCode, order.discount_code_id) if order.discount_code_id is not None else None
    runners = runner_statuses(session, registrations, race, waiver, now, buyer_email(session, order))
    book, held = (types_now(session, race, order, now) if registrations  # an empty cart asks nothing
                  else (PriceBook({}, {}, price_tiers.local_day(race, now)), {}))
    quote, prices = _quote_today(session, race, order, registrations, code, now, book)
    runner_messages = _runner_messages(runners) if registrations else [_("Your cart is empty.")]
    sales = (limit_problems(registrations) + changes_since_added(session, race, registrations, code, order, now, held)
             if registrations else [])
    return CartView(order=order, race=race, runners=runners, quote=quote, waiver=waiver, code=code,
                    runner_problems=runner_messages, sale_problems=sales, prices=prices)


# --- the header badge and the list of carts ----------------------------------------------

@dataclass(frozen=True)
class CartCount:
    """Tickets in the buyer's open carts, and in how many races (for where the badge links)."""

    tickets: int = 0
    races: int = 0
    slug: str | None = None  # the race, when all the tickets are for one

    def __int__(self) -> int:
        return self.tickets


@dataclass(frozen=True)
class CartContents:
    """What an owner's carts for races still to come hold, by race and ticket type: the header badge
    and the race page's "2 in your cart" from one query."""

    rows: tuple[tuple[int, str, int, int], ...] = ()  # (race id, race slug, ticket type id, tickets)

    def count(self) -> CartCount:
        slugs = {row[1] for row in self.rows}
        return CartCount(tickets=sum(n for *_, n in self.rows), races=len(slugs),
                         slug=next(iter(slugs)) if len(slugs) == 1 else None)

    def in_race(self, race_id: int) -> Counter:
        """{ticket type id: tickets} in the cart for this race."""
        return Counter({type_id: n for race, _, type_id, n in self.rows if race == race_id})


@cache
def _cart_contents_statement(guest: bool):
    """`cart_contents`' statement for a guest or a buyer, built once (`owner` and `now` bound at each run): the
    header badge runs it on every page that shows it (issue 17)."""
    owned_by = Order.guest_key if guest else Order.buyer_id
    return (select(Order.race_id, Race.slug, Registration.ticket_type_id, func.count(Registration.id))
            .select_from(Order)
            .join(Registration, Registration.order_id == Order.id)
            .join(Race, Race.id == Order.race_id)
            .where(owned_by == bindparam("owner"), Order.status == OrderStatus.CART, Race.starts_at > bindparam("now"))
            .group_by(Order.race_id, Race.slug, Registration.ticket_type_id))


def cart_contents(session: Session, owner: CartOwner, now: datetime) -> CartContents:
    """One query: tickets in this owner's carts for races that have not started yet, by race and type."""
    rows = session.execute(_cart_contents_statement(owner.is_guest),
                           {"owner": owner.guest_key if owner.is_guest else owner.profile_id, "now": now})
    return CartContents(rows=tuple(tuple(row) for row in rows.all()))


def cart_count(session: Session, owner: CartOwner, now: datetime) -> CartCount:
    """Tickets in this owner's carts for races that have not started yet (one query)."""
    return cart_contents(session, owner, now).count()


@dataclass(frozen=True)
class CartSummary:
    race: Race
    order: Order
    tickets: int
    signup_open: bool


def open_carts(session: Session, owner: CartOwner, now: datetime) -> list[CartSummary]:
    """The owner's carts that hold tickets for races still to come (as the badge counts them), soonest first."""
    rows = session.execute(
        select(Order, Race, func.count(Registration.id))
        .join(Race, Race.id == Order.race_id)
        .join(Registration, Registration.order_id == Order.id)
        .where(owner.owns_clause(), Order.status == OrderStatus.CART, Race.starts_at > now)
        .group_by(Order.id, Race.id)
        .order_by(Race.starts_at, Race.id))
    return [CartSummary(race=race, order=order, tickets=n, signup_open=signup_open(race, now))
            for order, race, n in rows]
