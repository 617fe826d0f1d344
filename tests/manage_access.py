"""Who may open an organizer page: one client per kind of visitor, for the permission matrix tests."""
from __future__ import annotations

from sqlalchemy import select

from models import OrderStatus, OrganizerRole, Profile, RaceOrganizer
from tests.factories import login, make_order, make_profile, make_race
from tests.http import csrf_token

VISITORS = ["owner", "co-organizer", "another organizer", "runner", "signed out"]
# What each visitor gets from a page of someone's race: the organizers see it, nobody else does.
EXPECTED_GET = {"owner": 200, "co-organizer": 200, "another organizer": 403, "runner": 403, "signed out": "sign-in"}


def visitor_client(app, db, race, who: str):
    """A test client signed in as `who` (relative to `race`), and a CSRF token it can post with."""
    client = app.test_client()
    if who == "owner":
        owner_id = db.session.scalar(select(RaceOrganizer.profile_id).where(
            RaceOrganizer.race_id == race.id, RaceOrganizer.role == OrganizerRole.OWNER))
        login(client, db.session.get(Profile, owner_id))
    elif who == "co-organizer":
        helper = make_profile(db, email="helper@example.com")
        db.session.add(RaceOrganizer(race_id=race.id, profile_id=helper.id, role=OrganizerRole.CO_ORGANIZER))
        db.session.commit()
        login(client, helper)
    elif who == "another organizer":
        other = make_profile(db, email="other.organizer@example.com")
        make_race(db, organizer=other, title="Someone else's race")
        login(client, other)
    elif who == "runner":
        runner = make_profile(db, email="runner@example.com")
        make_order(db, race, race.ticket_types[0], 1, status=OrderStatus.PAID, buyer=runner)
        login(client, runner)
    return client, csrf_token(client, "/auth/sign-in" if who == "signed out" else "/")  # the list gives a visitor none


def assert_answer(response, expected, path):
    if expected == "sign-in":
        assert response.status_code == 303, path
        assert response.headers["Location"].startswith("/auth/sign-in"), path
    else:
        assert response.status_code == expected, (path, response.status_code)
