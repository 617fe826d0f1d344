"""WTForms widgets that write the same HTML as WTForms' own, about ten times faster.

WTForms builds every attribute with `Markup('{k}="{v}"').format(...)`, which runs Python's
string.Formatter once per attribute: on the cart page (a dozen fields with a dozen htmx
attributes each, per runner card) that was its largest single cost. These widgets keep WTForms'
own `__call__` (value, id, type, validation flags) and only swap in `html_params` below, the
hook WTForms' Input widgets read it from; tests/test_form_widgets.py checks the output is the
same, byte for byte.
"""
from __future__ import annotations

from markupsafe import Markup, escape
from wtforms import widgets
from wtforms.widgets.core import clean_key


def html_params(**kwargs) -> Markup:
    """`wtforms.widgets.html_params`: attributes sorted by name, True as a bare attribute, False
    left out, every name and value escaped (a value's double quotes as &quot;)."""
    params = []
    for key, value in sorted(kwargs.items()):
        key = escape(clean_key(key))
        if value is True:
            params.append(key)
        elif value is not False:
            params.append(f'{key}="{str(escape(value)).replace(chr(34), "&quot;")}"')
    return Markup(" ".join(params))


class TextInput(widgets.TextInput):
    html_params = staticmethod(html_params)


class EmailInput(widgets.EmailInput):
    html_params = staticmethod(html_params)


class TelInput(widgets.TelInput):
    html_params = staticmethod(html_params)


class DateInput(widgets.DateInput):
    html_params = staticmethod(html_params)


class Select(widgets.Select):
    """The select tag itself stays WTForms' (one per field); its options, one per choice, are ours."""

    @classmethod
    def _dispatch_render_option(cls):
        return cls.render_option  # WTForms inspects render_option's signature on every render to pick this

    @classmethod
    def render_option(cls, choice, **kwargs):
        value = choice.value
        if isinstance(value, bool):
            value = str(value)
        options = {"value": value, **(choice.render_kw or {}), **kwargs}
        if choice.selected:
            options["selected"] = True
        return Markup(f"<option {html_params(**options)}>{escape(choice.label or choice.value)}</option>")
