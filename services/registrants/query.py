"""The one race-scoped query of a race's registrants, with its search, filters, sort and pages.

Every read of registrants goes through `registrants_query(race_id)`, so a registration of another
race can never be reached under this race's address.
"""
from __future__ import annotations

import base64
import json
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, and_, case, false, func, literal_column, or_, select, true
from sqlalchemy.orm import Session, aliased

from models import Order, OrderStatus, Profile, Registration, TicketType, WaiverVersion
from models.order import holding_at
from services import clock
from services.runners import tidy
from services.search import matches_pattern, typed_pattern
from services.typed_input import is_whole_number

PER_PAGE = 50
CODE_RE = re.compile(r"^[A-Za-z0-9_-]{8,40}$")

STATUSES = {"paid": _l("Paid"), "needs_refund": _l("Needs refund"), "refunded": _l("Refunded"),
            "pending": _l("Pending payment"), "all": _l("Any status")}
SORTS = {"name": _l("Name"), "ticket": _l("Ticket"), "bib": _l("Bib"), "registered": _l("Registered")}
# Whether the runner's own details are in: bought with "Let them fill in and sign", and not filled in yet.
DETAILS = {"": _l("Either"), "pending": _l("Pending"), "complete": _l("Complete")}


# --- the one scoped query ------------------------------------------------------------------

def registrants_query(race_id: int, *columns, now: datetime | None = None, listed_only: bool = True,
                      ticket_type: bool = True, order_race: bool = True, registration_race: bool = True,
                      order_joined: bool = True) -> Select:
    """SELECT `columns` (default: Registration) FROM this race's registrations, joined to their order and ticket type.

    Listed registrants are those past the cart: paid, needing a refund, refunded, or pending with a live
    reservation. `listed_only=False` keeps every registration of the race (for checks against constraints
    that span all of them, like a bib number).

    The race is named on the registration, its order and its ticket type (which are always of its race). The
    list's counts and pages leave out the ticket type (`ticket_type=False`: they know the race's few types), and
    its pages the order's race too (`order_race=False`): Postgres takes the conditions for independent, expects
    a tenth of the race's rows, and would sort them all rather than read the sort's index in order. A search's
    matches leave out the registration's (`registration_race=False`): they are the race's already
    (services/registrants/search.py), and Postgres, knowing nothing of them, would expect the condition to keep
    almost none and plan the joins for one row.

    Without `order_joined` the order is not joined: its status is the copy on the ticket (Registration.order_status,
    for `status_condition` and `status_column` too), and only a pending one's hold is looked up in it. For a search,
    whose matches would each cost a lookup of their order.
    """
    query = select(*(columns or (Registration,))).select_from(Registration)
    if order_joined:
        query = query.join(Order, Order.id == Registration.order_id)
    query = query.where(*([Registration.race_id == race_id] if registration_race else []),
                        *([Order.race_id == race_id] if order_race and order_joined else []))
    if ticket_type:
        query = query.join(TicketType, TicketType.id == Registration.ticket_type_id).where(TicketType.race_id == race_id)
    if listed_only:
        now = clock.now() if now is None else now
        status = Order.status if order_joined else Registration.order_status
        holding = (holding_at(now) if order_joined else and_(
            status == OrderStatus.PENDING, select(Order.id).where(Order.id == Registration.order_id,
                                                                  Order.race_id == race_id, holding_at(now))
            .correlate(Registration).exists()))
        query = query.where(or_(status.in_([OrderStatus.PAID, OrderStatus.NEEDS_REFUND, OrderStatus.REFUNDED]), holding))
    return query


def status_condition(status: str, order_status=Order.status):
    """SQL condition for one of STATUSES, agreeing with `registrant_status`: the four statuses part the list, and
    a ticket refunded on its own counts as refunded, not paid. `order_status`: the order's, or the ticket's copy."""
    not_refunded = Registration.refunded_at.is_(None)
    return {
        "paid": and_(order_status == OrderStatus.PAID, not_refunded),
        "refunded": or_(order_status == OrderStatus.REFUNDED, Registration.refunded_at.is_not(None)),
        "needs_refund": and_(order_status == OrderStatus.NEEDS_REFUND, not_refunded),
        "pending": and_(order_status == OrderStatus.PENDING, not_refunded),
        "all": true(),
    }[status]


