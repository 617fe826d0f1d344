"""The organizer's discount codes: making, changing, switching off and deleting them, and what each
has been used for."""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from models import DiscountCode, DiscountKind, Order, OrderStatus
from tests.factories import login, make_cart, make_code, make_order, make_paid_order, make_profile, make_race, put_at_payment_step
from tests.http import csrf_token
from tests.manage_access import EXPECTED_GET, VISITORS, assert_answer, visitor_client


@pytest.fixture
def organizer(db):
    return make_profile(db, full_name="Olga Organizer", email="olga@example.com")


@pytest.fixture
def race(db, organizer):
    return make_race(db, organizer=organizer, title="Lake 10K", timezone="America/New_York",
                     tickets=[("10K", 4500, 50), ("5K", 3000, 80)])


@pytest.fixture
def signed_in(client, organizer):
    login(client, organizer)
    return client


def codes_url(race):
    return f"/manage/races/{race.id}/codes"


def form(**changes):
    data = {"code": "FRIENDS", "kind": "percent", "value": "20", "ticket_type": "", "starts_at": "", "ends_at": "",
            "max_uses": "", "active": "y"}
    data.update(changes)
    return data


def post(client, race, path="", htmx=True, **changes):
    headers = {"HX-Request": "true"} if htmx else {}
    return client.post(codes_url(race) + path, data={"csrf_token": csrf_token(client, codes_url(race)), **form(**changes)},
                       headers=headers)


def text_of(response) -> str:
    body = re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))
    return " ".join(body.replace("&#39;", "'").replace("&amp;", "&").split())


def codes_in(db, race):
    db.session.expire_all()
    return list(db.session.scalars(select(DiscountCode).where(DiscountCode.race_id == race.id).order_by(DiscountCode.id)))


# --- the list ---------------------------------------------------------------------------------

def test_codes_page_shows_each_codes_uses_holds_and_revenue(signed_in, db, race):
    ten_k = race.ticket_types[0]
    friends = make_code(db, race, code="FRIENDS", percent_off=20, max_uses=10)
    make_code(db, race, code="CLUB5", amount_off=500, ticket_type_id=ten_k.id, active=False)
    paid = [make_paid_order(db, race, {ten_k: 1}, code=friends) for _ in range(2)]
    held = make_cart(db, race, {ten_k: 1}, code=friends)
    put_at_payment_step(db, held, datetime.now(UTC) + timedelta(minutes=10))

    response = signed_in.get(codes_url(race))
    page = text_of(response)

    assert response.status_code == 200 and "<html" in response.get_data(as_text=True)
    assert "FRIENDS Active 20% off" in page
    assert f"Used 2 of 10 In checkout 1 Revenue ${sum(o.total for o in paid) / 100:,.2f}" in page
    assert "CLUB5 Inactive $5.00 off 10K tickets" in page
    assert page.count("Delete") == 1  # only the unused code can be deleted


def test_codes_page_names_the_race_zone_and_each_time_in_it(signed_in, db, race):
    make_code(db, race, code="EARLY", percent_off=10, starts_at=datetime(2030, 3, 1, 14, 0, tzinfo=UTC),
              ends_at=datetime(2030, 4, 1, 3, 30, tzinfo=UTC))

    page = text_of(signed_in.get(codes_url(race)))

    assert "America/New_York" not in page
    assert "dates and times in Eastern Time (New York)" in page
    assert "From Fri 1 Mar 2030, 9:00 AM EST until Sun 31 Mar 2030, 11:30 PM EDT" in page


def test_codes_page_fragment_for_htmx(signed_in, db, race):
    make_code(db, race, code="FRIENDS")
    response = signed_in.get(codes_url(race), headers={"HX-Request": "true"})
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in body
    assert body.lstrip().startswith('<div id="codes-section"') and "FRIENDS" in body


# --- making one --------------------------------------------------------------------------------

def test_create_a_percent_code_for_one_ticket_type_with_a_window_in_the_race_timezone(signed_in, db, race):
    ten_k = race.ticket_types[0]
    response = post(signed_in, race, code="early-birds", value="15", ticket_type=str(ten_k.id),
                    starts_at="2030-03-01T09:00", ends_at="2030-03-31T23:30", max_uses="25")

    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in body and "early-birds is ready to use" in body
    (code,) = codes_in(db, race)
    assert (code.code, code.code_normalized, code.kind, code.percent_off, code.amount_off) == (
        "early-birds", "EARLY-BIRDS", DiscountKind.PERCENT, 15, None)
    assert code.ticket_type_id == ten_k.id and code.max_uses == 25 and code.active
    # New York is UTC-5 in March before the 9th, UTC-4 after: the organizer's wall clock, stored in UTC.
    assert code.starts_at == datetime(2030, 3, 1, 14, 0, tzinfo=UTC)
    assert code.ends_at == datetime(2030, 4, 1, 3, 30, tzinfo=UTC)


