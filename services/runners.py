"""The rules for one runner's details and their signed waiver, and saving them on a ticket.

The runner form (blueprints/cart_forms.py), its inline checks and `services.cart_status.cart_problems`
all judge a runner through `runner_problems`, so a ticket that passed the form is exactly a
ticket the payment step accepts, and a rule changed here changes everywhere at once.
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache

from babel.numbers import format_decimal
from email_validator import EmailNotValidError, validate_email
from flask_babel.speaklater import LazyString
from sqlalchemy import update
from sqlalchemy.orm import Session

from models import Order, Race, Registration, TicketType, WaiverVersion
from services.ages import age_on, birth_date_problem, date_of_birth_problem, is_minor, local_today, race_day
from services.languages import current_language
from services.languages import gettext as _

# The waiver a runner signs lives with the race's texts; these names are the runners' too.
from services.race_texts import in_reader_language as in_reader_language
from services.race_texts import signable as signable
from services.race_texts import waiver_to_sign as waiver_to_sign


def _l(string: str) -> LazyString:
    """lazy_gettext, through services.languages' gettext: translated when shown, in that request's language."""
    return LazyString(_, string)


NAME_MAX = 100
GUARDIAN_MAX = 200
EMAIL_MAX = 320
PHONE_DIGITS = (6, 20)
PHONE_MAX = 40  # characters, spaces and punctuation included
GENDERS = ("Female", "Male", "Non-binary", "Prefer not to say")  # as stored; shown as GENDER_LABELS say
GENDER_LABELS = {"Female": _l("Female"), "Male": _l("Male"), "Non-binary": _l("Non-binary"),
                 "Prefer not to say": _l("Prefer not to say")}
# Optional lines the runner may give (shown in results and the timing CSV): field, name in messages, limit.
ADDRESS_FIELDS = (("address", _l("the address"), 200), ("city", _l("the city"), 100),
                  ("country", _l("the country"), 100), ("club", _l("the club or team"), 100))
# What "Same as runner 1" copies: what friends and family running together often share.
SHARED_FIELDS = ("emergency_name", "emergency_phone", "address", "city", "country", "club")
RUNNER_FIRST_NAME, RUNNER_LAST_NAME = _l("the runner's first name"), _l("the runner's last name")  # in messages
EMERGENCY_NAME, GUARDIAN_NAME = _l("the emergency contact's name"), _l("the parent or guardian's name")
OWN_EMAIL = _l("That's your own email: “Let them fill in and sign” is for someone else. "
               "If you are this runner, fill in your details here.")

_PHONE_CHARACTERS = re.compile(r"^[0-9 +\-().]*$")


@dataclass
class RunnerDetails:
    """What the runner form collects for one ticket, as typed (dates already parsed)."""

    first_name: str = ""
    last_name: str = ""
    email: str = ""
    date_of_birth: date | None = None
    gender: str = ""
    tshirt_size: str = ""
    emergency_name: str = ""
    emergency_phone: str = ""
    address: str = ""
    city: str = ""
    country: str = ""
    club: str = ""
    waiver_guardian_name: str = ""
    waiver_accepted: bool = False
    waiver_signature: str = ""
    waiver_version_id: int | None = None  # the version the runner was shown
    # The buyer gives only the name and email; the runner fills in the rest and signs by link.
    runner_fills_in: bool = False

    @classmethod
    def of(cls, registration: Registration) -> RunnerDetails:
        """A saved ticket's details, to judge them again (e.g. after the waiver changed)."""
        return cls(first_name=registration.first_name, last_name=registration.last_name, email=registration.email,
                   date_of_birth=registration.date_of_birth, gender=registration.gender,
                   tshirt_size=registration.tshirt_size, emergency_name=registration.emergency_name,
                   emergency_phone=registration.emergency_phone,
                   address=registration.address, city=registration.city, country=registration.country,
                   club=registration.club,
                   waiver_guardian_name=registration.waiver_guardian_name,
                   waiver_accepted=registration.waiver_signed_at is not None,
                   waiver_signature=registration.waiver_signature,
                   waiver_version_id=registration.waiver_version_id,
                   runner_fills_in=registration.awaiting_runner)

    @property
    def full_name(self) -> str:
        return " ".join(part for part in (tidy(self.first_name), tidy(self.last_name)) if part)


