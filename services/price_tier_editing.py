"""A ticket type's price steps as its organizer edits them: the whole list is checked, then saved at once.

The first step is the ticket type's own price, from the start of sales: the editor's Price field
edits it, and services/ticket_types.py keeps the stored first step equal to it. Each later
step takes effect on a day (in the race's timezone). What the editor refuses: a later step
without a day, days that don't increase down the list (so no two steps share a day), a step
starting after race day, prices below 0 or above the editor's limit, "until N sold" below 1 or
on the last step (the last price has nothing to give way to). All of the list is refused, or
all of it saved.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from models import PriceTier, Race, TicketType
from services.money import money_text, to_minor
from services.race_editing import day_problem, touch
from services.ticket_types import PRICE_MAX
from services.typed_input import is_whole_number

FIELDS = ("starts_on", "price", "until_sold", "label")
MAX_STEPS = 8
LABEL_MAX = 40


class PriceStepsRefused(Exception):
    """The list breaks a rule; `problems` maps a form field ("step<row>-<field>", "new-<field>", or "steps"
    for the list as a whole) to a message."""

    def __init__(self, problems: dict[str, str]):
        super().__init__(next(iter(problems.values())))
        self.problems = problems


@dataclass(frozen=True)
class StepDraft:
    """A step as parsed from the form, before it is saved."""

    price: int
    starts_on: date | None
    until_sold: int | None
    label: str


def steps_of(session: Session, ticket_type_ids: Sequence[int]) -> dict[int, list[PriceTier]]:
    """Each ticket type's stored steps in order; one query."""
    steps: dict[int, list[PriceTier]] = {}
    if ticket_type_ids:
        for tier in session.scalars(select(PriceTier).where(PriceTier.ticket_type_id.in_(list(ticket_type_ids)))
                                    .order_by(PriceTier.ticket_type_id, PriceTier.position, PriceTier.id)):
            steps.setdefault(tier.ticket_type_id, []).append(tier)
    return steps


def rows_of(tiers: Sequence[PriceTier], currency: str) -> list[dict[str, str]]:
    """Stored steps as the editor's rows of typed text (the first row's price is the Price field's)."""
    return [{"starts_on": t.starts_on.isoformat() if t.starts_on else "", "price": money_text(t.price, currency),
             "until_sold": "" if t.until_sold is None else str(t.until_sold), "label": t.label} for t in tiers]


def editor_rows(session: Session, race: Race, ticket_type_ids: Sequence[int]) -> dict[int, list[dict[str, str]]]:
    """Each ticket type's stored steps as the editor's rows; one query."""
    return {type_id: rows_of(tiers, race.currency) for type_id, tiers in steps_of(session, ticket_type_ids).items()}


def typed_rows(form: Mapping[str, str], existing: int) -> tuple[list[dict[str, str]], dict[str, str]]:
    """The rows posted for `existing` stored steps, and the new row ("new-…", blank when nothing was typed)."""
    rows = [{name: (form.get(f"step{i}-{name}") or "").strip() for name in FIELDS} for i in range(existing)]
    new = {name: (form.get(f"new-{name}") or "").strip() for name in FIELDS}
    return rows, new


