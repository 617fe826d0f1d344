"""The runner forms on the cart page: one card per ticket, bound to what was saved or to what was just posted.

Every card's fields carry the prefix `r<ticket id>-`, so the ids and names of twenty runners on one
page never clash, and a post of the whole page can be read runner by runner.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask import g
from wtforms import Field

from blueprints.cart_forms import RunnerForm
from blueprints.rendering import page_url
from models import Race, Registration, WaiverVersion
from services.cart_status import RunnerStatus
from services.languages import current_language
from services.runners import SHARED_FIELDS, RunnerDetails, age_note
from services.typed_input import is_whole_number

HIDDEN_ERRORS = ("csrf_token", "waiver_version")


OPEN_AT_ONCE = 3  # runner cards open on arrival; the rest open one by one as cards are saved

_ANY_ID = 987654321987  # a ticket id no real one equals, marking where each card's own goes in its addresses


@dataclass(frozen=True)
class CardUrls:
    """The addresses a runner card posts to, built once a page with the ticket id left open: url_for three times
    a card was a cost of the cart page (issue 17)."""

    check: tuple[str, str]
    save: tuple[str, str]
    remove: tuple[str, str]

    @classmethod
    def for_race(cls, race: Race) -> CardUrls:
        def around_id(endpoint: str, **values) -> tuple[str, str]:
            head, _id, tail = page_url(endpoint, registration_id=_ANY_ID, **values).partition(str(_ANY_ID))
            return head, tail

        return cls(check=around_id("cart.check_runner"), save=around_id("cart.save"),
                   remove=around_id("cart.remove", slug=race.slug))


@dataclass
class RunnerCard:
    """One ticket's runner form, and whether it starts open."""

    status: RunnerStatus           # as saved: what the summary line says
    form: RunnerForm | SavedRunner  # as saved, or as posted (with its errors)
    urls: CardUrls
    open: bool = False
    first_name: str = ""           # runner 1's name, for "Same as runner 1 (Ana López)"

    @property
    def registration(self) -> Registration:
        return self.status.registration

    @property
    def first(self) -> bool:
        return self.status.number == 1

    @property
    def errors(self) -> list:
        """(field, message) for each field the form refused, in the form's order."""
        return [(self.form[name], messages[0]) for name, messages in self.form.errors.items()
                if name in self.form._fields and name not in HIDDEN_ERRORS]

    def _url(self, around_id: tuple[str, str]) -> str:
        return f"{around_id[0]}{self.registration.id}{around_id[1]}"

    @property
    def check_url(self) -> str:
        return self._url(self.urls.check)

    @property
    def save_url(self) -> str:
        return self._url(self.urls.save)

    @property
    def remove_url(self) -> str:
        return self._url(self.urls.remove)


def prefix_of(registration: Registration) -> str:
    return f"r{registration.id}-"


def buyer_email() -> str | None:
    """The signed-in buyer's email (a visitor without an account has none yet)."""
    user = g.get("user")
    return user.email if user is not None else None


def page_form(race: Race, ticket_type, waiver: WaiverVersion | None, now: datetime) -> RunnerForm:
    """The RunnerForm whose fields' labels, kinds and choices every saved card shows. They depend only on the
    page's language and the race's T-shirt sizes, so one form is built for each of those and kept (building
    forms was a tenth of a cart page): read only, never given a request's data."""
    key = (current_language(), tuple(race.tshirt_size_list))
    form = _PAGE_FORMS.get(key)
    if form is None:
        if len(_PAGE_FORMS) >= 64:
            _PAGE_FORMS.clear()
        form = _PAGE_FORMS[key] = RunnerForm(formdata=None, meta={"csrf": False}).bind(race, ticket_type, waiver, now)
        for field in form:  # its labels in the page's language once, not a lazy gettext per field per card
            field.label.text = str(field.label.text)
    return form


_PAGE_FORMS: dict[tuple[str, tuple[str, ...]], RunnerForm] = {}


def saved_form(registration: Registration, race: Race, waiver: WaiverVersion | None, now: datetime,
               first: Registration | None = None, like: RunnerForm | None = None) -> SavedRunner:
    """The form as the ticket holds it; "Same as runner 1" ticked when it shares runner 1's details. `like`: the
    page's RunnerForm (page_form), when the page shows several cards."""
    form = SavedRunner(like or page_form(race, registration.ticket_type, waiver, now), registration, race, now)
    form.same_as_first.data = first is not None and shares_details(registration, first)
    return form


def saved_field(like: Field, prefix: str, data=None) -> Field:
    """A field of a saved card: a copy of the page form's field (its label, kind, widget and choices) with this
    ticket's id, name and data, made by WTForms' own `process_data`, so a saved card reads exactly as a RunnerForm
    of the ticket would. A copy, not a wrapper that hands on what it lacks: each attribute a wrapper missed was an
    AttributeError raised and caught, a dozen per field on every cart page (issue 17)."""
    field = object.__new__(type(like))  # not type(like)(): a WTForms field made outside a form is an UnboundField
    field.__dict__.update(like.__dict__)
    field.id = field.name = prefix + like.short_name
    field.errors, field.raw_data = (), None  # nobody posted it: never the page form's, whatever that form holds
    field.process_data(data)
    return field


