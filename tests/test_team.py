"""A race's team: inviting co-organizers (with and without an account), accepting an invite link,
and who may remove whom."""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from models import OrganizerInvite, OrganizerRole, OutboxMessage, RaceOrganizer
from services import clock
from services.team import token_hash
from tests.factories import login, make_profile, make_race
from tests.http import csrf_token
from tests.manage_access import EXPECTED_GET, VISITORS, assert_answer, visitor_client


@pytest.fixture
def owner(db):
    return make_profile(db, full_name="Olga Owner", email="olga@example.com")


@pytest.fixture
def race(db, owner):
    return make_race(db, organizer=owner, title="Lake 10K")


@pytest.fixture
def signed_in(client, owner):
    login(client, owner)
    return client


def team_url(race):
    return f"/manage/races/{race.id}/team"


def invite(client, race, email, htmx=True):
    headers = {"HX-Request": "true"} if htmx else {}
    return client.post(team_url(race), data={"csrf_token": csrf_token(client, team_url(race)), "email": email},
                       headers=headers)


def role(db, race, profile):
    db.session.expire_all()
    return db.session.scalar(select(RaceOrganizer.role).where(RaceOrganizer.race_id == race.id,
                                                              RaceOrganizer.profile_id == profile.id))


def add_co_organizer(db, race, email="cody@example.com", name="Cody Co"):
    person = make_profile(db, email=email, full_name=name)
    db.session.add(RaceOrganizer(race_id=race.id, profile_id=person.id, role=OrganizerRole.CO_ORGANIZER))
    db.session.commit()
    return person


def link_in(message: OutboxMessage) -> str:
    return re.search(r"http://localhost(/manage/invites/\S+)", message.text_body).group(1)


def text_of(response) -> str:
    body = re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))
    return " ".join(body.replace("&#39;", "'").replace("&amp;", "&").split())


# --- the page ---------------------------------------------------------------------------------

def test_team_page_lists_owner_co_organizers_and_waiting_invites(signed_in, db, race):
    add_co_organizer(db, race)
    invite(signed_in, race, "newbie@example.com")
    response = signed_in.get(team_url(race))
    page = text_of(response)
    assert response.status_code == 200 and "<html" in response.get_data(as_text=True)
    assert page.index("Olga Owner (you)") < page.index("Cody Co")
    assert "Owner" in page and "Co-organizer" in page and "Remove Cody Co" in page
    assert "Invitations waiting @ newbie@example.com" in page


def test_team_fragment_for_htmx(signed_in, db, race):
    body = signed_in.get(team_url(race), headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<html" not in body and body.lstrip().startswith('<div id="team-section"')


@pytest.mark.parametrize("email, message", [
    ("", "Enter the email address to invite."),
    ("not-an-address", "Enter a full email address, like sam@example.com."),
    ("olga@example.com", "olga@example.com already organizes this race."),
])
def test_bad_invites_get_a_message_beside_the_field(signed_in, db, race, email, message):
    response = invite(signed_in, race, email)
    assert response.status_code == 422
    assert re.search(rf'<small id="email-error" class="field-error">{re.escape(message)}</small>',
                     response.get_data(as_text=True))
    assert db.session.scalar(select(func.count(OrganizerInvite.id))) == 0
    assert db.session.scalar(select(func.count(RaceOrganizer.id))) == 1


# --- inviting someone with an account -----------------------------------------------------------

def test_someone_with_an_account_is_added_at_once_and_told(signed_in, app, db, race, owner):
    sam = make_profile(db, email="sam@example.com", full_name="Sam Helper")
    other_race = make_race(db, organizer=owner, title="Other race of Olga's")

    response = invite(signed_in, race, "  Sam@Example.COM ")

    assert response.status_code == 200 and "sam@example.com is now a co-organizer" in response.get_data(as_text=True)
    assert role(db, race, sam) == OrganizerRole.CO_ORGANIZER
    assert db.session.scalar(select(RaceOrganizer.invited_by_id).where(RaceOrganizer.profile_id == sam.id)) == owner.id
    (email,) = db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "organizer_added"))
    assert email.to_address == "sam@example.com" and email.race_id == race.id and "Lake 10K" in email.subject
    sams = app.test_client()
    login(sams, sam)
    assert sams.get(f"/manage/races/{race.id}/dashboard").status_code == 200
    assert sams.get(f"/manage/races/{other_race.id}/dashboard").status_code == 403  # this race only
    assert "Lake 10K" in sams.get("/manage/").get_data(as_text=True)