class RunnerRefused(Exception):
    """The details break at least one rule; `problems` maps each field to its message."""

    def __init__(self, problems: dict[str, str]):
        super().__init__(next(iter(problems.values())))
        self.problems = problems


# --- text --------------------------------------------------------------------------------

def gender_label(value: str | None) -> str:
    """A stored gender as its reader sees it, in their language ("Female" → "Mujer"): the runner form's options,
    the registrant page, the dashboard and the spreadsheet. A value from before these options stays as stored."""
    if not value:
        return ""
    label = GENDER_LABELS.get(value)
    return str(label) if label is not None else value


def tidy(text: str | None) -> str:
    """Text as we keep it: composed Unicode (accents stay), trimmed."""
    return unicodedata.normalize("NFC", text or "").strip()


def _has_control_characters(text: str) -> bool:
    # Cc is control characters (NUL, ESC, newlines…); Zl/Zp are line and paragraph separators.
    # Format characters (Cf) stay allowed: emoji sequences are joined with U+200D.
    if text.isprintable():  # none of them in it (they are all unprintable): the usual case, without a loop
        return False
    return any(unicodedata.category(ch) in ("Cc", "Zl", "Zp") for ch in text)


def same_name(typed: str, expected: str) -> bool:
    """Whether a typed signature is this name: case and spacing don't matter, accents do."""
    def key(text: str) -> str:
        return " ".join(unicodedata.normalize("NFC", text).casefold().split())
    return bool(key(expected)) and key(typed) == key(expected)


def name_problem(value: str, what: str, *, required: bool = True, limit: int = NAME_MAX) -> str | None:
    """Why `value` can't be a name (the runner's first name, a guardian's name…), or None."""
    text = tidy(value)
    if not text:
        return _("Enter %(what)s.", what=what) if required else None
    return optional_text_problem(text, what, limit)


def optional_text_problem(value: str, what: str, limit: int) -> str | None:
    """Why an optional line of text (an address, a club) can't be kept, or None."""
    text = tidy(value)
    if len(text) > limit:
        return _("Keep %(what)s to %(limit)d characters or fewer (this one has %(count)s).", what=what, limit=limit,
                 count=format_decimal(len(text), locale=current_language()))
    if _has_control_characters(text):
        return _("Remove the invisible control characters from %(what)s.", what=what)
    return None


def clean_email(value: str) -> str:
    """The address as we store it; call after `email_problem` said it is fine."""
    text = tidy(value)
    try:
        return validate_email(text, check_deliverability=False).normalized
    except EmailNotValidError:
        return text


def email_problem(value: str) -> str | None:
    text = tidy(value)
    if not text:
        return _("Enter the runner's email address, for the ticket and race updates.")
    if len(text) > EMAIL_MAX:
        return _("That email address is too long.")
    if _has_control_characters(text):
        return _("Remove the invisible control characters from the email address.")
    if not _is_valid_email(text):
        return _("Enter a real email address, like name@example.com.")
    return None


@lru_cache(maxsize=4096)
def _is_valid_email(text: str) -> bool:
    """email_validator's verdict (no network: the same for the same text), kept: every cart page checks each
    runner's address, and validating one was a tenth of a millisecond (issue 17)."""
    try:
        validate_email(text, check_deliverability=False)
    except EmailNotValidError:
        return False
    return True


def same_email(typed: str, other: str) -> bool:
    """Whether two addresses are the same mailbox as people type them (case and spaces don't matter)."""
    return tidy(typed).casefold() == tidy(other).casefold()


def phone_problem(value: str) -> str | None:
    text = tidy(value)
    if not text:
        return _("Enter a phone number for the emergency contact.")
    if _has_control_characters(text) or not _PHONE_CHARACTERS.match(text):
        return _("Use only digits, spaces and + - ( ) . in the phone number.")
    if len(text) > PHONE_MAX:
        return _("Keep the phone number to %(limit)d characters or fewer.", limit=PHONE_MAX)
    digits = sum(ch.isdigit() for ch in text)
    low, high = PHONE_DIGITS
    if not low <= digits <= high:
        return _("A phone number has %(low)d to %(high)d digits (this one has %(digits)d).", low=low, high=high, digits=digits)
    return None


