"""The cart: adding tickets from the race page, changing them, discount codes, totals, and one form per runner."""
from __future__ import annotations

import html
import re
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from extensions import db as database
from models import Order, OrderStatus, Profile, RaceStatus, Registration, TaxMode, TicketType
from services import clock, pricing, race_editing
from services.ages import age_limit_problem, age_on, race_day
from services.cart import CartOwner
from services.cart_status import cart_count, cart_problems
from services.money import format_money
from services.runners import same_name
from tests.factories import login, make_code, make_order, make_profile, make_race

# 1 March 2027, 15:00 UTC. The race runs on 2 May 2027 at 08:00 in New York.
NOW = datetime(2027, 3, 1, 15, 0, tzinfo=UTC)
RACE_START = datetime(2027, 5, 2, 12, 0, tzinfo=UTC)
WAIVER = "I run at my own risk.\n\nI let the organizers use photos of me."


@pytest.fixture(autouse=True)
def frozen_clock(app):
    clock.freeze(NOW)


@pytest.fixture
def buyer(db):
    return make_profile(db, full_name="Ana López", email="ana@example.com")


@pytest.fixture
def race(db):
    race = make_race(db, slug="lake", title="Lake Run", starts_at=RACE_START, timezone="America/New_York",
                     tickets=[("10K", 4500, 50), ("5K", 3000, 80), ("Kids 1K", 1000, 20)])
    race.ticket_types[0].min_age = 12
    race.ticket_types[2].max_age = 12
    race.ask_gender = True  # this organizer asks; a race doesn't unless its organizer says so
    race_editing.set_waiver_text(db.session, race, WAIVER)
    db.session.commit()
    return race


@pytest.fixture
def signed_in(client, buyer):
    login(client, buyer)
    return client


@pytest.fixture
def htmx(htmx_client, buyer):
    login(htmx_client, buyer)
    return htmx_client


def types(race) -> dict[str, TicketType]:
    return {t.name: t for t in database.session.scalars(select(TicketType).where(TicketType.race_id == race.id))}


def token(client) -> str:
    """The CSRF token of this client's session (read from a full page, even for an htmx client); none for a
    visitor without a session, to whom the race list gives none (blueprints/security.py)."""
    page = client.get("/", headers={"HX-Request": "false"}).get_data(as_text=True)
    match = re.search(r'"X-CSRFToken": "([^"]+)"', page)
    return match.group(1) if match else ""


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def add(client, race, **quantities):
    """POST the race page's ticket form: add(client, race, **{"10K": 2})."""
    data = {"csrf_token": token(client)}
    data.update({f"qty-{types(race)[name].id}": str(n) for name, n in quantities.items()})
    return client.post(f"/races/{race.slug}/cart", data=data)


def the_cart(db, buyer, race) -> Order | None:
    db.session.expire_all()
    return db.session.scalar(select(Order).where(Order.buyer_id == buyer.id, Order.race_id == race.id,
                                                 Order.status == OrderStatus.CART))


def tickets_in(db, order) -> list[Registration]:
    db.session.expire_all()
    return list(db.session.scalars(select(Registration).where(Registration.order_id == order.id)
                                   .order_by(Registration.id)))


def tag(page: str, element_id: str) -> str:
    """The opening tag of the input or select with this id (attributes in any order)."""
    match = re.search(rf'<(?:input|select)\b[^>]*\bid="{element_id}"[^>]*>', page)
    assert match, f"no input #{element_id}"
    return match.group(0)


def registrations_count(db) -> int:
    return db.session.scalar(select(func.count(Registration.id)))


def valid_runner(**overrides) -> dict:
    data = {"first_name": "Ana", "last_name": "López", "email": "ana@example.com", "date_of_birth": "1990-04-21",
            "gender": "Female", "tshirt_size": "M", "emergency_name": "Luis López", "emergency_phone": "+1 (212) 555-0100",
            "waiver_accepted": "y", "waiver_signature": "Ana López"}
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def waiver_id(db, race) -> int:
    return race_editing.current_waiver(db.session, race.id).id


def prefixed(registration, **fields) -> dict:
    """Field names as the cart page writes them: each runner's card prefixes its own (r<ticket id>-)."""
    return {f"r{registration.id}-{name}": value for name, value in fields.items()}


def save_runner(client, db, race, registration, htmx=False, **overrides):
    data = {"csrf_token": token(client),
            **prefixed(registration, waiver_version=str(waiver_id(db, race)), **valid_runner(**overrides))}
    return client.post(f"/cart/runners/{registration.id}", data=data, headers={"HX-Request": "true"} if htmx else {})


def fill_all(client, db, race, order):
    for registration in tickets_in(db, order):
        kid = registration.ticket_type_id == types(race)["Kids 1K"].id
        extra = {"date_of_birth": "2016-06-01", "waiver_guardian_name": "Luis López", "waiver_signature": "Luis López"} \
            if kid else {}
        assert save_runner(client, db, race, registration, **extra).status_code == 303


# --- adding tickets from the race page ----------------------------------------------------

def test_several_ticket_types_are_added_at_once_and_htmx_goes_on_to_the_cart(htmx, db, buyer, race):
    response = add(htmx, race, **{"10K": 2, "Kids 1K": 1})

    assert response.status_code == 200 and response.headers["HX-Redirect"] == "/races/lake/cart"
    cart = the_cart(db, buyer, race)
    tickets = tickets_in(db, cart)
    assert sorted((t.ticket_type_id, t.price) for t in tickets) == sorted(
        [(types(race)["10K"].id, 4500)] * 2 + [(types(race)["Kids 1K"].id, 1000)])
    assert all(t.first_name == "" and t.waiver_signed_at is None for t in tickets)
    assert (cart.subtotal, cart.total, cart.currency) == (10000, 10000, "USD")


def test_after_adding_each_ticket_type_says_how_many_the_cart_holds(htmx, db, buyer, race):
    add(htmx, race, **{"10K": 2})
    add(htmx, race, **{"10K": 1, "5K": 1})
    body = text(htmx.get("/races/lake"))

    ten_k, five_k, kids = (types(race)[name].id for name in ("10K", "5K", "Kids 1K"))
    assert f'50 spots left<span class="ticket-in-cart" id="qty-{ten_k}-in-cart">, 3 in your cart</span>' in body
    assert f'80 spots left<span class="ticket-in-cart" id="qty-{five_k}-in-cart">, 1 in your cart</span>' in body
    assert f'id="qty-{kids}-in-cart"' not in body
    # The menus are at 0 and say so: a press adds more, it does not repeat the last choice.
    assert re.search(rf'<label for="qty-{ten_k}">Add more<', body)
    assert re.search(rf'<label for="qty-{kids}">How many<', body)
    assert re.search(rf'<select id="qty-{ten_k}"[^>]*aria-describedby="qty-{ten_k}-in-cart"', body)