# --- inviting someone without one -----------------------------------------------------------------

def test_a_new_person_gets_an_invite_link_that_adds_them_once_signed_in(signed_in, app, db, race):
    response = invite(signed_in, race, "newbie@example.com", htmx=False)
    assert response.status_code == 303 and response.headers["Location"] == team_url(race)

    stored = db.session.scalar(select(OrganizerInvite))
    (email,) = db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "organizer_invite"))
    path = link_in(email)
    token = path.rsplit("/", 1)[1]
    assert stored.email == "newbie@example.com" and stored.token_hash == token_hash(token) and token not in stored.token_hash
    assert email.to_address == "newbie@example.com" and "30 days" in email.text_body

    visitor = app.test_client()
    to_sign_in = visitor.get(path)
    assert to_sign_in.status_code == 303 and to_sign_in.headers["Location"] == f"/auth/sign-in?next={path}"

    newbie = make_profile(db, email="newbie@example.com", full_name="New Bie")  # they signed up
    login(visitor, newbie)
    page = visitor.get(path)
    assert page.status_code == 200 and "Help organize Lake 10K" in text_of(page) and "Olga Owner" in text_of(page)
    assert role(db, race, newbie) is None  # looking is not accepting

    accepted = visitor.post(path, data={"csrf_token": csrf_token(visitor, path)})
    assert accepted.status_code == 303 and accepted.headers["Location"] == f"/manage/races/{race.id}/dashboard"
    assert role(db, race, newbie) == OrganizerRole.CO_ORGANIZER
    assert db.session.scalar(select(OrganizerInvite.accepted_at)) is not None
    again = visitor.get(path)
    assert again.status_code == 410 and "used already" in text_of(again)


def test_an_invite_only_works_for_the_invited_address(signed_in, app, db, race):
    invite(signed_in, race, "newbie@example.com")
    path = link_in(db.session.scalar(select(OutboxMessage)))
    mallory = make_profile(db, email="mallory@example.com")
    client = app.test_client()
    login(client, mallory)

    page = client.get(path)
    accepted = client.post(path, data={"csrf_token": csrf_token(client, "/")})

    assert page.status_code == 403 and "sent to n•••••@example.com" in text_of(page)
    assert "Sign in with the invited address" in text_of(page)
    assert accepted.status_code == 403 and role(db, race, mallory) is None


def test_expired_unknown_and_replaced_links_do_not_work(signed_in, app, db, race):
    invite(signed_in, race, "newbie@example.com")
    first = link_in(db.session.scalar(select(OutboxMessage)))
    invite(signed_in, race, "newbie@example.com")  # sent again: a new link
    second = link_in(db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id.desc())).first())
    assert db.session.scalar(select(func.count(OrganizerInvite.id))) == 1
    newbie = make_profile(db, email="newbie@example.com")
    client = app.test_client()
    login(client, newbie)

    assert client.get(first).status_code == 404
    assert client.get("/manage/invites/made-up-token").status_code == 404
    assert client.get("/manage/invites/" + "x" * 300).status_code == 404
    clock.freeze(datetime.now(UTC) + timedelta(days=31))
    expired = client.get(second)
    assert expired.status_code == 410 and "expired" in text_of(expired)
    assert client.post(second, data={"csrf_token": csrf_token(client, "/")}).status_code == 410
    assert role(db, race, newbie) is None


def test_an_invite_can_be_withdrawn(signed_in, app, db, race):
    invite(signed_in, race, "newbie@example.com")
    stored = db.session.scalar(select(OrganizerInvite))
    path = link_in(db.session.scalar(select(OutboxMessage)))
    response = signed_in.post(f"{team_url(race)}/invites/{stored.id}/cancel",
                              data={"csrf_token": csrf_token(signed_in, team_url(race))}, headers={"HX-Request": "true"})
    assert response.status_code == 200 and "Invitation withdrawn" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count(OrganizerInvite.id))) == 0
    client = app.test_client()
    login(client, make_profile(db, email="newbie@example.com"))
    assert client.get(path).status_code == 404


