"""The API's request and response shapes (pydantic): the same classes validate each request and response and
make the OpenAPI document (spectree), so the document can't drift from what the code accepts and answers."""
from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from services.registrants.checkin_sync import MAX_CODE, MAX_ITEMS, OUTCOMES
from services.registrants.query import DETAILS, SORTS, STATUSES

Cursor = Annotated[str, Field(max_length=1000, description="`next_cursor` of the previous page; empty for the first")]
Limit = Annotated[int, Field(ge=1, le=100, description="rows per page")]


class Shape(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Asked(Shape):
    """What a caller sends (a query or a body): no text with a NUL in it, which no database column can hold (on
    Postgres it would fail the statement, a 500), so it is a 422 for its field like any other bad value."""

    @field_validator("*")
    @classmethod
    def _no_nul(cls, value):
        if isinstance(value, str) and "\x00" in value:
            raise PydanticCustomError("string_nul", "text with a NUL character")
        return value


# --- errors ----------------------------------------------------------------------------------

class FieldProblem(Shape):
    field: str = Field(description="the query parameter or body field")
    detail: str = Field(description="what is wrong with it, as the page says it")


class Problem(BaseModel):
    """An RFC 9457 problem document, served as `application/problem+json`."""

    type: str = "about:blank"
    title: str = Field(description="the HTTP status phrase")
    status: int
    detail: str = Field(description="what went wrong, in the words the pages use")
    instance: str
    errors: list[FieldProblem] | None = Field(None, description="one entry per bad field (422)")
    request_id: str | None = Field(None, description="for a 5xx: quote it when you report the problem")


# --- auth ------------------------------------------------------------------------------------

class TokenRequest(Asked):
    """`grant_type=password` with email and password, or `grant_type=refresh_token` with a refresh token."""

    grant_type: Literal["password", "refresh_token"]
    email: str | None = Field(None, max_length=320)
    password: str | None = Field(None, max_length=200)
    refresh_token: str | None = Field(None, max_length=2000)


class TokenResponse(Shape):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="seconds the access token is good for")


# --- races -----------------------------------------------------------------------------------

class RaceQuery(Asked):
    q: str = Field("", max_length=1000, description="words in the title, place, address or summary")
    month: str = Field("", max_length=20, description="YYYY-MM: races starting that month", examples=["2027-04"])
    when: Literal["upcoming", "past"] = "upcoming"
    after: Cursor = ""
    limit: Limit = 24


class Money(Shape):
    amount: int = Field(description="in minor units (cents)")
    currency: str


class TicketTypeOut(Shape):
    id: int
    name: str
    description: str
    price: Money = Field(description="today's price (price steps applied)")
    next_price: Money | None = Field(description="the next price step's price, if one follows")
    next_price_on: date | None = Field(description="the day the next price step starts, if it goes by date")
    spots_left: int
    on_sale: bool
    sold_out: bool
    min_age: int | None
    max_age: int | None


class RaceSummary(Shape):
    slug: str
    title: str
    summary: str
    starts_at: datetime
    timezone: str
    location_name: str
    address: str
    status: Literal["draft", "published", "closed"]
    price_from: Money | None = Field(description="the cheapest ticket not sold out, today")
    spots_left: int
    sold_out: bool
    url: str = Field(description="the race's page")


class RaceDetail(RaceSummary):
    description_html: str = Field(description="the description, rendered and sanitized")
    registration_closes_at: datetime | None
    ticket_types: list[TicketTypeOut]


class RaceList(Shape):
    items: list[RaceSummary]
    next_cursor: str | None = Field(description="pass as `after` for the next page; null on the last")


# --- the caller's orders and tickets ---------------------------------------------------------

class PageQuery(Asked):
    after: Cursor = ""
    limit: Limit = 50


class RaceRef(Shape):
    slug: str
    title: str
    starts_at: datetime
    timezone: str


class TicketOut(Shape):
    code: str = Field(description="the ticket's unguessable code")
    qr_payload: str = Field(description="what the ticket's QR code holds: the ticket page's address")
    url: str
    race: RaceRef
    ticket_type: str
    runner_name: str
    bib: int | None
    status: Literal["paid", "needs_refund", "refunded", "pending"]
    checked_in_at: datetime | None


class TicketList(Shape):
    items: list[TicketOut]


class OrderOut(Shape):
    id: uuid.UUID
    race: RaceRef
    status: Literal["pending", "paid", "expired", "canceled", "refunded", "needs_refund"]
    subtotal: Money
    discount: Money
    tax: Money
    total: Money
    created_at: datetime
    paid_at: datetime | None
    tickets: list[TicketOut]


class OrderList(Shape):
    items: list[OrderOut]
    next_cursor: str | None


# --- organizers ------------------------------------------------------------------------------

