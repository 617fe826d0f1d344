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
            params.append(f'{key}="{str(escape(value)).replace(QUOTE, "&quot;")}"')
    return Markup(" ".join(params))


QUOTE = '"'



class TextInput(widgets.TextInput):
    html_params = staticmethod(html_params)


class EmailInput(widgets.EmailInput):
    html_params = staticmethod(html_params)


class TelInput(widgets.TelInput):
    html_params = staticmethod(html_params)


class DateInput(widgets.DateInput):
    html_params = staticmethod(html_params)


class Select(widgets.Select):
    """WTForms' Select (`multiple` included), with its tag and options written by `html_params` above."""

    def __call__(self, field, **kwargs):
        kwargs.setdefault("id", field.id)
        if self.multiple:
            kwargs["multiple"] = True
        flags = getattr(field, "flags", {})
        for k in dir(flags):
            if k in self.validation_attrs and k not in kwargs:
                kwargs[k] = getattr(flags, k)
        html = [f"<select {html_params(name=field.name, **kwargs)}>"]
        if field.has_groups():
            for group, choices in field._iter_groups_normalized():
                if group is not None:
                    html.append(f"<optgroup {html_params(label=group)}>")
                html.extend(self.render_option(choice) for choice in choices)
                if group is not None:
                    html.append("</optgroup>")
        else:
            html.extend(self.render_option(choice) for choice in field._iter_choices_normalized())
        html.append("</select>")
        return Markup("".join(html))

    @classmethod
    def render_option(cls, choice, **kwargs):
        value = choice.value
        if isinstance(value, bool):
            value = str(value)
        options = {"value": value, **(choice.render_kw or {}), **kwargs}
        if choice.selected:
            options["selected"] = True
        return Markup(f"<option {html_params(**options)}>{escape(choice.label or choice.value)}</option>")