def test_without_javascript_adding_redirects_to_the_cart_page(signed_in, db, buyer, race):
    response = add(signed_in, race, **{"5K": 1})
    assert response.status_code == 303 and response.headers["Location"] == "/races/lake/cart"
    page = text(signed_in.get("/races/lake/cart"))
    assert "<html" in page and "5K" in page and "1 × $30.00" in page


def test_the_cart_lives_in_the_database_so_another_device_sees_it(signed_in, app, db, buyer, race):
    add(signed_in, race, **{"10K": 1})
    add(signed_in, race, **{"10K": 1, "5K": 1})
    assert db.session.scalar(select(func.count(Order.id))) == 1  # one cart per buyer and race

    phone = app.test_client()
    login(phone, buyer)
    page = text(phone.get("/races/lake/cart"))
    assert "2 × $45.00" in page and "1 × $30.00" in page
    assert cart_count(db.session, CartOwner(profile_id=buyer.id), NOW).tickets == 3


@pytest.mark.parametrize("quantity", ["lots", "²", "١"])
def test_race_page_fragment_and_bad_quantity(htmx, db, race, quantity):
    response = htmx.post("/races/lake/cart", data={"csrf_token": token(htmx), f"qty-{types(race)['10K'].id}": quantity})
    assert response.status_code == 422
    assert "Choose a number of tickets from 0 to 10." in text(response)
    assert "<html" not in text(response)
    assert registrations_count(db) == 0


def test_a_choice_kept_in_the_address_is_filled_in_and_added_only_on_a_click(client, db, race):
    ten_k, kids = types(race)["10K"].id, types(race)["Kids 1K"].id
    race_page = text(client.get(f"/races/lake?add={ten_k}:2,{kids}:1"))
    assert "Your choice is filled in below" in race_page and "Welcome back" not in race_page
    assert re.search(rf'id="qty-{ten_k}".*?<option value="2" selected>', race_page, re.S)
    assert re.search(rf'id="qty-{kids}".*?<option value="1" selected>', race_page, re.S)
    assert registrations_count(db) == 0  # a GET never adds

    assert add(client, race, **{"10K": 2, "Kids 1K": 1}).status_code == 303
    assert registrations_count(db) == 3


def test_choosing_nothing_says_so(signed_in, db, race):
    response = add(signed_in, race, **{"10K": 0})
    assert response.status_code == 422 and "Choose how many tickets you want." in text(response)


def test_adding_needs_the_csrf_token(signed_in, race):
    response = signed_in.post("/races/lake/cart", data={f"qty-{types(race)['10K'].id}": "1"})
    assert response.status_code == 400


def _sold_out(db, race):
    tt = types(race)["5K"]
    tt.capacity = 2
    db.session.commit()
    make_order(db, race, tt, 2)


def _hidden(db, race):
    types(race)["5K"].hidden = True
    db.session.commit()


def _not_yet_on_sale(db, race):
    types(race)["5K"].sales_start = NOW + timedelta(days=3)
    db.session.commit()


def _sales_ended(db, race):
    types(race)["5K"].sales_end = NOW - timedelta(hours=1)
    db.session.commit()


def _registration_closed(db, race):
    race.registration_closes_at = NOW - timedelta(minutes=1)
    db.session.commit()


def _race_closed(db, race):
    race.status = RaceStatus.CLOSED
    db.session.commit()


@pytest.mark.parametrize("arrange, message", [
    (_sold_out, "The 5K is sold out."),
    (_hidden, "The 5K isn't available any more."),
    (_not_yet_on_sale, "The 5K isn't on sale yet."),
    (_sales_ended, "Sales for the 5K have ended."),
    (_registration_closed, "Sign-up for this race is closed."),
    (_race_closed, "Sign-up for this race is closed."),
])
def test_tickets_that_cannot_be_bought_are_refused_with_a_clear_message(htmx, db, race, arrange, message):
    arrange(db, race)
    before = registrations_count(db)
    response = add(htmx, race, **{"5K": 1, "10K": 1})
    assert response.status_code == 422
    assert message in text(response)
    assert registrations_count(db) == before  # all or nothing: the 10K was not added either


def test_a_draft_race_takes_no_tickets(signed_in, db, race):
    race.status = RaceStatus.DRAFT
    db.session.commit()
    assert add(signed_in, race, **{"5K": 1}).status_code == 404  # nobody but its organizers can see it


def test_an_organizer_previewing_a_draft_is_told_sign_up_has_not_opened(client, db, race):
    race.status = RaceStatus.DRAFT
    db.session.commit()
    login(client, db.session.get(Profile, race.organizer_id))
    response = add(client, race, **{"5K": 1})
    assert response.status_code == 422 and "Sign-up hasn't opened for this race yet." in text(response)


def test_more_than_the_spots_left_is_refused(htmx, db, race):
    tt = types(race)["10K"]
    tt.capacity = 5
    db.session.commit()
    make_order(db, race, tt, 2)  # paid

    response = add(htmx, race, **{"10K": 4})

    assert response.status_code == 422 and "Only 3 spots left in the 10K." in text(response)
    assert add(htmx, race, **{"10K": 3}).status_code == 200


def test_quantity_per_type_is_capped(signed_in, db, buyer, race):
    response = add(signed_in, race, **{"5K": 11})
    assert response.status_code == 422
    assert "You can buy at most 10 tickets for the 5K in one order." in text(response)

    add(signed_in, race, **{"5K": 8})
    response = add(signed_in, race, **{"5K": 3})
    assert response.status_code == 422 and "Your cart already has 8." in text(response)
    assert len(tickets_in(db, the_cart(db, buyer, race))) == 8


def test_a_ticket_type_of_another_race_is_refused(signed_in, db, race):
    other = make_race(db, slug="other")
    response = signed_in.post("/races/lake/cart", data={"csrf_token": token(signed_in),
                                                        f"qty-{other.ticket_types[0].id}": "1"})
    assert response.status_code == 422 and "That ticket type isn't part of this race." in text(response)
    assert registrations_count(db) == 0


def test_one_cart_per_buyer_and_race_is_enforced_by_the_database(db, buyer, race):
    db.session.add(Order(race_id=race.id, buyer_id=buyer.id, status=OrderStatus.CART, currency="USD"))
    db.session.commit()
    db.session.add(Order(race_id=race.id, buyer_id=buyer.id, status=OrderStatus.PENDING, currency="USD",
                         reserved_until=datetime.now(UTC)))
    db.session.commit()  # an order being paid for is not a cart

    db.session.add(Order(race_id=race.id, buyer_id=buyer.id, status=OrderStatus.CART, currency="USD"))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


