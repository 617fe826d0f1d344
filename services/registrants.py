"""A race's registrants for its organizers: the one race-scoped query, search and filters, edits with
an audit trail, bib numbers, check-in, and the rows of the CSV export.

Every read of registrants goes through `registrants_query(race_id)`, so a registration of another
race can never be reached under this race's address.
"""
from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime

from sqlalchemy import Select, and_, false, func, insert, or_, select, true, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from models import Order, OrderStatus, Profile, Race, Registration, RegistrationAudit, TicketType, WaiverVersion
from services import clock
from services.money import minor_digits
from services.runners import (
    GENDERS,
    GUARDIAN_MAX,
    birth_date_problem,
    clean_email,
    email_problem,
    local_today,
    name_problem,
    phone_problem,
    tidy,
)

PER_PAGE = 50
BIB_MAX = 999_999
BIB_RANGE_MAX = 100_000
CODE_RE = re.compile(r"^[A-Za-z0-9_-]{8,40}$")

STATUSES = {"paid": "Paid", "needs_refund": "Needs refund", "refunded": "Refunded", "pending": "Pending payment",
            "all": "Any status"}
SORTS = {"name": "Name", "ticket": "Ticket", "bib": "Bib", "registered": "Registered"}


# --- the one scoped query ------------------------------------------------------------------

def registrants_query(race_id: int, *columns, now: datetime | None = None, listed_only: bool = True) -> Select:
    """SELECT `columns` (default: Registration) FROM this race's registrations, joined to their order and ticket type.

    Listed registrants are those past the cart: paid, needing a refund, refunded, or pending with a live
    reservation. `listed_only=False` keeps every registration of the race (for checks against constraints
    that span all of them, like a bib number).
    """
    query = (select(*(columns or (Registration,)))
             .select_from(Registration)
             .join(Order, Order.id == Registration.order_id)
             .join(TicketType, TicketType.id == Registration.ticket_type_id)
             .where(Registration.race_id == race_id, Order.race_id == race_id, TicketType.race_id == race_id))
    if listed_only:
        query = query.where(or_(
            Order.status.in_([OrderStatus.PAID, OrderStatus.NEEDS_REFUND, OrderStatus.REFUNDED]),
            and_(Order.status == OrderStatus.PENDING, Order.reserved_until > (now or clock.now()))))
    return query


def status_condition(status: str):
    """SQL condition for one of STATUSES. A ticket refunded on its own counts as refunded, not paid."""
    return {
        "paid": and_(Order.status == OrderStatus.PAID, Registration.refunded_at.is_(None)),
        "refunded": or_(Order.status == OrderStatus.REFUNDED, Registration.refunded_at.is_not(None)),
        "needs_refund": Order.status == OrderStatus.NEEDS_REFUND,
        "pending": Order.status == OrderStatus.PENDING,
        "all": true(),
    }[status]


def registrant_status(order_status: OrderStatus, refunded_at: datetime | None) -> str:
    """The status shown for one ticket: paid, needs_refund, refunded or pending."""
    if refunded_at is not None or order_status == OrderStatus.REFUNDED:
        return "refunded"
    return OrderStatus(order_status).value


def is_whole_number(text: str) -> bool:
    """ASCII digits only: str.isdigit() also says yes to "²" and "١٢", which int() may refuse or misread."""
    return bool(text) and text.isascii() and text.isdigit()


def search_text(text: str | None, limit: int = 200) -> str:
    """What was typed into a search box, without control characters (Postgres refuses NUL in text)."""
    return " ".join("".join(ch for ch in tidy(text) if unicodedata.category(ch) != "Cc").split())[:limit]


def _like(term: str) -> str:
    return "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def search_condition(q: str):
    """Every word must match: a number is a bib; other words match names, email or a ticket code."""
    conditions = []
    for term in q.split()[:8]:
        if "/tickets/" in term:  # a ticket link pasted or scanned from a QR code
            term = term.rstrip("/").rsplit("/", 1)[-1]
        if is_whole_number(term):
            conditions.append(Registration.bib == int(term) if len(term) <= 9 else false())
            continue
        pattern = _like(term)
        conditions.append(or_(Registration.first_name.ilike(pattern, escape="\\"),
                              Registration.last_name.ilike(pattern, escape="\\"),
                              Registration.email.ilike(pattern, escape="\\"),
                              Registration.ticket_code == term))
    return and_(true(), *conditions)


