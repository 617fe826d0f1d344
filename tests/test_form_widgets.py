"""blueprints/form_widgets.py writes exactly the HTML WTForms' own widgets write, only faster."""
from datetime import date

import pytest
from markupsafe import Markup
from wtforms import DateField, EmailField, Form, SelectField, SelectMultipleField, StringField, TelField, widgets
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length

from blueprints import form_widgets
from blueprints.cart_forms import RunnerForm

TRICKY = ['plain', 'quote " and \' apostrophe', '<script>&amp;</script>', 'Zoë Ørsted 東京', '', '  spaced  ']
ATTRIBUTES = [
    {},
    {"class_": "a b", "data_same_as_first": "r1-", "aria_describedby": "x-state x-hint", "hx-post": "/check?a=1&b=2"},
    {"hx-vals": '{"_field": "first_name"}', "autocomplete": "given-name", "maxlength": 100, "spellcheck": "false"},
    {"required": True, "disabled": False, "aria-invalid": "true", "for_": "x", "value": Markup('<b>"kept"</b>')},
]


class Stock(Form):
    text = StringField(validators=[InputRequired(), Length(max=5)])
    email = EmailField()
    phone = TelField()
    born = DateField()
    size = SelectField(choices=[SelectChoice("", "Choose"), SelectChoice("S", "Small"), SelectChoice("M&L", 'M & "L"')],
                       validate_choice=False)


    sizes = SelectMultipleField(choices=[SelectChoice("S", "Small"), SelectChoice("M&L", "Medium")], validate_choice=False)
    grouped = SelectField(choices=[SelectChoice("a", "A", optgroup="One & two"), SelectChoice("b", '"B"', optgroup="Three")],
                          validate_choice=False)


class Fast(Form):
    text = StringField(validators=[InputRequired(), Length(max=5)], widget=form_widgets.TextInput())
    email = EmailField(widget=form_widgets.EmailInput())
    phone = TelField(widget=form_widgets.TelInput())
    born = DateField(widget=form_widgets.DateInput())
    size = SelectField(choices=[SelectChoice("", "Choose"), SelectChoice("S", "Small"), SelectChoice("M&L", 'M & "L"')],
                       validate_choice=False, widget=form_widgets.Select())
    sizes = SelectMultipleField(choices=[SelectChoice("S", "Small"), SelectChoice("M&L", "Medium")], validate_choice=False,
                                widget=form_widgets.Select(multiple=True))
    grouped = SelectField(choices=[SelectChoice("a", "A", optgroup="One & two"), SelectChoice("b", '"B"', optgroup="Three")],
                          validate_choice=False, widget=form_widgets.Select())


@pytest.mark.parametrize("value", TRICKY)
@pytest.mark.parametrize("attrs", ATTRIBUTES)
def test_the_fast_widgets_write_what_wtforms_writes(value, attrs):
    data = {"text": value, "email": value, "phone": value, "born": date(1990, 4, 21), "size": "M&L" if value else "",
            "sizes": ["S", "M&L"] if value else [], "grouped": "b" if value else ""}
    stock, fast = Stock(data=data), Fast(data=data)
    for name in ("text", "email", "phone", "born", "size", "sizes", "grouped"):
        assert str(fast[name](**attrs)) == str(stock[name](**attrs)), name


def test_html_params_matches_wtforms_for_every_kind_of_value():
    values = {"a": True, "b": False, "c": 0, "d": None, "e": '"&<>', "f_": "x", "data_x_y": Markup("&amp;\""),
              "aria_z": 1.5, "g": "ünï"}
    assert str(form_widgets.html_params(**values)) == str(widgets.html_params(**values))
    assert isinstance(form_widgets.html_params(a="1"), Markup)


def test_the_runner_form_uses_the_fast_widgets_for_every_field_a_card_renders_with_wtforms(app):
    with app.test_request_context():
        form = RunnerForm(formdata=None)
        form.gender.choices = [SelectChoice("", "Not given")]
        stock = [type(f.widget) for f in form if type(f.widget).__module__ == widgets.core.__name__]
    # Only the fields the templates write by hand (checkboxes, radios, the hidden fields) keep WTForms' widgets.
    assert set(stock) <= {widgets.CheckboxInput, widgets.HiddenInput}
