"""Every runner on the cart page: one card per ticket, saved one at a time (htmx) or all at once (no JavaScript),
Same as runner 1, and Let them fill in and sign."""
from __future__ import annotations

import re

import pytest

from models import OrderStatus, Registration
from services.cart_status import cart_problems
from tests.factories import login, make_cart, make_profile
from tests.test_cart import (  # noqa: F401  (fixtures: the buyer, the race, a signed-in client, the clock)
    NOW,
    add,
    buyer,
    frozen_clock,
    prefixed,
    race,
    signed_in,
    tag,
    text,
    the_cart,
    tickets_in,
    token,
    valid_runner,
    waiver_id,
)

HTMX = {"HX-Request": "true"}


def card_of(page: str, registration) -> str:
    """One runner's card, from its <details> to its end."""
    match = re.search(rf'<details class="runner-card[^"]*" id="runner-{registration.id}".*?</details>', page, re.S)
    assert match, f"no card for runner {registration.id}"
    return match.group(0)


def is_open(page: str, registration) -> bool:
    return bool(re.match(r'<details[^>]*\bopen>', card_of(page, registration)))


def runner_fields(db, race, registration, **overrides) -> dict:
    return prefixed(registration, waiver_version=str(waiver_id(db, race)), **valid_runner(**overrides))


def fresh(db, registration) -> Registration:
    db.session.expire_all()
    return db.session.get(Registration, registration.id)


@pytest.fixture
def three(signed_in, db, buyer, race) -> list[Registration]:
    add(signed_in, race, **{"10K": 3})
    return tickets_in(db, the_cart(db, buyer, race))


def test_a_club_s_cart_opens_the_first_three_runners_to_fill_and_keeps_the_page_a_page(signed_in, db, buyer, race):
    add(signed_in, race, **{"10K": 6})
    tickets = tickets_in(db, the_cart(db, buyer, race))
    signed_in.post(f"/cart/runners/{tickets[0].id}", data={"csrf_token": token(signed_in),
                                                            **runner_fields(db, race, tickets[0])})
    page = text(signed_in.get("/races/lake/cart"))
    assert [is_open(page, t) for t in tickets] == [False, True, True, True, False, False]


def save_all(client, race, data: dict, **kw):
    return client.post(f"/races/{race.slug}/cart/runners", data={"csrf_token": token(client), **data}, **kw)


# --- the page -------------------------------------------------------------------------------

def test_the_cart_page_has_a_card_per_runner_every_one_to_fill_open_and_the_ready_ones_closed(
        signed_in, db, race, three):
    first, second, third = three
    signed_in.post(f"/cart/runners/{first.id}", data={"csrf_token": token(signed_in),
                                                       **runner_fields(db, race, first)})

    page = text(signed_in.get("/races/lake/cart"))

    assert not is_open(page, first) and is_open(page, second) and is_open(page, third)
    assert re.search(r'✓</span> <strong>Ana López</strong> ·\s*<span class="runner-status ok">Ready</span>',
                     card_of(page, first))
    assert "No runner yet" in card_of(page, third)
    for registration in three:  # every field once per runner: ids and names never clash
        assert page.count(f'id="r{registration.id}-first_name"') == 1
        assert f'name="r{registration.id}-first_name"' in tag(page, f"r{registration.id}-first_name")
    assert 'action="/races/lake/cart/runners"' in page and "Save all runners" in page
    # Runner 1 has no "Let them fill in" (the buyer signs their own waiver) and no "Same as runner 1".
    assert "runner_fills_in" not in card_of(page, first) and "same_as_first" not in card_of(page, first)
    assert f'name="r{second.id}-runner_fills_in"' in card_of(page, second)
    assert f'name="r{third.id}-same_as_first"' in card_of(page, third)
    assert page.count("<form") == page.count("</form>")
    runners_form = re.search(r'<form id="runners-form".*?</form>', page, re.S).group(0)
    assert runners_form.count("<form") == 1  # no form inside another: remove buttons use formaction
    # The way to payment sits in the summary, outside the form, yet posts it: every runner comes along.
    assert re.search(r'<button type="submit" form="runners-form" formaction="/races/lake/cart/pay" id="pay-submit">'
                     r"Continue to payment</button>", page)


