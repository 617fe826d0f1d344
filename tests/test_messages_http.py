"""The Messages tab over HTTP: the page and its fragments, the steps to sending, bad input, unsubscribing by link."""
from __future__ import annotations

import html
import re

import pytest
from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict

from models import MessageUnsubscribe, OutboxMessage, RaceMessage
from services.messages.unsubscribe import token_maker
from tests.factories import login, make_profile
from tests.http import csrf_token
from tests.registrant_factories import organized_race, organizer, race, runner, signed_in  # noqa: F401  (fixtures)


def base(race) -> str:
    return f"/manage/races/{race.id}/messages"


def form(client, race, **values) -> dict:
    page = client.get(base(race)).get_data(as_text=True)
    key = re.search(r'name="key"[^>]*value="([^"]+)"', page)
    data = {"csrf_token": csrf_token(client, base(race)), "key": key.group(1), "subject": "Packet pick-up",
            "body": "Friday 4-8 pm.", "ticket_type": "", "checked_in": "", "details": ""}
    data.update(values)
    return {k: v for k, v in data.items() if v is not None}


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def count(db, model) -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(model))


@pytest.fixture
def runners(db, race):
    runner(db, race, race.ticket_types[0], "Ann", email="ann@example.com")
    runner(db, race, race.ticket_types[1], "Bob", email="bob@example.com")


def test_the_tab_shows_an_empty_sent_list_and_the_compose_form_with_the_audience_count(signed_in, race, runners):
    page = signed_in.get(base(race)).get_data(as_text=True)
    assert 'aria-current="page">Messages' in page
    assert "No messages sent yet." in page
    assert "2 people</strong> will get it" in page and "Send to 2 runners…" in page


