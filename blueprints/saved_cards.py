"""A saved runner card (templates/cart/_runner.html), laid out once per kind of card and filled in per card.

The cards of a cart differ in few places: the ticket's id, field prefix (`r<ticket id>-`) and addresses, the
runner's number, name, ticket type and first problem, runner 1's name, the buyer's name, and each field's value
and state line. The rest (the labels and messages in the page's language, the race's questions, the waiver,
which of the card's branches is taken) is the same for every card of the same kind (`_kind`). So the card's
template is rendered once per kind with a marker in each of those places, and a card's HTML is the markers
replaced by its own values, escaped as the template escapes them: byte for byte what the template writes
(tests/test_cart_fragment_html.py, tests/test_saved_cards.py). Rendering the template for each card was two
fifths of the cart fragment's cost (issue 17). A card posted with errors is written by the template itself.
"""
from __future__ import annotations

import re
from types import SimpleNamespace

from flask import current_app
from markupsafe import Markup, escape
from wtforms import Field

from blueprints.runner_cards import FieldsByName, RunnerCard, SavedRunner
from blueprints.runner_fields import field_state, shown_value
from services.languages import current_language

_MARKER = re.compile("(\x00[a-z_]+\x00)")  # markupsafe's escape leaves NUL alone: a marker survives being escaped
_PREFIX, _CHECK, _SAVE, _REMOVE = "\x00prefix\x00", "\x00check\x00", "\x00save\x00", "\x00remove\x00"
_ID, _NUMBER, _NAME, _TYPE = "\x00id\x00", "\x00number\x00", "\x00runner\x00", "\x00type\x00"
_PROBLEM, _FIRST_NAME, _BUYER = "\x00problem\x00", "\x00first\x00", "\x00buyer\x00"


def _value(name: str) -> str:
    return f"\x00value_{name}\x00"


def _state(name: str) -> str:
    return f"\x00state_{name}\x00"


class _MarkedField:
    """A field of the card's form (its label, kind and widget, the page form's) whose id and name start with the prefix marker;
    its data only where the template tests it (a checkbox's tick is part of the kind)."""

    errors = ()

    def __init__(self, like: Field, data):
        self._like = like
        self.id = self.name = _PREFIX + like.short_name
        self.data = data

    def __getattr__(self, attr: str):
        return getattr(self._like, attr)


class _Markers:
    """runner_field's and field_state's answers for a form being laid out: markers, and the fields named."""

    def __init__(self):
        self.values: set[str] = set()
        self.states: set[str] = set()

    def value(self, name: str) -> Markup:
        self.values.add(name)
        return Markup(_value(name))

    def state(self, name: str) -> Markup:
        self.states.add(name)
        return Markup(_state(name))


_TESTED = ("runner_fills_in", "same_as_first", "waiver_accepted")  # fields whose data the template tests


class _MarkedForm(FieldsByName):
    """The form a layout is rendered with: marked fields; `slots` tells runner_field and field_state to write markers."""

    errors: dict = {}  # noqa: RUF012  (never changed)

    def __init__(self, saved: SavedRunner, slots: _Markers):
        self.slots = slots
        super().__init__({name: _MarkedField(field, bool(field.data) if name in _TESTED else None)
                          for name, field in saved._fields.items()})


def _marked_card(card: RunnerCard, form: _MarkedForm) -> SimpleNamespace:
    """The card as its template reads it, with markers for what changes from card to card."""
    status = card.status
    saved = card.registration  # a marker is never empty: where the template tests a value, so does the kind
    registration = SimpleNamespace(id=_ID, runner_name=_NAME if saved.runner_name else "",
                                   ticket_type=SimpleNamespace(name=_TYPE if saved.ticket_type.name else ""))
    marked_status = SimpleNamespace(registration=registration, number=_NUMBER, complete=status.complete,
                                    fills_in=status.fills_in, blank=status.blank,
                                    problems={"": _PROBLEM} if status.problems else {})
    return SimpleNamespace(registration=registration, form=form, status=marked_status, errors=[], open=card.open,
                           first=card.first, first_name=_FIRST_NAME if card.first_name else "",
                           check_url=_CHECK, save_url=_SAVE, remove_url=_REMOVE)


def _kind(card: RunnerCard, race, waiver, signed_in: bool) -> tuple:
    """Everything the card's HTML depends on besides the markers' values: the page form (`like`, one per
    language and T-shirt sizes: runner_cards.page_form) stands for the labels, kinds and choices."""
    form, status = card.form, card.status
    return (current_language(), form.like, race.ask_gender, race.tshirt_sizes,  # the sizes as the list is read from them
            None if waiver is None else (waiver.id, waiver.number, waiver.text), signed_in,
            status.complete, status.fills_in, status.blank, bool(status.problems), bool(card.registration.runner_name),
            bool(card.registration.ticket_type.name),
            card.open, card.first, bool(card.first_name), *(bool(form[name].data) for name in _TESTED))


_Layout = tuple[tuple[str, ...], tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]]
_LAYOUTS: dict[tuple, _Layout] = {}


def _layout(card: RunnerCard, race, waiver, signed_in: bool) -> _Layout:
    """The card's HTML for its kind, as text and markers in turn; the fields whose values and states it shows,
    each with its marker."""
    key = _kind(card, race, waiver, signed_in)
    layout = _LAYOUTS.get(key)
    if layout is None:
        markers = _Markers()
        html = current_app.jinja_env.get_template("cart/_runner.html").render(
            card=_marked_card(card, _MarkedForm(card.form, markers)), race=race, waiver=waiver,
            current_user=SimpleNamespace(display_name=_BUYER) if signed_in else None)
        if len(_LAYOUTS) >= 512:
            _LAYOUTS.clear()
        layout = _LAYOUTS[key] = (tuple(part for part in _MARKER.split(html) if part),
                                  tuple((_value(name), name) for name in markers.values),
                                  tuple((_state(name), name) for name in markers.states))
    return layout


def saved_card(card: RunnerCard, race, waiver, current_user) -> Markup | None:
    """What `{% include "cart/_runner.html" %}` writes for a saved card (None for a posted one: the template
    writes that)."""
    form = card.form
    if not isinstance(form, SavedRunner):
        return None
    parts, value_names, state_names = _layout(card, race, waiver, current_user is not None)
    status, registration = card.status, card.registration
    values = {_PREFIX: str(escape(form.prefix)), _CHECK: str(escape(card.check_url)),
              _SAVE: str(escape(card.save_url)), _REMOVE: str(escape(card.remove_url)),
              _ID: str(escape(registration.id)), _NUMBER: str(escape(status.number)),
              _NAME: str(escape(registration.runner_name)), _TYPE: str(escape(registration.ticket_type.name)),
              _PROBLEM: str(escape(next(iter(status.problems.values()), ""))), _FIRST_NAME: str(escape(card.first_name)),
              _BUYER: str(escape(current_user.display_name)) if current_user is not None else ""}
    for marker, name in value_names:
        values[marker] = shown_value(form[name])
    for marker, name in state_names:
        values[marker] = field_state(form, name)
    return Markup("".join(map(values.get, parts, parts)))