# --- listing -------------------------------------------------------------------------------

class BadFilter(ValueError):
    """A query-string value the registrant list can't use; the message is for the organizer."""


@dataclass(frozen=True)
class RegistrantFilters:
    """The registrant list's search, filters, sort and page, as a bookmarkable query string."""

    q: str = ""
    ticket: int | None = None
    status: str = "paid"
    checked_in: str = ""     # "", "yes" or "no"
    waiver: str = ""         # "", "none" or a waiver version id
    sort: str = "name"
    dir: str = "asc"
    page: int = 1

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> RegistrantFilters:
        """Parse a query string; BadFilter says what is wrong with it."""
        q = search_text(args.get("q", ""))
        ticket_text = args.get("ticket", "").strip()
        if ticket_text and not is_whole_number(ticket_text):
            raise BadFilter("Pick a ticket type from the list.")
        status = args.get("status", "paid") or "paid"
        if status not in STATUSES:
            raise BadFilter("Pick a status from the list.")
        checked_in = args.get("checked_in", "")
        if checked_in not in ("", "yes", "no"):
            raise BadFilter("Pick checked in, not checked in, or either.")
        waiver = args.get("waiver", "").strip()
        if waiver and waiver != "none" and not is_whole_number(waiver):
            raise BadFilter("Pick a waiver version from the list.")
        sort = args.get("sort", "name") or "name"
        if sort not in SORTS:
            raise BadFilter("Sort by name, ticket, bib or registration time.")
        direction = args.get("dir", "asc") or "asc"
        if direction not in ("asc", "desc"):
            raise BadFilter("Sort ascending or descending.")
        page_text = args.get("page", "1").strip() or "1"
        if not is_whole_number(page_text) or not 1 <= int(page_text) <= 100_000:
            raise BadFilter("The page number must be a whole number from 1.")
        return cls(q=q, ticket=int(ticket_text) if ticket_text else None, status=status, checked_in=checked_in,
                   waiver=waiver, sort=sort, dir=direction, page=int(page_text))

    def args(self, **changes) -> dict[str, str | int]:
        """The query string for these filters (with `changes`), leaving out defaults so links stay short."""
        values = replace(self, **changes)
        defaults = RegistrantFilters()
        out = {}
        for name in ("q", "ticket", "status", "checked_in", "waiver", "sort", "dir", "page"):
            value = getattr(values, name)
            if value != getattr(defaults, name) and value not in (None, ""):
                out[name] = value
        return out

    @property
    def narrowed(self) -> bool:
        """Whether anything beyond the default (paid tickets) is filtered out."""
        return bool(self.q or self.ticket or self.checked_in or self.waiver)

    def sort_link(self, column: str) -> dict:
        """Args for a column header: sort by it, or flip the direction if it is already the sort."""
        direction = "desc" if self.sort == column and self.dir == "asc" else "asc"
        return self.args(sort=column, dir=direction, page=1)

    def aria_sort(self, column: str) -> str | None:
        if self.sort != column:
            return None
        return "ascending" if self.dir == "asc" else "descending"


def registered_at_column():
    return func.coalesce(Order.paid_at, Registration.created_at)


def _order_by(filters: RegistrantFilters) -> list:
    keys = {
        "name": [func.lower(Registration.last_name), func.lower(Registration.first_name)],
        "ticket": [TicketType.position, TicketType.name, func.lower(Registration.last_name),
                   func.lower(Registration.first_name)],
        "bib": [Registration.bib],
        "registered": [registered_at_column()],
    }[filters.sort]
    keys.append(Registration.id)  # a stable order, so pages never overlap
    ordered = [k.desc() if filters.dir == "desc" else k.asc() for k in keys]
    if filters.sort == "bib":  # runners without a bib come last either way
        ordered.insert(0, Registration.bib.is_(None))
    return ordered