def parse_steps(race: Race, ticket_type: TicketType, rows: Sequence[Mapping[str, str]],
                ) -> tuple[list[StepDraft], dict[str, str]]:
    """The rows as steps, and what is wrong with them per "<row>-<field>". Row 0 is the first step:
    its price is the ticket type's and it has no day."""
    race_day = race.starts_at.astimezone(race.tz).date()
    drafts: list[StepDraft] = []
    problems: dict[str, str] = {}
    previous_day: date | None = None
    for i, row in enumerate(rows):
        key = f"{i}-"
        price = ticket_type.price
        day = None
        if i > 0:
            try:
                price = to_minor(row.get("price") or "", race.currency)
                if not 0 <= price <= PRICE_MAX:
                    problems[key + "price"] = _("Use a price from 0 up to 100,000.")
            except (ValueError, ArithmeticError):
                problems[key + "price"] = _("Enter the price as a number, like %(example)s.",
                                            example=money_text(4500, race.currency))
            text = row.get("starts_on") or ""
            try:
                day = date.fromisoformat(text) if text else None
            except ValueError:
                day = None
                problems[key + "starts_on"] = _("Enter the day this price starts, like 2027-02-01.")
            else:
                if day is None:
                    problems[key + "starts_on"] = _("Pick the day this price starts.")
                elif problem := day_problem(day):
                    problems[key + "starts_on"] = problem
                elif day > race_day:
                    problems[key + "starts_on"] = _("This price would start after race day (%(day)s); pick an earlier day.",
                                                    day=race_day.isoformat())
                elif previous_day is not None and day == previous_day:
                    problems[key + "starts_on"] = _("Two prices can't start on the same day.")
                elif previous_day is not None and day < previous_day:
                    problems[key + "starts_on"] = _("Each price has to start after the one above it.")
            if day is not None and key + "starts_on" not in problems:
                previous_day = day
        until = (row.get("until_sold") or "").strip()
        until_sold = None
        if until:
            if not is_whole_number(until, max_digits=6) or int(until) < 1:
                problems[key + "until_sold"] = _("“Until sold” must be a whole number, 1 or more, or left empty.")
            elif i == len(rows) - 1:
                problems[key + "until_sold"] = _("The last price has no later price to give way to: leave “until sold” empty.")
            else:
                until_sold = int(until)
        label = (row.get("label") or "").strip()
        if len(label) > LABEL_MAX:
            problems[key + "label"] = _("Keep the name to %(max)d characters, like Early bird.", max=LABEL_MAX)
        drafts.append(StepDraft(price, day, until_sold, label))
    return drafts, problems


def save_steps(session: Session, race: Race, ticket_type: TicketType, rows: Sequence[Mapping[str, str]],
               new: Mapping[str, str], *, remove: int | None = None) -> None:
    """Save a ticket type's steps as typed: the stored rows (less `remove`), plus the new row if anything
    was typed in it. A list of one step is no steps: the ticket type's price alone. Commits, or raises
    PriceStepsRefused with every problem and changes nothing."""
    stored = steps_of(session, [ticket_type.id]).get(ticket_type.id, [])
    rows = list(rows)
    if len(rows) != len(stored):
        session.rollback()
        raise PriceStepsRefused({"steps": _("The prices changed in another tab; reload the page to see them.")})
    # (the row's index in the form, its stored step, what was typed); the first step is never removed
    keep = [(i, tier, row) for i, (tier, row) in enumerate(zip(stored, rows, strict=True)) if i != remove or i == 0]
    wanted = [row for _, _, row in keep]
    form_keys = [f"step{i}" for i, _, _ in keep]
    if any(new.values()):
        if not wanted:
            wanted, form_keys = [{"label": "", "until_sold": ""}], ["step0"]  # the Price field's price: the first step
        wanted.append(new)
        form_keys.append("new")
    if len(wanted) > MAX_STEPS:
        session.rollback()
        raise PriceStepsRefused({"new-starts_on": _("A ticket type can have at most %(max)d prices.", max=MAX_STEPS)})
    drafts, problems = parse_steps(race, ticket_type, wanted)
    if problems:
        session.rollback()
        raise PriceStepsRefused({f"{form_keys[int(key.split('-', 1)[0])]}-{key.split('-', 1)[1]}": message
                                 for key, message in problems.items()})

    kept = [tier for _, tier, _ in keep]
    for tier in stored:
        if tier not in kept or len(drafts) <= 1:  # one price is no steps at all: the ticket type's price alone
            session.delete(tier)
    if len(drafts) > 1:
        tiers = kept + [PriceTier(ticket_type_id=ticket_type.id) for _ in range(len(drafts) - len(kept))]
        for position, (tier, draft) in enumerate(zip(tiers, drafts, strict=True)):
            tier.position, tier.price, tier.starts_on = position, draft.price, draft.starts_on
            tier.until_sold, tier.label = draft.until_sold, draft.label
            session.add(tier)
    touch(race)
    session.commit()
