"""Choose first, account at payment, over HTTP: a visitor fills a cart with no account, then creates
one (or signs in) on the cart page and goes straight to payment; bad cookies, CSRF and the bounds."""
from __future__ import annotations

import html
import re
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select

from blueprints.cart_owner import GUEST_COOKIE
from extensions import db as database
from models import Order, OrderStatus, OutboxMessage, Profile, Registration, TicketType
from services import clock, race_editing
from tests.factories import login, make_account, make_cart, make_code, make_profile, make_race
from tests.http import cookie, csrf_token

NOW = datetime(2027, 3, 1, 15, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"


@pytest.fixture(autouse=True)
def frozen_clock(app):
    clock.freeze(NOW)


@pytest.fixture
def race(db):
    race = make_race(db, slug="lake", title="Lake Run", starts_at=NOW + timedelta(days=60),
                     tickets=[("10K", 4500, 50), ("5K", 3000, 80), ("Kids 1K", 1000, 20)])
    race_editing.set_waiver_text(db.session, race, "I run at my own risk.")
    db.session.commit()
    return race


@pytest.fixture
def autoconfirm(app):
    app.config["LOCAL_AUTH_AUTOCONFIRM"] = True


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def type_id(race, name: str) -> int:
    return database.session.scalar(select(TicketType.id).where(TicketType.race_id == race.id, TicketType.name == name))


def add(client, race, headers=None, **quantities):
    data = {"csrf_token": csrf_token(client, "/races/lake")}
    data.update({f"qty-{type_id(race, name)}": str(n) for name, n in quantities.items()})
    return client.post("/races/lake/cart", data=data, headers=headers or {})


def guest_carts(db) -> list[Order]:
    db.session.expire_all()
    return list(db.session.scalars(select(Order).where(Order.guest_key.is_not(None))))


def tickets(db, order_id) -> list[Registration]:
    db.session.expire_all()
    return list(db.session.scalars(select(Registration).where(Registration.order_id == order_id)
                                   .order_by(Registration.id)))


def runner_fields(db, race, registration, **overrides) -> dict:
    """One runner's card as posted: its fields carry the prefix r<ticket id>-."""
    waiver = race_editing.current_waiver(db.session, race.id)
    fields = {"waiver_version": str(waiver.id), "first_name": "Vic", "last_name": "Visitor", "email": "vic@example.com",
              "date_of_birth": "1990-04-21", "tshirt_size": "M", "emergency_name": "Lou Visitor",
              "emergency_phone": "+1 212 555 0100", "waiver_accepted": "y", "waiver_signature": "Vic Visitor",
              **overrides}
    return {f"r{registration.id}-{name}": value for name, value in fields.items()}


def fill_runner(client, db, race, registration, headers=None, **overrides):
    data = {"csrf_token": csrf_token(client, "/races/lake/cart"), **runner_fields(db, race, registration, **overrides)}
    return client.post(f"/cart/runners/{registration.id}", data=data, headers=headers or {})


def a_ready_guest_cart(client, db, race, **quantities) -> Order:
    assert add(client, race, **(quantities or {"10K": 1})).status_code == 303
    [order] = guest_carts(db)
    for registration in tickets(db, order.id):
        assert fill_runner(client, db, race, registration).status_code == 303
    return order


def sign_up_and_pay(client, email="vic@example.com", password=PASSWORD, headers=None, **runners):
    """*Create account and pay*: the account fields, and whatever runner fields the form holds (`runners`)."""
    return client.post("/races/lake/cart/pay", headers=headers or {}, data={
        "csrf_token": csrf_token(client, "/races/lake/cart"), "account_mode": "sign-up", "full_name": "Vic Visitor",
        "email": email, "password": password, **runners})


def sign_in_and_pay(client, email, password=PASSWORD, headers=None, **runners):
    """*Sign in and pay*, from the cart's "I have an account" tab."""
    return client.post("/races/lake/cart/pay", headers=headers or {}, data={
        "csrf_token": csrf_token(client, "/races/lake/cart?account=sign-in"), "account_mode": "sign-in",
        "email": email, "password": password, **runners})


def pay_on_test_gateway(client, db, location: str) -> Order:
    gateway = re.search(r"/test-gateway/[0-9a-f-]{36}\?page=\S+$", location).group(0)
    order_id = gateway.split("/")[2].split("?")[0]
    page = client.get(gateway)
    assert page.status_code == 200 and "Test mode: no card is charged." in text(page)
    paid = client.post(gateway, data={"csrf_token": csrf_token(client, gateway), "action": "pay"})
    assert paid.status_code == 303
    db.session.expire_all()
    return db.session.get(Order, uuid.UUID(order_id))


# --- choosing without an account ---------------------------------------------------------------

def test_a_visitor_adds_tickets_and_gets_a_signed_cart_cookie_not_a_sign_in_page(client, db, race):
    response = add(client, race, **{"10K": 2})

    assert response.status_code == 303 and response.headers["Location"] == "/races/lake/cart"
    set_cookie = next(h for h in response.headers.getlist("Set-Cookie") if h.startswith(GUEST_COOKIE + "="))
    assert "HttpOnly" in set_cookie and "SameSite=Lax" in set_cookie and "Max-Age=604800" in set_cookie
    [order] = guest_carts(db)
    assert order.buyer_id is None and len(order.guest_key) == 64
    assert cookie(client, GUEST_COOKIE) and order.guest_key not in cookie(client, GUEST_COOKIE)
    page = text(client.get("/races/lake/cart"))
    assert "2 × $45.00" in page and 'class="cart-count">2<' in page  # the header counts a visitor's cart too


def test_with_htmx_adding_goes_on_to_the_cart_and_the_race_page_then_counts_it(htmx_client, db, race):
    response = add(htmx_client, race, **{"10K": 2})
    assert response.status_code == 200 and response.headers["HX-Redirect"] == "/races/lake/cart"
    body = text(htmx_client.get("/races/lake"))
    assert f'50 spots left<span class="ticket-in-cart" id="qty-{type_id(race, "10K")}-in-cart">, 2 in your cart' in body


def test_the_race_page_counts_the_viewer_s_own_cart_on_the_first_render(client, app, db, race):
    add(client, race, **{"5K": 3})
    page = text(client.get("/races/lake"))
    assert f'80 spots left<span class="ticket-in-cart" id="qty-{type_id(race, "5K")}-in-cart">, 3 in your cart</span>' in page
    stranger = text(app.test_client().get("/races/lake"))
    assert "in your cart" not in stranger and "80 spots left" in stranger
    assert "before anything is added" not in page and "Welcome back" not in page


def test_a_visitor_changes_quantities_uses_a_code_and_removes_tickets(client, db, race):
    make_code(db, race, code="FRIENDS", percent_off=20)
    add(client, race, **{"10K": 1})
    token = csrf_token(client, "/races/lake/cart")
    assert client.post("/races/lake/cart/quantity", data={"csrf_token": token, "ticket_type_id": type_id(race, "10K"),
                                                          "quantity": "3"}).status_code == 303
    assert client.post("/races/lake/cart/code", data={"csrf_token": token, "code": "friends"}).status_code == 303
    [order] = guest_carts(db)
    assert (order.subtotal, order.discount) == (13500, 2700)
    first = tickets(db, order.id)[0]
    assert client.post(f"/races/lake/cart/tickets/{first.id}/remove", data={"csrf_token": token}).status_code == 303
    assert client.post("/races/lake/cart/code/remove", data={"csrf_token": token}).status_code == 303
    [order] = guest_carts(db)
    assert (order.subtotal, order.discount, len(tickets(db, order.id))) == (9000, 0, 2)
    assert "Your carts" in text(client.get("/cart")) and "Lake Run" in text(client.get("/cart"))


def test_a_visitor_fills_in_a_runner_without_this_is_me(client, db, race):
    add(client, race, **{"10K": 1})
    [order] = guest_carts(db)
    [ticket] = tickets(db, order.id)
    form = client.get(f"/cart/runners/{ticket.id}")
    assert form.status_code == 303 and form.headers["Location"] == f"/races/lake/cart#runner-{ticket.id}"
    assert "This is me" not in text(client.get("/races/lake/cart"))
    check = client.post(f"/cart/runners/{ticket.id}/check", data={"csrf_token": csrf_token(client, "/races/lake/cart"),
                                                                  "_field": "first_name", f"r{ticket.id}-first_name": "Vic"},
                        headers={"HX-Request": "true"})
    assert check.status_code == 200
    fill_me = client.post(f"/cart/runners/{ticket.id}", data={"csrf_token": csrf_token(client, "/races/lake/cart"),
                                                              "fill": "me"})
    assert fill_me.status_code == 422 and tickets(db, order.id)[0].first_name == ""  # no account to fill from
    assert fill_runner(client, db, race, ticket).status_code == 303
    assert tickets(db, order.id)[0].runner_name == "Vic Visitor"


def test_a_guest_cart_holds_at_most_20_tickets(client, db, race):
    assert add(client, race, **{"10K": 10, "5K": 10}).status_code == 303
    response = add(client, race, **{"Kids 1K": 1})
    assert response.status_code == 422
    assert "A cart holds at most 20 tickets until you sign in." in text(response)
    assert len(tickets(db, guest_carts(db)[0].id)) == 20


# --- the account at payment ----------------------------------------------------------------------

def pay_button(page: str) -> str:
    return re.search(r'<button[^>]*id="pay-submit"[^>]*>[^<]*', page).group(0)


def test_the_cart_page_offers_a_visitor_an_account_instead_of_the_plain_button(client, db, race):
    add(client, race, **{"10K": 1})
    page = text(client.get("/races/lake/cart"))  # the runner is still to fill in: the click saves and checks them

    assert "Create account and pay" in pay_button(page) and "disabled" not in pay_button(page)
    assert 'form="runners-form"' in pay_button(page) and 'formaction="/races/lake/cart/pay"' in pay_button(page)
    assert "Continue to payment</button>" not in page and "/cart/account/" not in page
    assert 'href="/races/lake/cart?account=sign-in#account"' in page and "Sign in and pay" not in page
    assert re.search(r'<input type="hidden" name="account_mode" value="sign-up" form="runners-form">', page)
    for field in ("full_name", "email", "password"):  # labelled, and posted with the runners
        assert re.search(rf'<label for="{field}">', page)
        assert 'form="runners-form"' in re.search(rf'<input[^>]*id="{field}"[^>]*>', page).group(0)
    # A code or quantity change sends the runner cards and the typed name and email along (so the page that
    # comes back still holds them), never the password.
    includes = re.findall(r'hx-include="([^"]*)"', page)
    assert includes and all("password" not in i and "#runners-form" not in i and "[data-runner-card]" in i
                            for i in includes)
    sign_in = text(client.get("/races/lake/cart?account=sign-in"))
    assert "Sign in and pay" in pay_button(sign_in) and "Create account and pay" not in sign_in
    assert 'name="account_mode" value="sign-in"' in sign_in and 'id="full_name"' not in sign_in


@pytest.mark.parametrize("htmx", [False, True])
def test_a_visitor_creates_an_account_and_pays_in_one_click(client, db, race, autoconfirm, htmx):
    a_ready_guest_cart(client, db, race, **{"10K": 2})
    headers = {"HX-Request": "true"} if htmx else {}

    response = sign_up_and_pay(client, headers=headers)

    location = response.headers["HX-Redirect"] if htmx else response.headers["Location"]
    assert response.status_code == (200 if htmx else 303) and "/test-gateway/" in location
    assert any(h.startswith(GUEST_COOKIE + "=;") for h in response.headers.getlist("Set-Cookie"))
    assert guest_carts(db) == []
    profile = db.session.scalar(select(Profile).where(Profile.email == "vic@example.com"))
    order = pay_on_test_gateway(client, db, location)
    assert order.status == OrderStatus.PAID and order.buyer_id == profile.id
    assert [r.runner_name for r in tickets(db, order.id)] == ["Vic Visitor", "Vic Visitor"]


def test_signing_in_to_an_account_with_its_own_cart_shows_the_joined_cart_before_anything_is_paid(client, db, race):
    ana = make_account(db, "ana@example.com", PASSWORD, full_name="Ana López")
    make_cart(db, race, {db.session.get(TicketType, type_id(race, "5K")): 1}, buyer=ana)  # from her phone, last week
    a_ready_guest_cart(client, db, race)

    response = sign_in_and_pay(client, "ana@example.com")

    # She saw one ticket here; her account held another: she sees both before paying for both.
    assert response.status_code == 303 and response.headers["Location"] == "/races/lake/cart"
    [order] = db.session.scalars(select(Order).where(Order.buyer_id == ana.id)).all()
    assert order.status == OrderStatus.CART
    assert sorted(r.ticket_type_id for r in tickets(db, order.id)) == sorted([type_id(race, "10K"), type_id(race, "5K")])
    page = text(client.get("/races/lake/cart"))
    assert "Your account already had tickets for this race in its cart" in page
    response = client.post("/races/lake/cart/pay", data={"csrf_token": csrf_token(client, "/races/lake/cart")})
    assert response.status_code == 303 and "/test-gateway/" in response.headers["Location"]
    paid = pay_on_test_gateway(client, db, response.headers["Location"])
    assert paid.buyer_id == ana.id and paid.status == OrderStatus.PAID


def test_signing_in_and_paying_writes_the_rest_of_the_request_in_the_profile_s_language(client, db, race):
    """Ana chose Spanish on her phone; this browser was reading English. Signing in makes it Spanish at once: the
    notice this very request writes too, not only the pages after it."""
    ana = make_account(db, "ana@example.com", PASSWORD, full_name="Ana López", language="es")
    make_cart(db, race, {db.session.get(TicketType, type_id(race, "5K")): 1}, buyer=ana)
    client.set_cookie("sl_lang", "en")
    a_ready_guest_cart(client, db, race)

    response = sign_in_and_pay(client, "ana@example.com")

    assert response.status_code == 303 and "sl_lang=es;" in " ".join(response.headers.getlist("Set-Cookie"))
    page = text(client.get("/races/lake/cart"))
    assert "Tu cuenta ya tenía inscripciones para esta carrera en su carrito" in page


def test_when_the_merge_dropped_tickets_the_buyer_lands_on_the_cart_and_is_told(client, db, race):
    ana = make_account(db, "ana@example.com", PASSWORD, full_name="Ana López")
    make_cart(db, race, {db.session.get(TicketType, type_id(race, "10K")): 10}, buyer=ana, complete=False)
    a_ready_guest_cart(client, db, race)

    response = sign_in_and_pay(client, "ana@example.com")

    assert response.status_code == 303 and response.headers["Location"] == "/races/lake/cart"
    page = text(client.get("/races/lake/cart"))
    assert "Your carts together had more than 10 10K tickets, so we took out 1 that had no runner yet." in page
    assert "Your carts together" not in text(client.get("/races/lake/cart"))  # told once
    [order] = db.session.scalars(select(Order).where(Order.buyer_id == ana.id)).all()
    assert order.status == OrderStatus.CART and "Vic Visitor" in [r.runner_name for r in tickets(db, order.id)]


def test_a_code_that_stopped_working_stops_the_click_before_the_account(client, db, race):
    ana = make_account(db, "ana@example.com", PASSWORD, full_name="Ana López")
    make_code(db, race, code="EARLY", percent_off=20, ends_at=NOW + timedelta(minutes=30))
    order = a_ready_guest_cart(client, db, race)
    client.post("/races/lake/cart/code", data={"csrf_token": csrf_token(client, "/races/lake/cart"), "code": "EARLY"})
    clock.freeze(NOW + timedelta(hours=1))
    assert "disabled" in pay_button(text(client.get("/races/lake/cart?account=sign-in")))

    response = sign_in_and_pay(client, "ana@example.com")  # posted anyway

    page = text(response)
    assert response.status_code == 422 and "EARLY" in page[page.index('id="cart-problems"'):][:500]
    assert [o.id for o in guest_carts(db)] == [order.id] and guest_carts(db)[0].status == OrderStatus.CART
    assert "Sign in and pay" in page and "Sign out" not in text(client.get("/races/lake"))  # not signed in
    # Signing in the ordinary way merges the cart and says once why the code went.
    client.post("/auth/sign-in", data={"csrf_token": csrf_token(client, "/auth/sign-in"), "email": "ana@example.com",
                                       "password": PASSWORD, "next": "/races/lake/cart"})
    page = text(client.get("/races/lake/cart"))
    assert "The code EARLY no longer applies to your cart, so it was taken off" in page
    assert "The code EARLY no longer applies" not in text(client.get("/races/lake/cart"))
    db.session.expire_all()
    assert db.session.get(Order, order.id).buyer_id == ana.id


@pytest.mark.parametrize("htmx", [False, True])
def test_a_visitor_types_the_runners_and_pays_in_the_same_click(client, db, race, autoconfirm, htmx):
    add(client, race, **{"10K": 1, "5K": 1})
    [order] = guest_carts(db)
    first, second = tickets(db, order.id)
    typed = {**runner_fields(db, race, first),
             **runner_fields(db, race, second, first_name="Bea", last_name="Núñez", email="bea@example.com",
                             waiver_signature="Bea Núñez")}

    response = sign_up_and_pay(client, headers={"HX-Request": "true"} if htmx else {}, **typed)

    location = response.headers["HX-Redirect"] if htmx else response.headers["Location"]
    assert response.status_code == (200 if htmx else 303) and "/test-gateway/" in location
    profile = db.session.scalar(select(Profile).where(Profile.email == "vic@example.com"))
    assert profile is not None and guest_carts(db) == []
    paid = pay_on_test_gateway(client, db, location)
    assert paid.id == order.id and paid.status == OrderStatus.PAID and paid.buyer_id == profile.id
    saved = tickets(db, order.id)
    assert [r.runner_name for r in saved] == ["Vic Visitor", "Bea Núñez"]
    assert all(r.waiver_signed_at is not None for r in saved) and saved[1].waiver_signature == "Bea Núñez"


@pytest.mark.parametrize("htmx", [False, True])
def test_a_runner_error_in_the_paying_click_answers_422_beside_that_runner_and_creates_nothing(
        client, db, race, autoconfirm, htmx):
    add(client, race, **{"10K": 2})
    [order] = guest_carts(db)
    first, second = tickets(db, order.id)
    typed = {**runner_fields(db, race, first),
             **runner_fields(db, race, second, first_name="Bea", last_name="Núñez", email="not-an-email",
                             waiver_signature="Bea Núñez")}

    response = sign_up_and_pay(client, headers={"HX-Request": "true"} if htmx else {}, **typed)

    page = text(response)
    assert response.status_code == 422 and ("<html" in page) is not htmx
    assert re.search(rf'<small class="field-error" id="r{second.id}-email-error">[^<]+', page)
    assert f'id="r{first.id}-email-error"' not in page  # runner 1 was fine, and is saved
    assert 'value="Bea"' in page and 'value="Vic Visitor"' in page  # what was typed stays, the password doesn't
    assert db.session.scalar(select(Profile).where(Profile.email == "vic@example.com")) is None
    [cart] = guest_carts(db)
    assert cart.id == order.id and cart.status == OrderStatus.CART and cart.reserved_until is None
    assert [r.runner_name for r in tickets(db, order.id)] == ["Vic Visitor", ""]
    assert "Sign out" not in text(client.get("/races/lake"))


def test_paying_with_a_runner_left_blank_judges_that_runner_too(client, db, race, autoconfirm):
    add(client, race, **{"10K": 2})
    [order] = guest_carts(db)
    first, second = tickets(db, order.id)

    response = sign_up_and_pay(client, **runner_fields(db, race, first))  # runner 2's card not posted at all

    page = text(response)
    assert response.status_code == 422 and f'id="r{second.id}-first_name-error"' in page
    assert re.search(rf'<details class="runner-card[^"]*" id="runner-{second.id}"[^>]*\bopen>', page)
    assert db.session.scalar(select(Profile).where(Profile.email == "vic@example.com")) is None
    assert guest_carts(db)[0].status == OrderStatus.CART


@pytest.mark.parametrize("email, password, field, message", [
    ("ana@example.com", PASSWORD, "email", "already"),
    ("vic@example.com", "short", "password", None),
    ("not-an-email", PASSWORD, "email", "That doesn't look like an email address."),
])
def test_a_refused_sign_up_shows_the_message_beside_its_field_and_keeps_the_cart(
        client, db, race, autoconfirm, email, password, field, message):
    make_account(db, "ana@example.com", PASSWORD, full_name="Ana López")
    order = a_ready_guest_cart(client, db, race)

    response = sign_up_and_pay(client, email=email, password=password)

    page = text(response)
    assert response.status_code == 422 and "<html" in page
    error = re.search(rf'<small id="{field}-error" class="field-error">([^<]+)</small>', page)
    assert error, page[page.find('id="account"'):][:2000]
    if message:
        assert message in error.group(1)
    assert re.search(rf'<input[^>]*aria-invalid="true"[^>]*id="{field}"|<input[^>]*id="{field}"[^>]*aria-invalid="true"', page)
    assert [o.id for o in guest_carts(db)] == [order.id] and cookie(client, GUEST_COOKIE)
    assert "Create account and pay" in page and "Vic Visitor" in page


def test_a_wrong_password_is_told_beside_the_form_and_the_cart_stays(client, db, race):
    make_account(db, "ana@example.com", PASSWORD, full_name="Ana López")
    order = a_ready_guest_cart(client, db, race)

    response = sign_in_and_pay(client, "ana@example.com", password="not the password")

    page = text(response)
    assert response.status_code in (400, 401, 422) and "Sign in and pay" in page
    assert "Welcome back" not in page
    assert [o.id for o in guest_carts(db)] == [order.id]


def test_an_account_that_must_confirm_its_email_comes_back_to_the_merged_cart(client, db, race):
    order = a_ready_guest_cart(client, db, race)

    response = sign_up_and_pay(client)

    page = text(response)
    assert response.status_code == 200 and "Check your email" in page and "vic@example.com" in page
    assert [o.id for o in guest_carts(db)] == [order.id]  # the cart waits in its cookie
    message = db.session.scalars(select(OutboxMessage).where(OutboxMessage.to_address == "vic@example.com")).one()
    link = re.search(r"(http\S+token_hash=\S+)", message.text_body).group(1)
    assert "next=/races/lake/cart" in link.replace("%2F", "/")

    parts = urlsplit(link)
    confirmed = client.get(f"{parts.path}?{parts.query}")
    assert confirmed.status_code == 303 and confirmed.headers["Location"].startswith("/races/lake/cart?cart=")
    cart_page = client.get(confirmed.headers["Location"])
    assert any(h.startswith(GUEST_COOKIE + "=;") for h in cart_page.headers.getlist("Set-Cookie"))
    profile = db.session.scalar(select(Profile).where(Profile.email == "vic@example.com"))
    db.session.expire_all()
    assert db.session.get(Order, order.id).buyer_id == profile.id and guest_carts(db) == []
    assert "Continue to payment" in text(cart_page) and "Create account and pay" not in text(cart_page)


def test_the_emailed_link_brings_the_cart_along_when_it_opens_in_another_browser(app, client, db, race):
    order = a_ready_guest_cart(client, db, race)
    assert sign_up_and_pay(client).status_code == 200  # "Check your email"
    message = db.session.scalars(select(OutboxMessage).where(OutboxMessage.to_address == "vic@example.com")).one()
    parts = urlsplit(re.search(r"(http\S+token_hash=\S+)", message.text_body).group(1))

    phone = app.test_client()  # the mail app's browser: no cart cookie
    confirmed = phone.get(f"{parts.path}?{parts.query}")
    page = text(phone.get(confirmed.headers["Location"]))
    assert "Vic Visitor" in page and "Continue to payment" in page
    db.session.expire_all()
    profile = db.session.scalar(select(Profile).where(Profile.email == "vic@example.com"))
    assert db.session.get(Order, order.id).buyer_id == profile.id and guest_carts(db) == []

    # The carried cart is only for a signed-in visit, and only one that is ours.
    stranger = app.test_client()
    assert "Vic Visitor" not in text(stranger.get(confirmed.headers["Location"]))  # not signed in: nothing
    forged = confirmed.headers["Location"].rsplit("cart=", 1)[0] + "cart=garbage"
    assert phone.get(forged).status_code == 200


def test_signing_in_the_ordinary_way_merges_the_cart_too(client, db, race):
    ana = make_account(db, "ana@example.com", PASSWORD, full_name="Ana López")
    order = a_ready_guest_cart(client, db, race)
    response = client.post("/auth/sign-in", data={"csrf_token": csrf_token(client, "/auth/sign-in"),
                                                  "email": "ana@example.com", "password": PASSWORD,
                                                  "next": "/races/lake/cart"})
    assert response.status_code == 303
    assert "Continue to payment" in text(client.get("/races/lake/cart"))
    db.session.expire_all()
    assert db.session.get(Order, order.id).buyer_id == ana.id and cookie(client, GUEST_COOKIE) is None


def test_a_signed_in_buyer_without_a_cart_posting_to_pay_is_told_it_is_empty(client, db, race):
    login(client, make_profile(db))
    response = sign_up_and_pay(client)
    assert response.status_code == 404 and "Your cart for this race is empty." in text(response)
    assert db.session.scalar(select(Profile).where(Profile.email == "vic@example.com")) is None


# --- bad input ---------------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["garbage", "a" * 500, "eyJrZXkiOiJ4In0.forged-signature", "%00%ff"])
def test_a_forged_or_garbled_cookie_is_no_cart_never_a_500(client, db, race, value):
    a_ready_guest_cart(client, db, race)
    [order] = guest_carts(db)
    registration_id = tickets(db, order.id)[0].id
    client.set_cookie(GUEST_COOKIE, value)

    assert "Your cart for Lake Run is empty." in text(client.get("/races/lake/cart"))
    assert client.get(f"/cart/runners/{registration_id}").status_code == 404
    token = csrf_token(client, "/races/lake")
    assert client.post("/races/lake/cart/code", data={"csrf_token": token, "code": "X"}).status_code == 404
    assert "in your cart" not in text(client.get("/races/lake"))
    assert client.get("/cart").status_code == 200
    assert sign_up_and_pay(client).status_code == 404


def test_a_cookie_signed_with_another_salt_or_key_is_refused(client, app, db, race):
    from itsdangerous import URLSafeSerializer  # forging, as an attacker would

    add(client, race, **{"10K": 1})
    for serializer in (URLSafeSerializer(app.config["SECRET_KEY"], salt="other"), URLSafeSerializer("guess", salt="guest-cart")):
        client.set_cookie(GUEST_COOKIE, serializer.dumps("A" * 43))
        assert "Your cart for Lake Run is empty." in text(client.get("/races/lake/cart"))


def test_the_cookie_of_an_expired_cart_finds_an_empty_cart_and_can_start_again(client, app, db, race, runner):
    add(client, race, **{"10K": 1})
    clock.freeze(NOW + timedelta(days=8))
    assert "Deleted 1 guest cart(s)." in runner.invoke(args=["expire-guest-carts"]).output
    assert "Your cart for Lake Run is empty." in text(client.get("/races/lake/cart"))
    assert client.get("/cart").status_code == 200
    assert add(client, race, **{"5K": 1}).status_code == 303
    assert len(guest_carts(db)) == 1


def test_one_visitor_cannot_reach_another_s_tickets(client, app, db, race):
    a_ready_guest_cart(client, db, race)
    [order] = guest_carts(db)
    registration_id = tickets(db, order.id)[0].id
    other = app.test_client()
    add(other, race, **{"5K": 1})
    assert other.get(f"/cart/runners/{registration_id}").status_code == 404
    token = csrf_token(other, "/races/lake")
    assert other.post(f"/races/lake/cart/tickets/{registration_id}/remove",
                      data={"csrf_token": token}).status_code == 404
    assert len(tickets(db, order.id)) == 1


@pytest.mark.parametrize("path", ["/races/lake/cart", "/races/lake/cart/quantity", "/races/lake/cart/code",
                                  "/races/lake/cart/pay"])
def test_csrf_is_enforced_for_visitors_too(client, db, race, path):
    add(client, race, **{"10K": 1})
    csrf_token(client, "/auth/sign-in")  # a browser with a session (one without has no token to forge: test_page_cache)
    before = [(o.id, o.subtotal) for o in guest_carts(db)]
    response = client.post(path, data={f"qty-{type_id(race, '10K')}": "1", "ticket_type_id": type_id(race, "10K"),
                                       "quantity": "2", "code": "X", "email": "a@example.com", "password": PASSWORD,
                                       "full_name": "A"})
    assert response.status_code == 400
    assert [(o.id, o.subtotal) for o in guest_carts(db)] == before



def test_failed_account_attempts_from_the_cart_share_the_auth_rate_limit(client, app, db, race):
    app.config["AUTH_RATE_LIMIT"] = "2 per minute"
    make_account(db, "ana@example.com", PASSWORD, full_name="Ana López")
    a_ready_guest_cart(client, db, race)
    statuses = [sign_in_and_pay(client, "ana@example.com", password="not the password").status_code for _ in range(3)]
    assert statuses[-1] == 429 and all(400 <= s < 500 for s in statuses)
    assert len(guest_carts(db)) == 1
    signing_in = client.post("/auth/sign-in", data={"csrf_token": csrf_token(client, "/auth/sign-in"),
                                                    "email": "ana@example.com", "password": PASSWORD})
    assert signing_in.status_code == 429  # the same limit as the sign-in page's


def test_sign_ups_that_email_a_confirmation_from_the_cart_count_against_the_auth_rate_limit(client, app, db, race):
    app.config["AUTH_RATE_LIMIT"] = "2 per minute"  # confirmation is on by default in this module
    a_ready_guest_cart(client, db, race)
    statuses = [sign_up_and_pay(client, email=f"someone{n}@example.com").status_code for n in range(3)]
    assert statuses == [200, 200, 429]  # each "Check your email" is an email to someone: no mail bomb from here
    assert db.session.scalar(select(func.count(OutboxMessage.id))) == 2


def test_a_runner_s_error_in_the_paying_click_does_not_count_against_the_auth_rate_limit(client, app, db, race):
    app.config["AUTH_RATE_LIMIT"] = "2 per minute"
    ana = make_account(db, "ana@example.com", PASSWORD, full_name="Ana López")
    add(client, race, **{"10K": 1})
    [order] = guest_carts(db)
    [ticket] = tickets(db, order.id)
    typo = runner_fields(db, race, ticket, emergency_phone="call my mum")

    statuses = [sign_in_and_pay(client, "ana@example.com", **typo).status_code for _ in range(4)]

    assert statuses == [422] * 4
    response = sign_in_and_pay(client, "ana@example.com", **runner_fields(db, race, ticket))
    assert response.status_code == 303 and "/test-gateway/" in response.headers["Location"]
    db.session.expire_all()
    assert db.session.get(Order, order.id).buyer_id == ana.id


def test_a_visitor_s_cart_page_is_never_kept_by_a_shared_cache(client, db, race):
    add(client, race, **{"10K": 1})
    response = client.get("/races/lake/cart")
    assert "no-store" in response.headers["Cache-Control"] and "Cookie" in response.headers["Vary"]


def test_the_header_s_cart_link_is_there_for_a_visitor_and_the_first_add_counts_in_it(htmx_client, db, race):
    page = text(htmx_client.get("/races/lake", headers={"HX-Request": "false"}))
    assert '<span class="cart-label">Cart</span>' in page and "cart-count" not in page
    assert add(htmx_client, race, **{"5K": 2}).headers["HX-Redirect"] == "/races/lake/cart"
    page = text(htmx_client.get("/races/lake/cart", headers={"HX-Request": "false"}))
    badge = re.search(r'<a id="cart-badge"[^>]*>.*?</a>', page, re.S).group(0)
    assert 'class="cart-count">2<' in badge and 'href="/races/lake/cart"' in badge
