"""Order and Registration: a buyer's checkout and the tickets (one per runner) it holds."""
from __future__ import annotations

import enum
import secrets
import uuid
from datetime import UTC, date, datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Computed,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    and_,
    bindparam,
    event,
    exists,
    func,
    inspect,
    select,
    text,
)
from sqlalchemy.orm import Mapped, column_property, mapped_column, object_session, relationship
from sqlalchemy.orm.util import identity_key

from models.base import Base, utcnow
from models.discount import DiscountCode
from models.profile import Profile
from models.race import Race, TicketType, _enum
from models.search_key import key_default, search_key


class OrderStatus(enum.StrEnum):
    CART = "cart"                  # being filled in; holds no spots (a guest's cart has no buyer yet)
    PENDING = "pending"            # at the payment step; holds spots until reserved_until
    PAID = "paid"
    EXPIRED = "expired"            # reservation ran out unpaid
    CANCELED = "canceled"
    REFUNDED = "refunded"
    NEEDS_REFUND = "needs_refund"  # money arrived but the race had filled up meanwhile


class OrderKind(enum.StrEnum):
    TICKETS = "tickets"  # a cart of registrations
    CHANGE = "change"    # pays a transfer fee or a distance's price difference (models/registration_change.py)


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (
        # One cart per buyer and race, so a second device or tab finds the same one.
        Index("uq_orders_one_cart_per_buyer_race", "buyer_id", "race_id", unique=True,
              postgresql_where=text("status = 'cart'"), sqlite_where=text("status = 'cart'")),
        # And one per visitor without an account (their signed cart cookie) and race.
        Index("uq_orders_one_cart_per_guest_race", "guest_key", "race_id", unique=True,
              postgresql_where=text("status = 'cart'"), sqlite_where=text("status = 'cart'")),
        # The few orders at the payment step, whose unexpired holds the capacity rule counts live: all of them for the
        # sweep that releases the lapsed ones, and one race's for its counts.
        Index("ix_orders_pending_until", "reserved_until",
              postgresql_where=text("status = 'pending'"), sqlite_where=text("status = 'pending'")),
        Index("ix_orders_race_pending_until", "race_id", "reserved_until",
              postgresql_where=text("status = 'pending'"), sqlite_where=text("status = 'pending'")),
        # Only a cart may lack a buyer: nothing is reserved or paid before there is an account.
        CheckConstraint("buyer_id IS NOT NULL OR (status = 'cart' AND guest_key IS NOT NULL)",
                        name="buyer_unless_guest_cart"),
        # A hold at the payment step always has an end: the capacity rule tells the live holds from the ones that ran
        # out by it (services/inventory.py). SQLite has triggers for it instead (migration perf_pending_end_sqlite).
        CheckConstraint("status != 'pending' OR reserved_until IS NOT NULL", name="pending_until_an_end"),
        # The registrant list's counts per status join a race's registrations to these, index only on Postgres.
        Index("ix_orders_race_listing", "race_id", "id", postgresql_include=["status", "reserved_until"]),
        # ... and, unfiltered, only the few orders needing or given a refund (the paid ones are ticket_types.sold_count)
        Index("ix_orders_race_refunds", "race_id", postgresql_where=text("status IN ('needs_refund', 'refunded')"),
              sqlite_where=text("status IN ('needs_refund', 'refunded')")),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    race_id: Mapped[int] = mapped_column(ForeignKey("races.id"), index=True)
    buyer_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("profiles.id"), index=True)
    # A guest's cart: the hash of the random key in their signed cart cookie (services/guest_carts.py).
    guest_key: Mapped[str | None] = mapped_column(String(64), index=True)
    status: Mapped[OrderStatus] = mapped_column(_enum(OrderStatus, "order_status"),
                                                default=OrderStatus.CART, index=True)
    # A change order holds no registrations: its one line is the fee or difference of a RegistrationChange.
    kind: Mapped[OrderKind] = mapped_column(_enum(OrderKind, "order_kind"), default=OrderKind.TICKETS,
                                            server_default=OrderKind.TICKETS.value)
    currency: Mapped[str] = mapped_column(String(3))
    subtotal: Mapped[int] = mapped_column(Integer, default=0)
    discount: Mapped[int] = mapped_column(Integer, default=0)
    tax: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int] = mapped_column(Integer, default=0)
    discount_code_id: Mapped[int | None] = mapped_column(ForeignKey("discount_codes.id"), index=True)
    stripe_session_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    payment_intent_id: Mapped[str | None] = mapped_column(String(255), index=True)
    checkout_url: Mapped[str] = mapped_column(String(1000), default="")  # the open payment page, while pending
    reserved_until: Mapped[datetime | None]
    paid_at: Mapped[datetime | None]
    # Why an order needs a person: money arrived for a race that filled up, or the wrong amount.
    problem: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    race: Mapped[Race] = relationship(lazy="raise")
    buyer: Mapped[Profile | None] = relationship(lazy="raise")
    discount_code: Mapped[DiscountCode | None] = relationship(lazy="raise")
    registrations: Mapped[list[Registration]] = relationship(
        back_populates="order", order_by="Registration.id", cascade="all, delete-orphan",
        lazy="raise")


