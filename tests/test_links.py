"""Links that leave the site: built from the route table, on SITE_URL, whatever host a request came in on."""
from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import select
from werkzeug.routing import BuildError

from models import OutboxMessage
from services.links import public_url
from services.notifications import ticket_url
from tests.factories import login, make_profile, make_race
from tests.http import csrf_token, post_form

PUBLIC = "https://startline.example"
OTHER_HOST = "http://other.example:8000"


def test_a_link_to_an_endpoint_that_does_not_exist_raises(app):
    with app.app_context():
        with pytest.raises(BuildError):
            public_url("tickets.no_such_page", code="ABCDEFGH")


def test_renaming_the_ticket_route_makes_the_ticket_emails_link_raise_instead_of_going_dead():
    def app_whose_ticket_route_is_called(endpoint: str) -> Flask:
        site = Flask(__name__)
        site.config["SITE_URL"] = PUBLIC
        site.add_url_rule("/tickets/<code>", endpoint, lambda code: code)
        return site

    with app_whose_ticket_route_is_called("tickets.show").app_context():
        assert ticket_url("ABCDEFGH") == f"{PUBLIC}/tickets/ABCDEFGH"
    with app_whose_ticket_route_is_called("tickets.ticket").app_context():
        with pytest.raises(BuildError):
            ticket_url("ABCDEFGH")


def test_public_urls_keep_a_path_prefix_and_port_of_site_url(app):
    app.config["SITE_URL"] = "https://startline.example:8443/run"
    with app.app_context():
        assert public_url("races.race_page", slug="lake-5k") == "https://startline.example:8443/run/races/lake-5k"
        assert public_url("auth.confirm", next="/races/lake-5k") == \
            "https://startline.example:8443/run/auth/confirm?next=/races/lake-5k"


def _last_email_to(db, address: str) -> OutboxMessage:
    db.session.expire_all()
    return db.session.scalars(select(OutboxMessage).where(OutboxMessage.to_address == address)
                              .order_by(OutboxMessage.id.desc())).first()


def test_a_confirmation_link_is_on_site_url_even_when_the_sign_up_came_in_on_another_host(app, client, db):
    app.config["SITE_URL"] = PUBLIC
    response = post_form(client, f"{OTHER_HOST}/auth/sign-up?next=/races/lake-5k",
                         {"full_name": "Grace Hopper", "email": "grace@example.com", "password": "correct horse battery"})
    assert response.status_code == 200, response.get_data(as_text=True)

    message = _last_email_to(db, "grace@example.com")
    assert message.subject == "Confirm your email for Startline"
    assert f"{PUBLIC}/auth/confirm?next=/races/lake-5k&token_hash=" in message.text_body
    assert f'href="{PUBLIC}/auth/confirm?next=/races/lake-5k&amp;token_hash=' in message.html_body
    assert "other.example" not in message.text_body + message.html_body


def test_an_invitation_link_is_on_site_url_even_when_the_invite_came_in_on_another_host(app, client, db):
    owner = make_profile(db, full_name="Olga Owner", email="olga@example.com")
    race = make_race(db, organizer=owner, title="Lake 10K")
    login(client, owner)
    app.config["SITE_URL"] = PUBLIC
    page = f"{OTHER_HOST}/manage/races/{race.id}/team"
    # The test client keeps cookies per host: carry the sign-in over to the other one.
    client.set_cookie(key="sl_access", value=client.get_cookie("sl_access").value, domain="other.example")
    client.set_cookie(key="sl_refresh", value=client.get_cookie("sl_refresh").value, domain="other.example")
    response = client.post(page, data={"csrf_token": csrf_token(client, page), "email": "newbie@example.com"})
    assert response.status_code == 303, response.get_data(as_text=True)

    message = _last_email_to(db, "newbie@example.com")
    assert message.subject == "Olga Owner invited you to organize Lake 10K"
    assert f"{PUBLIC}/manage/invites/" in message.text_body and "other.example" not in message.text_body
