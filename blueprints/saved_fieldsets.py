"""A saved runner card's fieldsets (templates/cart/_fields.html's runner_fieldsets), laid out once per kind of
card and filled in per card.

The fieldsets of a cart's cards differ only in a few places: the card's field prefix (`r<ticket id>-`), its
check address, each field's value and state line, runner 1's "Same as runner 1", the "This is me" block and the
runner's number. Everything else (the labels and messages in the page's language, the race's questions, the
waiver) is the same for every card of every cart with the same answers to `_shape`. So the macro is rendered
once per shape with a marker in each of those places, and a card's HTML is the markers replaced by its own
values, byte for byte what the macro writes for it (tests/test_cart_fragment_html.py): the macro for each card
was a third of the cart fragment's cost (issue 17). A card posted with errors is written by the macro itself.
"""
from __future__ import annotations

import re

from markupsafe import Markup, escape
from wtforms import Field

from blueprints.runner_cards import SavedRunner
from blueprints.runner_fields import field_state, shown_value
from services.languages import current_language

_PREFIX, _URL, _CALLER, _BEFORE, _NUMBER = "\x00prefix\x00", "\x00url\x00", "\x00caller\x00", "\x00before\x00", "\x00number\x00"
_MARKER = re.compile("(\x00[a-z_]+\x00)")  # markupsafe's escape leaves NUL alone: a marker survives being escaped


def _value(name: str) -> str:
    return f"\x00value_{name}\x00"


def _state(name: str) -> str:
    return f"\x00state_{name}\x00"


class _MarkedField:
    """A field of the page's form (its label, kind and widget) whose id and name start with the prefix marker."""

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


class _MarkedForm:
    """The form a layout is rendered with: marked fields; `slots` tells runner_field and field_state to write markers."""

    errors: dict = {}  # noqa: RUF012  (never changed)

    def __init__(self, like: SavedRunner, slots: _Markers):
        self.slots = slots
        # the waiver box's tick is written by the macro, not by runner_field: it is part of the shape
        self._fields = {name: _MarkedField(field._like, field.data if name == "waiver_accepted" else None)
                        for name, field in like._fields.items()}

    def __getitem__(self, name: str) -> _MarkedField:
        return self._fields[name]

    def __getattr__(self, name: str) -> _MarkedField:
        try:
            return self.__dict__["_fields"][name]
        except KeyError:
            raise AttributeError(name) from None


def _shape(form: SavedRunner, race, waiver, number, options: dict) -> tuple:
    """Everything the macro's output depends on besides the markers' values (the page form `_like` stands for
    the labels, kinds and choices: one per language and T-shirt sizes, runner_cards.page_form)."""
    return (current_language(), form.first_name._like, race.ask_gender, tuple(race.tshirt_size_list),
            None if waiver is None else (waiver.id, waiver.number, waiver.text), bool(number),
            bool(form.waiver_accepted.data), tuple(sorted(options.items())))


_LAYOUTS: dict[tuple, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {}


def _layout(macro, form: SavedRunner, race, waiver, number, options: dict
            ) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """The macro's HTML for this shape of card, as text and markers in turn; the fields whose values and states
    it shows."""
    key = _shape(form, race, waiver, number, options)
    layout = _LAYOUTS.get(key)
    if layout is None:
        markers = _Markers()
        html = macro(_MarkedForm(form, markers), _URL, race, waiver, number=_NUMBER if number else number,
                     before_contact=Markup(_BEFORE), caller=lambda: Markup(_CALLER), **options)
        if len(_LAYOUTS) >= 256:
            _LAYOUTS.clear()
        layout = _LAYOUTS[key] = (tuple(part for part in _MARKER.split(str(html)) if part), tuple(markers.values),
                                  tuple(markers.states))
    return layout


def card_fieldsets(macro, form, check_url: str, race, waiver, *, number=None, before_contact="", caller=None,
                   **options) -> Markup:
    """What `{% call macro(form, check_url, race, waiver, ...) %}` writes, from the card's layout when the form
    is a saved card's (the template calls this with the macro in its place)."""
    if not isinstance(form, SavedRunner):  # posted, perhaps with errors: the macro writes it
        return macro(form, check_url, race, waiver, number=number, before_contact=before_contact, caller=caller,
                     **options)
    parts, value_names, state_names = _layout(macro, form, race, waiver, number, options)
    values = {_PREFIX: str(escape(form.prefix)), _URL: str(escape(check_url)),
              _CALLER: str(escape(caller())) if caller is not None else "", _BEFORE: str(escape(before_contact)),
              _NUMBER: str(escape(number))}
    for name in value_names:
        values[_value(name)] = shown_value(form[name])
    for name in state_names:
        values[_state(name)] = field_state(form, name)
    return Markup("".join(map(values.get, parts, parts)))