# No hold runs to the year 9999. Bounded on both sides, a hold's end leads a prepared statement's generic plan (made once,
# for any values) to expect few live holds, as a plan for the time at hand does; given `> now` alone, it expected a
# third of the pending orders, looked dearer, and Postgres planned the statement afresh at every run (issue 17).
_NO_HOLD_ENDS_AFTER = bindparam("no_hold_ends_after", datetime.max.replace(tzinfo=UTC), type_=Order.reserved_until.type)


def holding_at(now):
    """SQL condition: the order is at the payment step and its hold has not run out at `now` (a value or a bound
    parameter). Its status is written into the statement (models.race._WrittenEnum), so the pending orders' partial
    indexes serve a generic plan too."""
    return and_(Order.status == OrderStatus.PENDING, Order.reserved_until > now,
                Order.reserved_until < _NO_HOLD_ENDS_AFTER)


def hold_ran_out(now):
    """SQL condition: the order is at the payment step but its hold ran out by `now` (a value or a bound parameter):
    the few orders the sweep has not released yet, found through the pending orders' partial indexes. Every pending
    order has an end (the check `pending_until_an_end`), so this and `holding_at` split the pending orders in two
    (a hold ending in the year 9999, which none does, would be in neither). Bounded on both sides, as `holding_at`
    is, for a generic plan that expects few of them."""
    return and_(Order.status == OrderStatus.PENDING, Order.reserved_until >= _NO_HOLD_ENDS_BEFORE,
                Order.reserved_until <= now)


_NO_HOLD_ENDS_BEFORE = bindparam("no_hold_ends_before", datetime.min.replace(tzinfo=UTC), type_=Order.reserved_until.type)


def new_ticket_code() -> str:
    """Unguessable (96 bits), short enough for a QR code, safe in a URL."""
    return secrets.token_urlsafe(12)


SEARCHED_FIELDS = ("first_name", "last_name", "email")


def _created_at(context) -> datetime:
    """A new registration's `registered_at` until its order is paid: its `created_at`, to the microsecond."""
    return context.get_current_parameters().get("created_at") or utcnow()


