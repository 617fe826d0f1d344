"""Correcting a registrant's details, and the audit trail of who changed what on a registration.

Bibs and check-ins write their lines to the same trail (`audit_row`).
"""
from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from models import Profile, Race, Registration, RegistrationAudit, TicketType
from services.ages import birth_date_problem, date_of_birth_problem, local_today
from services.runners import (
    ADDRESS_FIELDS,
    GENDERS,
    GUARDIAN_MAX,
    clean_email,
    email_problem,
    name_problem,
    optional_text_problem,
    phone_problem,
    tidy,
)
from services.stored_sentences import worded

EDITABLE = ("first_name", "last_name", "email", "date_of_birth", "gender", "tshirt_size",
            "emergency_name", "emergency_phone", *(name for name, _, _ in ADDRESS_FIELDS))
FIELD_LABELS = {
    "first_name": _l("First name"), "last_name": _l("Last name"), "email": _l("Email"),
    "date_of_birth": _l("Date of birth"), "gender": _l("Gender"), "tshirt_size": _l("T-shirt size"),
    "emergency_name": _l("Emergency contact"), "emergency_phone": _l("Emergency phone"), "address": _l("Address"),
    "city": _l("City"), "country": _l("Country"), "club": _l("Club or team"), "bib": _l("Bib"),
    "checked_in": _l("Check-in"), "waiver": _l("Waiver"), "transfer": _l("Runner (transfer)"),
    "ticket_type": _l("Distance"),
}


class RegistrantRefused(Exception):
    """The edit breaks at least one rule; `problems` maps each field to its message. Nothing changed."""

    def __init__(self, problems: dict[str, str]):
        super().__init__(next(iter(problems.values())))
        self.problems = problems


class DetailsChanged(Exception):
    """The runner's details changed since the form was opened (a transfer, the runner's own link, another
    organizer): nothing was saved, and the form is shown again with them as they are now."""

    message = _l("These details changed since you opened the form (the ticket was transferred, or someone else "
                 "saved them): here they are as they are now. Make your correction again.")
    # A form that doesn't say which details it was opened with (a tab left open across an update of the site).
    unversioned = _l("This form is older than the page: here are the details as they are now. Make your correction "
                     "again.")


def details_version(registration: Registration) -> str:
    """A short fingerprint of the details the organizer's form edits (EDITABLE), sent with the form as it was
    opened: saved over details that changed since, it would write them back as they were (a transferred ticket
    given back to its old runner's name and email)."""
    text = "\x1f".join(_as_text(getattr(registration, name)) for name in EDITABLE)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _as_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, date | datetime):
        return value.isoformat()
    return str(value)


def audit_row(registration_id: int, editor_id: uuid.UUID, now: datetime, field_name: str, old, new) -> dict:
    """One line of a registrant's audit trail (who changed which field from what to what), to insert."""
    return {"registration_id": registration_id, "profile_id": editor_id, "changed_at": now, "field": field_name,
            "old_value": _as_text(old), "new_value": _as_text(new)}