def test_the_old_runner_address_of_another_buyer_s_ticket_is_404_on_every_route(app, signed_in, db, race):
    theirs = tickets_in(db, make_cart(db, race, {race.ticket_types[0]: 1}, complete=False))[0]
    data = {"csrf_token": token(signed_in), **runner_fields(db, race, theirs)}

    assert signed_in.get(f"/cart/runners/{theirs.id}").status_code == 404
    assert signed_in.post(f"/cart/runners/{theirs.id}", data=data).status_code == 404
    assert signed_in.post(f"/cart/runners/{theirs.id}", data=data, headers=HTMX).status_code == 404
    assert signed_in.post(f"/cart/runners/{theirs.id}/check", data={**data, "_field": "email"},
                          headers=HTMX).status_code == 404
    assert fresh(db, theirs).first_name == ""


# --- saving one runner with htmx ---------------------------------------------------------------

def test_saving_one_runner_with_htmx_swaps_that_card_only_and_the_summary_out_of_band(signed_in, db, race, three):
    first, second, third = three

    response = signed_in.post(f"/cart/runners/{second.id}", headers=HTMX, data={
        "csrf_token": token(signed_in), **runner_fields(db, race, second, first_name="Bea", last_name="Núñez",
                                                        waiver_signature="Bea Núñez"),
        **prefixed(third, first_name="Caro typed this")})  # the whole page's form comes along

    body = text(response)
    assert response.status_code == 200 and "<html" not in body
    assert body.lstrip().startswith(f'<details class="runner-card complete" id="runner-{second.id}"')
    assert body.count("<details") == 1 and "Caro typed this" not in body  # the other cards stay as they are
    assert "Bea Núñez</strong>" in body and '<span class="runner-status ok">Ready</span>' in body
    checkout = re.search(r'<div id="cart-checkout" class="cart-checkout" hx-swap-oob="true">(.*?)</div>\s*$',
                         body[body.index('id="cart-checkout"') - 5:], re.S)
    assert checkout and "Fill in the details and waivers of runners 1 and 3." in checkout.group(1)
    assert "pay-submit" not in body and "<button" not in checkout.group(1)  # the way to payment is left as it is
    assert re.search(r'<div id="runners-status" class="runners-status" role="status" hx-swap-oob="true">'
                     r"<p[^>]*>Saved Bea Núñez's details.</p>", body)
    assert fresh(db, second).first_name == "Bea" and fresh(db, third).first_name == ""


def test_the_last_runner_saved_with_htmx_clears_the_problems_out_of_band(signed_in, db, race, three):
    for registration in three[:2]:
        assert signed_in.post(f"/cart/runners/{registration.id}", data={
            "csrf_token": token(signed_in), **runner_fields(db, race, registration)}).status_code == 303

    body = text(signed_in.post(f"/cart/runners/{three[2].id}", headers=HTMX,
                               data={"csrf_token": token(signed_in), **runner_fields(db, race, three[2])}))

    oob = body[body.index('<div id="cart-checkout"'):]
    assert "Before you continue" not in oob and "pay-submit" not in body
    assert "Saved Ana López's details. Everyone's in: you can continue to payment." in body


def test_a_refused_runner_with_htmx_gets_its_card_back_open_with_the_errors_beside_the_fields(
        signed_in, db, race, three):
    first = three[0]
    response = signed_in.post(f"/cart/runners/{first.id}", headers=HTMX, data={
        "csrf_token": token(signed_in), **runner_fields(db, race, first, email="ana@", emergency_phone="call me")})

    body = text(response)
    assert response.status_code == 422 and body.count("<details") == 1 and is_open(body, first)
    assert f'<small class="field-error" id="r{first.id}-email-error">Enter a real email address' in body
    assert f'id="r{first.id}-emergency_phone-error">Use only digits' in body
    assert f'<a href="#r{first.id}-email">' in body  # the list on top links to the field
    assert fresh(db, first).email == ""