def test_create_an_amount_code_in_the_race_currency(signed_in, db, race):
    assert post(signed_in, race, code="CLUB", kind="amount", value="7.50").status_code == 200
    (code,) = codes_in(db, race)
    assert (code.kind, code.amount_off, code.percent_off, code.ticket_type_id) == (DiscountKind.AMOUNT, 750, None, None)


def test_without_javascript_creating_redirects_and_errors_come_back_as_a_whole_page(signed_in, db, race):
    created = post(signed_in, race, htmx=False, code="FRIENDS")
    assert created.status_code == 303 and created.headers["Location"] == codes_url(race)
    bad = post(signed_in, race, htmx=False, code="X Y")
    assert bad.status_code == 422 and "<html" in bad.get_data(as_text=True)
    assert len(codes_in(db, race)) == 1


@pytest.mark.parametrize("changes, field, message", [
    ({"code": ""}, "code", "Enter a code, like FRIENDS."),
    ({"code": "AB"}, "code", "Use 3 to 64 characters."),
    ({"code": "X" * 65}, "code", "Use 3 to 64 characters."),
    ({"code": "TWO WORDS"}, "code", "Use letters, digits, dashes or underscores (no spaces)."),
    ({"kind": "free"}, "kind", "Choose percent or amount off."),
    ({"value": ""}, "value", "Enter how much the code takes off."),
    ({"value": "0"}, "value", "Enter a whole percentage from 1 to 100."),
    ({"value": "101"}, "value", "Enter a whole percentage from 1 to 100."),
    ({"value": "12.5"}, "value", "Enter a whole percentage from 1 to 100."),
    ({"kind": "amount", "value": "five"}, "value", "Enter the amount as a number, like 5.00."),
    ({"kind": "amount", "value": "1.005"}, "value", "Enter the amount as a number, like 5.00."),
    ({"kind": "amount", "value": "0"}, "value", "The amount has to be more than 0."),
    ({"kind": "amount", "value": "100000.01"}, "value", "That's more than any ticket costs. Use at most 100,000."),
    ({"ticket_type": "abc"}, "ticket_type", "Pick one of this race's ticket types, or all tickets."),
    ({"starts_at": "tomorrow"}, "starts_at", "Enter a date and time, like 2027-03-01 09:00."),
    ({"ends_at": "2030-02-30T10:00"}, "ends_at", "Enter a date and time, like 2027-03-01 09:00."),
    ({"starts_at": "2030-03-02T10:00", "ends_at": "2030-03-01T10:00"}, "ends_at", "The code has to end after it starts."),
    ({"starts_at": "2030-03-01T10:00", "ends_at": "2030-03-01T10:00"}, "ends_at", "The code has to end after it starts."),
    ({"ends_at": "9999-12-31T23:59"}, "ends_at", "Pick a date between 2000 and 2100."),
    ({"starts_at": "0001-01-01T00:00"}, "starts_at", "Pick a date between 2000 and 2100."),
    ({"max_uses": "0"}, "max_uses", "Enter a whole number of uses, 1 or more, or leave it empty for no limit."),
    ({"max_uses": "-3"}, "max_uses", "Enter a whole number of uses, 1 or more, or leave it empty for no limit."),
    ({"max_uses": "lots"}, "max_uses", "Enter a whole number of uses, 1 or more, or leave it empty for no limit."),
    # Digits str.isdigit() accepts and int() refuses, and numbers that would cost int() minutes.
    ({"value": "²"}, "value", "Enter a whole percentage from 1 to 100."),
    ({"value": "9" * 5000}, "value", "Enter a whole percentage from 1 to 100."),
    ({"max_uses": "²"}, "max_uses", "Enter a whole number of uses, 1 or more, or leave it empty for no limit."),
    ({"ticket_type": "²"}, "ticket_type", "Pick one of this race's ticket types, or all tickets."),
    ({"kind": "amount", "value": "1e999999999"}, "value", "Enter the amount as a number, like 5.00."),
    ({"kind": "amount", "value": "١٢"}, "value", "Enter the amount as a number, like 5.00."),
])
def test_bad_values_are_refused_with_the_message_beside_the_field(signed_in, db, race, changes, field, message):
    response = post(signed_in, race, **changes)
    body = response.get_data(as_text=True).replace("&#39;", "'")
    assert response.status_code == 422
    error = re.search(rf'<small id="{field}-error" class="field-error">([^<]+)</small>', body)
    assert error and error.group(1) == message
    assert f'id="{field}"' in body.split(f'id="{field}-error"')[0] or field == "kind"
    assert codes_in(db, race) == []