# The statuses whose condition names listed registrants only (an order paid, or needing a refund): a query that
# has one needs no `listed_only` condition besides, and Postgres plans it a quarter sooner.
LISTED_BY_STATUS = frozenset({"paid", "needs_refund"})


def status_column(order_status=Order.status):
    """SQL for `registrant_status`, to count a list's registrants by status in the same query."""
    return case((status_condition("refunded", order_status), "refunded"), else_=order_status)


def awaiting_runner_condition():
    """SQL for `Registration.awaiting_runner`: bought for a runner who fills in their own details, not done yet."""
    return and_(Registration.runner_fills_in.is_(True), Registration.runner_details_at.is_(None))


def registrant_status(order_status: OrderStatus, refunded_at: datetime | None) -> str:
    """The status shown for one ticket: paid, needs_refund, refunded or pending."""
    if refunded_at is not None or order_status == OrderStatus.REFUNDED:
        return "refunded"
    return OrderStatus(order_status).value


def search_text(text: str | None, limit: int = 200) -> str:
    """What was typed into a search box, without control characters (Postgres refuses NUL in text)."""
    return " ".join("".join(ch for ch in tidy(text) if unicodedata.category(ch) != "Cc").split())[:limit]


def search_words(q: str) -> list[tuple[str, str]]:
    """What each word of a search (at most 8) looks for, as (kind, word): "bib" for a number, "none" for a number
    too long to be a bib (nothing has it), "text" for a word in the names or email or a whole ticket code. A
    ticket link pasted or scanned from a QR code is its last part, the code."""
    words = []
    for term in q.split()[:8]:
        if "/tickets/" in term:
            term = term.rstrip("/").rsplit("/", 1)[-1]
        if is_whole_number(term):
            words.append(("bib" if len(term) <= 9 else "none", term))
        else:
            words.append(("text", term))
    return words


def word_condition(kind: str, word, pattern):
    """SQL condition for one search word of `kind` (`search_words`): a bib equal to `word`; or `pattern` (the
    word's `typed_pattern`) in the names or email (any case, with or without accents), or a ticket code equal to
    `word`. The values, or bound parameters for a statement built once (services/registrants/search.py)."""
    if kind == "bib":
        return Registration.bib == word
    if kind == "text":
        return or_(matches_pattern(Registration.search_key, pattern), Registration.ticket_code == word)
    return false()


def search_condition(q: str):
    """Every word must match (`search_words`, `word_condition`)."""
    return and_(true(), *(word_condition(kind, int(word) if kind == "bib" else word, typed_pattern(word))
                          for kind, word in search_words(q)))


# --- listing -------------------------------------------------------------------------------

class BadFilter(ValueError):
    """A query-string value the registrant list can't use; the message is for the organizer."""


FOREIGN_TICKET = _l("That ticket type isn't part of this race.")