def test_this_is_me_with_htmx_fills_that_card_and_saves_nothing(signed_in, db, race, three):
    second = three[1]
    body = text(signed_in.post(f"/cart/runners/{second.id}", headers=HTMX, data={
        "csrf_token": token(signed_in), "fill": str(second.id), **prefixed(second, club="Lima Runners")}))

    assert body.count("<details") == 1 and is_open(body, second)
    assert 'value="Ana"' in tag(body, f"r{second.id}-first_name") and 'value="Lima Runners"' in body
    assert "field-error" not in body and fresh(db, second).first_name == ""


# --- Same as runner 1 ----------------------------------------------------------------------------

def test_same_as_runner_1_copies_runner_1_s_saved_contact_address_and_club_on_the_server(signed_in, db, race, three):
    first, second, _ = three
    signed_in.post(f"/cart/runners/{first.id}", data={"csrf_token": token(signed_in), **runner_fields(
        db, race, first, address="Av. Larco 100", city="Lima", country="Peru", club="Lima Runners")})

    # Runner 2's own contact fields are left empty: the server copies runner 1's saved ones.
    response = signed_in.post(f"/cart/runners/{second.id}", data={"csrf_token": token(signed_in), **runner_fields(
        db, race, second, first_name="Bea", last_name="Núñez", waiver_signature="Bea Núñez", emergency_name="",
        emergency_phone="", same_as_first="y")})

    assert response.status_code == 303
    bea = fresh(db, second)
    assert (bea.emergency_name, bea.emergency_phone) == ("Luis López", "+1 (212) 555-0100")
    assert (bea.address, bea.city, bea.country, bea.club) == ("Av. Larco 100", "Lima", "Peru", "Lima Runners")
    page = text(signed_in.get("/races/lake/cart"))
    assert "checked" in tag(page, f"r{second.id}-same_as_first")  # shown ticked while they share them


def test_same_as_runner_1_without_javascript_copies_what_runner_1_holds_in_the_same_post(signed_in, db, race, three):
    first, second, third = three
    response = save_all(signed_in, race, {
        **runner_fields(db, race, first, city="Cusco", emergency_name="Rosa Quispe"),
        **runner_fields(db, race, second, first_name="Bea", last_name="Núñez", waiver_signature="Bea Núñez",
                        emergency_name="", emergency_phone="", city="", same_as_first="y")})

    assert response.status_code == 303
    bea = fresh(db, second)
    assert (bea.emergency_name, bea.city) == ("Rosa Quispe", "Cusco")
    assert fresh(db, third).first_name == ""  # untouched, left alone


# --- without JavaScript: every runner at once --------------------------------------------------

def test_without_javascript_all_runners_post_at_once_the_valid_are_saved_the_others_get_errors(
        signed_in, db, race, three):
    first, second, third = three
    response = save_all(signed_in, race, {
        **runner_fields(db, race, first),
        **runner_fields(db, race, second, first_name="Bea", last_name="Núñez", waiver_signature="Bea Núñez",
                        email="bea@", date_of_birth="2031-01-01"),
        **prefixed(third, first_name="Caro")})

    page = text(response)
    assert response.status_code == 422 and "<html" in page
    assert "Saved Ana López's details." in page
    assert fresh(db, first).waiver_signed_at == NOW
    assert fresh(db, second).first_name == "" and fresh(db, third).first_name == ""
    assert f'id="r{second.id}-email-error">Enter a real email address' in page
    assert f"id=\"r{second.id}-date_of_birth-error\">The date of birth can't be in the future." in page
    assert f"id=\"r{third.id}-last_name-error\">Enter the runner's last name." in page
    assert 'value="bea@"' in tag(page, f"r{second.id}-email")  # what was typed stays
    assert 'value="Caro"' in tag(page, f"r{third.id}-first_name")
    assert is_open(page, second) and is_open(page, third) and not is_open(page, first)


