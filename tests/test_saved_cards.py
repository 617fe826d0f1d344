"""blueprints/saved_cards.py writes a saved runner card from a layout made once per kind of card: the cart
fragment is byte for byte what the card's template writes by itself, in every state the cards take, in English
and Spanish, for a buyer and a visitor, and at once after a change to what a layout holds (the race's questions,
its T-shirt sizes, a new waiver, a runner's details)."""
from __future__ import annotations

import pytest

from models import Registration, WaiverVersion
from tests.factories import waiver_digest
from tests.http import csrf_token
from tests.test_cart_fragment_html import HTMX, cart, masked  # noqa: F401  (cart: the fixture)


def _both_ways(app, client, path: str) -> tuple[str, str]:
    """The fragment with saved cards from their layouts, and as the template alone writes it."""
    from_layouts = client.get(path, headers=HTMX)
    assert from_layouts.status_code == 200
    globals_ = app.jinja_env.globals
    kept = globals_["saved_card"]
    globals_["saved_card"] = lambda *args: None  # every card written by cart/_runner.html
    try:
        by_template = client.get(path, headers=HTMX)
    finally:
        globals_["saved_card"] = kept
    return masked(from_layouts.get_data(as_text=True)), masked(by_template.get_data(as_text=True))


@pytest.mark.parametrize("query", ["", "?lang=es"])
def test_the_cards_are_what_the_template_writes(app, cart, query):  # noqa: F811
    client, race, ids = cart
    from_layouts, by_template = _both_ways(app, client, f"/races/{race.slug}/cart{query}")
    assert from_layouts.count('<details class="runner-card') == 4
    assert from_layouts == by_template


def test_a_visitor_s_cards_are_what_the_template_writes(app, cart):  # noqa: F811
    _client, race, _ids = cart
    visitor = app.test_client()
    token = csrf_token(visitor, f"/races/{race.slug}")
    visitor.post(f"/races/{race.slug}/cart", data={"csrf_token": token, f"qty-{race.ticket_types[0].id}": "2"})
    from_layouts, by_template = _both_ways(app, visitor, f"/races/{race.slug}/cart")
    assert from_layouts.count('<details class="runner-card') == 2
    assert from_layouts == by_template


def test_a_change_shows_at_once(app, db, cart):  # noqa: F811
    """Each change alone, after the layouts were made: the fragment is the template's at once."""
    client, race, ids = cart
    path = f"/races/{race.slug}/cart"

    def fragment() -> str:
        from_layouts, by_template = _both_ways(app, client, path)
        assert from_layouts == by_template
        return from_layouts

    assert f'name="r{ids[0]}-gender"' not in fragment()
    race.ask_gender = True
    db.session.commit()
    assert f'name="r{ids[0]}-gender"' in fragment()
    race.tshirt_sizes = "XS,XL"
    db.session.commit()
    html = fragment()
    assert '<option value="XS">XS</option>' in html and ">M</option>" not in html
    text = "Version two: I run <em>carefully</em>."
    db.session.add(WaiverVersion(race_id=race.id, number=2, text=text, sha256=waiver_digest(text)))
    db.session.commit()
    assert "Version two: I run &lt;em&gt;carefully&lt;/em&gt;." in fragment()
    db.session.get(Registration, ids[2]).first_name = 'Zoë "Z" <i>'
    db.session.get(Registration, ids[0]).runner_fills_in = True
    db.session.commit()
    assert "Zoë &#34;Z&#34; &lt;i&gt;" in fragment()
    fourth = db.session.get(Registration, ids[3])
    fourth.first_name = fourth.last_name = ""  # a runner with details but no name yet
    db.session.commit()
    assert "No name yet" in fragment()


def test_no_runner_field_is_named_like_a_saved_form_s_own_attribute(app):
    """A saved card's form sets each field as an attribute, as WTForms' Form does: a field named like one of the
    form's own attributes or methods (`note`, `prefix`, `like`) would hide it."""
    from blueprints.cart_forms import RunnerForm
    from blueprints.runner_cards import SavedRunner
    from blueprints.saved_cards import _MarkedForm

    with app.test_request_context():
        names = set(RunnerForm(formdata=None, meta={"csrf": False})._fields)
    own = {name for cls in (SavedRunner, _MarkedForm) for klass in cls.__mro__ for name in vars(klass)}
    assert names and not names & (own | {"prefix", "like", "slots", "_fields", "_race", "_now"})