# --- the cart page ------------------------------------------------------------------------

def test_cart_page_full_and_fragment(signed_in, htmx, db, buyer, race):
    add(signed_in, race, **{"10K": 2, "Kids 1K": 1})

    page = text(signed_in.get("/races/lake/cart"))
    assert "<html" in page and "Your cart" in page
    assert "2 × $45.00" in page and "$90.00" in page and "1 × $10.00" in page
    assert page.count("Runner ") >= 3 and "Fill in the details and waivers of runners 1, 2 and 3." in page

    fragment = text(htmx.get("/races/lake/cart"))
    assert "<html" not in fragment and fragment.lstrip().startswith('<div id="cart"')


def test_an_empty_cart_says_so_and_links_back(signed_in, race):
    page = text(signed_in.get("/races/lake/cart"))
    assert "Your cart for Lake Run is empty." in page and 'href="/races/lake#tickets"' in page


def test_a_visitor_without_a_cart_sees_an_empty_cart(client, race):
    page = text(client.get("/races/lake/cart"))
    assert "Your cart for Lake Run is empty." in page


def test_unknown_race_cart_is_404(signed_in):
    assert signed_in.get("/races/nope/cart").status_code == 404


def change_quantity(client, race, name, quantity):
    return client.post("/races/lake/cart/quantity", data={"csrf_token": token(client),
                                                          "ticket_type_id": str(types(race)[name].id),
                                                          "quantity": str(quantity)})


def test_quantity_goes_up_and_down_and_the_badge_follows(htmx, db, buyer, race):
    add(htmx, race, **{"10K": 1})

    response = change_quantity(htmx, race, "10K", 3)

    body = text(response)
    assert response.status_code == 200 and "3 × $45.00" in body
    assert re.search(r'id="cart-badge"[^>]*hx-swap-oob="true"', body) and 'class="cart-count">3<' in body
    cart = the_cart(db, buyer, race)
    assert len(tickets_in(db, cart)) == 3 and cart.total == 13500

    assert change_quantity(htmx, race, "10K", 1).status_code == 200
    assert len(tickets_in(db, cart)) == 1 and the_cart(db, buyer, race).total == 4500


def test_lowering_the_quantity_keeps_the_runners_already_filled_in(signed_in, db, buyer, race):
    add(signed_in, race, **{"10K": 3})
    cart = the_cart(db, buyer, race)
    first, second, third = tickets_in(db, cart)
    assert save_runner(signed_in, db, race, third).status_code == 303

    change_quantity(signed_in, race, "10K", 1)

    assert [t.id for t in tickets_in(db, cart)] == [third.id]


def test_quantity_zero_removes_the_type(signed_in, db, buyer, race):
    add(signed_in, race, **{"10K": 2, "5K": 1})
    response = change_quantity(signed_in, race, "10K", 0)
    assert response.status_code == 303
    assert [t.ticket_type_id for t in tickets_in(db, the_cart(db, buyer, race))] == [types(race)["5K"].id]


@pytest.mark.parametrize("quantity, message", [
    ("-1", "Choose a number of tickets from 0 to 10."),
    ("two", "Choose a number of tickets from 0 to 10."),
    ("²", "Choose a number of tickets from 0 to 10."),  # str.isdigit() says yes; int() refuses
    ("11", "You can buy at most 10 tickets for the 10K in one order."),
])
def test_a_bad_quantity_is_refused_in_the_cart(htmx, db, buyer, race, quantity, message):
    add(htmx, race, **{"10K": 1})
    response = change_quantity(htmx, race, "10K", quantity)
    assert response.status_code == 422 and message in text(response)
    assert len(tickets_in(db, the_cart(db, buyer, race))) == 1


def test_raising_the_quantity_past_the_spots_left_is_refused(htmx, db, buyer, race):
    types(race)["10K"].capacity = 2
    db.session.commit()
    add(htmx, race, **{"10K": 2})
    response = change_quantity(htmx, race, "10K", 3)
    assert response.status_code == 422 and "Only 2 spots left in the 10K." in text(response)


def test_one_ticket_can_be_removed(htmx, db, buyer, race):
    add(htmx, race, **{"10K": 2})
    cart = the_cart(db, buyer, race)
    first, second = tickets_in(db, cart)

    response = htmx.post(f"/races/lake/cart/tickets/{first.id}/remove", data={"csrf_token": token(htmx)})

    assert response.status_code == 200 and "1 × $45.00" in text(response)
    assert [t.id for t in tickets_in(db, cart)] == [second.id]
    assert the_cart(db, buyer, race).total == 4500


def test_someone_else_s_tickets_are_404(app, signed_in, db, race):
    other_buyer = make_profile(db)
    theirs = make_order(db, race, types(race)["10K"], 1, status=OrderStatus.CART, buyer=other_buyer)
    their_ticket = tickets_in(db, theirs)[0]
    add(signed_in, race, **{"5K": 1})  # I have a cart for this race too

    assert signed_in.get(f"/cart/runners/{their_ticket.id}").status_code == 404
    assert save_runner(signed_in, db, race, their_ticket).status_code == 404
    assert signed_in.post(f"/cart/runners/{their_ticket.id}/check",
                          data={"csrf_token": token(signed_in), "_field": "email"}).status_code == 404
    assert signed_in.post(f"/races/lake/cart/tickets/{their_ticket.id}/remove",
                          data={"csrf_token": token(signed_in)}).status_code == 404
    assert len(tickets_in(db, theirs)) == 1 and tickets_in(db, theirs)[0].first_name == "Ada"


def test_a_ticket_already_paid_for_is_not_editable_from_the_cart(signed_in, db, buyer, race):
    paid = make_order(db, race, types(race)["10K"], 1, status=OrderStatus.PAID, buyer=buyer)
    assert signed_in.get(f"/cart/runners/{tickets_in(db, paid)[0].id}").status_code == 404


def test_carts_for_several_races_are_listed_and_the_badge_links_there(signed_in, db, buyer, race):
    other = make_race(db, slug="hill", title="Hill Climb", starts_at=RACE_START + timedelta(days=7))
    add(signed_in, race, **{"10K": 1})
    page = text(signed_in.get("/races/lake"))
    assert re.search(r'id="cart-badge"[^>]*href="/races/lake/cart"', page)

    signed_in.post("/races/hill/cart", data={"csrf_token": token(signed_in), f"qty-{other.ticket_types[0].id}": "2"})
    page = text(signed_in.get("/races/lake"))
    assert re.search(r'id="cart-badge"[^>]*href="/cart"', page) and 'class="cart-count">3<' in page
    listing = text(signed_in.get("/cart"))
    assert "Lake Run" in listing and "1 ticket" in listing and "Hill Climb" in listing and "2 tickets" in listing
    assert listing.index("Lake Run") < listing.index("Hill Climb")