@dataclass(frozen=True)
class RegistrantFilters:
    """The registrant list's search, filters, sort and page, as a bookmarkable query string."""

    q: str = ""
    ticket: int | None = None
    status: str = "paid"
    checked_in: str = ""     # "", "yes" or "no"
    waiver: str = ""         # "", "none" or a waiver version id
    details: str = ""        # "", "pending" (waiting for the runner's own details) or "complete"
    sort: str = "name"
    dir: str = "asc"
    page: int = 1
    after: str = ""          # a cursor (`encode_cursor`): the page starts after that row ...
    before: str = ""         # ... or ends before it
    after_keys: tuple = field(default=(), compare=False, repr=False)
    before_keys: tuple = field(default=(), compare=False, repr=False)

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> RegistrantFilters:
        """Parse a query string; BadFilter says what is wrong with it."""
        q = search_text(args.get("q", ""))
        ticket_text = args.get("ticket", "").strip()
        if ticket_text and not is_whole_number(ticket_text):
            raise BadFilter(_("Pick a ticket type from the list."))
        status = args.get("status", "paid") or "paid"
        if status not in STATUSES:
            raise BadFilter(_("Pick a status from the list."))
        checked_in = args.get("checked_in", "")
        if checked_in not in ("", "yes", "no"):
            raise BadFilter(_("Pick checked in, not checked in, or either."))
        waiver = args.get("waiver", "").strip()
        if waiver and waiver != "none" and not is_whole_number(waiver, max_digits=9):  # an INTEGER id
            raise BadFilter(_("Pick a waiver version from the list."))
        details = args.get("details", "")
        if details not in DETAILS:
            raise BadFilter(_("Pick details waiting for the runner, complete, or either."))
        sort = args.get("sort", "name") or "name"
        if sort not in SORTS:
            raise BadFilter(_("Sort by name, ticket, bib or registration time."))
        direction = args.get("dir", "asc") or "asc"
        if direction not in ("asc", "desc"):
            raise BadFilter(_("Sort ascending or descending."))
        page_text = args.get("page", "1").strip() or "1"
        if not is_whole_number(page_text) or not 1 <= int(page_text) <= 100_000:
            raise BadFilter(_("The page number must be a whole number from 1."))
        after, before = args.get("after", "")[:1000], args.get("before", "")[:1000]
        if after and before:
            raise BadFilter(BAD_CURSOR)
        return cls(q=q, ticket=int(ticket_text) if ticket_text else None, status=status, checked_in=checked_in,
                   waiver=waiver, details=details, sort=sort, dir=direction, page=int(page_text), after=after,
                   before=before, after_keys=decode_cursor(after, sort) if after else (),
                   before_keys=decode_cursor(before, sort) if before else ())

    def args(self, *, keep_cursor: bool = False, **changes) -> dict[str, str | int]:
        """The query string for these filters (with `changes`), leaving out defaults so links stay short.

        A cursor belongs to one page of one list: it is kept only when asked for (this very page) or given."""
        values = replace(self, **changes) if keep_cursor else replace(self, **{"after": "", "before": "", **changes})
        defaults = RegistrantFilters()
        out = {}
        for name in ("q", "ticket", "status", "checked_in", "waiver", "details", "sort", "dir", "page", "after",
                     "before"):
            value = getattr(values, name)
            if value != getattr(defaults, name) and value not in (None, ""):
                out[name] = value
        return out

    @property
    def narrowed(self) -> bool:
        """Whether the search or a filter beyond status and details narrows the list (those two say so themselves)."""
        return bool(self.q or self.ticket or self.checked_in or self.waiver)

    def sort_link(self, column: str) -> dict:
        """Args for a column header: sort by it, or flip the direction if it is already the sort."""
        direction = "desc" if self.sort == column and self.dir == "asc" else "asc"
        return self.args(sort=column, dir=direction, page=1)

    def aria_sort(self, column: str) -> str | None:
        if self.sort != column:
            return None
        return "ascending" if self.dir == "asc" else "descending"


# Runners without a bib come last either way: their missing bib sorts as the largest one going up and as the
# smallest going down (literals, so the expressions are exactly those of the bib indexes).
_NO_BIB = {"asc": literal_column("2147483647"), "desc": literal_column("-1")}


def sort_keys(filters: RegistrantFilters) -> list:
    """The list's sort as SQL expressions, all in one direction and never NULL, ending with the id so that no two
    rows tie: a page ends at one row's keys, and the next page starts after them (keyset paging)."""
    return {
        "name": [Registration.name_key],
        "ticket": [TicketType.position, TicketType.name, Registration.name_key],
        "bib": [func.coalesce(Registration.bib, _NO_BIB[filters.dir])],
        "registered": [Registration.registered_at],
    }[filters.sort] + [Registration.id]


def order_by(filters: RegistrantFilters, *, backwards: bool = False) -> list:
    """ORDER BY for the list's sort (`backwards`: the other way, to read the rows before a point)."""
    descending = (filters.dir == "desc") != backwards
    return [key.desc() if descending else key.asc() for key in sort_keys(filters)]


# --- cursors: where a page starts, in its link ----------------------------------------------

# The Python type of each sort's keys, in the order of `sort_keys`.
_CURSOR_TYPES = {"name": (str, int), "ticket": (int, str, str, int), "bib": (int, int),
                 "registered": (datetime, int)}
BAD_CURSOR = _l("That page link is broken or out of date. Start again from the first page.")


def encode_cursor(keys: tuple) -> str:
    """A row's sort keys as a short URL-safe text."""
    plain = [value.isoformat() if isinstance(value, datetime) else value for value in keys]
    return base64.urlsafe_b64encode(json.dumps(plain, separators=(",", ":"), ensure_ascii=False).encode()).decode(
        ).rstrip("=")


def decode_cursor(text: str, sort: str) -> tuple:
    """The sort keys in a cursor made for `sort`; BadFilter if it is not one."""
    return decode_keys(text, _CURSOR_TYPES[sort])


