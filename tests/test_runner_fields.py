"""blueprints/runner_fields.py writes the runner form's fields as the Jinja macro and WTForms widgets it
replaced wrote them, byte for byte: saved, posted, refused, with a note, for every field the form shows."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest
from flask import render_template_string
from werkzeug.datastructures import MultiDict

from blueprints.cart_forms import RunnerForm
from blueprints.runner_fields import control, runner_field
from tests.factories import make_race

# The macro the Python replaced (templates/cart/_fields.html before it), the oracle for the whole field.
MACRO = """
{%- macro field_state(form, name) -%}
{% set f = form[name] %}
{% if f.errors %}<small class="field-error" id="{{ f.id }}-error">{{ f.errors[0] }}</small>
{% elif form.note(name) %}<small class="field-note">{{ form.note(name) }}</small>{% endif %}
{%- endmacro %}
{% macro runner_field(form, name, check_url, hint=None, optional=False, autocomplete=None, type=None, trigger=None, class_="") -%}
{% set f = form[name] %}
{% set described = [f.id ~ "-state"] + ([f.id ~ "-hint"] if hint else []) %}
{% set attrs = {"aria-describedby": described|join(" "), "hx-post": check_url,
                "hx-trigger": trigger or ("change" if f.type == "SelectField" else "input changed delay:600ms, change"),
                "hx-target": "#" ~ f.id ~ "-state", "hx-swap": "innerHTML", "hx-sync": "closest form:queue all",
                "hx-vals": '{"_field": "' ~ name ~ '"}'} %}
{% if f.errors %}{% set _ = attrs.update({"aria-invalid": "true"}) %}{% endif %}
{% if autocomplete %}{% set _ = attrs.update({"autocomplete": autocomplete}) %}{% endif %}
{% if type %}{% set _ = attrs.update({"type": type}) %}{% endif %}
{% set _ = attrs.update(kwargs) %}
{% if f.type == "StringField" or f.type == "EmailField" or f.type == "TelField" %}
{% set _ = attrs.update({"spellcheck": "false"}) %}{% endif %}
<div class="field {{ class_ }}">
  <label for="{{ f.id }}">{{ f.label.text }}{% if optional %} <span class="muted optional">(optional)</span>{% endif %}</label>
  {% if hint %}<small id="{{ f.id }}-hint" class="hint field-hint">{{ hint }}</small>{% endif %}
  {{ f(**attrs) }}
  <div id="{{ f.id }}-state" class="field-state" aria-live="polite">{{ field_state(form, name) }}</div>
</div>
{%- endmacro %}
{{ runner_field(form, name, check_url, **options) }}"""

TRICKY = ['Ana "Ani" López', "<b>O'Brien</b> & Co", "Zoë 東京", ""]
FIELDS = {  # as templates/cart/_fields.html asks for each
    "first_name": {"autocomplete": "given-name", "maxlength": 100},
    "last_name": {"autocomplete": "family-name", "maxlength": 100},
    "email": {"autocomplete": "email", "hint": "The ticket & race-day news go here."},
    "date_of_birth": {"autocomplete": "bday", "type": "date"},
    "gender": {"optional": True},
    "tshirt_size": {},
    "emergency_name": {"autocomplete": "off"},
    "emergency_phone": {"autocomplete": "off"},
    "address": {"autocomplete": "street-address", "maxlength": 200, "optional": True},
    "club": {"autocomplete": "off", "maxlength": 100, "optional": True},
    "waiver_guardian_name": {"autocomplete": "off", "maxlength": 200, "optional": True, "hint": 'Under 18: "a parent"'},
    "waiver_signature": {"autocomplete": "off", "class_": "signature", "hint": "Type the runner's full name."},
}


def _forms(race, typed: str):
    """A saved form, and a posted one (validated, so with errors and the age note) holding `typed`."""
    now = datetime(2026, 3, 1, tzinfo=UTC)
    ticket_type = race.ticket_types[0]
    saved = RunnerForm(formdata=None, prefix="r7-", data={
        "first_name": typed, "last_name": typed, "email": typed, "gender": "Female" if typed else "",
        "tshirt_size": "M" if typed else "", "emergency_name": typed, "emergency_phone": typed, "club": typed,
        "waiver_signature": typed}).bind(race, ticket_type, None, now)
    posted = RunnerForm(formdata=MultiDict({
        "r7-first_name": typed, "r7-email": "not an email", "r7-date_of_birth": "2015-02-30" if typed else "2010-05-01",
        "r7-tshirt_size": typed, "r7-waiver_signature": typed, "r7-waiver_guardian_name": typed}),
        prefix="r7-", meta={"csrf": False}).bind(race, ticket_type, None, now)
    posted.validate()
    return saved, posted


@pytest.mark.parametrize("typed", TRICKY)
def test_each_field_is_written_as_the_macro_and_wtforms_wrote_it(app, db, typed):
    race = make_race(db, ask_gender=True, tshirt_sizes="XS,S,M,L,\"XL\" & more")
    with app.test_request_context():
        for form in _forms(race, typed):
            for name, options in FIELDS.items():
                expected = render_template_string(MACRO, form=form, name=name, check_url="/cart/runners/7/check?a=1&b=2",
                                                  options=options)
                assert str(runner_field(form, name, "/cart/runners/7/check?a=1&b=2", **options)) == expected, name


def test_the_control_is_what_the_field_s_own_widget_writes(app, db):
    race = make_race(db, tshirt_sizes="S,M")
    with app.test_request_context():
        for form in _forms(race, 'x"<y>'):
            for name in FIELDS:
                attrs = {"aria-invalid": "true", "hx-vals": '{"_field": "x"}', "maxlength": 5}
                assert control(form[name], dict(attrs)) == str(form[name](**attrs)), name