def test_the_badge_costs_one_query(db, buyer, race, count_queries):
    with count_queries() as counter:
        count = cart_count(db.session, CartOwner(profile_id=buyer.id), NOW)
    assert counter.count == 1 and count.tickets == 0


# --- discount codes -----------------------------------------------------------------------

def apply(client, code):
    return client.post("/races/lake/cart/code", data={"csrf_token": token(client), "code": code})


def test_a_code_is_applied_and_removed(htmx, db, buyer, race):
    code = make_code(db, race, code="FRIENDS", percent_off=20)
    add(htmx, race, **{"10K": 2})

    response = apply(htmx, " friends ")

    body = text(response)
    assert response.status_code == 200 and "Code <strong>FRIENDS</strong>: 20% off" in body
    assert "Discount (FRIENDS)" in body and "−$18.00" in body and "$72.00" in body
    cart = the_cart(db, buyer, race)
    assert cart.discount_code_id == code.id and (cart.discount, cart.total) == (1800, 7200)

    response = htmx.post("/races/lake/cart/code/remove", data={"csrf_token": token(htmx)})
    assert response.status_code == 200 and "Discount (" not in text(response)
    cart = the_cart(db, buyer, race)
    assert cart.discount_code_id is None and cart.total == 9000


def _code_used_up(db, race, buyer):
    code = make_code(db, race, code="ONCE", max_uses=1)
    make_order(db, race, types(race)["5K"], status=OrderStatus.PAID).discount_code_id = code.id
    db.session.commit()
    return "once"


@pytest.mark.parametrize("arrange, message", [
    (lambda db, race, buyer: "", "Enter a code."),
    (lambda db, race, buyer: "NOPE", "We don't know the code NOPE."),
    (lambda db, race, buyer: make_code(db, make_race(db), code="ELSEWHERE").code, "ELSEWHERE isn't a code for this race."),
    (lambda db, race, buyer: make_code(db, race, code="OLD", active=False).code, "OLD is no longer active."),
    (lambda db, race, buyer: make_code(db, race, code="SOON", starts_at=NOW + timedelta(days=2)).code,
     "SOON works from 3 Mar"),
    (lambda db, race, buyer: make_code(db, race, code="GONE", ends_at=NOW - timedelta(days=1)).code, "GONE expired on"),
    (lambda db, race, buyer: make_code(db, race, code="KIDS", ticket_type_id=types(race)["Kids 1K"].id).code,
     "KIDS only applies to Kids 1K tickets."),
    (_code_used_up, "ONCE has been used up."),
    (lambda db, race, buyer: "X" * 65, "That is too long for a code"),
    (lambda db, race, buyer: "FRI\x00ENDS", "Codes contain only letters, digits, spaces and punctuation."),
])
def test_every_code_refusal_is_shown_beside_the_code_field(htmx, db, buyer, race, arrange, message):
    typed = arrange(db, race, buyer)
    add(htmx, race, **{"10K": 1})

    response = apply(htmx, typed)

    body = text(response)
    assert response.status_code == 422
    error = re.search(r'<small class="field-error" id="discount-code-error" role="alert">([^<]*)</small>', body)
    assert error and message in error.group(1)
    assert 'aria-describedby="discount-code-error"' in body
    assert the_cart(db, buyer, race).discount_code_id is None


def test_without_javascript_a_refused_code_re_renders_the_whole_page(signed_in, db, race):
    add(signed_in, race, **{"10K": 1})
    response = apply(signed_in, "NOPE")
    assert response.status_code == 422 and "<html" in text(response) and "We don't know the code NOPE." in text(response)


def test_a_100_percent_code_makes_the_total_zero(signed_in, db, buyer, race):
    make_code(db, race, code="CREW", percent_off=100)
    add(signed_in, race, **{"10K": 2})
    assert apply(signed_in, "crew").status_code == 303

    page = text(signed_in.get("/races/lake/cart"))
    assert re.search(r"<dt>Total</dt><dd>\$0\.00</dd>", page)
    assert the_cart(db, buyer, race).total == 0


def test_a_code_that_stopped_working_blocks_payment_until_removed(signed_in, db, buyer, race):
    code = make_code(db, race, code="SPRING", ends_at=NOW + timedelta(days=1))
    add(signed_in, race, **{"5K": 1})
    apply(signed_in, "spring")
    fill_all(signed_in, db, race, the_cart(db, buyer, race))
    clock.freeze(NOW + timedelta(days=2))
    login(signed_in, buyer)

    page = text(signed_in.get("/races/lake/cart"))

    assert f"{code.code} expired on" in page and "Remove the code to continue." in page
    assert "disabled" in pay_button(page)
    refused = signed_in.post("/races/lake/cart/pay", data={"csrf_token": token(signed_in)})  # posted anyway
    assert refused.status_code == 422 and "Remove the code to continue." in text(refused)
    assert_nothing_reserved(db, buyer, race)

    signed_in.post("/races/lake/cart/code/remove", data={"csrf_token": token(signed_in)})
    assert "disabled" not in pay_button(text(signed_in.get("/races/lake/cart")))


# --- totals -------------------------------------------------------------------------------

def shown(page: str, label: str) -> str:
    match = re.search(rf"<dt>{re.escape(label)}</dt><dd[^>]*>([^<]+)</dd>", page)
    assert match, f"no {label!r} row"
    return match.group(1)


@pytest.mark.parametrize("tax_mode, rate_bps, label", [
    (TaxMode.EXCLUSIVE, 825, "Sales tax"),
    (TaxMode.INCLUSIVE, 1800, "IGV"),
])
def test_totals_shown_are_pricing_s_quote(signed_in, db, buyer, race, tax_mode, rate_bps, label):
    race.tax_mode, race.tax_rate_bps, race.tax_label = tax_mode, rate_bps, label
    db.session.commit()
    make_code(db, race, code="TEAM", amount_off=1234)
    add(signed_in, race, **{"10K": 2, "5K": 1, "Kids 1K": 3})
    apply(signed_in, "team")
    cart = the_cart(db, buyer, race)
    quote = pricing.quote_order(db.session, cart)

    page = text(signed_in.get("/races/lake/cart"))

    assert shown(page, "Subtotal") == format_money(quote.subtotal, "USD") == "$150.00"
    assert shown(page, "Discount (TEAM)") == "−" + format_money(quote.discount, "USD")
    assert shown(page, "Total") == format_money(quote.total, "USD")
    rate = f"{rate_bps / 100:g}"
    if tax_mode == TaxMode.EXCLUSIVE:
        assert shown(page, f"{label} ({rate}%)") == format_money(quote.tax, "USD")
        assert quote.total == quote.subtotal - quote.discount + quote.tax
    else:
        assert shown(page, f"Includes {label} ({rate}%)") == format_money(quote.tax, "USD")
        assert quote.total == quote.subtotal - quote.discount
    assert (cart.subtotal, cart.discount, cart.tax, cart.total) == (quote.subtotal, quote.discount, quote.tax, quote.total)


