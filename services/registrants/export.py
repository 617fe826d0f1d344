"""The registrants as a CSV file: every field of the rows the list's filters show, safe to open in a spreadsheet."""
from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import datetime

from sqlalchemy.orm import Session

from models import Order, Race, Registration, TicketType, WaiverVersion
from services.money import money_text
from services.registrants.query import (
    STATUSES,
    RegistrantFilters,
    filtered,
    order_by,
    registered_at_column,
    registrant_status,
    registrants_query,
)

CSV_HEADER = ["Registration", "Order", "Status", "Ticket type", "Price paid", "Currency", "First name", "Last name",
              "Email", "Date of birth", "Gender", "T-shirt", "Emergency contact", "Emergency phone", "Bib",
              "Ticket code", "Registered at", "Checked in at", "Refunded at", "Waiver version", "Waiver signature",
              "Waiver guardian", "Waiver signed at", "Waiver IP", "Waiver SHA-256"]


def csv_rows(session: Session, race: Race, filters: RegistrantFilters, now: datetime, *, batch: int = 500
             ) -> Iterator[list]:
    """Every registrant the filters match, as CSV cells, streamed from the database `batch` rows at a time."""
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
    result = session.execute(query.order_by(*order_by(filters)).execution_options(yield_per=batch))
    for (rid, order_id, order_status, ticket, price, first, last, email, born, gender, size, em_name, em_phone, bib,
         code, registered, checked_in, refunded, waiver_number, signature, guardian, signed, ip, sha) in result:
        yield [rid, str(order_id), STATUSES[registrant_status(order_status, refunded)], ticket,
               money_text(price, race.currency), race.currency, first, last, email,
               born.isoformat() if born else "", gender, size, em_name, em_phone, bib if bib is not None else "",
               code or "", when(registered), when(checked_in), when(refunded),
               waiver_number if waiver_number is not None else "", signature, guardian, when(signed), ip, sha or ""]


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(cell):
    """A text cell a spreadsheet would run as a formula ("=HYPERLINK(…)", "+1…", "@x") gets a leading '."""
    if isinstance(cell, str) and cell.startswith(FORMULA_STARTS):
        return "'" + cell
    return cell


def csv_chunks(session: Session, race: Race, filters: RegistrantFilters, now: datetime, *, rows_per_chunk: int = 200
               ) -> Iterator[str]:
    """The CSV file in pieces of `rows_per_chunk` rows, for a streamed download that never holds it all."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write("\ufeff")  # the byte order mark makes Excel read UTF-8, so accents survive
    writer.writerow(CSV_HEADER)
    for n, row in enumerate(csv_rows(session, race, filters, now), start=1):
        writer.writerow([spreadsheet_safe(cell) for cell in row])
        if n % rows_per_chunk == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