# --- the whole form ----------------------------------------------------------------------

def runner_problems(details: RunnerDetails, race: Race, ticket_type: TicketType, waiver: WaiverVersion | None,
                    now: datetime, *, buyer_email: str | None = None,
                    also_current: Collection[int] = ()) -> dict[str, str]:
    """Every rule the runner's details break, as {field: message}; empty when they are complete and valid.

    `buyer_email`, when known, is the signed-in buyer's: they can't send themselves the link to fill in.
    `waiver` is the version this reader is shown; a signature of `also_current` (the newest version in another
    language the race is written in, race_texts.still_current) counts as well.
    """
    problems: dict[str, str] = {}

    def note(field: str, message: str | None) -> None:
        if message and field not in problems:
            problems[field] = message

    note("first_name", name_problem(details.first_name, RUNNER_FIRST_NAME))
    note("last_name", name_problem(details.last_name, RUNNER_LAST_NAME))
    note("email", email_problem(details.email))
    if details.runner_fills_in and buyer_email and same_email(details.email, buyer_email):
        note("email", str(OWN_EMAIL))
    if details.runner_fills_in:  # the rest is theirs to fill in and sign, after payment
        return problems

    today = local_today(race, now)
    born = details.date_of_birth
    note("date_of_birth", date_of_birth_problem(born, race, ticket_type, today))

    if race.ask_gender and details.gender and details.gender not in GENDERS:
        note("gender", _("Pick one of the options, or leave it empty."))
    sizes = race.tshirt_size_list
    if sizes and details.tshirt_size not in sizes:
        note("tshirt_size", _("Pick a T-shirt size.") if not details.tshirt_size else _("Pick a T-shirt size from the list."))

    note("emergency_name", name_problem(details.emergency_name, EMERGENCY_NAME, limit=GUARDIAN_MAX))
    note("emergency_phone", phone_problem(details.emergency_phone))
    for name, what, limit in ADDRESS_FIELDS:
        note(name, optional_text_problem(getattr(details, name), what, limit))

    if waiver is not None:
        minor = is_minor(born, today)
        note("waiver_guardian_name", name_problem(details.waiver_guardian_name, GUARDIAN_NAME,
                                                  required=minor, limit=GUARDIAN_MAX))
        if details.waiver_version_id is not None and details.waiver_version_id not in (waiver.id, *also_current):
            note("waiver_accepted", _("The waiver has changed since it was signed. Read the new version and sign again."))
        if not details.waiver_accepted:
            note("waiver_accepted", _("Tick the box to accept the waiver."))
        note("waiver_signature", signature_problem(details, minor))
    return problems


def signature_problem(details: RunnerDetails, minor: bool) -> str | None:
    """Why the typed signature doesn't sign for this runner (their full name) or, for a minor, their guardian
    (the guardian's name), or None. The runner form and the check-in desk both ask this."""
    signature = tidy(details.waiver_signature)
    if minor:
        if not signature:
            return _("A parent or guardian signs for a runner under 18: type their full name.")
        if _has_control_characters(signature) or len(signature) > GUARDIAN_MAX:
            return _("Type the parent or guardian's full name, nothing else.")
        if not tidy(details.waiver_guardian_name):
            return _("Enter the parent or guardian's name above, then sign with it.")
        if not same_name(signature, details.waiver_guardian_name):
            return _("The signature must be the parent or guardian's name: %(name)s.", name=tidy(details.waiver_guardian_name))
        return None
    if not signature:
        return _("Type the runner's full name to sign the waiver.")
    if _has_control_characters(signature) or len(signature) > GUARDIAN_MAX:
        return _("Type the runner's full name, nothing else.")
    if not (tidy(details.first_name) and tidy(details.last_name)):
        return _("Enter the runner's first and last name above, then sign with them.")
    if not same_name(signature, details.full_name):
        return _("The signature must match the runner's name: %(name)s.", name=details.full_name)
    return None