@pytest.mark.parametrize("tax_mode, shows", [(TaxMode.STRIPE, "Calculated at checkout"), (TaxMode.NONE, "None")])
def test_tax_row_for_stripe_tax_and_no_tax(signed_in, db, race, tax_mode, shows):
    race.tax_mode = tax_mode
    db.session.commit()
    add(signed_in, race, **{"10K": 1})
    assert shown(text(signed_in.get("/races/lake/cart")), "Tax") == shows


def test_prices_are_shown_in_the_race_currency(signed_in, db):
    race = make_race(db, slug="lima", starts_at=RACE_START, currency="PEN", tickets=[("21K", 15050, 10)])
    signed_in.post("/races/lima/cart", data={"csrf_token": token(signed_in), f"qty-{types(race)['21K'].id}": "1"})
    page = text(signed_in.get("/races/lima/cart"))
    assert shown(page, "Total") == "PEN\u00a0150.50"


# --- runner forms -------------------------------------------------------------------------

@pytest.fixture
def ticket(signed_in, db, buyer, race) -> Registration:
    add(signed_in, race, **{"10K": 1})
    return tickets_in(db, the_cart(db, buyer, race))[0]


@pytest.fixture
def kids_ticket(signed_in, db, buyer, race) -> Registration:
    add(signed_in, race, **{"Kids 1K": 1})
    return [t for t in tickets_in(db, the_cart(db, buyer, race)) if t.ticket_type_id == types(race)["Kids 1K"].id][0]


def test_the_runner_form_is_on_the_cart_page_and_its_old_address_leads_there(signed_in, db, race, ticket):
    response = signed_in.get(f"/cart/runners/{ticket.id}")
    assert response.status_code == 303 and response.headers["Location"] == f"/races/lake/cart#runner-{ticket.id}"

    page = text(signed_in.get("/races/lake/cart"))
    assert "Runner 1 · 10K" in page
    assert "I run at my own risk." in page and "I let the organizers use photos of me." in page  # the full waiver
    for name in ("first_name", "last_name", "email", "date_of_birth", "gender", "tshirt_size", "emergency_name",
                 "emergency_phone", "address", "city", "country", "club", "waiver_guardian_name", "waiver_accepted",
                 "waiver_signature"):
        field = f"r{ticket.id}-{name}"
        assert f'for="{field}"' in page, name
        assert f'aria-describedby="{field}-state' in tag(page, field), name
    assert f'name="r{ticket.id}-waiver_version" value="{waiver_id(db, race)}"' in page


def test_gender_and_t_shirt_appear_only_when_the_race_asks(signed_in, db, race, ticket):
    race.ask_gender, race.tshirt_sizes = False, ""
    db.session.commit()
    page = text(signed_in.get("/races/lake/cart"))
    assert f'id="r{ticket.id}-gender"' not in page and f'id="r{ticket.id}-tshirt_size"' not in page
    assert save_runner(signed_in, db, race, ticket, gender=None, tshirt_size=None).status_code == 303


def test_a_new_race_asks_no_gender_until_its_organizer_turns_the_question_on(signed_in, db, buyer):
    race = race_editing.create_race(db.session, make_profile(db), title="Fresh 5K", day=date(2031, 5, 3),
                                    timezone="America/New_York")
    assert race.ask_gender is False
    untouched = make_race(db, slug="untouched", starts_at=RACE_START, tickets=[("5K", 3000, 10)])
    add(signed_in, untouched, **{"5K": 1})
    (ticket,) = tickets_in(db, the_cart(db, buyer, untouched))

    page = text(signed_in.get(f"/races/{untouched.slug}/cart"))

    assert "Gender" not in page and f'id="r{ticket.id}-gender"' not in page


def test_a_valid_runner_is_saved_with_the_signed_waiver(signed_in, db, race, ticket):
    response = save_runner(signed_in, db, race, ticket, email="Ana@Example.com")

    assert response.status_code == 303
    assert response.headers["Location"] == f"/races/lake/cart?saved={ticket.id}#cart-checkout"
    saved = db.session.get(Registration, ticket.id)
    db.session.refresh(saved)
    assert (saved.first_name, saved.last_name, saved.email) == ("Ana", "López", "Ana@example.com")
    assert saved.date_of_birth == date(1990, 4, 21) and (saved.gender, saved.tshirt_size) == ("Female", "M")
    assert (saved.emergency_name, saved.emergency_phone) == ("Luis López", "+1 (212) 555-0100")
    assert saved.waiver_version_id == waiver_id(db, race)
    assert saved.waiver_signature == "Ana López" and saved.waiver_guardian_name == ""
    assert saved.waiver_signed_at == NOW and saved.waiver_ip == "127.0.0.1"
    assert "Saved Ana López's details." in text(signed_in.get(response.headers["Location"]))


def test_saving_moves_on_to_the_next_runner_still_to_fill_in(signed_in, db, buyer, race):
    add(signed_in, race, **{"10K": 2})
    first, second = tickets_in(db, the_cart(db, buyer, race))
    response = save_runner(signed_in, db, race, first)
    assert response.headers["Location"] == f"/races/lake/cart?saved={first.id}#runner-{second.id}"
    page = text(signed_in.get(response.headers["Location"]))
    assert "Saved Ana López's details." in page
    assert re.search(rf'<details class="runner-card"[^>]*id="runner-{second.id}"[^>]*\bopen>', page)
    assert not re.search(rf'<details[^>]*id="runner-{first.id}"[^>]*\bopen>', page)


