"""One runner's bib form as HTML, written in Python for the registrant list's 50 rows.

The macro in templates/manage/_bib_field.html writes the same form for one registrant (the bib block of
_bib_form.html); called 50 times a page it was a good part of the list's cost. Here the HTML is the same,
byte for byte (tests/test_bib_field.py renders it both ways), written with string formatting.
"""
from __future__ import annotations

from functools import lru_cache

from babel.support import NullTranslations
from markupsafe import Markup, escape

from blueprints.page_gettext import translations

_FORM = ('<form class="bib-form" id="bib-{id}" method="post" action="{target}"\n'
         '      hx-post="{target}" hx-trigger="change, submit" hx-target="this" hx-swap="outerHTML" hx-sync="this:drop">\n'
         '  <input type="hidden" name="csrf_token" value="{csrf}">\n'
         '{next}  <label for="bib-input-{id}" class="visually-hidden">{label}</label>\n'
         '  <input id="bib-input-{id}" name="bib" value="{value}" inputmode="numeric" autocomplete="off"\n'
         '         maxlength="7" placeholder="{placeholder}" aria-describedby="bib-state-{id}"\n'
         '{invalid}>\n'
         '  <button type="submit" class="autosave-fallback secondary outline">{save}</button>\n'
         '  <output id="bib-state-{id}" class="bib-state" aria-live="polite">{state}</output>\n'
         '</form>')


def bib_form(registration, target: str, csrf: str, bib_value, bib_error=None, bib_saved: bool = False,
             next_url: str = "") -> Markup:
    """What the `bib_form` macro writes for these arguments."""
    label, placeholder, save, saved = _words(translations())
    if bib_error:
        state = f'<span class="field-error">{escape(bib_error)}</span>'
    elif bib_saved:
        state = f'<span class="autosave-status">{saved}</span>'
    else:
        state = ""
    return Markup(_FORM.format(
        id=escape(registration.id), target=escape(target), csrf=escape(csrf),
        label=label % {"name": escape(registration.runner_name)}, placeholder=placeholder, save=save,
        value=escape(bib_value), invalid='aria-invalid="true"' if bib_error else "", state=state,
        next=f'<input type="hidden" name="next" value="{escape(next_url)}">' if next_url else ""))


@lru_cache(maxsize=16)
def _words(catalog: NullTranslations) -> tuple[str, ...]:
    """The form's words in one language, looked up once per catalog, not three times a row. As the macro's _()
    does: the translation as it is (translators write HTML-safe text), the name escaped into it. The catalog has
    the words from the macro too."""
    gettext = catalog.ugettext
    return gettext("Bib for %(name)s"), gettext("Add bib"), gettext("Save"), gettext("Saved")