class Registration(Base):
    """One ticket: a spot in a ticket type, and the runner who fills it."""

    __tablename__ = "registrations"
    __table_args__ = (
        UniqueConstraint("race_id", "bib", name="uq_registrations_race_bib"),
        # The registrant list's sorts, each read in order off its index (services/registrants/query.py)
        Index("ix_registrations_race_name", "race_id", "name_key", "id"),
        Index("ix_registrations_race_bib_up", "race_id", text("coalesce(bib, 2147483647)"), "id"),
        Index("ix_registrations_race_bib_down", "race_id", text("coalesce(bib, -1)"), "id"),
        Index("ix_registrations_race_registered", "race_id", "registered_at", "id"),
        # the ticket sort reads each ticket type's runners by name, one type after another
        Index("ix_registrations_race_ticket_name", "race_id", "ticket_type_id", "name_key", "id"),
        # ... and its counts per status, index only on Postgres
        Index("ix_registrations_race_order", "race_id", "order_id",
              postgresql_include=["ticket_type_id", "refunded_at", "runner_fills_in", "runner_details_at",
                                  "checked_in_at", "waiver_version_id"]),
        # ... unfiltered, only the few tickets refunded on their own and those waiting for their runner
        Index("ix_registrations_race_refunded", "race_id", postgresql_where=text("refunded_at IS NOT NULL"),
              sqlite_where=text("refunded_at IS NOT NULL")),
        Index("ix_registrations_race_awaiting", "race_id",
              postgresql_where=text("runner_fills_in IS true AND runner_details_at IS NULL"),
              sqlite_where=text("runner_fills_in IS 1 AND runner_details_at IS NULL")),
        # The search's substring LIKE, on Postgres with pg_trgm; elsewhere a plain index of the same name
        # (migrations/versions/perf_registrant_indexes.py)
        Index("ix_registrations_search_key_trgm", "search_key", postgresql_using="gin",
              postgresql_ops={"search_key": "gin_trgm_ops"}),
        # The API's delta sync: a race's registrations changed since a moment, in the order they changed.
        Index("ix_registrations_race_updated", "race_id", "updated_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("orders.id", ondelete="CASCADE"),
                                                index=True)
    race_id: Mapped[int] = mapped_column(ForeignKey("races.id"), index=True)
    ticket_type_id: Mapped[int] = mapped_column(ForeignKey("ticket_types.id"), index=True)
    # Its order's status, copied, so the registrant search counts and filters its matches by status without
    # looking up each one's order (services/registrants/search.py, issue 17). Copied from the order when the
    # ticket is added (below; a ticket is born in a cart), and by every change of the order's status with the
    # same statement that marks the ticket changed (`tickets_touched`); `flask inventory-check` finds drift.
    order_status: Mapped[OrderStatus] = mapped_column(_enum(OrderStatus, "order_status"),
                                                      server_default=OrderStatus.CART.value)
    price: Mapped[int] = mapped_column(Integer, default=0)  # today's price while in a cart; fixed when reserved
    # The price step that price came from (services/price_tiers.py); none for a ticket type without steps.
    price_tier_id: Mapped[int | None] = mapped_column(ForeignKey("price_tiers.id", ondelete="SET NULL"), index=True)
    first_name: Mapped[str] = mapped_column(String(100), default="")
    last_name: Mapped[str] = mapped_column(String(100), default="")
    email: Mapped[str] = mapped_column(String(320), default="")
    date_of_birth: Mapped[date | None] = mapped_column(Date)
    gender: Mapped[str] = mapped_column(String(40), default="")
    tshirt_size: Mapped[str] = mapped_column(String(10), default="")
    emergency_name: Mapped[str] = mapped_column(String(200), default="")
    emergency_phone: Mapped[str] = mapped_column(String(40), default="")
    address: Mapped[str] = mapped_column(String(200), default="", server_default="")
    city: Mapped[str] = mapped_column(String(100), default="", server_default="")
    country: Mapped[str] = mapped_column(String(100), default="", server_default="")
    club: Mapped[str] = mapped_column(String(100), default="", server_default="")  # club or team
    # "Let them fill in and sign": the buyer gave only the runner's name and email; the runner
    # completes the rest through a personal link after payment (services/runner_invites.py).
    runner_fills_in: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    runner_details_at: Mapped[datetime | None]      # when that runner sent their details
    invite_nonce: Mapped[str] = mapped_column(String(32), default="", server_default="")  # changes to revoke a link
    invite_sent_at: Mapped[datetime | None]         # the first invitation
    invite_reminded_at: Mapped[datetime | None]     # the latest reminder or resend
    invite_reminders: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Why the runner's own details could not be accepted (their age doesn't fit the ticket type).
    details_problem: Mapped[str] = mapped_column(String(500), default="", server_default="")
    # The runner's own account, once they have one: their tickets page shows this ticket too.
    runner_profile_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("profiles.id"), index=True)
    # The waiver as signed: which version, the typed name, a guardian for minors, when and from where.
    waiver_version_id: Mapped[int | None] = mapped_column(ForeignKey("waiver_versions.id"), index=True)
    waiver_signature: Mapped[str] = mapped_column(String(200), default="")
    waiver_guardian_name: Mapped[str] = mapped_column(String(200), default="")
    waiver_signed_at: Mapped[datetime | None]
    waiver_ip: Mapped[str] = mapped_column(String(45), default="")
    ticket_code: Mapped[str | None] = mapped_column(String(40), unique=True)
    bib: Mapped[int | None]
    checked_in_at: Mapped[datetime | None]
    waiver_signed_at_checkin: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    refunded_at: Mapped[datetime | None]
    # The refund asked for this ticket (set when an organizer asks; refunded_at once the money went back).
    refund_id: Mapped[int | None] = mapped_column(ForeignKey("refunds.id", ondelete="SET NULL"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # When anything about this ticket last changed, for the API's delta sync (`updated_since`). Every UPDATE
    # issued through SQLAlchemy sets it (ORM flushes and update() statements alike, as `onupdate`), and a change
    # of its order's status touches it too (below).
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow, server_default=func.now())
    # When the ticket counts as registered: its order's payment (`services/fulfillment.py` sets it with `paid_at`),
    # until then when it was put in the cart; transfers and distance changes keep it. The registrant list shows
    # and sorts by it, off ix_registrations_race_registered.
    registered_at: Mapped[datetime] = mapped_column(default=_created_at)
    # What the registrant search compares (models/search_key.py): set on INSERT, kept by the ORM on UPDATE.
    search_key: Mapped[str] = mapped_column(Text, default=key_default(*SEARCHED_FIELDS), server_default="")
    # The name sort's key (services/registrants/query.py), computed by the database: the last name, a tab (which no
    # name holds), the first name, each lower-cased. One key sorts faster than two; on Postgres it is compared byte
    # by byte (the "C" collation), the code point order a C.UTF-8 database (hosted Supabase's) gave the two names.
    # On SQLite a virtual column (migrations/versions/perf_name_key.py).
    name_key: Mapped[str] = mapped_column(Text().with_variant(Text(collation="C"), "postgresql"),
                                          Computed("lower(last_name) || '\t' || lower(first_name)", persisted=True))

    order: Mapped[Order] = relationship(back_populates="registrations", lazy="raise")
    ticket_type: Mapped[TicketType] = relationship(lazy="raise")

    @property
    def awaiting_runner(self) -> bool:
        """Bought for a runner who fills in their own details, and they have not yet."""
        return self.runner_fills_in and self.runner_details_at is None

    @property
    def runner_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


@event.listens_for(Registration, "before_update")
def _refresh_registration_search_key(mapper, connection, registration: Registration) -> None:
    """A corrected name or email is found under its new spelling (a bulk UPDATE of these fields must do the same)."""
    key = search_key(*(getattr(registration, name) for name in SEARCHED_FIELDS))
    if registration.search_key != key:
        registration.search_key = key


@event.listens_for(Registration, "before_insert")
def _copy_order_status(mapper, connection, registration: Registration) -> None:
    """A new ticket takes its order's status: the order's as loaded in the session (the cart it is added to), else
    read in the INSERT itself."""
    if registration.order_status is None:
        order = object_session(registration).identity_map.get(identity_key(Order, registration.order_id))
        registration.order_status = (order.status if order is not None else
                                     select(Order.status).where(Order.id == registration.order_id).scalar_subquery())


@event.listens_for(Order, "after_update")
def _touch_registrations_of_changed_order(mapper, connection, order: Order) -> None:
    """A ticket's status is its order's (paid, refunded, ...): when the order's status changes, its tickets take the
    new status (Registration.order_status) and count as changed for the API's delta sync, as a change of their own
    row does (Registration.updated_at)."""
    if inspect(order).attrs.status.history.has_changes():
        connection.execute(tickets_touched(order.id, order.status, utcnow()))


def tickets_touched(order_id, status, at):
    """The UPDATE that gives an order's tickets its new `status` and marks them changed at `at` (values or bound
    parameters): for the hook above, and for checkout's Core writes of an order's status (services/checkout.py),
    which no flush sees."""
    registrations = Registration.__table__
    return (registrations.update().where(registrations.c.order_id == order_id)
            .values(order_status=status, updated_at=at))


# "Might this person have something in a cart?" (the header's cart badge): a cart of theirs, for any race. Deferred,
# so lists of profiles don't pay for it; the signed-in user's profile is loaded with it undeferred, in the same SELECT
# (services/auth/access_tokens.profile_for_claims), so that the page of someone without a cart spends no query on
# the badge (blueprints/cart_owner.viewers_cart_contents).
Profile.has_cart = column_property(
    exists().where(Order.buyer_id == Profile.id, Order.status == OrderStatus.CART).correlate_except(Order),
    deferred=True)
