"""The registrants as CSV files: for spreadsheets (every field the list's filters show, formulas defused) and for
timing software (raw values, one paid runner a line, the columns timing programs import)."""
from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from datetime import datetime

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from models import Order, Race, Registration, TicketType, WaiverVersion
from services.ages import age_on, race_day
from services.money import money_text
from services.registrants.query import (
    STATUSES,
    RegistrantFilters,
    awaiting_runner_condition,
    filtered,
    order_by,
    registrant_status,
    registrants_query,
)
from services.runners import gender_label
from services.stored_sentences import worded

# The spreadsheet's header and words are in the organizer's language (the page the download came from).
CSV_HEADER = [_l("Registration"), _l("Order"), _l("Status"), _l("Ticket type"), _l("Price paid"), _l("Currency"),
              _l("Details"), _l("Details problem"), _l("First name"), _l("Last name"), _l("Email"),
              _l("Date of birth"), _l("Gender"), _l("T-shirt"), _l("Emergency contact"), _l("Emergency phone"),
              _l("Address"), _l("City"), _l("Country"), _l("Club or team"), _l("Bib"), _l("Ticket code"),
              _l("Registered at"), _l("Checked in at"), _l("Refunded at"), _l("Waiver version"),
              _l("Waiver signature"), _l("Waiver guardian"), _l("Waiver signed at"), _l("Waiver signed at check-in"),
              _l("Waiver IP"), _l("Waiver SHA-256")]
# "Details": "pending" while a runner bought with "Let them fill in and sign" hasn't yet, else "complete".
DETAILS_CELLS = {True: _l("pending"), False: _l("complete")}


def csv_rows(session: Session, race: Race, filters: RegistrantFilters, now: datetime, *, batch: int = 500
             ) -> Iterator[list]:
    """Every registrant the filters match, as CSV cells, streamed from the database `batch` rows at a time."""
    def when(value: datetime | None) -> str:
        return value.astimezone(race.tz).strftime("%Y-%m-%d %H:%M") if value else ""

    query = filtered(registrants_query(
        race.id, Registration.id, Order.id, Order.status, TicketType.name, Registration.price,
        awaiting_runner_condition(), Registration.details_problem, Registration.first_name, Registration.last_name,
        Registration.email, Registration.date_of_birth, Registration.gender, Registration.tshirt_size,
        Registration.emergency_name, Registration.emergency_phone, Registration.address, Registration.city,
        Registration.country, Registration.club, Registration.bib, Registration.ticket_code, Registration.registered_at,
        Registration.checked_in_at, Registration.refunded_at, WaiverVersion.number, Registration.waiver_signature,
        Registration.waiver_guardian_name, Registration.waiver_signed_at, Registration.waiver_signed_at_checkin,
        Registration.waiver_ip, WaiverVersion.sha256, now=now)
        .outerjoin(WaiverVersion, WaiverVersion.id == Registration.waiver_version_id), filters)
    result = session.execute(query.order_by(*order_by(filters)).execution_options(yield_per=batch))
    for (rid, order_id, order_status, ticket, price, awaiting, problem, first, last, email, born, gender, size,
         em_name, em_phone, address, city, country, club, bib, code, registered, checked_in, refunded, waiver_number,
         signature, guardian, signed, at_checkin, ip, sha) in result:
        yield [rid, str(order_id), STATUSES[registrant_status(order_status, refunded)], ticket,
               money_text(price, race.currency), race.currency, str(DETAILS_CELLS[bool(awaiting)]), worded(problem), first, last,
               email,
               born.isoformat() if born else "", gender_label(gender), size, em_name, em_phone, address, city, country, club,
               bib if bib is not None else "", code or "", when(registered), when(checked_in), when(refunded),
               waiver_number if waiver_number is not None else "", signature, guardian, when(signed),
               _("yes") if at_checkin else "", ip, sha or ""]


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(cell):
    """A text cell a spreadsheet would run as a formula ("=HYPERLINK(…)", "+1…", "@x") gets a leading '."""
    if isinstance(cell, str) and cell.startswith(FORMULA_STARTS):
        return "'" + cell
    return cell


def _chunks(header: list, rows: Iterable[list], cell: Callable, *, byte_order_mark: bool,
            rows_per_chunk: int) -> Iterator[str]:
    """A CSV file in pieces of `rows_per_chunk` rows, for a streamed download that never holds it all."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    if byte_order_mark:
        buffer.write("\ufeff")  # the byte order mark makes Excel read UTF-8, so accents survive
    writer.writerow([cell(str(name)) for name in header])  # a translated name is a cell like any other
    for n, row in enumerate(rows, start=1):
        writer.writerow([cell(value) for value in row])
        if n % rows_per_chunk == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def csv_chunks(session: Session, race: Race, filters: RegistrantFilters, now: datetime, *, rows_per_chunk: int = 200
               ) -> Iterator[str]:
    """The spreadsheet CSV: every field, a byte order mark for Excel, formula-looking cells defused."""
    return _chunks(CSV_HEADER, csv_rows(session, race, filters, now), spreadsheet_safe, byte_order_mark=True,
                   rows_per_chunk=rows_per_chunk)


# --- for timing software -------------------------------------------------------------------

# Team is the runner's club or team; city and country as they gave them (empty when they didn't, or while a
# runner who fills in their own details hasn't yet).
#
# Values stay exactly as entered, also one starting with "=" or "+": timing programs import them literally and a
# defusing apostrophe would be printed on bib lists and results. The file is for importing, not for opening in a
# spreadsheet; the spreadsheet download defuses formulas (README, "for timing software").
# The timing header stays in English in every language: timing programs match these names when they import.
TIMING_HEADER = ["Bib", "First name", "Last name", "Gender", "Date of birth", "Age on race day", "Ticket type",
                 "Team", "City", "Country", "T-shirt"]


def timing_rows(session: Session, race: Race, filters: RegistrantFilters, now: datetime, *, batch: int = 500
                ) -> Iterator[list]:
    """The runners who may start (paid tickets, whatever the status filter says) under the list's other filters,
    by bib, as the timing columns."""
    filters = replace(filters, status="paid", sort="bib", dir="asc")
    day = race_day(race)
    query = filtered(registrants_query(
        race.id, Registration.bib, Registration.first_name, Registration.last_name, Registration.gender,
        Registration.date_of_birth, TicketType.name, Registration.club, Registration.city, Registration.country,
        Registration.tshirt_size, now=now), filters)
    result = session.execute(query.order_by(*order_by(filters)).execution_options(yield_per=batch))
    for bib, first, last, gender, born, ticket, club, city, country, size in result:
        yield [bib if bib is not None else "", first, last, gender, born.isoformat() if born else "",
               age_on(born, day) if born else "", ticket, club, city, country, size]


def on_one_line(cell):
    """A text cell as it is, but with any line break made a space, so each runner is exactly one line."""
    if isinstance(cell, str):
        return " ".join(cell.splitlines())
    return cell


def timing_chunks(session: Session, race: Race, filters: RegistrantFilters, now: datetime, *,
                  rows_per_chunk: int = 200) -> Iterator[str]:
    """The timing CSV: plain UTF-8 without a byte order mark, values exactly as entered ("+44 20…" stays so)."""
    return _chunks(TIMING_HEADER, timing_rows(session, race, filters, now), on_one_line, byte_order_mark=False,
                   rows_per_chunk=rows_per_chunk)