def edit_problems(values: Mapping[str, object], race: Race, registration: Registration, ticket_type: TicketType,
                  now: datetime) -> dict[str, str]:
    """What is wrong with an organizer's correction of a runner's details (the runner form's rules,
    except those about signing: the waiver stays as it was signed).

    A new date of birth must fit the ticket type's age limits, as at sign-up; an unchanged one is
    not judged again, so limits tightened after the sale don't block fixing a typo in a phone number.
    """
    problems: dict[str, str] = {}

    def note(name: str, message: str | None) -> None:
        if message and name not in problems:
            problems[name] = message

    note("first_name", name_problem(str(values.get("first_name", "")), _("the runner's first name")))
    note("last_name", name_problem(str(values.get("last_name", "")), _("the runner's last name")))
    note("email", email_problem(str(values.get("email", ""))))
    born = values.get("date_of_birth")
    born = born if isinstance(born, date) else None
    today = local_today(race, now)
    # A runner still to fill in their own details has given none yet: what is empty may stay empty.
    pending = registration.awaiting_runner
    if born is not None and born == registration.date_of_birth:
        note("date_of_birth", birth_date_problem(born, today))
    elif not (pending and born is None):
        note("date_of_birth", date_of_birth_problem(born, race, ticket_type, today))
    gender = tidy(str(values.get("gender", "")))
    if gender and gender not in GENDERS and gender != registration.gender:
        note("gender", _("Pick one of the options, or leave it empty."))
    size = str(values.get("tshirt_size", ""))
    if size and size not in race.tshirt_size_list and size != registration.tshirt_size:
        note("tshirt_size", _("Pick a T-shirt size from the list."))
    contact_name, contact_phone = str(values.get("emergency_name", "")), str(values.get("emergency_phone", ""))
    if not (pending and not tidy(contact_name) and not tidy(contact_phone)):
        note("emergency_name", name_problem(contact_name, _("the emergency contact's name"), limit=GUARDIAN_MAX))
        note("emergency_phone", phone_problem(contact_phone))
    for name, what, limit in ADDRESS_FIELDS:
        note(name, optional_text_problem(str(values.get(name, "")), what, limit))
    return problems


def update_registrant(session: Session, race: Race, registration: Registration, ticket_type: TicketType,
                      values: Mapping[str, object], editor_id: uuid.UUID, now: datetime,
                      opened: str | None = None) -> list[str]:
    """Correct a runner's details on their ticket of `ticket_type`; one audit line per changed field.
    Returns the changed fields. Commits, or raises RegistrantRefused (nothing changed).

    `opened`: the details' version (`details_version`) the form was opened with (None: no form, nothing to compare).
    The ticket is read under its row lock, and if its details changed since, DetailsChanged is raised and nothing
    saved."""
    session.scalar(select(Registration.id).where(Registration.id == registration.id).with_for_update())
    session.refresh(registration)
    if opened is not None and opened != details_version(registration):
        session.rollback()
        raise DetailsChanged()
    problems = edit_problems(values, race, registration, ticket_type, now)
    if problems:
        session.rollback()
        raise RegistrantRefused(problems)
    cleaned = {
        "first_name": tidy(str(values["first_name"])), "last_name": tidy(str(values["last_name"])),
        "email": clean_email(str(values["email"])), "date_of_birth": values["date_of_birth"],
        "gender": tidy(str(values.get("gender", ""))), "tshirt_size": str(values.get("tshirt_size", "")),
        "emergency_name": tidy(str(values["emergency_name"])),
        "emergency_phone": " ".join(tidy(str(values["emergency_phone"])).split()),
        **{name: tidy(str(values.get(name, ""))) for name, _, _ in ADDRESS_FIELDS},
    }
    audits = []
    for name in EDITABLE:
        old, new = getattr(registration, name), cleaned[name]
        if old != new:
            audits.append(audit_row(registration.id, editor_id, now, name, old, new))
            setattr(registration, name, new)
    if registration.awaiting_runner and "email" in {a["field"] for a in audits}:
        # The personal link went to the old address: it stops working; *Resend the link* sends a new one.
        registration.invite_nonce = secrets.token_hex(16)
    if audits:
        session.execute(insert(RegistrationAudit), audits)
    session.commit()
    return [a["field"] for a in audits]


# --- the audit trail ------------------------------------------------------------------------

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
        .outerjoin(Profile, Profile.id == RegistrationAudit.profile_id)  # none: the runner, by their link (`actor`)
        .where(RegistrationAudit.registration_id == registration.id)
        .order_by(RegistrationAudit.changed_at.desc(), RegistrationAudit.id.desc()))
    return [AuditLine(a.changed_at, name or email or worded(a.actor), a.field, a.old_value, a.new_value)
            for a, name, email in rows]