def test_without_javascript_saving_everyone_redirects_to_the_cart_saying_who_was_saved(signed_in, db, race, three):
    first, second, third = three
    response = save_all(signed_in, race, {
        **runner_fields(db, race, first),
        **runner_fields(db, race, second, first_name="Bea", last_name="Núñez", waiver_signature="Bea Núñez"),
        **prefixed(third, first_name="Caro", last_name="Díaz", email="caro@example.com", runner_fills_in="y")})

    assert response.status_code == 303
    assert response.headers["Location"] == f"/races/lake/cart?saved={first.id},{second.id},{third.id}"
    page = text(signed_in.get(response.headers["Location"]))
    assert "Saved the details of Ana López, Bea Núñez and Caro Díaz. Everyone's in" in page
    assert "disabled" not in re.search(r"<button[^>]*>Continue to payment", page).group(0)


def test_without_javascript_this_is_me_fills_one_card_and_keeps_what_the_others_hold(signed_in, db, race, three):
    first, second, _ = three
    response = save_all(signed_in, race, {"fill": str(first.id), **prefixed(second, first_name="Bea")})

    page = text(response)
    assert response.status_code == 200
    assert 'value="Ana"' in tag(page, f"r{first.id}-first_name")
    assert 'value="Bea"' in tag(page, f"r{second.id}-first_name")
    assert fresh(db, first).first_name == "" and fresh(db, second).first_name == ""
    assert save_all(signed_in, race, {"fill": "999999"}).status_code == 400


def test_saving_all_with_htmx_re_renders_the_cart(signed_in, db, race, three):
    response = save_all(signed_in, race, runner_fields(db, race, three[0]), headers=HTMX)
    body = text(response)
    assert response.status_code == 200 and body.lstrip().startswith('<div id="cart" class="cart">')
    assert "Saved Ana López's details." in body


# --- Let them fill in and sign -----------------------------------------------------------------

def test_a_runner_who_fills_in_needs_only_a_name_and_email_and_what_else_was_typed_is_dropped(
        signed_in, db, buyer, race, three):
    second = three[1]
    response = signed_in.post(f"/cart/runners/{second.id}", headers=HTMX, data={
        "csrf_token": token(signed_in), **prefixed(
            second, runner_fills_in="y", first_name="Caro", last_name="Díaz", email="caro@example.com",
            date_of_birth="2031-01-01", emergency_phone="nonsense", club="Lima Runners", waiver_accepted="y",
            waiver_signature="Ana López")})

    body = text(response)
    assert response.status_code == 200, body
    assert re.search(r"<strong>Caro Díaz</strong> ·\s*<span class=\"runner-status invited\">"
                     r"will fill in and sign after payment</span>", body)
    caro = fresh(db, second)
    assert caro.runner_fills_in and caro.awaiting_runner
    assert (caro.date_of_birth, caro.emergency_phone, caro.club, caro.waiver_signature) == (None, "", "", "")
    assert caro.waiver_signed_at is None
    assert cart_problems(db.session, the_cart(db, buyer, race), NOW) == [
        "Fill in the details and waivers of runners 1 and 3."]  # Caro is done, as far as the buyer goes


def test_a_cart_whose_friends_fill_in_themselves_is_ready_to_pay_and_says_who_gets_a_link(signed_in, db, buyer,
                                                                                           race):
    add(signed_in, race, **{"10K": 2})
    first, second = tickets_in(db, the_cart(db, buyer, race))
    signed_in.post(f"/cart/runners/{first.id}", data={"csrf_token": token(signed_in), **runner_fields(db, race, first)})
    signed_in.post(f"/cart/runners/{second.id}", data={"csrf_token": token(signed_in), **prefixed(
        second, runner_fills_in="y", first_name="Caro", last_name="Díaz", email="caro@example.com")})

    page = text(signed_in.get("/races/lake/cart"))

    assert "Before you continue" not in page
    assert "disabled" not in re.search(r"<button[^>]*>Continue to payment", page).group(0)
    assert "After payment we email Caro Díaz a link to fill in their details and sign the waiver." in page
    assert 'value="y" checked' in card_of(page, second)  # the choice is shown as made


