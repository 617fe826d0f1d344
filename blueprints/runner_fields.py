"""The runner form's fields as HTML, written in Python: a label, its hint, the input that checks itself
as it is typed, and the state beside it (templates/cart/_fields.html lays them out).

A cart page holds a dozen of these per runner card. Written by Jinja macros and WTForms' widgets they
were most of the page's cost (a macro call, an attribute dict, WTForms' keyword cleaning and `dir()` of
the field's flags, and an escape per attribute, per field); here the HTML is the same, byte for byte
(tests/test_runner_fields.py renders each field both ways), at a fraction of the cost.
"""
from __future__ import annotations

import re
from functools import lru_cache

from markupsafe import Markup, escape
from wtforms import Field, Form

from services.languages import gettext as _

CHECK_SYNC = "closest form:queue all"  # every check of the form and its Save take turns (see _fields.html)
TYPED_TRIGGER = "input changed delay:600ms, change"
TEXT_TYPES = ("StringField", "EmailField", "TelField")  # the spellcheck="false" ones
_SAFE = frozenset({CHECK_SYNC, TYPED_TRIGGER, "change", "innerHTML", "true", "false", "off", "text", "email", "tel", "date"})


def _attr(value) -> str:
    """An attribute's value as wtforms.widgets.html_params writes it (its double quotes as &quot;)."""
    if value in _SAFE:  # the same few words on every field: nothing in them to escape
        return value
    return str(escape(value)).replace('"', "&quot;")


def _params(attrs: dict) -> str:
    """wtforms.widgets.html_params for names that need no cleaning: sorted, True bare, False left out."""
    return " ".join(name if value is True else f'{name}="{_attr(value)}"'
                    for name, value in sorted(attrs.items()) if value is not False)


def control(field: Field, attrs: dict) -> str:
    """What `field(**attrs)` writes for the runner form's inputs and selects (no flags: their fields have no
    validators that set `required`, `maxlength` and the like)."""
    attrs.setdefault("id", field.id)
    if field.type == "SelectField":
        return f"<select {_params({'name': field.name, **attrs})}>{_options(field)}</select>"
    attrs.setdefault("type", field.widget.input_type)
    attrs.setdefault("value", field._value())
    return f"<input {_params({'name': field.name, **attrs})}>"


def field_state(form: Form, name: str) -> Markup:
    """The line beside a field: its first error, else a helpful note (the age that counts on race day)."""
    slots = getattr(form, "slots", None)
    if slots is not None:  # a card's fieldsets being laid out (blueprints/saved_fieldsets.py)
        return slots.state(name)
    field = form[name]
    if field.errors:
        return Markup(f'<small class="field-error" id="{escape(field.id)}-error">{escape(field.errors[0])}</small>\n')
    note = form.note(name)
    return Markup(f'<small class="field-note">{escape(note)}</small>') if note else _NO_STATE


_NO_STATE = Markup("")  # most fields' state line, every card of every page


def runner_field(form: Form, name: str, check_url: str, hint: str | None = None, optional: bool = False,
                 autocomplete: str | None = None, type: str | None = None, trigger: str | None = None,  # noqa: A002
                 class_: str = "", **extra) -> Markup:
    """One field that checks itself: its input posts to `check_url` and the answer lands in the field's
    state element (a polite live region the input is described by), never in the input.

    The HTML around the few values that change from card to card (the field's id and name, the check URL, the
    value, the state) is the same for every card of a page, so it is written once per kind of field
    (`_layout`) and the values are put in its slots."""
    field = form[name]
    slots = getattr(form, "slots", None)  # a card's fieldsets being laid out (blueprints/saved_fieldsets.py)
    layout = _layout(name, field.type, getattr(field.widget, "input_type", ""), str(field.label.text),
                     None if hint is None else str(hint), str(_("(optional)")) if optional else None, autocomplete,
                     type, trigger, class_,
                     tuple(sorted(extra.items())), bool(field.errors))
    values = {_ID: escape(field.id), _NAME: escape(field.name), _URL: escape(check_url),
              _VALUE: shown_value(field) if slots is None else slots.value(name),
              _STATE: field_state(form, name)}
    return Markup("".join([values.get(part, part) for part in layout]))


