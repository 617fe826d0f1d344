"""The header on every page: who is signed in, their cart, and "Organize" only for people who organize."""
import re

import pytest

from models import OrganizerRole, RaceOrganizer
from tests.factories import login, make_cart, make_profile, make_race
from tests.http import csrf_token


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


def test_the_badge_of_someone_without_a_cart_costs_no_query_of_its_own(client, db, race, count_queries):
    """The profile's SELECT says whether they have a cart at all (issue 17): without one, the badge reads no more."""
    login(client, make_profile(db))
    client.get("/races/lake")  # a first visit may refresh the session; count the next one
    with count_queries() as counter:
        html = header(client, "/races/lake")
    assert '<span class="cart-label">Cart</span>' in html and "cart-count" not in html
    assert not any("FROM orders JOIN registrations" in " ".join(s.split()) for s in counter.statements)


def test_someone_with_a_cart_sees_it_counted(client, db, race):
    buyer = make_profile(db)
    make_cart(db, race, {race.ticket_types[0]: 2}, buyer=buyer)
    login(client, buyer)
    assert 'class="cart-count">2<' in header(client, "/races/lake")


def test_a_cart_merged_at_sign_in_counts_in_the_badge_of_that_very_page(client, db, race):
    """The profile's SELECT said "no cart", then the same request moved the visitor's cart into the account: the
    badge reads the cart afresh instead of trusting the answer it had."""
    data = {"csrf_token": csrf_token(client, "/races/lake"), f"qty-{race.ticket_types[0].id}": "2"}
    assert client.post("/races/lake/cart", data=data).status_code == 303
    login(client, make_profile(db))
    assert 'class="cart-count">2<' in header(client, "/races/lake")