@pytest.mark.parametrize("email", ["ana@example.com", " ANA@Example.com "])
def test_the_buyer_can_t_send_themselves_the_link_to_fill_in(signed_in, db, race, three, email):
    second = three[1]
    for headers in ({}, HTMX):
        response = signed_in.post(f"/cart/runners/{second.id}", headers=headers, data={
            "csrf_token": token(signed_in),
            **prefixed(second, runner_fills_in="y", first_name="Ana", last_name="López", email=email)})

        assert response.status_code == 422
        assert "That's your own email: “Let them fill in and sign” is for someone else." in text(response)
    assert fresh(db, second).first_name == ""
    # Filling in their own details with their own email is fine.
    assert signed_in.post(f"/cart/runners/{second.id}", data={
        "csrf_token": token(signed_in), **runner_fields(db, race, second)}).status_code == 303


def test_another_buyer_s_email_may_be_a_friend_s(app, db, race):
    other = make_profile(db, full_name="Olga", email="olga@example.com")
    client = app.test_client()
    login(client, other)
    add(client, race, **{"10K": 2})
    second = tickets_in(db, the_cart(db, other, race))[1]
    response = client.post(f"/cart/runners/{second.id}", data={"csrf_token": token(client), **prefixed(
        second, runner_fills_in="y", first_name="Ana", last_name="López", email="ana@example.com")})
    assert response.status_code == 303


def test_changing_the_tickets_or_the_code_keeps_what_was_typed_in_the_runner_cards(signed_in, db, race, three):
    first, second, third = three
    typed = {**prefixed(second, first_name="Bea", email="bea@"), **prefixed(third, first_name="Caro")}

    response = signed_in.post("/races/lake/cart/code", headers=HTMX,
                              data={"csrf_token": token(signed_in), "code": "NOPE", **typed})
    assert response.status_code == 422
    page = text(response)
    assert 'value="Bea"' in tag(page, f"r{second.id}-first_name") and 'value="bea@"' in tag(page, f"r{second.id}-email")
    assert is_open(page, second) and is_open(page, third)
    assert "field-error" not in card_of(page, second)  # kept as typed, not judged yet

    # Runner 2's ticket goes: runner 3's typing stays; nothing was saved on the way.
    page = text(signed_in.post(f"/races/lake/cart/tickets/{second.id}/remove", headers=HTMX,
                               data={"csrf_token": token(signed_in), **typed}))
    assert f'id="runner-{second.id}"' not in page and 'value="Caro"' in tag(page, f"r{third.id}-first_name")
    assert fresh(db, third).first_name == ""


def test_a_cart_that_gets_its_buyer_later_is_not_ready_while_the_buyer_s_own_email_waits_for_a_link(
        signed_in, db, buyer, race, three):
    # As a guest's cart looks after sign-in: runner 2 was left to fill in by link, with what is now the buyer's email.
    for registration in three:
        signed_in.post(f"/cart/runners/{registration.id}", data={"csrf_token": token(signed_in), **runner_fields(
            db, race, registration, email=f"runner{registration.id}@example.com")})
    second = fresh(db, three[1])
    second.runner_fills_in, second.email, second.waiver_signed_at = True, "Ana@Example.com", None
    db.session.commit()

    problems = cart_problems(db.session, the_cart(db, buyer, race), NOW)

    assert problems == ["Runner 2 (Ana López, 10K): That's your own email: “Let them fill in and sign” is for "
                        "someone else. If you are this runner, fill in your details here."]
    assert "That's your own email" in text(signed_in.get("/races/lake/cart"))
    card = prefixed(second, waiver_version=str(waiver_id(db, race)), first_name=second.first_name,
                    last_name=second.last_name, email="Ana@Example.com", runner_fills_in="y")
    response = signed_in.post("/races/lake/cart/pay", data={"csrf_token": token(signed_in), **card})
    assert response.status_code == 422 and f'id="r{second.id}-email-error"' in text(response)
    assert the_cart(db, buyer, race).status == OrderStatus.CART