# --- removing ---------------------------------------------------------------------------------

def remove(client, race, member_id, htmx=True):
    headers = {"HX-Request": "true"} if htmx else {}
    return client.post(f"{team_url(race)}/{member_id}/remove",
                       data={"csrf_token": csrf_token(client, team_url(race))}, headers=headers)


def link_id(db, race, profile):
    return db.session.scalar(select(RaceOrganizer.id).where(RaceOrganizer.race_id == race.id,
                                                            RaceOrganizer.profile_id == profile.id))


def test_the_owner_removes_a_co_organizer(signed_in, app, db, race):
    cody = add_co_organizer(db, race)
    response = remove(signed_in, race, link_id(db, race, cody))
    assert response.status_code == 200 and "Removed from the team" in response.get_data(as_text=True)
    assert role(db, race, cody) is None
    codys = app.test_client()
    login(codys, cody)
    assert codys.get(f"/manage/races/{race.id}/dashboard").status_code == 403


def test_a_co_organizer_cannot_remove_the_owner_or_another_co_organizer_but_can_leave(app, db, race, owner):
    cody = add_co_organizer(db, race)
    dana = add_co_organizer(db, race, email="dana@example.com", name="Dana Co")
    client = app.test_client()
    login(client, cody)

    owner_removed = remove(client, race, link_id(db, race, owner))
    assert owner_removed.status_code == 403 and "owner can't be removed" in text_of(owner_removed)
    dana_removed = remove(client, race, link_id(db, race, dana), htmx=False)
    assert dana_removed.status_code == 403 and "Only the race's owner can remove co-organizers." in text_of(dana_removed)
    assert role(db, race, owner) == OrganizerRole.OWNER and role(db, race, dana) == OrganizerRole.CO_ORGANIZER

    left = remove(client, race, link_id(db, race, cody), htmx=False)
    assert left.status_code == 303 and left.headers["Location"] == "/manage/"
    assert role(db, race, cody) is None


def test_nobody_removes_the_owner_and_unknown_members_are_404(signed_in, db, race, owner):
    assert remove(signed_in, race, link_id(db, race, owner)).status_code == 403
    assert remove(signed_in, race, 999999).status_code == 404
    elsewhere = make_race(db)
    foreign = db.session.scalar(select(RaceOrganizer.id).where(RaceOrganizer.race_id == elsewhere.id))
    assert remove(signed_in, race, foreign).status_code == 404
    assert db.session.scalar(select(func.count(RaceOrganizer.id))) == 2


# --- who may ----------------------------------------------------------------------------------

@pytest.mark.parametrize("who", VISITORS)
def test_only_the_races_organizers_see_or_change_its_team(app, db, race, who):
    cody = add_co_organizer(db, race, email="cody.target@example.com")
    pending = OrganizerInvite(race_id=race.id, email="pending@example.com", token_hash="a" * 64)
    db.session.add(pending)
    db.session.commit()
    client, token = visitor_client(app, db, race, who)

    assert_answer(client.get(team_url(race)), EXPECTED_GET[who], "team")
    if who in ("owner", "co-organizer"):
        assert client.post(team_url(race), data={"csrf_token": token, "email": "x@example.com"}).status_code == 303
        return
    before = db.session.scalar(select(func.count(RaceOrganizer.id)))
    for path, data in [(team_url(race), {"email": "intruder@example.com"}),
                       (f"{team_url(race)}/{link_id(db, race, cody)}/remove", {}),
                       (f"{team_url(race)}/invites/{pending.id}/cancel", {})]:
        assert_answer(client.post(path, data={"csrf_token": token, **data}), EXPECTED_GET[who], path)
    db.session.expire_all()
    assert db.session.scalar(select(func.count(RaceOrganizer.id))) == before
    assert db.session.scalar(select(func.count(OrganizerInvite.id))) == 1
    assert db.session.scalar(select(func.count(OutboxMessage.id))) == 0