def decode_keys(text: str, types: tuple[type, ...]) -> tuple:
    """The keys in a cursor (`encode_cursor`) of values of `types`; BadFilter if it is not one."""
    try:
        values = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode())
    except (ValueError, UnicodeDecodeError) as problem:
        raise BadFilter(BAD_CURSOR) from problem
    if not isinstance(values, list) or len(values) != len(types):
        raise BadFilter(BAD_CURSOR)
    return tuple(_cursor_key(value, kind) for value, kind in zip(values, types, strict=True))


def _cursor_key(value, kind: type):
    """One sort key of a cursor as `kind`, or BadFilter: the text in a link is anyone's to change."""
    if kind is datetime:
        try:
            moment = datetime.fromisoformat(value) if isinstance(value, str) else None
            if moment is not None and moment.tzinfo is not None:
                return moment.astimezone(UTC)
        except (ValueError, OverflowError) as problem:
            raise BadFilter(BAD_CURSOR) from problem
    elif kind is int:
        if type(value) is int and -2**31 <= value < 2**31:  # ids, bibs and positions: Postgres INTEGERs
            return value
    elif isinstance(value, str) and len(value) <= 500 and "\x00" not in value:
        try:
            value.encode()  # a lone surrogate (\udcff) is no text the database could compare
        except UnicodeEncodeError as problem:
            raise BadFilter(BAD_CURSOR) from problem
        return value
    raise BadFilter(BAD_CURSOR)


def filtered(query: Select, filters: RegistrantFilters) -> Select:
    """Apply search and filters (not sorting or paging) to a registrants query."""
    query = filtered_but_status_and_details(query, filters).where(status_condition(filters.status))
    if filters.details == "pending":
        query = query.where(awaiting_runner_condition())
    elif filters.details == "complete":
        query = query.where(~awaiting_runner_condition())
    return query


def filtered_but_status_and_details(query: Select, filters: RegistrantFilters) -> Select:
    """Apply the search and every filter but status and details, to count what each status holds (and how many
    of those wait for their runner's details) in one query."""
    if filters.q:
        query = query.where(search_condition(filters.q))
    if filters.ticket is not None:
        query = query.where(Registration.ticket_type_id == filters.ticket)
    if filters.checked_in == "yes":
        query = query.where(Registration.checked_in_at.is_not(None))
    elif filters.checked_in == "no":
        query = query.where(Registration.checked_in_at.is_(None))
    if filters.waiver == "none":
        query = query.where(Registration.waiver_version_id.is_(None))
    elif filters.waiver:
        query = query.where(Registration.waiver_version_id == int(filters.waiver))
    return query


def race_ticket_types(session: Session, race_id: int) -> list[TicketType]:
    return list(session.scalars(select(TicketType).where(TicketType.race_id == race_id)
                                .order_by(TicketType.position, TicketType.id)))


def race_waivers(session: Session, race_id: int) -> list[WaiverVersion]:
    return list(session.scalars(select(WaiverVersion).where(WaiverVersion.race_id == race_id)
                                .order_by(WaiverVersion.number)))


# --- one registrant ------------------------------------------------------------------------

@dataclass(frozen=True)
class Registrant:
    """One registration with everything its page shows."""

    registration: Registration
    ticket_type: TicketType
    order: Order
    buyer: Profile
    waiver: WaiverVersion | None

    @property
    def status(self) -> str:
        return registrant_status(self.order.status, self.registration.refunded_at)

    @property
    def can_check_in(self) -> bool:
        return self.status == "paid" and self.registration.ticket_code is not None


def _registrant(session: Session, race_id: int, *conditions) -> Registrant | None:
    buyer = aliased(Profile)
    row = session.execute(
        registrants_query(race_id, Registration, TicketType, Order, buyer, WaiverVersion)
        .join(buyer, buyer.id == Order.buyer_id)
        .outerjoin(WaiverVersion, WaiverVersion.id == Registration.waiver_version_id)
        .where(*conditions)).first()
    return Registrant(*row) if row else None


def registration_for_race(session: Session, race_id: int, registration_id: int) -> Registrant | None:
    """This race's registrant with that id, or None (also for another race's registration)."""
    return _registrant(session, race_id, Registration.id == registration_id)


def registration_by_code(session: Session, race_id: int, code: str) -> Registrant | None:
    """This race's registrant with that ticket code, or None."""
    if not CODE_RE.match(code or ""):
        return None
    return _registrant(session, race_id, Registration.ticket_code == code)