def _one_of(choices, description: str):
    # The values are checked by the registrant list's own parser (its messages are the page's); the document
    # still lists them.
    return Field("", max_length=40, description=description, json_schema_extra={"enum": ["", *choices]})


class RegistrantQuery(Asked):
    q: str = Field("", max_length=1000, description="every word must match a name, email, bib or ticket code")
    ticket: str = Field("", max_length=20, description="a ticket type id", pattern=r"^\d*$")
    status: str = _one_of(STATUSES, "default `paid`; `all` by default with `updated_since`")
    checked_in: str = _one_of(("yes", "no"), "")
    waiver: str = Field("", max_length=20, description="`none` or a waiver version id", pattern=r"^(none|\d*)$")
    details: str = _one_of([d for d in DETAILS if d], "whether the runner's own details are in")
    sort: str = _one_of(SORTS, "default `name`; with `updated_since` always by change time")
    dir: str = _one_of(("asc", "desc"), "")
    updated_since: datetime | None = Field(None, description=(
        "only registrants changed at or after this moment (ISO 8601 with a time zone), oldest change first; "
        "also read from If-Modified-Since"))
    after: Cursor = ""
    limit: Limit = 50


class RegistrantOut(Shape):
    id: int
    first_name: str
    last_name: str
    email: str
    ticket_type_id: int
    ticket_type: str
    status: Literal["paid", "needs_refund", "refunded", "pending"]
    bib: int | None
    ticket_code: str | None
    checked_in_at: datetime | None
    waiver_version: int | None = Field(description="the number of the waiver version signed, if any")
    awaiting_runner: bool = Field(description="bought for a runner who hasn't filled in their own details yet")
    date_of_birth: date | None
    gender: str
    tshirt_size: str
    club: str
    registered_at: datetime
    updated_at: datetime


class RegistrantList(Shape):
    items: list[RegistrantOut]
    next_cursor: str | None = Field(description="pass as `after` (with the same filters) for the next page")
    updated_until: datetime | None = Field(description=(
        "the latest change among these rows, but never later than the sync's start minus 60 s (CHANGE_WINDOW: a "
        "change is stamped before it commits): the `updated_since` of your next sync once `next_cursor` is null; "
        "rows may come twice, so upsert them by `id`"))


class TicketTypeFiguresOut(Shape):
    id: int
    name: str
    capacity: int
    sold: int
    held: int
    offered: int
    waiting: int
    left: int


class MoneyFigures(Shape):
    currency: str
    orders: int
    subtotal: int
    discount: int
    tax: int
    total: int
    refunded_total: int
    net: int
    tax_included: bool


class DayCountOut(Shape):
    day: date
    count: int
    cumulative: int


class Dashboard(Shape):
    race: RaceRef
    runners: int
    checked_in: int
    awaiting_runners: int
    held: int
    capacity: int
    days_to_go: int
    ticket_types: list[TicketTypeFiguresOut]
    money: MoneyFigures
    timeline: list[DayCountOut]


# --- check-in (the organizer's phone, offline) ------------------------------------------------

class RosterRace(Shape):
    id: int
    title: str
    timezone: str
    race_day: date = Field(description="the race's day, in its own timezone")
    keep_until: date = Field(description="forget the roster after this day")


class RosterMessages(Shape):
    """What the desk says when it turns a ticket away, for the device to say the same offline."""

    refunded: str
    not_paid: str
    unknown: str
    waiver_missing: str


class RosterRunner(Shape):
    id: int
    code: str = Field(description="the ticket's code (its QR code holds the ticket page's address, ending in it)")
    name: str
    bib: int | None
    ticket: str = Field(description="the ticket type's name")
    status: Literal["paid", "needs_refund", "refunded", "pending"]
    waiver: Literal["ok", "missing"]
    checked_in_at: datetime | None


class Roster(Shape):
    race: RosterRace
    messages: RosterMessages
    runners: list[RosterRunner] = Field(description="every paid ticket, and the refunded ones to turn away")


class CheckInItem(Asked):
    id: uuid.UUID = Field(description="made on the device: the same item sent again counts once")
    ticket_code: str = Field(min_length=1, max_length=MAX_CODE, pattern=r"\S")
    action: Literal["check_in", "undo"]
    at: AwareDatetime = Field(description="the device's time of the tap, with its offset")


class CheckInBatch(Asked):
    items: list[CheckInItem] = Field(max_length=MAX_ITEMS, description=f"at most {MAX_ITEMS}; more is a 413")


class CheckInResult(Shape):
    id: uuid.UUID
    ticket_code: str
    outcome: Literal[OUTCOMES]
    message: str = Field(description="what the desk would have said")
    duplicate: bool = Field(description="this item was received before; the answer is the one given then")


class CheckInResults(Shape):
    results: list[CheckInResult] = Field(description="one per item, in order")
    runners: list[RosterRunner] = Field(description="the named runners' state now, as in the roster")
