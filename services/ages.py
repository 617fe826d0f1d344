"""A runner's age: on race day, where the race is run, for a ticket type's limits, and on the day of signing,
for whether a guardian signs too. The runner form, checkout, changes and the organizer's pages ask here."""
from __future__ import annotations

from datetime import date, datetime

from models import Race, TicketType
from services.languages import gettext as _
from services.stored_sentences import say

ADULT_AGE = 18
EARLIEST_BIRTH_DATE = date(1900, 1, 1)


def age_on(born: date, day: date) -> int:
    """Whole years of age on `day` (someone born on 29 February turns a year older on 1 March)."""
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def race_day(race: Race) -> date:
    """The race's date where it is run, which is what age limits mean."""
    return race.starts_at.astimezone(race.tz).date()


def local_today(race: Race, now: datetime) -> date:
    return now.astimezone(race.tz).date()


def birth_date_problem(born: date | None, today: date) -> str | None:
    if born is None:
        return _("Enter the runner's date of birth.")
    if born > today:
        return _("The date of birth can't be in the future.")
    if born < EARLIEST_BIRTH_DATE:
        return _("Enter a date of birth from 1900 on.")
    return None


def age_limit_problem(born: date, race: Race, ticket_type: TicketType) -> str | None:
    """Whether the runner's age on race day fits the ticket type's limits."""
    age = age_on(born, race_day(race))
    low, high = ticket_type.min_age, ticket_type.max_age
    limits = {"name": ticket_type.name, "low": low, "high": high, "age": age}
    if low is not None and high is not None and not low <= age <= high:
        return say("age_between", **limits)
    if low is not None and age < low:
        return say("age_at_least", **limits)
    if high is not None and age > high:
        return say("age_at_most", **limits)
    return None


def date_of_birth_problem(born: date | None, race: Race, ticket_type: TicketType, today: date) -> str | None:
    """What is wrong with a runner's date of birth on this ticket: missing or impossible, or an age on race
    day outside the ticket type's limits. The runner form, checkout and the organizer's corrections ask this."""
    return birth_date_problem(born, today) or age_limit_problem(born, race, ticket_type)


def is_minor(born: date | None, today: date) -> bool:
    """Under 18 when signing. Capacity to sign is about the day of signing, not race day."""
    return born is not None and age_on(born, today) < ADULT_AGE
