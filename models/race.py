"""Race, its ticket types and its social links: what a runner can sign up for."""
from __future__ import annotations

import enum
import uuid
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Enum,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    event,
    literal,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, utcnow
from models.profile import Profile
from models.search_key import key_default, search_key


class RaceStatus(enum.StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    CLOSED = "closed"


class TaxMode(enum.StrEnum):
    NONE = "none"
    INCLUSIVE = "inclusive"      # prices already contain the tax
    EXCLUSIVE = "exclusive"      # tax is added on top of prices
    STRIPE = "stripe"            # Stripe Tax calculates it at checkout


class _WrittenEnum(Enum):
    """An Enum whose members, compared with its column in a query, are written into the statement's text
    (`status = 'paid'`), not sent as values.

    Postgres plans a prepared statement once for any values (its generic plan) only when that plan looks no dearer
    than one made for the values at hand. With a status sent as a value, a generic plan could neither use the
    partial indexes made for one status (the pending orders', the refunds') nor tell the common status from the
    rare, so statements of the registrant list and of checkout were planned afresh at every run, the planning
    costing Postgres more than the run (issue 17; tests/test_generic_plans.py). A status has a handful of values:
    a statement's text per value it is compared with, each prepared once.

    SQLAlchemy refuses a written value in a statement run with a list of parameter sets (executemany): compare
    with `bindparam(...)` in such a statement instead.
    """

    cache_ok = True

    class comparator_factory(Enum.Comparator):
        def operate(self, op, *other, **kwargs):
            return super().operate(op, *(self._written(each) for each in other), **kwargs)

        def _written(self, value):
            if isinstance(value, enum.Enum):
                return literal(value, self.type, literal_execute=True)
            if isinstance(value, (list, tuple, set, frozenset)):  # in_(...)
                return [self._written(each) for each in value]
            return value


def _enum(cls, name):
    # Stored as plain strings (no native enum type) so adding a value needs no DDL dance.
    return _WrittenEnum(cls, name=name, native_enum=False, length=20,
                        values_callable=lambda e: [m.value for m in e], validate_strings=True)


SEARCHED_RACE_FIELDS = ("title", "location_name", "address", "summary")


class Race(Base):
    __tablename__ = "races"
    __table_args__ = (
        CheckConstraint("tax_rate_bps >= 0 AND tax_rate_bps <= 10000", name="tax_rate_range"),
        CheckConstraint("waitlist_hold_hours >= 1 AND waitlist_hold_hours <= 168", name="waitlist_hold_range"),
        CheckConstraint("transfer_fee >= 0", name="transfer_fee_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    organizer_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("profiles.id"), index=True)
    title: Mapped[str] = mapped_column(String(120))
    summary: Mapped[str] = mapped_column(String(280), default="")
    description: Mapped[str] = mapped_column(Text, default="")  # Markdown, as the organizer typed it
    # The description as sanitized HTML (services/markdown.py), rendered where the description is saved
    # so the race page never renders Markdown per request.
    description_html: Mapped[str] = mapped_column(Text, default="", server_default="")
    # The language the organizer writes the race in: its pages' language for a visitor whose browser asks for
    # none we have, its share previews', and the language of `description` and the first waiver.
    language: Mapped[str] = mapped_column(String(8), default="en", server_default="en")
    starts_at: Mapped[datetime] = mapped_column(index=True)      # UTC
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")  # IANA name
    location_name: Mapped[str] = mapped_column(String(160), default="")
    address: Mapped[str] = mapped_column(String(300), default="")
    status: Mapped[RaceStatus] = mapped_column(_enum(RaceStatus, "race_status"),
                                               default=RaceStatus.DRAFT, index=True)
    registration_closes_at: Mapped[datetime | None]
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    tax_mode: Mapped[TaxMode] = mapped_column(_enum(TaxMode, "tax_mode"), default=TaxMode.NONE)
    tax_rate_bps: Mapped[int] = mapped_column(Integer, default=0)  # 8.25 % is 825
    tax_label: Mapped[str] = mapped_column(String(40), default="")
    tshirt_sizes: Mapped[str] = mapped_column(String(200), default="XS,S,M,L,XL,XXL")
    ask_gender: Mapped[bool] = mapped_column(Boolean, default=False)  # only when the organizer asks for it
    cover_image: Mapped[str] = mapped_column(String(500), default="")  # storage key
    # The widths the cover can be had at: its smaller WebP copies', then its own ("480,960,1600,2000",
    # services/media.py); "" for a cover without copies.
    cover_widths: Mapped[str] = mapped_column(String(40), default="", server_default="")
    # The Stripe TaxRate made for the fixed rate, and the settings it was made for.
    stripe_tax_rate_id: Mapped[str] = mapped_column(String(255), default="")
    stripe_tax_rate_key: Mapped[str] = mapped_column(String(200), default="")
    is_sample: Mapped[bool] = mapped_column(Boolean, default=False)
    # The waitlist (services/waitlist.py): how long an offer holds its spots, and whether offers go out.
    waitlist_hold_hours: Mapped[int] = mapped_column(Integer, default=24, server_default="24")
    waitlist_paused: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    # Transfers to another runner and distance changes (services/registration_changes): each allowed
    # until its own date, or the sign-up deadline when none is set.
    transfers_enabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    transfers_until: Mapped[datetime | None]
    transfer_fee: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # minor units
    transfer_keeps_bib: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    distance_changes_enabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    distance_changes_until: Mapped[datetime | None]
    # A cheaper distance: send the difference back, or keep it.
    distance_refund_difference: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    # Bumped on every edit so a stale editor tab can be told instead of overwriting.
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # What the race list search compares (models/search_key.py): set on INSERT, kept by the ORM on UPDATE.
    search_key: Mapped[str] = mapped_column(Text, default=key_default(*SEARCHED_RACE_FIELDS), server_default="")

    organizer: Mapped[Profile] = relationship(lazy="raise")
    ticket_types: Mapped[list[TicketType]] = relationship(
        back_populates="race", order_by="TicketType.position, TicketType.id",
        cascade="all, delete-orphan", lazy="raise")
    social_links: Mapped[list[RaceSocialLink]] = relationship(
        order_by="RaceSocialLink.position, RaceSocialLink.id",
        cascade="all, delete-orphan", lazy="raise")

    def touch(self) -> None:
        """Count a change to the race or to what its page shows (child rows, cover): the editor's conflict
        check and the public page's cache key (services/page_cache.py) read `version`."""
        self.version = (self.version or 0) + 1

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def is_published(self) -> bool:
        return self.status == RaceStatus.PUBLISHED

    @property
    def tshirt_size_list(self) -> list[str]:
        return [s.strip() for s in self.tshirt_sizes.split(",") if s.strip()]

    def __repr__(self) -> str:
        return f"<Race {self.slug}>"


@event.listens_for(Race, "before_update")
def _refresh_race_search_key(mapper, connection, race: Race) -> None:
    """An edited title or place is found under its new wording (a bulk UPDATE of these fields must do the same)."""
    key = search_key(*(getattr(race, name) for name in SEARCHED_RACE_FIELDS))
    if race.search_key != key:
        race.search_key = key


class TicketType(Base):
    __tablename__ = "ticket_types"
    __table_args__ = (
        CheckConstraint("price >= 0", name="price_not_negative"),
        CheckConstraint("capacity >= 0", name="capacity_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    race_id: Mapped[int] = mapped_column(ForeignKey("races.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(80))
    description: Mapped[str] = mapped_column(String(280), default="")
    price: Mapped[int] = mapped_column(Integer, default=0)  # minor units of race.currency
    capacity: Mapped[int] = mapped_column(Integer, default=100)
    min_age: Mapped[int | None]
    max_age: Mapped[int | None]
    sales_start: Mapped[datetime | None]
    sales_end: Mapped[datetime | None]
    position: Mapped[int] = mapped_column(Integer, default=0)
    hidden: Mapped[bool] = mapped_column(Boolean, default=False)
    # Tickets holding a spot for good (paid, not refunded), and tickets of orders at the payment step (pending, not
    # refunded, whether or not their hold has run out yet): kept by services.inventory in every transaction that
    # changes them, so the capacity rule never counts all of a race's registrations, nor walks its pending orders.
    sold_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    held_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    race: Mapped[Race] = relationship(back_populates="ticket_types", lazy="raise")

    def __repr__(self) -> str:
        return f"<TicketType {self.name}>"


SOCIAL_KINDS = {
    "website": "Website", "instagram": "Instagram", "strava": "Strava", "facebook": "Facebook",
    "x": "X", "youtube": "YouTube", "tiktok": "TikTok", "threads": "Threads",
    "bluesky": "Bluesky", "linkedin": "LinkedIn",
}


class RaceSocialLink(Base):
    __tablename__ = "race_social_links"
    __table_args__ = (UniqueConstraint("race_id", "kind", name="uq_race_social_links_race_kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    race_id: Mapped[int] = mapped_column(ForeignKey("races.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    url: Mapped[str] = mapped_column(String(500))
    position: Mapped[int] = mapped_column(Integer, default=0)

    @property
    def label(self) -> str:
        return SOCIAL_KINDS.get(self.kind, self.kind.title())


class RaceText(Base):
    """The race's description in one more language than its own (`Race.language`'s is on the race): the
    editor's language tab writes it, the race page shows it to a visitor reading that language."""
    __tablename__ = "race_texts"
    __table_args__ = (UniqueConstraint("race_id", "language", name="uq_race_texts_race_language"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    race_id: Mapped[int] = mapped_column(ForeignKey("races.id", ondelete="CASCADE"), index=True)
    language: Mapped[str] = mapped_column(String(8))
    description: Mapped[str] = mapped_column(Text, default="")  # Markdown, as typed
    description_html: Mapped[str] = mapped_column(Text, default="")  # sanitized, rendered on save

    def __repr__(self) -> str:
        return f"<RaceText race={self.race_id} {self.language}>"