def age_note(details: RunnerDetails, race: Race, now: datetime) -> str | None:
    """A friendly line beside a valid date of birth: the age that counts, and who signs."""
    born = details.date_of_birth
    today = local_today(race, now)
    if born is None or birth_date_problem(born, today):
        return None
    age = age_on(born, race_day(race))
    if is_minor(born, today):
        return _("Age on race day: %(age)d. A parent or guardian signs the waiver for a runner under 18.", age=age)
    return _("Age on race day: %(age)d.", age=age)


def is_blank(registration: Registration) -> bool:
    """Nothing filled in yet for this ticket."""
    return not (registration.first_name or registration.last_name or registration.email
                or registration.waiver_signed_at)


def save_runner(session: Session, registration: Registration, details: RunnerDetails, *, race: Race,
                ticket_type: TicketType, waiver: WaiverVersion | None, now: datetime, ip: str,
                buyer_email: str | None = None) -> None:
    """Store the runner and their signature on the ticket, or raise RunnerRefused (nothing changes). Commits."""
    problems = runner_problems(details, race, ticket_type, waiver, now, buyer_email=buyer_email)
    if problems:
        session.rollback()
        raise RunnerRefused(problems)
    store_runner(registration, details, race=race, waiver=waiver, now=now, ip=ip)
    _touch_carts(session, [registration], now)
    session.commit()


def _touch_carts(session: Session, registrations: list[Registration], now: datetime) -> None:
    """A cart someone is filling in is in use: a visitor's cart expires a week after its last change."""
    if registrations:
        session.execute(update(Order).where(Order.id.in_({r.order_id for r in registrations}))
                        .values(updated_at=now).execution_options(synchronize_session=False))


def save_runners(session: Session, runners: list[tuple[Registration, RunnerDetails]], *, race: Race,
                 waiver: WaiverVersion | None, now: datetime, ip: str,
                 buyer_email: str | None = None) -> dict[int, dict[str, str]]:
    """Store every runner whose details are valid, in one commit; {ticket id: problems} for the others."""
    refused = {}
    for registration, details in runners:
        problems = runner_problems(details, race, registration.ticket_type, waiver, now, buyer_email=buyer_email)
        if problems:
            refused[registration.id] = problems
        else:
            store_runner(registration, details, race=race, waiver=waiver, now=now, ip=ip)
    _touch_carts(session, [r for r, _ in runners if r.id not in refused], now)
    session.commit()
    return refused


def store_runner(registration: Registration, details: RunnerDetails, *, race: Race, waiver: WaiverVersion | None,
                 now: datetime, ip: str) -> None:
    """Write details that `runner_problems` accepted, and the signature, onto the ticket. No commit."""
    registration.first_name = tidy(details.first_name)
    registration.last_name = tidy(details.last_name)
    registration.email = clean_email(details.email)
    registration.runner_fills_in = details.runner_fills_in
    if details.runner_fills_in:  # only who they are: whatever else was typed is theirs to give
        details = RunnerDetails(first_name=details.first_name, last_name=details.last_name, email=details.email,
                                runner_fills_in=True)
        waiver = None
    registration.date_of_birth = details.date_of_birth
    registration.gender = tidy(details.gender) if race.ask_gender else ""
    registration.tshirt_size = details.tshirt_size if race.tshirt_size_list else ""
    registration.emergency_name = tidy(details.emergency_name)
    registration.emergency_phone = " ".join(tidy(details.emergency_phone).split())
    for name, _what, _limit in ADDRESS_FIELDS:
        setattr(registration, name, tidy(getattr(details, name)))
    if waiver is None:
        registration.waiver_version_id = None
        registration.waiver_signature = registration.waiver_guardian_name = registration.waiver_ip = ""
        registration.waiver_signed_at = None
    else:
        minor = is_minor(details.date_of_birth, local_today(race, now))
        registration.waiver_version_id = waiver.id
        registration.waiver_guardian_name = tidy(details.waiver_guardian_name) if minor else ""
        registration.waiver_signature = tidy(details.waiver_signature)
        registration.waiver_signed_at = now
        registration.waiver_ip = (ip or "")[:45]