class FieldsByName:
    """A form's fields by name, as a WTForms form gives them (`form.email`, `form["email"]`): each an attribute
    too, as WTForms' Form sets them, so reading one raises nothing on the way."""

    def __init__(self, fields: dict):
        self._fields = fields
        self.__dict__.update(fields)

    def __getitem__(self, name: str):
        return self._fields[name]


class SavedRunner(FieldsByName):
    """A card's form as its ticket holds it, for a card nobody posted: what the card's template and runner_field
    read of a RunnerForm, without building a WTForms form (19 fields bound) for every ticket on every cart page
    (issue 17). A posted card is a real RunnerForm, with its errors."""

    errors: dict = {}  # noqa: RUF012  (never changed: a saved card has no errors)
    slots = None  # a real card, not one being laid out (runner_fields.field_state)

    def __init__(self, like: RunnerForm, registration: Registration, race: Race, now: datetime):
        self.prefix = prefix = prefix_of(registration)
        data = RunnerForm.saved_data(registration)
        super().__init__({name: saved_field(field, prefix, data.get(name)) for name, field in like._fields.items()
                          if name != "csrf_token"})
        self.like = like  # the page form it copies: what a card's layout depends on (saved_cards._kind)
        self._race, self._now = race, now

    def note(self, name: str) -> str | None:
        """As RunnerForm.note: the age on race day beside a date of birth."""
        if name == "date_of_birth":
            return age_note(RunnerDetails(date_of_birth=self.date_of_birth.data), self._race, self._now)
        return None


def posted_form(registration: Registration, race: Race, waiver: WaiverVersion | None, now: datetime) -> RunnerForm:
    """The form as this request posted it (its own prefixed fields only)."""
    return RunnerForm(prefix=prefix_of(registration)).bind(race, registration.ticket_type, waiver, now, buyer_email())


def shares_details(registration: Registration, first: Registration) -> bool:
    return (registration.id != first.id and bool(first.emergency_name)
            and all(getattr(registration, name) == getattr(first, name) for name in SHARED_FIELDS))


def copy_from_first(forms: list[RunnerForm], first: Registration, first_posted: RunnerForm) -> None:
    """"Same as runner 1" on the server: runner 1's details as posted with these forms, else as saved."""
    posted = any(first_posted[name].raw_data for name in SHARED_FIELDS)
    source = first_posted.details() if posted else RunnerDetails.of(first)
    for form in forms:
        if form.same_as_first.data:
            form.copy_shared(source)


def changed(form: RunnerForm, registration: Registration) -> bool:
    """Whether a posted form says anything the ticket doesn't hold yet (an untouched card is left alone, and so
    is a card the post did not carry at all: its missing fields are not a runner's details wiped)."""
    if not any(field.raw_data for field in form if field.short_name != "csrf_token"):
        return False
    saved = RunnerDetails.of(registration)
    posted = form.details()
    if form.waiver_version.data:  # the version shown is not a change by itself
        posted.waiver_version_id = saved.waiver_version_id
    return posted != saved


def typed_forms(registrations: list[Registration], race: Race, waiver: WaiverVersion | None, now: datetime,
                formdata) -> dict[int, RunnerForm]:
    """The runner forms typed into and posted along with another change (a quantity, a code, a removal),
    so the page that comes back still holds what was typed and not saved yet."""
    forms = {}
    for registration in registrations:
        if any(key.startswith(prefix_of(registration)) for key in formdata):
            form = posted_form(registration, race, waiver, now)
            if changed(form, registration):
                forms[registration.id] = form
    return forms


def runner_cards(runners: list[RunnerStatus], race: Race, waiver: WaiverVersion | None, now: datetime,
                 forms: dict[int, RunnerForm] | None = None) -> list[RunnerCard]:
    """A card per ticket: `forms` (posted, perhaps with errors) open, the others as saved.

    The first OPEN_AT_ONCE runners still to fill in are open, so a buyer and a friend or two need no click to
    start; a club's tenth runner waits closed (the page stays a page; saving a card opens the next one).
    """
    forms = forms or {}
    if not runners:
        return []
    first = runners[0].registration
    to_fill = [status for status in runners if not status.complete][:OPEN_AT_ONCE]
    first_to_fill = {status.registration.id for status in to_fill}
    like = page_form(race, first.ticket_type, waiver, now) if len(forms) < len(runners) else None
    cards, urls = [], CardUrls.for_race(race)
    for status in runners:
        registration = status.registration
        form = forms.get(registration.id) or saved_form(registration, race, waiver, now, first, like)
        is_open = registration.id in forms or registration.id in first_to_fill
        cards.append(RunnerCard(status=status, form=form, urls=urls, open=is_open, first_name=first.runner_name))
    return cards


def saved_names(runners: list[RunnerStatus], raw: str) -> list[str]:
    """`?saved=3,4` after a save: whose details were saved (only among these tickets), in the cart's order."""
    ids = {int(part) for part in raw.split(",")[:50] if is_whole_number(part)}
    return [r.registration.runner_name for r in runners if r.registration.id in ids and r.registration.runner_name]
