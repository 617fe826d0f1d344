"""The cart page's HTML, recorded before the cart fragment was made cheaper (issue 17), stays byte for byte
the same in every state a buyer meets: an empty runner, a saved one, refused values (htmx and without
JavaScript), a runner who fills in by link, price steps and a discount code, a visitor's cart.

The recordings are tests/golden/cart_fragment/*.html (CSRF tokens masked); `RECORD_CART_HTML=1` rewrites them
(only ever from code known to be right)."""
from __future__ import annotations

import os
import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from models import PriceTier, Registration
from services import clock
from tests.factories import login, make_account, make_cart, make_code, make_race
from tests.http import csrf_token

GOLDEN = Path(__file__).parent / "golden" / "cart_fragment"
NOW = datetime(2027, 1, 15, 12, 0, tzinfo=UTC)
RACE_DAY = datetime(2027, 3, 20, 13, 0, tzinfo=UTC)
HTMX = {"HX-Request": "true"}
CSRF = re.compile(r'\bI[\w-]{20,}\.[\w-]+\.[\w-]+')  # an itsdangerous-signed token: WTForms' CSRF token


HEAD = re.compile(r"<head>.*?</head>", re.S)  # the site's shell (scripts, styles, the account key): not the cart's
STATIC_HASH = re.compile(r"(/static/[\w/.-]+?)\.[0-9a-f]{12}\.")


def masked(html: str) -> str:
    return STATIC_HASH.sub(r"\1.<hash>.", HEAD.sub("<head>…</head>", CSRF.sub("<csrf>", html)))


def matches_recording(name: str, html: str) -> None:
    path = GOLDEN / f"{name}.html"
    html = masked(html)
    if os.environ.get("RECORD_CART_HTML"):
        path.write_text(html, encoding="utf-8")
    assert html == path.read_text(encoding="utf-8"), f"{name}: the cart's HTML changed"


@pytest.fixture
def cart(app, db):
    """A signed-in buyer's cart of four: runner 1 ready, runner 2 blank, runner 3 invited to fill in,
    runner 4 saved with a problem; price steps on the 10K and a code applied."""
    clock.freeze(NOW)
    race = make_race(db, slug="lake-run", title="Lake Run", starts_at=RACE_DAY, tshirt_sizes="S,M,L",
                     tickets=[("10K", 4000, 100), ("5K", 2500, 100)])
    db.session.add_all([PriceTier(ticket_type_id=race.ticket_types[0].id, position=0, price=4000, label="Early bird"),
                        PriceTier(ticket_type_id=race.ticket_types[0].id, position=1, price=5000,
                                  starts_on=date(2027, 2, 1), label="")])
    db.session.commit()
    code = make_code(db, race, code="LAKE10")
    buyer = make_account(db, "ana@example.com", "pw-not-used", full_name="Ana López")
    order = make_cart(db, race, {race.ticket_types[0]: 3, race.ticket_types[1]: 1}, buyer=buyer, code=code)
    second, third, fourth = sorted(order.registrations, key=lambda r: r.id)[1:]
    for name in ("first_name", "last_name", "email", "date_of_birth", "tshirt_size", "emergency_name",
                 "emergency_phone", "waiver_version_id", "waiver_signature", "waiver_signed_at", "waiver_ip"):
        setattr(second, name, None if name in ("date_of_birth", "waiver_version_id", "waiver_signed_at") else "")
        setattr(third, name, None if name in ("date_of_birth", "waiver_version_id", "waiver_signed_at") else "")
    third.first_name, third.last_name, third.email, third.runner_fills_in = "Zoë", 'O"Brien <b>', "zoe@example.com", True
    fourth.date_of_birth = date(2026, 1, 1)  # too young for the race
    db.session.commit()
    client = app.test_client()
    login(client, buyer)
    yield client, race, [r.id for r in sorted(order.registrations, key=lambda r: r.id)]
    clock.reset()


def test_the_signed_in_cart_fragment_and_page(cart):
    client, race, ids = cart
    fragment = client.get(f"/races/{race.slug}/cart", headers=HTMX)
    assert fragment.status_code == 200
    matches_recording("fragment", fragment.get_data(as_text=True))
    page = client.get(f"/races/{race.slug}/cart?saved={ids[0]}")
    assert page.status_code == 200
    matches_recording("page_saved", page.get_data(as_text=True))