BAD_RUNNERS = [
    ({"date_of_birth": "2027-03-02"}, "date_of_birth", "The date of birth can't be in the future."),
    ({"date_of_birth": "1899-12-31"}, "date_of_birth", "Enter a date of birth from 1900 on."),
    ({"date_of_birth": "2027-02-30"}, "date_of_birth", "Enter a real date, like 1990-04-21."),
    ({"date_of_birth": ""}, "date_of_birth", "Enter the runner's date of birth."),
    ({"date_of_birth": "2016-01-01", "waiver_guardian_name": "Luis López", "waiver_signature": "Luis López"},
     "date_of_birth", "Runners in the 10K must be 12 or older on race day"),
    ({"date_of_birth": "2012-01-01", "waiver_signature": "Ana López"}, "waiver_guardian_name",
     "Enter the parent or guardian's name."),
    ({"date_of_birth": "2012-01-01", "waiver_guardian_name": "Luis López", "waiver_signature": "Ana López"},
     "waiver_signature", "The signature must be the parent or guardian's name: Luis López."),
    ({"waiver_signature": ""}, "waiver_signature", "Type the runner's full name to sign the waiver."),
    ({"waiver_signature": "Anna Lopez"}, "waiver_signature", "The signature must match the runner's name: Ana López."),
    ({"waiver_signature": "Ana Lopez"}, "waiver_signature", "The signature must match the runner's name"),  # accents count
    ({"waiver_accepted": None}, "waiver_accepted", "Tick the box to accept the waiver."),
    ({"first_name": "A" * 5000}, "first_name", "Keep the runner's first name to 100 characters or fewer (this one has 5,000)."),
    ({"last_name": "Ł" * 5000}, "last_name", "Keep the runner's last name to 100 characters or fewer"),
    ({"first_name": "   "}, "first_name", "Enter the runner's first name."),
    ({"first_name": "An\x07a"}, "first_name", "Remove the invisible control characters from the runner's first name."),
    ({"emergency_name": "x" * 201}, "emergency_name", "Keep the emergency contact's name to 200 characters or fewer"),
    ({"email": "ana.example.com"}, "email", "Enter a real email address, like name@example.com."),
    ({"email": "ana@"}, "email", "Enter a real email address, like name@example.com."),
    ({"email": ""}, "email", "Enter the runner's email address"),
    ({"emergency_phone": "call Luis"}, "emergency_phone", "Use only digits, spaces and + - ( ) . in the phone number."),
    ({"emergency_phone": "555 12"}, "emergency_phone", "A phone number has 6 to 20 digits (this one has 5)."),
    ({"emergency_phone": "1" * 21}, "emergency_phone", "A phone number has 6 to 20 digits (this one has 21)."),
    ({"emergency_phone": ""}, "emergency_phone", "Enter a phone number for the emergency contact."),
    ({"emergency_phone": "+1 (212) 555-0100" + " " * 30 + "1"}, "emergency_phone",
     "Keep the phone number to 40 characters or fewer."),
    ({"tshirt_size": "XXXXL"}, "tshirt_size", "Pick a T-shirt size from the list."),
    ({"tshirt_size": ""}, "tshirt_size", "Pick a T-shirt size."),
    ({"gender": "Robot"}, "gender", "Pick one of the options, or leave it empty."),
]


@pytest.mark.parametrize("overrides, field, message", BAD_RUNNERS)
def test_bad_runner_details_get_a_message_beside_the_field_and_nothing_is_saved(
        signed_in, db, race, ticket, overrides, field, message):
    response = save_runner(signed_in, db, race, ticket, **overrides)

    page = text(response)
    assert response.status_code == 422 and "<html" in page
    field = f"r{ticket.id}-{field}"
    beside = re.search(rf'<div id="{field}-state" class="field-state" aria-live="polite">\s*'
                       rf'<small class="field-error" id="{field}-error">([^<]*)</small>', page)
    assert beside and message in beside.group(1), page[page.find("runner-errors"):][:600]
    assert 'aria-invalid="true"' in tag(page, field)
    assert "things need another look" in page or "One thing needs another look" in page  # the summary on top
    db.session.expire_all()
    untouched = db.session.get(Registration, ticket.id)
    assert (untouched.first_name, untouched.waiver_signed_at, untouched.email) == ("", None, "")


def test_the_kids_run_age_limit_is_checked_on_race_day(signed_in, db, race, kids_ticket):
    # Born 2 May 2014: 13 on race day (2 May 2027), though still 12 today.
    response = save_runner(signed_in, db, race, kids_ticket, date_of_birth="2014-05-02",
                           waiver_guardian_name="Luis López", waiver_signature="Luis López")
    assert response.status_code == 422
    assert "Runners in the Kids 1K must be 12 or younger on race day." in text(response).replace(
        " (this runner will be 13)", "")

    response = save_runner(signed_in, db, race, kids_ticket, date_of_birth="2014-05-03",
                           waiver_guardian_name="Luis López", waiver_signature="luis  LÓPEZ")
    assert response.status_code == 303


def test_a_minor_is_signed_for_by_a_guardian(signed_in, db, race, kids_ticket):
    response = save_runner(signed_in, db, race, kids_ticket, first_name="Lía", date_of_birth="2018-07-01",
                           waiver_guardian_name="Luis López", waiver_signature="Luis López")
    assert response.status_code == 303
    saved = db.session.get(Registration, kids_ticket.id)
    db.session.refresh(saved)
    assert (saved.waiver_guardian_name, saved.waiver_signature) == ("Luis López", "Luis López")


def test_emoji_and_accents_are_accepted_and_kept(signed_in, db, race, ticket):
    response = save_runner(signed_in, db, race, ticket, first_name="  Zoë 🏃‍♀️ ", last_name="Núñez-Ødegård",
                           emergency_name="Søren Kierkegård 👨‍👩‍👧", waiver_signature="zoë 🏃‍♀️   NÚÑEZ-ØDEGÅRD")
    assert response.status_code == 303, text(response)
    saved = db.session.get(Registration, ticket.id)
    db.session.refresh(saved)
    assert (saved.first_name, saved.last_name) == ("Zoë 🏃‍♀️", "Núñez-Ødegård")
    assert saved.emergency_name == "Søren Kierkegård 👨‍👩‍👧"
    assert "Zoë 🏃‍♀️ Núñez-Ødegård" in text(signed_in.get("/races/lake/cart"))


def test_this_is_me_fills_in_the_buyer_and_saves_nothing(signed_in, db, race, ticket):
    response = signed_in.post(f"/cart/runners/{ticket.id}", data={
        "csrf_token": token(signed_in), "fill": str(ticket.id), **prefixed(ticket, emergency_phone="555 0100 22")})
    page = text(response)
    assert response.status_code == 200
    field = f"r{ticket.id}-"
    assert 'value="Ana"' in tag(page, field + "first_name") and 'value="López"' in tag(page, field + "last_name")
    assert 'value="ana@example.com"' in tag(page, field + "email")
    assert 'value="555 0100 22"' in tag(page, field + "emergency_phone")  # what was typed stays
    assert "field-error" not in page
    db.session.expire_all()
    assert db.session.get(Registration, ticket.id).first_name == ""