def test_a_ticket_type_of_another_race_is_refused(signed_in, db, race):
    other = make_race(db, tickets=[("Marathon", 9000, 10)])
    response = post(signed_in, race, ticket_type=str(other.ticket_types[0].id))
    assert response.status_code == 422 and "Pick one of this race" in response.get_data(as_text=True)
    assert codes_in(db, race) == []


def test_codes_are_unique_per_race_whatever_their_case(signed_in, db, race):
    make_code(db, race, code="Friends")
    make_code(db, make_race(db), code="SUMMER")  # another race's code is no obstacle

    response = post(signed_in, race, code="  fRiEnDs ")
    assert response.status_code == 422
    assert ("This race already has the code Friends. Codes ignore upper and lower case, so pick another one."
            in response.get_data(as_text=True))
    assert post(signed_in, race, code="summer").status_code == 200
    assert [c.code for c in codes_in(db, race)] == ["Friends", "summer"]


# --- changing one ------------------------------------------------------------------------------

def edit(client, race, discount, htmx=True, **changes):
    headers = {"HX-Request": "true"} if htmx else {}
    url = f"{codes_url(race)}/{discount.id}"
    return client.post(url, data={"csrf_token": csrf_token(client, url), **form(**changes)}, headers=headers)


def test_edit_page_shows_the_codes_values_in_the_race_timezone(signed_in, db, race):
    code = make_code(db, race, code="SPRING", percent_off=25, starts_at=datetime(2030, 3, 1, 14, 0, tzinfo=UTC),
                     max_uses=5)
    page = signed_in.get(f"{codes_url(race)}/{code.id}")
    body = page.get_data(as_text=True)
    assert page.status_code == 200 and "<html" in body
    assert 'value="SPRING"' in body and 'value="25"' in body and 'value="2030-03-01T09:00"' in body
    assert 'value="5"' in body
    fragment = signed_in.get(f"{codes_url(race)}/{code.id}", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert fragment.lstrip().startswith('<section id="code-form"') and "<html" not in fragment


def test_an_unused_code_can_change_everything(signed_in, db, race):
    code = make_code(db, race, code="SPRING", percent_off=25)
    response = edit(signed_in, race, code, code="SPRING26", kind="amount", value="3", max_uses="9", active="")
    assert response.status_code == 200 and response.headers["HX-Redirect"] == codes_url(race)
    (saved,) = codes_in(db, race)
    assert (saved.code, saved.kind, saved.amount_off, saved.percent_off, saved.max_uses, saved.active) == (
        "SPRING26", DiscountKind.AMOUNT, 300, None, 9, False)


def test_a_used_code_keeps_its_name_and_discount_but_its_window_and_limit_can_change(signed_in, db, race):
    code = make_code(db, race, code="SPRING", percent_off=25, max_uses=10)
    make_paid_order(db, race, {race.ticket_types[0]: 1}, code=code)
    make_paid_order(db, race, {race.ticket_types[0]: 1}, code=code)

    for changes, message in [({"value": "30"}, "its discount can't change"),
                             ({"code": "AUTUMN"}, "can't be renamed"),
                             ({"ticket_type": str(race.ticket_types[1].id)}, "the tickets it applies to can't change"),
                             ({"max_uses": "1"}, "2 uses are already paid or in checkout")]:
        response = edit(signed_in, race, code, **{"code": "SPRING", "value": "25", "max_uses": "10", **changes})
        assert response.status_code == 422, changes
        assert message in response.get_data(as_text=True).replace("&#39;", "'"), changes

    ok = edit(signed_in, race, code, code="spring", value="25", max_uses="2", ends_at="2031-01-01T00:00", active="")
    assert ok.status_code == 200
    (saved,) = codes_in(db, race)
    assert (saved.percent_off, saved.max_uses, saved.active) == (25, 2, False)
    assert saved.ends_at == datetime(2031, 1, 1, 5, 0, tzinfo=UTC)


def test_editing_to_another_codes_name_is_refused(signed_in, db, race):
    make_code(db, race, code="TAKEN")
    code = make_code(db, race, code="MINE")
    response = edit(signed_in, race, code, code="taken")
    assert response.status_code == 422 and "already has the code TAKEN" in response.get_data(as_text=True)
    assert {c.code for c in codes_in(db, race)} == {"TAKEN", "MINE"}


def test_another_races_code_is_404_here(signed_in, db, race):
    foreign = make_code(db, make_race(db), code="THEIRS")
    assert signed_in.get(f"{codes_url(race)}/{foreign.id}").status_code == 404
    assert edit(signed_in, race, foreign, code="MINE").status_code == 404
    assert signed_in.get(f"{codes_url(race)}/999999").status_code == 404
    db.session.expire_all()
    assert db.session.get(DiscountCode, foreign.id).code == "THEIRS"


# --- switching off and deleting ----------------------------------------------------------------

def test_deactivate_and_activate_again(signed_in, db, race):
    code = make_code(db, race, code="FRIENDS")
    url = f"{codes_url(race)}/{code.id}/active"
    token = csrf_token(signed_in, codes_url(race))
    off = signed_in.post(url, data={"csrf_token": token, "active": "0"}, headers={"HX-Request": "true"})
    assert off.status_code == 200 and "FRIENDS is switched off" in off.get_data(as_text=True)
    assert codes_in(db, race)[0].active is False
    on = signed_in.post(url, data={"csrf_token": token, "active": "1"})
    assert on.status_code == 303 and codes_in(db, race)[0].active is True


def test_an_unused_code_is_deleted_and_carts_that_had_it_lose_it(signed_in, db, race):
    code = make_code(db, race, code="FRIENDS")
    cart = make_cart(db, race, {race.ticket_types[0]: 1}, code=code)
    response = signed_in.post(f"{codes_url(race)}/{code.id}/delete",
                              data={"csrf_token": csrf_token(signed_in, codes_url(race))}, headers={"HX-Request": "true"})
    assert response.status_code == 200 and "FRIENDS is deleted" in response.get_data(as_text=True)
    assert codes_in(db, race) == []
    assert db.session.get(Order, cart.id).discount_code_id is None


@pytest.mark.parametrize("status", [OrderStatus.PAID, OrderStatus.PENDING, OrderStatus.EXPIRED, OrderStatus.REFUNDED])
def test_a_used_code_cannot_be_deleted_only_deactivated(signed_in, db, race, status):
    code = make_code(db, race, code="FRIENDS")
    order = make_order(db, race, race.ticket_types[0], 1, status=status)
    order.discount_code_id = code.id
    db.session.commit()

    response = signed_in.post(f"{codes_url(race)}/{code.id}/delete",
                              data={"csrf_token": csrf_token(signed_in, codes_url(race))}, headers={"HX-Request": "true"})

    assert response.status_code == 422
    assert "FRIENDS has been used on orders, so it can't be deleted. Deactivate it instead." in (
        response.get_data(as_text=True).replace("&#39;", "'"))
    assert [c.code for c in codes_in(db, race)] == ["FRIENDS"]


# --- who may ----------------------------------------------------------------------------------

@pytest.mark.parametrize("who", VISITORS)
def test_only_the_races_organizers_see_or_change_its_codes(app, db, race, who):
    code = make_code(db, race, code="FRIENDS", percent_off=20)
    client, token = visitor_client(app, db, race, who)
    base = codes_url(race)

    assert_answer(client.get(base), EXPECTED_GET[who], "codes")
    assert_answer(client.get(f"{base}/{code.id}"), EXPECTED_GET[who], "edit code")
    changes = [(base, form(code="HACKED")), (f"{base}/{code.id}", form(code="HACKED", value="99")),
               (f"{base}/{code.id}/active", {"active": "0"}), (f"{base}/{code.id}/delete", {})]
    if who in ("owner", "co-organizer"):
        assert client.post(base, data={"csrf_token": token, **form(code=f"BY-{who[:2].upper()}")}).status_code == 303
        return
    for path, data in changes:
        assert_answer(client.post(path, data={"csrf_token": token, **data}), EXPECTED_GET[who], path)
    db.session.expire_all()
    assert db.session.scalar(select(func.count(DiscountCode.id))) == 1
    saved = db.session.get(DiscountCode, code.id)
    assert (saved.code, saved.percent_off, saved.active) == ("FRIENDS", 20, True)