def filtered(query: Select, filters: RegistrantFilters) -> Select:
    """Apply search and filters (not sorting or paging) to a registrants query."""
    query = query.where(status_condition(filters.status))
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


@dataclass(frozen=True)
class RegistrantRow:
    registration: Registration
    ticket_type_name: str
    status: str
    registered_at: datetime
    waiver_number: int | None


@dataclass
class RegistrantPage:
    rows: list[RegistrantRow]
    total: int
    page: int
    per_page: int = PER_PAGE
    pages: int = field(init=False)

    def __post_init__(self):
        self.pages = max(1, -(-self.total // self.per_page))

    @property
    def first_index(self) -> int:
        return 0 if not self.total else (self.page - 1) * self.per_page + 1

    @property
    def last_index(self) -> int:
        return min(self.page * self.per_page, self.total)


def registrant_page(session: Session, race_id: int, filters: RegistrantFilters, now: datetime,
                    per_page: int = PER_PAGE) -> RegistrantPage:
    """One page of registrants: a COUNT and one page query, however many there are."""
    total = session.scalar(filtered(registrants_query(race_id, func.count(Registration.id), now=now), filters))
    pages = max(1, -(-total // per_page))
    page = min(filters.page, pages)
    query = filtered(registrants_query(race_id, Registration, TicketType.name, Order.status, registered_at_column(),
                                       WaiverVersion.number, now=now)
                     .outerjoin(WaiverVersion, WaiverVersion.id == Registration.waiver_version_id), filters)
    rows = session.execute(query.order_by(*_order_by(filters)).limit(per_page).offset((page - 1) * per_page))
    return RegistrantPage(rows=[RegistrantRow(registration, name, registrant_status(status, registration.refunded_at),
                                              registered, number)
                                for registration, name, status, registered, number in rows],
                          total=total, page=page, per_page=per_page)


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


@dataclass(frozen=True)
class AuditLine:
    changed_at: datetime
    who: str
    field: str
    old_value: str
    new_value: str

    @property
    def label(self) -> str:
        return FIELD_LABELS.get(self.field, self.field.replace("_", " "))


def audit_lines(session: Session, registration: Registration) -> list[AuditLine]:
    """Who changed what on this registrant, newest first."""
    rows = session.execute(
        select(RegistrationAudit, Profile.full_name, Profile.email)
        .join(Profile, Profile.id == RegistrationAudit.profile_id)
        .where(RegistrationAudit.registration_id == registration.id)
        .order_by(RegistrationAudit.changed_at.desc(), RegistrationAudit.id.desc()))
    return [AuditLine(a.changed_at, name or email, a.field, a.old_value, a.new_value) for a, name, email in rows]


# --- editing, with an audit line per changed field -----------------------------------------

EDITABLE = ("first_name", "last_name", "email", "date_of_birth", "gender", "tshirt_size",
            "emergency_name", "emergency_phone")
FIELD_LABELS = {
    "first_name": "First name", "last_name": "Last name", "email": "Email", "date_of_birth": "Date of birth",
    "gender": "Gender", "tshirt_size": "T-shirt size", "emergency_name": "Emergency contact",
    "emergency_phone": "Emergency phone", "bib": "Bib", "checked_in": "Check-in",
}


class RegistrantRefused(Exception):
    """The edit breaks at least one rule; `problems` maps each field to its message. Nothing changed."""

    def __init__(self, problems: dict[str, str]):
        super().__init__(next(iter(problems.values())))
        self.problems = problems


def _as_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, date | datetime):
        return value.isoformat()
    return str(value)


def _audit(registration_id: int, editor_id: uuid.UUID, now: datetime, field_name: str, old, new) -> dict:
    return {"registration_id": registration_id, "profile_id": editor_id, "changed_at": now, "field": field_name,
            "old_value": _as_text(old), "new_value": _as_text(new)}


def edit_problems(values: Mapping[str, object], race: Race, registration: Registration, now: datetime) -> dict[str, str]:
    """What is wrong with an organizer's correction of a runner's details (the runner form's rules,
    except those about signing: the waiver stays as it was signed)."""
    problems: dict[str, str] = {}

    def note(name: str, message: str | None) -> None:
        if message and name not in problems:
            problems[name] = message

    note("first_name", name_problem(str(values.get("first_name", "")), "the runner's first name"))
    note("last_name", name_problem(str(values.get("last_name", "")), "the runner's last name"))
    note("email", email_problem(str(values.get("email", ""))))
    born = values.get("date_of_birth")
    note("date_of_birth", birth_date_problem(born if isinstance(born, date) else None, local_today(race, now)))
    gender = tidy(str(values.get("gender", "")))
    if gender and gender not in GENDERS and gender != registration.gender:
        note("gender", "Pick one of the options, or leave it empty.")
    size = str(values.get("tshirt_size", ""))
    if size and size not in race.tshirt_size_list and size != registration.tshirt_size:
        note("tshirt_size", "Pick a T-shirt size from the list.")
    note("emergency_name", name_problem(str(values.get("emergency_name", "")), "the emergency contact's name",
                                        limit=GUARDIAN_MAX))
    note("emergency_phone", phone_problem(str(values.get("emergency_phone", ""))))
    return problems


def update_registrant(session: Session, race: Race, registration: Registration, values: Mapping[str, object],
                      editor_id: uuid.UUID, now: datetime) -> list[str]:
    """Correct a runner's details; one audit line per changed field. Returns the changed fields. No commit."""
    problems = edit_problems(values, race, registration, now)
    if problems:
        raise RegistrantRefused(problems)
    cleaned = {
        "first_name": tidy(str(values["first_name"])), "last_name": tidy(str(values["last_name"])),
        "email": clean_email(str(values["email"])), "date_of_birth": values["date_of_birth"],
        "gender": tidy(str(values.get("gender", ""))), "tshirt_size": str(values.get("tshirt_size", "")),
        "emergency_name": tidy(str(values["emergency_name"])),
        "emergency_phone": " ".join(tidy(str(values["emergency_phone"])).split()),
    }
    audits = []
    for name in EDITABLE:
        old, new = getattr(registration, name), cleaned[name]
        if old != new:
            audits.append(_audit(registration.id, editor_id, now, name, old, new))
            setattr(registration, name, new)
    if audits:
        session.execute(insert(RegistrationAudit), audits)
    session.flush()
    return [a["field"] for a in audits]


# --- bibs ----------------------------------------------------------------------------------

class BibRefused(Exception):
    """A bib that can't be given; the message says why, for the organizer. The caller rolls back."""


def parse_bib(text: str) -> int | None:
    """"" → None (no bib); "1042" → 1042; anything else raises BibRefused."""
    text = (text or "").strip().lstrip("#")
    if not text:
        return None
    if not is_whole_number(text) or not 1 <= int(text) <= BIB_MAX:
        raise BibRefused(f"A bib is a whole number from 1 to {BIB_MAX:,}.")
    return int(text)


def bib_holder(session: Session, race_id: int, bib: int, except_id: int | None = None) -> Registration | None:
    query = registrants_query(race_id, listed_only=False).where(Registration.bib == bib)
    if except_id is not None:
        query = query.where(Registration.id != except_id)
    return session.scalar(query)


def set_bib(session: Session, race_id: int, registrant: Registrant, bib: int | None, editor_id: uuid.UUID,
            now: datetime) -> bool:
    """Give one registrant a bib (or take it away). Returns whether anything changed. No commit."""
    registration = registrant.registration
    if registration.bib == bib:
        return False
    if bib is not None:
        if registrant.status == "refunded":
            raise BibRefused("This ticket was refunded, so it gets no bib.")
        holder = bib_holder(session, race_id, bib, except_id=registration.id)
        if holder is not None:
            raise BibRefused(f"Bib {bib} is already taken by {holder.runner_name or 'another runner'}.")
    old = registration.bib
    registration.bib = bib
    try:
        session.flush()
    except IntegrityError:  # taken a moment ago by someone else; the caller rolls back
        raise BibRefused(f"Bib {bib} was just taken by another runner. Pick another number.") from None
    session.execute(insert(RegistrationAudit), [_audit(registration.id, editor_id, now, "bib", old, bib)])
    return True


@dataclass(frozen=True)
class BibAssignment:
    count: int
    first: int | None
    last: int | None


def assign_bibs(session: Session, race_id: int, ticket_type: TicketType, first: int, last: int,
                editor_id: uuid.UUID, now: datetime) -> BibAssignment:
    """Give every paid runner of one ticket type without a bib the free numbers of first…last, by name.

    All or nothing: if the free numbers are too few, BibRefused says so and nothing is assigned. No commit.
    """
    if not (1 <= first <= BIB_MAX and 1 <= last <= BIB_MAX):
        raise BibRefused(f"Bibs are whole numbers from 1 to {BIB_MAX:,}.")
    if last < first:
        raise BibRefused("The range goes from the smaller number to the bigger one, like 1000 to 1999.")
    if last - first + 1 > BIB_RANGE_MAX:
        raise BibRefused(f"Use a range of at most {BIB_RANGE_MAX:,} numbers.")
    waiting = list(session.scalars(
        registrants_query(race_id, Registration.id, now=now)
        .where(status_condition("paid"), Registration.ticket_type_id == ticket_type.id, Registration.bib.is_(None))
        .order_by(func.lower(Registration.last_name), func.lower(Registration.first_name), Registration.id)))
    if not waiting:
        raise BibRefused(f"Every paid {ticket_type.name} runner already has a bib.")
    used = set(session.scalars(registrants_query(race_id, Registration.bib, listed_only=False)
                               .where(Registration.bib.between(first, last))))
    free_count = (last - first + 1) - len(used)
    if free_count < len(waiting):
        raise BibRefused(
            f"{len(waiting)} {ticket_type.name} runners need a bib, but {first}–{last} has only {free_count} free "
            f"number{'s' if free_count != 1 else ''}{f' ({len(used)} already used)' if used else ''}. "
            "Widen the range; nothing was assigned.")
    numbers = (n for n in range(first, last + 1) if n not in used)
    assigned = [(registration_id, next(numbers)) for registration_id in waiting]
    try:
        session.execute(update(Registration), [{"id": rid, "bib": bib} for rid, bib in assigned])
    except IntegrityError:  # the caller rolls back
        raise BibRefused("Someone gave out bibs in that range at the same moment. Try again.") from None
    session.execute(insert(RegistrationAudit), [_audit(rid, editor_id, now, "bib", None, bib) for rid, bib in assigned])
    return BibAssignment(len(assigned), assigned[0][1], assigned[-1][1])


# --- check-in ------------------------------------------------------------------------------

class CheckInRefused(Exception):
    """This ticket can't be checked in (refunded, not paid); the message says why."""


class AlreadyCheckedIn(Exception):
    def __init__(self, at: datetime):
        super().__init__(f"already checked in at {at.isoformat()}")
        self.at = at


def check_in(session: Session, registrant: Registrant, editor_id: uuid.UUID, now: datetime) -> None:
    """Mark a runner as arrived. Two volunteers tapping at once: the first wins, the second is told. No commit."""
    registration = registrant.registration
    status = registrant.status
    if status == "refunded":
        raise CheckInRefused("This ticket was refunded, so it can't be checked in.")
    if status != "paid" or registration.ticket_code is None:
        raise CheckInRefused("This ticket isn't paid, so it can't be checked in.")
    done = session.execute(update(Registration)
                           .where(Registration.id == registration.id, Registration.checked_in_at.is_(None))
                           .values(checked_in_at=now)
                           .execution_options(synchronize_session=False))
    if done.rowcount == 0:
        at = session.scalar(select(Registration.checked_in_at).where(Registration.id == registration.id))
        registration.checked_in_at = at
        raise AlreadyCheckedIn(at or now)
    registration.checked_in_at = now
    session.execute(insert(RegistrationAudit), [_audit(registration.id, editor_id, now, "checked_in", None, now)])


def undo_check_in(session: Session, registrant: Registrant, editor_id: uuid.UUID, now: datetime) -> bool:
    """Take a check-in back (a tap on the wrong runner). Returns whether there was one. No commit."""
    registration = registrant.registration
    if registration.checked_in_at is None:
        return False
    old = registration.checked_in_at
    registration.checked_in_at = None
    session.execute(insert(RegistrationAudit), [_audit(registration.id, editor_id, now, "checked_in", old, None)])
    session.flush()
    return True


@dataclass(frozen=True)
class CheckInCounts:
    checked_in: int
    total: int


def checkin_counts(session: Session, race_id: int, now: datetime) -> CheckInCounts:
    """How many valid tickets have arrived, and how many there are, in one query."""
    total, arrived = session.execute(
        registrants_query(race_id, func.count(Registration.id), func.count(Registration.checked_in_at), now=now)
        .where(status_condition("paid"))).one()
    return CheckInCounts(arrived, total)


def checkin_search(session: Session, race_id: int, q: str, now: datetime, limit: int = 25) -> list[Registrant]:
    """Tickets matching a name or bib, for the check-in desk: paid first, then the ones to turn away."""
    q = search_text(q, limit=100)
    if not q:
        return []
    buyer = aliased(Profile)
    rows = session.execute(
        registrants_query(race_id, Registration, TicketType, Order, buyer, WaiverVersion, now=now)
        .join(buyer, buyer.id == Order.buyer_id)
        .outerjoin(WaiverVersion, WaiverVersion.id == Registration.waiver_version_id)
        .where(Order.status != OrderStatus.PENDING, search_condition(q))
        .order_by(func.lower(Registration.last_name), func.lower(Registration.first_name), Registration.id)
        .limit(limit))
    return [Registrant(*row) for row in rows]


# --- the CSV export ------------------------------------------------------------------------

CSV_HEADER = ["Registration", "Order", "Status", "Ticket type", "Price paid", "Currency", "First name", "Last name",
              "Email", "Date of birth", "Gender", "T-shirt", "Emergency contact", "Emergency phone", "Bib",
              "Ticket code", "Registered at", "Checked in at", "Refunded at", "Waiver version", "Waiver signature",
              "Waiver guardian", "Waiver signed at", "Waiver IP", "Waiver SHA-256"]


def csv_rows(session: Session, race: Race, filters: RegistrantFilters, now: datetime, *, batch: int = 500
             ) -> Iterator[list]:
    """Every registrant the filters match, as CSV cells, streamed from the database `batch` rows at a time."""
    digits = minor_digits(race.currency)

    def when(value: datetime | None) -> str:
        return value.astimezone(race.tz).strftime("%Y-%m-%d %H:%M") if value else ""

    query = filtered(registrants_query(
        race.id, Registration.id, Order.id, Order.status, TicketType.name, Registration.price, Registration.first_name,
        Registration.last_name, Registration.email, Registration.date_of_birth, Registration.gender,
        Registration.tshirt_size, Registration.emergency_name, Registration.emergency_phone, Registration.bib,
        Registration.ticket_code, registered_at_column(), Registration.checked_in_at, Registration.refunded_at,
        WaiverVersion.number, Registration.waiver_signature, Registration.waiver_guardian_name,
        Registration.waiver_signed_at, Registration.waiver_ip, WaiverVersion.sha256, now=now)
        .outerjoin(WaiverVersion, WaiverVersion.id == Registration.waiver_version_id), filters)
    result = session.execute(query.order_by(*_order_by(filters)).execution_options(yield_per=batch))
    for (rid, order_id, order_status, ticket, price, first, last, email, born, gender, size, em_name, em_phone, bib,
         code, registered, checked_in, refunded, waiver_number, signature, guardian, signed, ip, sha) in result:
        yield [rid, str(order_id), STATUSES[registrant_status(order_status, refunded)], ticket,
               f"{price / 10 ** digits:.{digits}f}", race.currency, first, last, email,
               born.isoformat() if born else "", gender, size, em_name, em_phone, bib if bib is not None else "",
               code or "", when(registered), when(checked_in), when(refunded),
               waiver_number if waiver_number is not None else "", signature, guardian, when(signed), ip, sha or ""]


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(cell):
    """A text cell a spreadsheet would run as a formula ("=HYPERLINK(…)", "+1…", "@x") gets a leading '."""
    if isinstance(cell, str) and cell.startswith(FORMULA_STARTS):
        return "'" + cell
    return cell