def test_this_is_me_looks_like_a_button_you_can_press(signed_in, db, ticket):
    page = text(signed_in.get("/races/lake/cart"))
    button = re.search(rf'<button type="submit" name="fill" value="{ticket.id}"[^>]*>', page).group(0)
    assert 'class="outline"' in button and "secondary" not in button  # Pico's secondary outline reads as disabled
    assert "disabled" not in button


def test_a_form_signed_against_an_older_waiver_is_refused(signed_in, db, race, ticket):
    old_version = waiver_id(db, race)
    race_editing.set_waiver_text(db.session, race, WAIVER + "\n\nNew: no headphones.")
    db.session.commit()

    response = signed_in.post(f"/cart/runners/{ticket.id}", data={
        "csrf_token": token(signed_in), **prefixed(ticket, waiver_version=str(old_version), **valid_runner())})

    assert response.status_code == 422
    assert "The waiver has changed since it was signed. Read the new version and sign again." in text(response)
    assert "New: no headphones." in text(response)


# --- checking fields as they are typed ----------------------------------------------------

def check(client, ticket, field, **values):
    return client.post(f"/cart/runners/{ticket.id}/check",
                       data={"csrf_token": token(client), "_field": field, **prefixed(ticket, **values)},
                       headers={"HX-Request": "true"})


def test_a_field_is_checked_as_it_is_typed_without_replacing_the_input(signed_in, db, ticket):
    response = check(signed_in, ticket, "email", email="ana@")

    body = text(response)
    assert response.status_code == 422
    assert body.strip() == (f'<small class="field-error" id="r{ticket.id}-email-error">'
                            'Enter a real email address, like name@example.com.</small>')
    assert "<input" not in body

    fine = check(signed_in, ticket, "email", email="ana@example.com")
    assert fine.status_code == 200 and text(fine).strip() == ""
    db.session.expire_all()
    assert db.session.get(Registration, ticket.id).email == ""  # checking saves nothing


def test_checking_a_name_updates_the_signature_message_out_of_band(signed_in, ticket):
    response = check(signed_in, ticket, "last_name", first_name="Ana", last_name="López", waiver_signature="Ana Lopez")
    body = text(response)
    assert response.status_code == 200
    oob = re.search(rf'<div id="r{ticket.id}-waiver_signature-state" hx-swap-oob="innerHTML">(.*?)</div>', body, re.S)
    assert oob and "The signature must match the runner's name: Ana López." in oob.group(1)

    fixed = check(signed_in, ticket, "last_name", first_name="Ana", last_name="Lopez", waiver_signature="Ana Lopez")
    oob = re.search(rf'<div id="r{ticket.id}-waiver_signature-state" hx-swap-oob="innerHTML">(.*?)</div>', text(fixed),
                    re.S)
    assert oob and oob.group(1).strip() == ""


def test_a_valid_date_of_birth_shows_the_age_on_race_day(signed_in, ticket):
    body = text(check(signed_in, ticket, "date_of_birth", date_of_birth="2012-05-03"))
    assert "Age on race day: 14. A parent or guardian signs the waiver for a runner under 18." in body


def test_checking_an_unknown_field_is_a_400(signed_in, ticket):
    assert check(signed_in, ticket, "csrf_token").status_code == 400
    assert check(signed_in, ticket, "buyer_id").status_code == 400


def test_a_5kb_name_is_a_clear_message_when_checked_too(signed_in, ticket):
    response = check(signed_in, ticket, "first_name", first_name="é" * 5000)
    assert response.status_code == 422 and "(this one has 5,000)" in text(response)


# --- ready to pay? ------------------------------------------------------------------------

def test_cart_problems_lists_every_runner_still_incomplete(signed_in, db, buyer, race):
    add(signed_in, race, **{"10K": 2, "Kids 1K": 1})
    cart = the_cart(db, buyer, race)
    first, second, kid = tickets_in(db, cart)
    save_runner(signed_in, db, race, first)
    save_runner(signed_in, db, race, kid, date_of_birth="2016-06-01", waiver_guardian_name="Luis López",
                waiver_signature="Luis López")
    db.session.expire_all()
    assert cart_problems(db.session, cart, NOW) == ["Fill in runner 2's details and waiver."]

    # The organizer raises the 10K's minimum age after Ana signed up: her form is no longer valid.
    types(race)["10K"].min_age = 40
    db.session.commit()
    problems = cart_problems(db.session, cart, NOW)
    assert problems[0] == "Fill in runner 2's details and waiver."
    assert problems[1].startswith("Runner 1 (Ana López, 10K): Runners in the 10K must be 40 or older on race day")


def test_an_empty_cart_cannot_be_paid_for(db, buyer, race):
    cart = Order(race_id=race.id, buyer_id=buyer.id, currency="USD")
    db.session.add(cart)
    db.session.commit()
    assert cart_problems(db.session, cart, NOW) == ["Your cart is empty."]


def test_a_new_waiver_version_asks_for_a_new_signature(signed_in, db, buyer, race, ticket):
    save_runner(signed_in, db, race, ticket)
    cart = the_cart(db, buyer, race)
    assert cart_problems(db.session, cart, NOW) == []
    race_editing.set_waiver_text(db.session, race, WAIVER + " Updated.")
    db.session.commit()
    assert cart_problems(db.session, cart, NOW) == [
        "Runner 1 (Ana López, 10K): The waiver has changed since it was signed. Read the new version and sign again."]


def pay_button(page: str) -> str:
    """The way to payment: a button of the runners form, so the click also saves the runners typed in."""
    return re.search(r'<button type="submit" form="runners-form" formaction="/races/lake/cart/pay" id="pay-submit"'
                     r'[^>]*>[^<]*', page).group(0)


def pay_for_cart(client, data: dict | None = None, **kw):
    return client.post("/races/lake/cart/pay", data={"csrf_token": token(client), **(data or {})}, **kw)


def assert_nothing_reserved(db, buyer, race) -> None:
    db.session.expire_all()
    cart = the_cart(db, buyer, race)
    assert cart is not None and cart.status == OrderStatus.CART and cart.reserved_until is None


