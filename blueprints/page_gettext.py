"""gettext for templates: the catalog of the page's language looked up once per request (services.languages.translations),
not per message.

Flask-Babel looks the catalog up on every gettext call (the domain, the locale, its name: 6 µs), and Jinja's
newstyle gettext adds two calls more: a cart page with a hundred messages paid a millisecond (issue 17).
"""
from __future__ import annotations

from jinja2 import pass_eval_context
from markupsafe import Markup

from services.languages import translations


@pass_eval_context
def template_gettext(eval_ctx, string: str, /, **variables) -> str:
    """The templates' `_()` and `gettext()`: Jinja's newstyle gettext (the message is markup, its variables are
    escaped) reading the catalog through `translations`, in one call instead of Jinja's three (7.6 → 2 µs)."""
    text = translations().ugettext(string)
    if eval_ctx.autoescape:
        text = Markup(text)
    return text % variables if variables or "%" in text else text  # "%%" is "%" with or without variables


@pass_eval_context
def template_ngettext(eval_ctx, singular: str, plural: str, count: int, /, **variables) -> str:
    """The templates' `ngettext()`, as `template_gettext` (`num` filled in unless the template gives it, as
    a formatted number)."""
    variables.setdefault("num", count)
    text = translations().ungettext(singular, plural, count)
    return (Markup(text) if eval_ctx.autoescape else text) % variables