def test_the_count_follows_the_filters_as_a_fragment(signed_in, race, runners):
    response = signed_in.get(f"{base(race)}/audience?ticket_type={race.ticket_types[0].id}&checked_in=&details=",
                             headers={"HX-Request": "true"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in html
    assert "1 person</strong> will get it" in html and "Send to 1 runner…" in html


def test_a_plain_visit_to_the_count_lands_on_the_messages_page(signed_in, race, runners):
    response = signed_in.get(f"{base(race)}/audience?ticket_type={race.ticket_types[0].id}")
    assert response.status_code in (302, 303) and response.headers["Location"].endswith(base(race))
    assert signed_in.get(response.headers["Location"]).status_code == 200


@pytest.mark.parametrize("query", ["ticket_type=abc", "ticket_type=999999", "checked_in=maybe", "details=%00",
                                   "ticket_type=1&ticket_type=2"])
def test_a_count_for_filters_that_make_no_sense_is_a_422_with_the_reason(signed_in, race, runners, query):
    response = signed_in.get(f"{base(race)}/audience?{query}", headers={"HX-Request": "true"})
    assert response.status_code == 422
    assert 'class="field-error"' in response.get_data(as_text=True)


def test_preview_shows_the_email_and_a_test_goes_to_the_organizer(db, signed_in, race, runners):
    preview = signed_in.post(f"{base(race)}/preview", data=form(signed_in, race, body="**Bring** your bib"))
    assert preview.status_code == 200
    assert "srcdoc=" in preview.get_data(as_text=True) and "&lt;strong&gt;Bring&lt;/strong&gt;" in preview.get_data(as_text=True)

    test = signed_in.post(f"{base(race)}/test", data=form(signed_in, race))
    assert "A test is on its way to olga@example.com" in test.get_data(as_text=True)
    assert [m.subject for m in db.session.scalars(select(OutboxMessage))] == ["[Test] Packet pick-up"]
    assert count(db, RaceMessage) == 0


def test_confirm_then_send_queues_once_even_when_the_button_is_pressed_twice(db, signed_in, race, runners):
    data = form(signed_in, race)
    confirm = signed_in.post(f"{base(race)}/confirm", data=data)
    page = confirm.get_data(as_text=True)
    assert confirm.status_code == 200 and "Send to 2 runners" in page
    assert count(db, OutboxMessage) == 0

    first = signed_in.post(f"{base(race)}/send", data=data)
    second = signed_in.post(f"{base(race)}/send", data=data)

    assert first.status_code == second.status_code == 303
    assert first.headers["Location"] == second.headers["Location"]
    assert count(db, RaceMessage) == 1 and count(db, OutboxMessage) == 2
    detail = signed_in.get(first.headers["Location"]).get_data(as_text=True)
    assert "Queued for 2 people" in detail and "Friday 4-8 pm." in detail
    listing = signed_in.get(base(race)).get_data(as_text=True)
    assert "Packet pick-up" in listing and "Everyone" in listing and "No messages sent yet." not in listing


@pytest.mark.parametrize("values, field_error", [
    ({"subject": ""}, "Write a subject."),
    ({"body": ""}, "Write the message."),
    ({"body": "x" * 20_001}, "Keep the message under 20,000 characters"),
    ({"ticket_type": "999999"}, "Pick one of this race's ticket types."),
    ({"ticket_type": "ten"}, "Pick one of this race's ticket types."),
    ({"checked_in": "perhaps"}, "Pick checked in, not checked in, or either."),
    ({"key": "short"}, "This form is out of date."),
    ({"key": None}, "This form is out of date."),
])
@pytest.mark.parametrize("step", ["send", "confirm", "test", "preview"])
def test_bad_input_is_a_422_beside_the_field_and_queues_nothing(db, signed_in, race, runners, values, field_error, step):
    response = signed_in.post(f"{base(race)}/{step}", data=form(signed_in, race, **values))
    assert response.status_code == 422
    assert field_error in text(response)
    assert count(db, OutboxMessage) == 0 and count(db, RaceMessage) == 0


def test_another_race_s_ticket_type_or_a_repeated_field_is_refused(db, signed_in, race, runners):
    other = organized_race(db, make_profile(db), slug="other")
    response = signed_in.post(f"{base(race)}/send", data=form(signed_in, race, ticket_type=str(other.ticket_types[0].id)))
    assert response.status_code == 422 and "Pick one of this race's ticket types." in text(response)

    data = form(signed_in, race)
    repeated = MultiDict([*data.items(), ("subject", "Second subject")])
    response = signed_in.post(f"{base(race)}/send", data=repeated)
    assert response.status_code == 422 and "sent more than once" in response.get_data(as_text=True)
    assert count(db, OutboxMessage) == 0


@pytest.mark.parametrize("step", ["confirm", "send"])
def test_a_send_that_reaches_nobody_says_so(db, signed_in, race, runners, step):
    response = signed_in.post(f"{base(race)}/{step}", data=form(signed_in, race, checked_in="yes"))
    assert response.status_code == 422 and "Nobody matches these filters" in response.get_data(as_text=True)
    assert count(db, RaceMessage) == 0


def test_only_the_race_s_organizers_reach_the_tab(db, client, race, runners):
    login(client, make_profile(db, email="mallory@example.com"))
    assert client.get(base(race)).status_code == 403
    assert client.post(f"{base(race)}/send", data={"csrf_token": csrf_token(client, "/")}).status_code == 403


def test_a_message_of_another_race_is_not_found(db, signed_in, race, organizer, runners):
    signed_in.post(f"{base(race)}/send", data=form(signed_in, race))
    mine = organized_race(db, organizer, slug="mine")
    message_id = db.session.scalar(select(RaceMessage.id))
    assert signed_in.get(f"{base(mine)}/{message_id}").status_code == 404


# --- unsubscribing by the link -------------------------------------------------------------------

def token(app, race, email="ann@example.com") -> str:
    with app.app_context():
        return token_maker(race.id)(email)


def test_the_link_shows_a_confirm_page_and_changes_nothing_until_the_button(app, db, client, race):
    response = client.get(f"/unsubscribe/{token(app, race)}")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Stop messages about Lake 10K?" in page and "ann@example.com" in page
    assert count(db, MessageUnsubscribe) == 0


def test_a_mail_client_s_one_click_post_unsubscribes_without_a_csrf_token(app, db, client, race):
    response = client.post(f"/unsubscribe/{token(app, race, 'Ann@Example.com')}",
                           data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200 and "You're unsubscribed" in text(response)
    assert db.session.scalar(select(MessageUnsubscribe.email)) == "ann@example.com"
    assert client.post(f"/unsubscribe/{token(app, race)}").status_code == 200  # twice is once
    assert count(db, MessageUnsubscribe) == 1


@pytest.mark.parametrize("bad", ["nonsense", "x" * 300, "WzEsImFAYi5jIl0.forged.sig"])
def test_a_forged_or_mangled_link_is_a_404_and_unsubscribes_nobody(db, client, race, bad):
    response = client.post(f"/unsubscribe/{bad}")
    assert response.status_code == 404 and "This link doesn't work" in text(response)
    assert count(db, MessageUnsubscribe) == 0


def test_a_link_for_one_race_opens_nothing_with_another_salt(app, db, client, race):
    from itsdangerous import URLSafeTimedSerializer  # forging, as an attacker with another app's key would
    forged = URLSafeTimedSerializer("guess", salt="message-unsubscribe").dumps([race.id, "ann@example.com"])
    assert client.post(f"/unsubscribe/{forged}").status_code == 404


@pytest.mark.parametrize("step", ["preview", "test", "confirm", "send"])
def test_every_message_form_needs_its_csrf_token(db, signed_in, race, runners, step):
    data = form(signed_in, race)
    del data["csrf_token"]
    assert signed_in.post(f"{base(race)}/{step}", data=data).status_code == 400
    assert count(db, OutboxMessage) == 0


def test_only_the_unsubscribe_link_is_exempt_from_csrf_beside_the_stripe_webhook(app):
    exempt = app.extensions["csrf"]._exempt_views
    assert "blueprints.unsubscribe.unsubscribe" in exempt
    assert not any(view.startswith("blueprints.manage") for view in exempt)


def test_the_preview_page_allows_exactly_the_email_s_inline_styles_and_no_other_page_does(signed_in, race, runners):
    preview = signed_in.post(f"{base(race)}/preview", data=form(signed_in, race))
    policy = preview.headers["Content-Security-Policy"]
    assert "'unsafe-hashes'" in policy and "'sha256-" in policy and "'unsafe-inline'" not in policy
    assert "'unsafe-hashes'" not in signed_in.get(base(race)).headers["Content-Security-Policy"]


def test_the_sent_message_s_counts_refresh_as_a_fragment_while_emails_are_queued(db, signed_in, race, runners):
    location = signed_in.post(f"{base(race)}/send", data=form(signed_in, race)).headers["Location"]
    page = signed_in.get(location).get_data(as_text=True)
    assert 'hx-trigger="every 5s"' in page

    db.session.execute(OutboxMessage.__table__.update().values(status="sent"))
    db.session.commit()
    fragment = signed_in.get(location, headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<html" not in fragment and "Delivery" in fragment and "every 5s" not in fragment
    assert re.search(r"Delivered</dt><dd>2</dd>", fragment)