def test_paying_with_an_incomplete_runner_answers_422_beside_that_runner_and_reserves_nothing(
        signed_in, db, buyer, race):
    add(signed_in, race, **{"10K": 1, "Kids 1K": 1})
    cart = the_cart(db, buyer, race)
    page = text(signed_in.get("/races/lake/cart"))
    assert "disabled" not in pay_button(page) and "Continue to payment" in pay_button(page)  # the click checks them
    assert "Fill in the details and waivers of runners 1 and 2." in page
    first, kid = tickets_in(db, cart)
    typed = prefixed(first, waiver_version=str(waiver_id(db, race)), **valid_runner())

    response = pay_for_cart(signed_in, {**typed, **prefixed(kid, first_name="Leo")})

    page = text(response)
    assert response.status_code == 422 and "Saved Ana López's details." in page
    assert f'id="r{kid.id}-last_name-error"' in page and f'id="r{first.id}-last_name-error"' not in page
    assert 'value="Leo"' in tag(page, f"r{kid.id}-first_name")
    assert_nothing_reserved(db, buyer, race)
    assert [r.first_name for r in tickets_in(db, cart)] == ["Ana", ""]

    fill_all(signed_in, db, race, cart)
    page = text(signed_in.get("/races/lake/cart"))
    assert "disabled" not in pay_button(page) and "Before you continue" not in page
    assert page.count('<span class="runner-status ok">Ready</span>') == 2


@pytest.mark.parametrize("htmx_header", [False, True])
def test_a_signed_in_buyer_types_a_runner_and_pays_in_the_same_click(signed_in, db, buyer, race, htmx_header):
    add(signed_in, race, **{"10K": 1})
    cart = the_cart(db, buyer, race)
    [ticket] = tickets_in(db, cart)
    typed = prefixed(ticket, waiver_version=str(waiver_id(db, race)), **valid_runner(first_name="Bea",
                                                                                     waiver_signature="Bea López"))

    response = pay_for_cart(signed_in, typed, headers={"HX-Request": "true"} if htmx_header else {})

    location = response.headers["HX-Redirect"] if htmx_header else response.headers["Location"]
    assert response.status_code == (200 if htmx_header else 303) and f"/test-gateway/{cart.id}?page=" in location
    db.session.expire_all()
    cart = db.session.get(Order, cart.id)
    assert cart.status == OrderStatus.PENDING and cart.reserved_until is not None
    [saved] = tickets_in(db, cart)
    assert (saved.runner_name, saved.waiver_signature) == ("Bea López", "Bea López") and saved.waiver_signed_at


def test_paying_needs_the_csrf_token_and_a_cart(signed_in, db, buyer, race):
    assert pay_for_cart(signed_in).status_code == 404  # no cart yet: nothing to pay
    add(signed_in, race, **{"5K": 1})
    fill_all(signed_in, db, race, the_cart(db, buyer, race))
    assert signed_in.post("/races/lake/cart/pay", data={}).status_code == 400
    assert_nothing_reserved(db, buyer, race)


def test_a_sold_out_type_in_the_cart_blocks_payment(signed_in, db, buyer, race):
    add(signed_in, race, **{"5K": 2})
    fill_all(signed_in, db, race, the_cart(db, buyer, race))
    types(race)["5K"].capacity = 1
    db.session.commit()
    page = text(signed_in.get("/races/lake/cart"))
    assert "Only 1 spot left in the 5K. Lower the quantity to continue." in page
    assert "disabled" in pay_button(page) and 'aria-describedby="cart-problems"' in pay_button(page)
    refused = pay_for_cart(signed_in)
    assert refused.status_code == 422 and "Only 1 spot left in the 5K." in text(refused)
    assert_nothing_reserved(db, buyer, race)


def test_cart_page_query_count_does_not_grow_with_tickets(app, db, race, count_queries):
    def cart_with(n: int):
        someone = make_profile(db)
        client = app.test_client()
        login(client, someone)
        client.post("/races/lake/cart", data={"csrf_token": token(client), f"qty-{types(race)['10K'].id}": str(min(n, 8)),
                                              f"qty-{types(race)['5K'].id}": "0"})
        code = make_code(db, race, percent_off=10)
        apply(client, code.code)
        for registration in tickets_in(db, the_cart(db, someone, race))[:2]:
            save_runner(client, db, race, registration)
        return client

    one, eight = cart_with(1), cart_with(8)

    def queries(client) -> int:
        with count_queries() as counter:
            assert client.get("/races/lake/cart").status_code == 200
        return counter.count

    assert queries(one) == queries(eight)
    assert queries(eight) <= 14


def test_a_draft_race_s_cart_page_is_404_for_strangers(signed_in, db, race):
    race.status = RaceStatus.DRAFT
    db.session.commit()
    response = signed_in.get("/races/lake/cart")
    assert response.status_code == 404 and "Lake Run" not in text(response)


def test_a_cart_for_a_race_that_has_taken_place_leaves_the_badge_and_the_list(signed_in, db, buyer, race):
    add(signed_in, race, **{"5K": 1})
    clock.freeze(RACE_START + timedelta(hours=3))
    login(signed_in, buyer)
    assert cart_count(db.session, CartOwner(profile_id=buyer.id), clock.now()).tickets == 0
    assert "Your cart is empty." in text(signed_in.get("/cart"))


# --- the runner rules, without HTTP -------------------------------------------------------

def test_age_is_whole_years_and_a_leap_day_birthday_counts_from_1_march():
    assert age_on(date(2012, 2, 29), date(2027, 2, 28)) == 14
    assert age_on(date(2012, 2, 29), date(2027, 3, 1)) == 15
    assert age_on(date(1990, 5, 2), date(2027, 5, 2)) == 37


def test_race_day_is_the_date_where_the_race_is_run(db):
    # 02:00 UTC on 2 May is still 1 May in New York: a runner born on 2 May 2015 is 11 there, not 12.
    late = make_race(db, starts_at=datetime(2027, 5, 2, 2, 0, tzinfo=UTC), timezone="America/New_York",
                     tickets=[("10K", 4500, 10)])
    ten_k = types(late)["10K"]
    ten_k.min_age = 12
    assert race_day(late) == date(2027, 5, 1)
    assert age_limit_problem(date(2015, 5, 2), late, ten_k).startswith("Runners in the 10K must be 12 or older")
    assert age_limit_problem(date(2015, 5, 1), late, ten_k) is None


@pytest.mark.parametrize("typed, expected, same", [
    ("ana lópez", "Ana López", True),
    ("  ANA   LÓPEZ ", "Ana López", True),
    ("Ana Lo\u0301pez", "Ana López", True),  # a decomposed accent is the same letter
    ("Ana Lopez", "Ana López", False),       # a missing accent is not
    ("Ana", "Ana López", False),
    ("", "", False),
])
def test_a_signature_matches_a_name_ignoring_case_and_spacing_only(typed, expected, same):
    assert same_name(typed, expected) is same
