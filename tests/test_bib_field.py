"""blueprints/manage/bib_field.py writes the registrant list's bib forms as the `bib_form` macro
(templates/manage/_bib_field.html, which the one-registrant bib block still calls) writes them, byte for byte."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from blueprints.manage import registrant_rows
from blueprints.manage.bib_field import bib_form

CASES = [
    # bib value, error, saved, next url
    ("", None, False, ""),
    (1234, None, False, "/manage/races/3/registrants?q=smith&sort=bib"),
    ("12", "Bib 12 is <taken> by \"Ann\" O'Neil", False, ""),
    ("9999999", None, True, "/manage/races/3/registrants?after=eyJ9&page=2"),
    ("x<y", "Not a number", True, "/x?a=1&b=\"2\""),
]
NAMES = ["Ann Smith", 'Zoë "Z" <O\'Neil> & co', None]


@pytest.mark.parametrize("bib_value, error, saved, next_url", CASES)
@pytest.mark.parametrize("name", NAMES)
def test_bib_form_is_the_macro_byte_for_byte(app, bib_value, error, saved, next_url, name):
    registration = SimpleNamespace(id=41, runner_name=name)
    target = "/manage/races/3/registrants/41/bib"
    with app.test_request_context():
        macro = app.jinja_env.get_template("manage/_bib_field.html").module.bib_form
        expected = str(macro(registration, target, "tok&en\"", bib_value, error, saved, next_url))
    assert str(bib_form(registration, target, "tok&en\"", bib_value, error, saved, next_url)) == expected


def test_the_list_writes_its_rows_with_the_python_form(app):
    """The list asks for its rows in one call, and the rows' writer uses this function (a template still calling the
    macro per row would be correct but slow, and so would one calling a global three times a row)."""
    source = app.jinja_env.loader.get_source(app.jinja_env, "manage/registrants.html")[0]
    assert "rows.html(page.rows" in source and "import bib_form" not in source and "{% for row in" not in source
    assert registrant_rows.bib_form is bib_form
