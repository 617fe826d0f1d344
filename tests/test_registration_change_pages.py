"""The change pages over HTTP: who may act (the code alone never moves a ticket), the emailed link, paying a fee on
the test gateway, the organizer's panel, and bad input answered with 4xx, never a 500, nothing half-saved."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from models import ChangeStatus, Order, OrderKind, Profile, Registration, RegistrationAudit, RegistrationChange
from services.stored_sentences import worded
from tests.change_factories import make_change_race, outbox, paid_ticket, ticket_type
from tests.factories import login, make_profile
from tests.http import csrf_token

LINK = re.compile(r"https?://\S+/ticket-changes/[A-Za-z0-9_.\-]+")


def fresh(db, registration) -> Registration:
    db.session.expire_all()
    return db.session.get(Registration, registration.id)


@pytest.fixture
def world(db):
    race = make_change_race(db, fee=500)
    ticket = paid_ticket(db, race)
    buyer = db.session.get(Order, ticket.order_id).buyer_id
    return race, ticket, buyer


def test_the_ticket_page_offers_the_change_and_the_code_alone_only_emails_the_runner(db, client, world):
    race, ticket, _ = world
    assert "Transfer or change distance" in client.get(f"/tickets/{ticket.ticket_code}").get_data(as_text=True)
    page = client.get(f"/tickets/{ticket.ticket_code}/change").get_data(as_text=True)
    assert "Email the runner a link" in page and "New runner&#39;s first name" not in page
    token = csrf_token(client, f"/tickets/{ticket.ticket_code}/change")
    refused = client.post(f"/tickets/{ticket.ticket_code}/change/transfer",
                          data={"csrf_token": token, "first_name": "Eve", "last_name": "X", "email": "eve@example.com"})
    assert refused.status_code in (302, 303) and "/auth/sign-in" in refused.headers["Location"]
    assert fresh(db, ticket).email == "ada@example.com"
    sent = client.post(f"/tickets/{ticket.ticket_code}/change/link", data={"csrf_token": token})
    assert sent.status_code == 200 and "We emailed a link" in sent.get_data(as_text=True)
    [mail] = outbox(db, "change_link")
    assert mail.to_address == "ada@example.com"


def test_the_runner_transfers_by_their_link_and_the_audit_names_them(db, client, world):
    race, ticket, _ = world
    race.transfer_fee = 0
    db.session.commit()
    token = csrf_token(client, f"/tickets/{ticket.ticket_code}/change")
    client.post(f"/tickets/{ticket.ticket_code}/change/link", data={"csrf_token": token})
    link = LINK.search(outbox(db, "change_link")[0].text_body).group(0)
    path = link.split("localhost", 1)[-1] if "localhost" in link else "/" + link.split("/", 3)[3]
    page = client.get(path)
    assert page.status_code == 200 and "Transfer to another runner" in page.get_data(as_text=True)
    done = client.post(path + "/transfer", data={"csrf_token": csrf_token(client, path), "first_name": "Bo",
                                                 "last_name": "Lee", "email": "bo@example.com"})
    assert done.status_code == 303
    assert "now belongs to Bo Lee" in client.get(done.headers["Location"]).get_data(as_text=True)
    assert fresh(db, ticket).email == "bo@example.com"
    audit = db.session.scalar(select(RegistrationAudit))
    assert audit.profile_id is None and "emailed link" in worded(audit.actor)
    assert client.get(path).status_code == 404  # the link died with the old code


def test_the_runner_by_their_link_pays_the_fee_on_the_test_gateway_without_an_account(db, client, world):
    """Like Stripe's page, the test gateway opens by its address: no sign-in stands between the runner and it,
    and paying lands on the change's own page."""
    race, ticket, _ = world
    token = csrf_token(client, f"/tickets/{ticket.ticket_code}/change")
    client.post(f"/tickets/{ticket.ticket_code}/change/link", data={"csrf_token": token})
    link = LINK.search(outbox(db, "change_link")[0].text_body).group(0)
    path = link.split("localhost", 1)[-1] if "localhost" in link else "/" + link.split("/", 3)[3]
    response = client.post(path + "/transfer", data={"csrf_token": csrf_token(client, path), "first_name": "Bo",
                                                     "last_name": "Lee", "email": "bo@example.com"})
    assert response.status_code == 303 and "/test-gateway/" in response.headers["Location"]
    gateway = response.headers["Location"].split("localhost", 1)[-1]
    assert "Transfer fee" in client.get(gateway).get_data(as_text=True)
    paid = client.post(gateway, data={"csrf_token": csrf_token(client, gateway), "action": "pay"})
    assert paid.status_code == 303 and "/ticket-changes/done/" in paid.headers["Location"]
    assert "now belongs to Bo Lee" in client.get(paid.headers["Location"]).get_data(as_text=True)
    assert fresh(db, ticket).email == "bo@example.com"


