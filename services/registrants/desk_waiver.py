"""Signing the waiver at the check-in desk: a runner who hasn't (their own details are still pending, or the
waiver came after they registered) types their name on the organizer's phone, and is checked in with it.

The signature follows the runner form's rule (services.runners.signature_problem): the runner's full name, or
for a runner under 18 a parent or guardian's name. The desk may not know the runner's age (they never filled
in their details), so whoever signs says whether a parent or guardian is signing; a known age decides it.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from flask_babel import gettext as _
from sqlalchemy import insert, update
from sqlalchemy.orm import Session

from models import CheckInEvent, Race, Registration, RegistrationAudit, WaiverVersion
from services.ages import is_minor, local_today
from services.mail.languages import runner_language
from services.race_texts import waiver_languages, waiver_to_sign
from services.registrants.checkin import (
    AlreadyCheckedIn,
    event_row,
    refuse_as_it_is_now,
    refuse_unless_valid,
    still_as_looked_up,
)
from services.registrants.edits import audit_row
from services.registrants.query import Registrant
from services.runners import (
    GUARDIAN_MAX,
    RunnerDetails,
    name_problem,
    signature_problem,
    tidy,
)


def waiver_at_desk(session: Session, race: Race, registrant: Registrant,
                   chosen: str | None) -> tuple[WaiverVersion | None, list[str]]:
    """The waiver the runner at the desk signs, in the language they read (as the cart and the friend's page give
    it), and the race's waiver languages the desk may show it in: the one the desk chose among those, else the
    runner's own (their account's, the buyer's, the race's)."""
    offered = waiver_languages(session, race)
    language = chosen if chosen in offered else runner_language(session, registrant.registration,
                                                                  registrant.buyer, race)
    return waiver_to_sign(session, race.id, language), offered


@dataclass
class DeskSignature:
    """What the desk's signing form sends."""

    signature: str = ""
    accepted: bool = False
    by_guardian: bool = False   # "A parent or guardian is signing"
    guardian_name: str = ""
    waiver_version_id: int | None = None  # the version the page showed


class SignatureRefused(Exception):
    """The signature can't be taken; `problems` maps each field to its message. Nothing changed."""

    def __init__(self, problems: dict[str, str]):
        super().__init__(next(iter(problems.values())))
        self.problems = problems


def signature_problems(signed: DeskSignature, registration: Registration, race: Race, waiver: WaiverVersion | None,
                       now: datetime) -> dict[str, str]:
    """Every rule the desk signature breaks, as {field: message}; empty when it signs for this runner."""
    if waiver is None:
        return {"signature": _("This race has no waiver to sign.")}
    if registration.waiver_signed_at is not None:
        return {"signature": _("%(name)s has signed the waiver already.", name=registration.runner_name)}
    problems: dict[str, str] = {}

    def note(field: str, message: str | None) -> None:
        if message and field not in problems:
            problems[field] = message

    if not signed.accepted:
        note("accepted", _("Tick the box once the waiver has been read and is accepted."))
    if signed.waiver_version_id != waiver.id:
        note("accepted", _("The waiver has changed since this page was opened. Read the new version and sign again."))
    born = registration.date_of_birth
    today = local_today(race, now)
    minor = signed.by_guardian or is_minor(born, today)
    if born is not None and is_minor(born, today) and not signed.by_guardian:
        note("by_guardian", _("%(name)s is under 18: a parent or guardian signs for them.", name=registration.runner_name))
    if born is not None and not is_minor(born, today) and signed.by_guardian:
        note("by_guardian", _("%(name)s is 18 or older and signs for themselves.", name=registration.runner_name))
    if minor:
        note("guardian_name", name_problem(signed.guardian_name, _("the parent or guardian's name"), limit=GUARDIAN_MAX))
    details = RunnerDetails(first_name=registration.first_name, last_name=registration.last_name,
                            waiver_guardian_name=signed.guardian_name if minor else "",
                            waiver_signature=signed.signature)
    note("signature", signature_problem(details, minor))
    return problems


def sign_and_check_in(session: Session, race: Race, registrant: Registrant, waiver: WaiverVersion | None,
                      signed: DeskSignature, editor_id: uuid.UUID, now: datetime, ip: str) -> None:
    """Record the waiver as signed at check-in (this version, the typed name, when, from where) and check the
    runner in, with a line for each in the audit trail. Two phones at once: the first wins, the second is told.

    Commits, or rolls back and raises CheckInRefused, SignatureRefused or AlreadyCheckedIn.
    """
    registration = registrant.registration
    refuse_unless_valid(session, registrant)
    if registration.checked_in_at is not None:
        session.rollback()
        raise AlreadyCheckedIn(registration.checked_in_at)
    problems = signature_problems(signed, registration, race, waiver, now)
    if problems:
        session.rollback()
        raise SignatureRefused(problems)
    minor = signed.by_guardian or is_minor(registration.date_of_birth, local_today(race, now))
    values = {"waiver_version_id": waiver.id, "waiver_signature": tidy(signed.signature),
              "waiver_guardian_name": tidy(signed.guardian_name) if minor else "", "waiver_signed_at": now,
              "waiver_ip": (ip or "")[:45], "waiver_signed_at_checkin": True, "checked_in_at": now}
    done = session.execute(update(Registration)
                           .where(*still_as_looked_up(registration), Registration.checked_in_at.is_(None),
                                  Registration.waiver_signed_at.is_(None))
                           .values(**values).execution_options(synchronize_session=False))
    if done.rowcount == 0:
        refuse_as_it_is_now(session, registration)  # checked in, refunded or transferred since: says which
        raise SignatureRefused({"signature": _("%(name)s has signed the waiver already.", name=registration.runner_name)})
    for name, value in values.items():
        setattr(registration, name, value)
    session.execute(insert(RegistrationAudit), [
        audit_row(registration.id, editor_id, now, "waiver", None, values["waiver_signature"]),
        audit_row(registration.id, editor_id, now, "checked_in", None, now)])
    session.execute(insert(CheckInEvent), [event_row(registration, "check_in", editor_id, now)])
    session.commit()