def _csrf(client, race) -> str:
    return re.search(r'value="(I[\w-]{20,}\.[\w-]+\.[\w-]+)"',
                     client.get(f"/races/{race.slug}/cart").get_data(as_text=True)).group(1)


def test_refused_values_with_htmx_and_without(cart):
    client, race, ids = cart
    token = _csrf(client, race)
    p = f"r{ids[1]}-"
    typed = {"csrf_token": token, p + "first_name": "Bo <i>", p + "last_name": "", p + "email": "not-an-email",
             p + "date_of_birth": "2030-01-01", p + "tshirt_size": "XXL", p + "emergency_phone": "abc",
             p + "same_as_first": "y"}
    card = client.post(f"/cart/runners/{ids[1]}", data=typed, headers=HTMX)
    assert card.status_code == 422
    matches_recording("card_refused", card.get_data(as_text=True))
    page = client.post(f"/races/{race.slug}/cart/runners", data=typed)
    assert page.status_code == 422
    matches_recording("page_refused", page.get_data(as_text=True))
    me = client.post(f"/cart/runners/{ids[1]}", data={"csrf_token": token, "fill": str(ids[1])}, headers=HTMX)
    matches_recording("card_this_is_me", me.get_data(as_text=True))


def test_a_saved_card_and_a_quantity_change_keeping_what_was_typed(cart):
    client, race, ids = cart
    token = _csrf(client, race)
    p = f"r{ids[1]}-"
    saved = client.post(f"/cart/runners/{ids[1]}", headers=HTMX, data={
        "csrf_token": token, p + "first_name": "Bo", p + "last_name": "Lind", p + "email": "bo@example.com",
        p + "date_of_birth": "1991-02-03", p + "tshirt_size": "M", p + "emergency_name": "Kim Lind",
        p + "emergency_phone": "+1 555 0101", p + "waiver_version": "1", p + "waiver_agree": "y",
        p + "waiver_signature": "Bo Lind"})
    matches_recording("card_saved", saved.get_data(as_text=True))
    changed = client.post(f"/races/{race.slug}/cart/quantity", headers=HTMX, data={
        "csrf_token": token, "ticket_type_id": str(race.ticket_types[1].id), "quantity": "2",
        f"r{ids[3]}-club": "Harriers"})
    matches_recording("fragment_quantity", changed.get_data(as_text=True))


def test_a_visitor_s_cart_and_an_empty_cart(app, db, cart):
    client, race, ids = cart
    visitor = app.test_client()
    token = csrf_token(visitor, f"/races/{race.slug}")
    visitor.post(f"/races/{race.slug}/cart", data={"csrf_token": token, f"qty-{race.ticket_types[0].id}": "2"})
    matches_recording("fragment_visitor", visitor.get(f"/races/{race.slug}/cart", headers=HTMX).get_data(as_text=True))
    token = _csrf(client, race)
    for registration_id in ids:
        client.post(f"/races/{race.slug}/cart/tickets/{registration_id}/remove", data={"csrf_token": token})
    assert db.session.query(Registration).count() == 2  # the visitor's
    matches_recording("fragment_empty", client.get(f"/races/{race.slug}/cart", headers=HTMX).get_data(as_text=True))


RUNNER_CARDS = re.compile(r'<details class="runner-card.*?</details>', re.S)


def test_the_runner_cards_in_spanish(cart):
    """The runner cards of the signed-in cart and a refused card, in Spanish (the rest of the cart has its own
    recordings); re-recorded when a message of the cards or the form's labels is translated anew."""
    client, race, ids = cart
    fragment = client.get(f"/races/{race.slug}/cart?lang=es", headers=HTMX)
    assert fragment.status_code == 200 and 'id="runner-' in fragment.get_data(as_text=True)
    matches_recording("cards_es", "\n".join(RUNNER_CARDS.findall(fragment.get_data(as_text=True))))
    p = f"r{ids[1]}-"
    refused = client.post(f"/cart/runners/{ids[1]}?lang=es", headers=HTMX, data={
        "csrf_token": _csrf(client, race), p + "first_name": "Bo", p + "email": "no", p + "date_of_birth": "2015-02-03",
        p + "emergency_phone": "abc"})
    assert refused.status_code == 422
    matches_recording("card_refused_es", "\n".join(RUNNER_CARDS.findall(refused.get_data(as_text=True))))