def shown_value(field: Field) -> str:
    """What runner_field writes as the field's value: a select's options, else its value escaped."""
    if field.type == "SelectField":
        return _options(field)
    value = field._value()
    return value if value in _SAFE else escape(value)


_ID, _NAME, _URL, _VALUE, _STATE = "\x00id\x00", "\x00name\x00", "\x00url\x00", "\x00value\x00", "\x00state\x00"
_SLOTS = re.compile("(\x00[a-z]+\x00)")  # markupsafe's escape leaves NUL alone, so a slot survives being escaped


def _options(field: Field) -> str:
    """A select's options, as its widget writes them (the value the field holds selected)."""
    return "".join(f"<option {'selected ' if field.coerce(choice.value) == field.data else ''}"
                   f'value="{_attr(choice.value)}">{escape(choice.label or choice.value)}</option>'
                   for choice in field.choices)


class _Slot:
    """A field as `_write` sees it when a layout is made: its changing parts are slots."""

    def __init__(self, kind: str, input_type: str, label: str, invalid: bool):
        self.id, self.name, self.type = _ID, _NAME, kind
        self.label_text, self.invalid = label, invalid
        self.input_type = input_type


@lru_cache(maxsize=512)
def _layout(name: str, kind: str, input_type: str, label: str, hint: str | None, optional: str | None,
            autocomplete: str | None, type_: str | None, trigger: str | None, class_: str, extra: tuple,
            invalid: bool) -> tuple[str, ...]:
    """The field's HTML with slots for its id, name, check URL, value and state: text and slot names in turn."""
    html = _write(_Slot(kind, input_type, label, invalid), name, hint, optional, autocomplete, type_, trigger,
                  class_, dict(extra))
    return tuple(part for part in _SLOTS.split(html) if part)


def _write(field: _Slot, name: str, hint: str | None, optional: str | None, autocomplete: str | None, type_: str | None,
           trigger: str | None, class_: str, extra: dict) -> str:
    field_id = field.id
    attrs = {"aria-describedby": f"{field_id}-state {field_id}-hint" if hint else f"{field_id}-state",
             "hx-post": _URL,
             "hx-trigger": trigger or ("change" if field.type == "SelectField" else TYPED_TRIGGER),
             "hx-target": f"#{field_id}-state", "hx-swap": "innerHTML", "hx-sync": CHECK_SYNC,
             "hx-vals": f'{{"_field": "{name}"}}'}
    if field.invalid:
        attrs["aria-invalid"] = "true"
    if autocomplete:
        attrs["autocomplete"] = autocomplete
    if type_:
        attrs["type"] = type_
    attrs.update(extra)
    if field.type in TEXT_TYPES:
        attrs["spellcheck"] = "false"
    attrs.setdefault("id", field_id)
    if field.type == "SelectField":
        control_html = f"<select {_params({'name': field.name, **attrs})}>{_VALUE}</select>"
    else:
        attrs.setdefault("type", field.input_type)
        attrs.setdefault("value", _VALUE)
        control_html = f"<input {_params({'name': field.name, **attrs})}>"
    optional_note = f' <span class="muted optional">{escape(optional)}</span>' if optional else ""
    hint_html = _HINT.format(id=field_id, hint=escape(hint)) if hint else ""
    return _FIELD.format(class_=escape(class_), id=field_id, label=escape(field.label_text), optional=optional_note,
                         hint=hint_html, control=control_html, state=_STATE)


_HINT = '<small id="{id}-hint" class="hint field-hint">{hint}</small>'
_FIELD = ('<div class="field {class_}">\n'
          '  <label for="{id}">{label}{optional}</label>\n'
          '{hint}  {control}\n'
          '  <div id="{id}-state" class="field-state" aria-live="polite">{state}</div>\n'
          '</div>')
