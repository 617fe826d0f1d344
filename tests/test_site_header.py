"""The header on every page: who is signed in, their cart, and "Organize" only for people who organize."""
import re

import pytest

from models import OrganizerRole, RaceOrganizer
from tests.factories import login, make_profile, make_race


def header(client, url="/") -> str:
    page = client.get(url).get_data(as_text=True)
    return re.search(r'<header class="site-header">.*?</header>', page, re.S).group(0)


def nav_links(html: str) -> str:
    return re.search(r'<ul class="nav-links">.*?</ul>', html, re.S).group(0)


@pytest.fixture
def race(db):
    return make_race(db, slug="lake", organizer=make_profile(db, full_name="Olga Organizer"))


@pytest.mark.parametrize("url", ["/", "/races/lake", "/tickets/", "/cart"])
def test_a_signed_in_runner_sees_their_name_and_cart_but_no_organize_link(client, db, race, url):
    runner = make_profile(db, full_name="Rosalind Runner", email="rosalind@example.com")
    login(client, runner)

    html = header(client, url)

    assert "Rosalind Runner" in html and "rosalind@example.com" in html
    assert '<span class="cart-label">Cart</span>' in html
    assert "Organize" not in html
    assert ">Host a race</a>" in html and ">Sign out</button>" in html


@pytest.mark.parametrize("role", [OrganizerRole.OWNER, OrganizerRole.CO_ORGANIZER])
def test_someone_who_organizes_a_race_sees_organize(client, db, race, role):
    helper = make_profile(db, full_name="Hiro Helper")
    if role is OrganizerRole.CO_ORGANIZER:
        db.session.add(RaceOrganizer(race_id=race.id, profile_id=helper.id, role=role))
        db.session.commit()
    else:
        make_race(db, organizer=helper)
    login(client, helper)

    html = header(client, "/races/lake")

    assert '<a href="/manage/">Organize</a>' in nav_links(html)
    assert ">Your races</a>" in html and "Host a race" not in html


def test_a_visitor_sees_sign_in_and_no_account_menu(client, db, race):
    html = header(client, "/races/lake")
    assert "Sign in" in html and "account-menu" not in html and "Organize" not in html


def test_knowing_whether_someone_organizes_costs_no_query_of_its_own(client, db, race, count_queries):
    runner, organizer = make_profile(db), make_profile(db)
    make_race(db, organizer=organizer)

    counts = {}
    for who in (runner, organizer):
        client.delete_cookie("sl_access")
        login(client, who)
        client.get("/races/lake")  # a first visit may refresh the session; count the next one
        with count_queries() as counter:
            assert client.get("/races/lake").status_code == 200
        counts[who.id] = counter.count
        assert not any("race_organizers" in s and "EXISTS" not in s.upper() for s in counter.statements)

    assert counts[runner.id] == counts[organizer.id]
    client.delete_cookie("sl_access")
    client.delete_cookie("sl_refresh")
    with count_queries() as anonymous:
        client.get("/races/lake")
    assert counts[runner.id] <= anonymous.count + 2  # the profile (with the organizer fact) and the cart badge