def test_the_signed_in_buyer_pays_the_fee_on_the_test_gateway_then_the_ticket_moves(db, client, world):
    race, ticket, buyer_id = world
    login(client, db.session.get(Profile, buyer_id))
    path = f"/tickets/{ticket.ticket_code}/change"
    assert "New runner&#39;s first name" in client.get(path).get_data(as_text=True)
    response = client.post(path + "/transfer", data={"csrf_token": csrf_token(client, path), "first_name": "Bo",
                                                     "last_name": "Lee", "email": "bo@example.com"})
    assert response.status_code == 303 and "/test-gateway/" in response.headers["Location"]
    gateway = response.headers["Location"].split("localhost", 1)[-1]
    assert "Transfer fee" in client.get(gateway).get_data(as_text=True)
    paid = client.post(gateway, data={"csrf_token": csrf_token(client, gateway), "action": "pay"})
    status = client.get(paid.headers["Location"], follow_redirects=True)
    assert "now belongs to Bo Lee" in status.get_data(as_text=True)
    assert fresh(db, ticket).email == "bo@example.com"
    order = db.session.scalar(select(Order).where(Order.kind == OrderKind.CHANGE))
    assert order.total == 500 and order.status.value == "paid"


def test_someone_else_signed_in_may_not_change_the_ticket(db, client, world):
    _, ticket, _ = world
    login(client, make_profile(db, email="mallory@example.com"))
    path = f"/tickets/{ticket.ticket_code}/change"
    response = client.post(path + "/transfer", data={"csrf_token": csrf_token(client, path), "first_name": "M",
                                                     "last_name": "M", "email": "m@example.com"})
    assert response.status_code == 403 and fresh(db, ticket).email == "ada@example.com"


@pytest.mark.parametrize("form", [
    {}, {"first_name": "", "last_name": "", "email": ""}, {"first_name": "x" * 70_000, "last_name": "L", "email": "a@b.c"},
    {"first_name": "Bo", "last_name": "Lee", "email": "not an email"},
    {"first_name": "Bo", "last_name": "Lee", "email": "ada@example.com"},
], ids=["missing", "empty", "huge", "bad-email", "same-email"])
def test_bad_transfer_input_is_a_422_or_409_and_changes_nothing(db, client, world, form):
    _, ticket, buyer_id = world
    login(client, db.session.get(Profile, buyer_id))
    path = f"/tickets/{ticket.ticket_code}/change"
    response = client.post(path + "/transfer", data={"csrf_token": csrf_token(client, path), **form})
    assert response.status_code in (409, 422)
    assert fresh(db, ticket).email == "ada@example.com"
    assert db.session.scalar(select(RegistrationChange.id)) is None


@pytest.mark.parametrize("value, status", [("", 422), ("abc", 422), ("-1", 422), ("99999", 404), ("1e3", 422),
                                           (["1", "2"], None)], ids=["empty", "word", "negative", "unknown",
                                                                     "float", "repeated"])
def test_bad_distance_input_is_never_a_500(db, client, world, value, status):
    _, ticket, buyer_id = world
    login(client, db.session.get(Profile, buyer_id))
    path = f"/tickets/{ticket.ticket_code}/change"
    response = client.post(path + "/distance", data={"csrf_token": csrf_token(client, path), "ticket_type_id": value})
    assert response.status_code < 500 and (status is None or response.status_code == status)
    if response.status_code >= 400:
        assert fresh(db, ticket).ticket_type_id == ticket_type(db, world[0], "10K").id


def test_a_transferred_code_is_410_and_an_unknown_one_404(db, client, world):
    assert client.get("/tickets/nosuchticketcode/change").status_code == 404
    assert client.get("/ticket-changes/forged-token").status_code == 404
    assert client.get("/ticket-changes/done/forged").status_code == 404


def test_the_organizer_changes_a_distance_from_the_registrant_page_and_it_is_in_the_trail(db, client, world):
    race, ticket, _ = world
    login(client, db.session.get(Profile, race.organizer_id))
    page_path = f"/manage/races/{race.id}/registrants/{ticket.id}"
    page = client.get(page_path).get_data(as_text=True)
    assert "Transfer or change distance" in page
    half = ticket_type(db, race, "Half")
    response = client.post(f"{page_path}/distance", data={"csrf_token": csrf_token(client, page_path),
                                                           "ticket_type_id": str(half.id)})
    assert response.status_code == 303
    assert fresh(db, ticket).ticket_type_id == half.id
    assert "changed the distance from" in client.get(page_path).get_data(as_text=True)


def test_the_organizer_transfers_even_with_transfers_off_but_not_to_the_same_email(db, client, world):
    race, ticket, _ = world
    race.transfers_enabled = False
    db.session.commit()
    login(client, db.session.get(Profile, race.organizer_id))
    page_path = f"/manage/races/{race.id}/registrants/{ticket.id}"
    token = csrf_token(client, page_path)
    same = client.post(f"{page_path}/transfer", data={"csrf_token": token, "first_name": "Ada", "last_name": "L",
                                                      "email": "ada@example.com"})
    assert same.status_code == 409 and "email this ticket already has" in same.get_data(as_text=True)
    moved = client.post(f"{page_path}/transfer", data={"csrf_token": token, "first_name": "Bo", "last_name": "Lee",
                                                       "email": "bo@example.com"})
    assert moved.status_code == 303 and fresh(db, ticket).email == "bo@example.com"
    change = db.session.scalar(select(RegistrationChange))
    assert change.status == ChangeStatus.APPLIED and change.amount == 0  # the fee is waived


def test_another_races_organizer_cannot_change_this_ticket(db, client, world):
    race, ticket, _ = world
    login(client, make_profile(db, email="other@example.com"))
    response = client.post(f"/manage/races/{race.id}/registrants/{ticket.id}/distance",
                           data={"csrf_token": csrf_token(client, "/"), "ticket_type_id": "1"})
    assert response.status_code in (403, 404)
