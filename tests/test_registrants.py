"""The registrant list for race week: who may see it, search, filters, sorting, paging, CSV, edits and bibs."""
from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from models import Order, OrderStatus, Registration, RegistrationAudit
from services import clock, race_editing
from services.registrants.edits import details_version
from tests.factories import login, make_profile, make_race
from tests.http import csrf_token
from tests.registrant_factories import add_co_organizer, many_paid_runners, organized_race, organizer, race, runner, signed_in  # noqa: E402,F401  (fixtures)

HX = {"HX-Request": "true"}


def url(race, tail=""):
    return f"/manage/races/{race.id}/registrants{tail}"


def token(client, race):
    return csrf_token(client, url(race))


def page_text(response) -> str:
    return response.get_data(as_text=True).replace("&#39;", "'").replace("&#34;", '"').replace("&amp;", "&")


def listed_names(response) -> list[str]:
    """The runners in the table, as "Last, First", in the order shown."""
    return re.findall(r'<td class="col-name">\s*<a href="[^"]+">([^<]+)</a>', response.get_data(as_text=True))


def fresh(db, registration_id) -> Registration:
    db.session.expire_all()
    return db.session.get(Registration, registration_id)


def audits(db, registration_id) -> list[tuple[str, str, str]]:
    db.session.expire_all()
    return [(a.field, a.old_value, a.new_value) for a in db.session.scalars(
        select(RegistrationAudit).where(RegistrationAudit.registration_id == registration_id)
        .order_by(RegistrationAudit.id))]


# --- who may ------------------------------------------------------------------------------

def _routes(race, registration, tt):
    r = f"/manage/races/{race.id}"
    code = registration.ticket_code
    return [
        ("GET", url(race), {}),
        ("GET", url(race, ".csv"), {}),
        ("GET", url(race, f"/{registration.id}"), {}),
        ("POST", url(race, f"/{registration.id}"), {
            "first_name": "Changed", "last_name": "Name", "email": "changed@example.com", "date_of_birth": "1990-05-17",
            "gender": "", "tshirt_size": "L", "emergency_name": "Someone", "emergency_phone": "+1 555 0199",
            "address": "", "city": "", "country": "", "club": "", "opened": details_version(registration)}),
        ("POST", url(race, f"/{registration.id}/bib"), {"bib": "77"}),
        ("POST", f"{r}/bibs", {"ticket_type": str(tt.id), "first": "100", "last": "199"}),
        ("GET", f"{r}/checkin", {}),
        ("POST", f"{r}/checkin/{code}", {}),
        ("POST", f"{r}/checkin/{code}/undo", {}),
    ]


def _snapshot(db, registration_id):
    db.session.expire_all()
    registration = db.session.get(Registration, registration_id)
    bibs = list(db.session.scalars(select(Registration.bib).order_by(Registration.id)))
    return (registration.first_name, registration.email, registration.tshirt_size, registration.checked_in_at, bibs,
            db.session.scalar(select(func.count(RegistrationAudit.id))))


@pytest.mark.parametrize("who, expected", [
    ("owner", 200), ("co-organizer", 200), ("another organizer", 403), ("runner", 403), ("signed out", "redirect"),
])
def test_only_this_races_organizers_reach_registrants_and_check_in(app, db, race, organizer, who, expected):
    tt = race.ticket_types[0]
    registration = runner(db, race, tt, "Ada", "Lovelace")
    runner(db, race, tt, "Bob", "Bolt")
    visitor = app.test_client()
    if who == "owner":
        login(visitor, organizer)
    elif who == "co-organizer":
        helper = make_profile(db, email="co@example.com")
        add_co_organizer(db, race, helper)
        login(visitor, helper)
    elif who == "another organizer":
        other = make_profile(db, email="mallory@example.com")
        make_race(db, organizer=other)
        login(visitor, other)
    elif who == "runner":
        login(visitor, make_profile(db, email="ada@example.com"))
    before = _snapshot(db, registration.id)
    t = csrf_token(visitor, "/")
    for method, path, data in _routes(race, registration, tt):
        headers = HX if expected == 200 else {}
        response = visitor.open(path, method=method, data={"csrf_token": t, **data} if method == "POST" else None,
                                headers=headers)
        if expected == "redirect":
            assert response.status_code == 303, path
            assert response.headers["Location"].startswith("/auth/sign-in"), path
        else:
            assert response.status_code == expected, (path, response.status_code)
    if expected != 200:
        assert _snapshot(db, registration.id) == before
    else:
        after = fresh(db, registration.id)
        assert (after.first_name, after.tshirt_size, after.checked_in_at) == ("Changed", "L", None)


def test_the_registrants_and_check_in_tabs_appear_on_the_editor(signed_in, db, race):
    page = signed_in.get(f"/manage/races/{race.id}").get_data(as_text=True)
    assert f'href="/manage/races/{race.id}/registrants"' in page and f'href="/manage/races/{race.id}/checkin"' in page


# --- the list: full page, fragment, bad input --------------------------------------------

def test_registrant_list_full_page_shows_paid_runners(signed_in, db, race):
    runner(db, race, race.ticket_types[0], "Ada", "Lovelace", bib=101)
    runner(db, race, race.ticket_types[1], "Émile", "Zola")
    response = signed_in.get(url(race))
    page = page_text(response)
    assert response.status_code == 200 and "<html" in page and 'aria-current="page">Registrants' in page
    assert listed_names(response) == ["Lovelace, Ada", "Zola, Émile"]
    assert "2</strong> paid registrants" in page and 'value="101"' in page
    assert response.headers["Vary"] == "HX-Request" or "HX-Request" in response.headers["Vary"]


def test_registrant_list_fragment_is_just_the_results(signed_in, db, race):
    runner(db, race, race.ticket_types[0], "Ada", "Lovelace")
    response = signed_in.get(url(race) + "?q=ada", headers=HX)
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in body
    assert body.lstrip().startswith('<section id="registrant-results"') and "Lovelace, Ada" in body


@pytest.mark.parametrize("query, message", [
    ("sort=password", "Sort by name"), ("dir=sideways", "ascending or descending"), ("page=abc", "page number"),
    ("page=0", "page number"), ("status=stolen", "Pick a status"), ("ticket=abc", "Pick a ticket type"),
    ("checked_in=maybe", "checked in"), ("waiver=v1", "waiver version"),
])
def test_bad_list_parameters_get_a_400_with_a_message(signed_in, db, race, query, message):
    response = signed_in.get(url(race) + "?" + query)
    assert response.status_code == 400 and message in page_text(response)


@pytest.mark.parametrize("query", [{"q": "ada\x00lovelace"}, {"q": "²"}, {"q": "١٢"}, {"q": "x" * 5000}, {"q": "99999999999"}])
def test_odd_searches_find_nothing_rather_than_fail(signed_in, db, race, query):
    runner(db, race, race.ticket_types[0], "Ada", "Lovelace", bib=12)
    response = signed_in.get(url(race), query_string=query)
    assert response.status_code == 200 and "Nobody matches" in page_text(response)


def test_digits_that_are_not_ascii_are_not_a_page_number(signed_in, db, race):
    response = signed_in.get(url(race), query_string={"page": "²"})
    assert response.status_code == 400 and "page number" in page_text(response)


def test_another_races_ticket_type_as_a_filter_is_a_400(signed_in, db, race, organizer):
    other = organized_race(db, organizer)
    response = signed_in.get(url(race) + f"?ticket={other.ticket_types[0].id}")
    assert response.status_code == 400 and "isn't part of this race" in page_text(response)


@pytest.mark.parametrize("csv", ["registrants.csv", "registrants-timing.csv"])
def test_another_races_ticket_type_as_a_csvs_filter_is_a_400_too(signed_in, db, race, organizer, csv):
    """Not an empty spreadsheet, as if nobody had that ticket: the list's own refusal."""
    other = organized_race(db, organizer)
    response = signed_in.get(f"/manage/races/{race.id}/{csv}?ticket={other.ticket_types[0].id}")
    assert response.status_code == 400 and "isn't part of this race" in page_text(response)


# --- which registrants, search, filters ----------------------------------------------------

def test_default_list_is_paid_tickets_and_status_filter_shows_the_rest_but_never_carts(signed_in, db, race):
    tt = race.ticket_types[0]
    runner(db, race, tt, "Paid", "Person")
    runner(db, race, tt, "Refunded", "Person", status=OrderStatus.REFUNDED)
    runner(db, race, tt, "Needy", "Person", status=OrderStatus.NEEDS_REFUND)
    runner(db, race, tt, "Pending", "Person", status=OrderStatus.PENDING,
           reserved_until=datetime.now(UTC) + timedelta(minutes=20))
    runner(db, race, tt, "Lapsed", "Person", status=OrderStatus.PENDING,
           reserved_until=datetime.now(UTC) - timedelta(minutes=1))
    runner(db, race, tt, "Cart", "Person", status=OrderStatus.CART)
    runner(db, race, tt, "Expired", "Person", status=OrderStatus.EXPIRED)
    runner(db, race, tt, "Partly", "Refunded", refunded=True)  # one ticket of a paid order refunded

    def names(query=""):
        return sorted(listed_names(signed_in.get(url(race) + query)))

    assert names() == ["Person, Paid"]
    assert names("?status=refunded") == ["Person, Refunded", "Refunded, Partly"]
    assert names("?status=needs_refund") == ["Person, Needy"]
    assert names("?status=pending") == ["Person, Pending"]
    assert names("?status=all") == ["Person, Needy", "Person, Paid", "Person, Pending", "Person, Refunded",
                                    "Refunded, Partly"]



def test_the_default_paid_list_says_whom_it_leaves_out_with_counts_per_status(signed_in, db, race):
    tt = race.ticket_types[0]
    runner(db, race, tt, "Paid", "Person")
    runner(db, race, tt, "Other", "Payer")
    for name in ("Pending", "Waiting"):
        runner(db, race, tt, name, "Person", status=OrderStatus.PENDING,
               reserved_until=datetime.now(UTC) + timedelta(minutes=20))
    runner(db, race, tt, "Refunded", "Person", status=OrderStatus.REFUNDED)
    runner(db, race, tt, "Needy", "Person", status=OrderStatus.NEEDS_REFUND)
    needy_refunded = runner(db, race, tt, "Needy", "Refunded", status=OrderStatus.NEEDS_REFUND, refunded=True)

    body = " ".join(page_text(signed_in.get(url(race))).split())
    assert "<strong>2</strong> paid registrants" in body
    assert ("Not shown by the status filter: "
            f'<a href="{url(race)}?status=needs_refund">1 needs refund</a>, '
            f'<a href="{url(race)}?status=refunded">2 refunded</a>, '
            f'<a href="{url(race)}?status=pending">2 pending payment</a> · '
            f'<a class="nowrap" href="{url(race)}?status=all">show all 7</a>') in body

    # Each count is what its link lists: a ticket refunded from a needs-refund order is refunded, once.
    assert sorted(listed_names(signed_in.get(url(race) + "?status=refunded"))) == ["Person, Refunded",
                                                                                  "Refunded, Needy"]
    assert listed_names(signed_in.get(url(race) + "?status=needs_refund")) == ["Person, Needy"]
    assert needy_refunded.refunded_at is not None
    # The search narrows the counts too; a status that holds nobody is not mentioned.
    searched = " ".join(page_text(signed_in.get(url(race), query_string={"q": "waiting"})).split())
    assert "No paid registrants match these filters" in searched
    assert f'<a href="{url(race)}?q=waiting&status=pending">1 pending payment</a>' in searched
    assert "refunded</a>" not in searched


def test_the_status_note_is_absent_when_nobody_is_hidden(signed_in, db, race):
    runner(db, race, race.ticket_types[0], "Paid", "Person")
    assert "Not shown by the status filter" not in page_text(signed_in.get(url(race)))
    runner(db, race, race.ticket_types[0], "Ray", "Refund", status=OrderStatus.REFUNDED)
    assert "Not shown by the status filter" not in page_text(signed_in.get(url(race) + "?status=all"))


def test_a_runner_without_a_bib_reads_add_bib_not_an_empty_box(signed_in, db, race):
    runner(db, race, race.ticket_types[0], "Alan", "Turing")
    body = page_text(signed_in.get(url(race)))
    assert 'placeholder="Add bib"' in body and 'placeholder="–"' not in body

def test_search_matches_name_email_ticket_code_and_bib(signed_in, db, race):
    tt = race.ticket_types[0]
    ada = runner(db, race, tt, "Ada", "Lovelace", email="countess@analytical.example", bib=42)
    runner(db, race, tt, "Grace", "Hopper", email="grace@navy.example", bib=420)
    runner(db, race, tt, "Alan", "Turing", email="alan@bletchley.example")

    def found(q):
        return sorted(listed_names(signed_in.get(url(race), query_string={"q": q})))

    assert found("LOVE") == ["Lovelace, Ada"]              # any case, part of a name
    assert found("ada lovelace") == ["Lovelace, Ada"]      # every word must match
    assert found("analytical") == ["Lovelace, Ada"]        # email
    assert found(ada.ticket_code) == ["Lovelace, Ada"]     # the ticket code
    assert found(f"https://x.example/tickets/{ada.ticket_code}") == ["Lovelace, Ada"]  # a scanned ticket link
    assert found("42") == ["Lovelace, Ada"]                # a number is a bib, exactly
    assert found("420") == ["Hopper, Grace"]
    assert found("%") == [] and found("_") == []           # LIKE wildcards are literal
    assert found("nobody") == []


def test_filters_ticket_type_check_in_and_waiver_version(signed_in, db, race):
    ten, five = race.ticket_types
    v1 = race_editing.current_waiver(db.session, race.id)
    runner(db, race, ten, "Ten", "Early", checked_in_at=datetime.now(UTC))
    runner(db, race, five, "Five", "Late")
    race_editing.set_waiver_text(db.session, race, "Version two: still at my own risk.")
    db.session.commit()
    runner(db, race, five, "Five", "Signed-v2")
    runner(db, race, ten, "Ten", "Unsigned")
    db.session.execute(Registration.__table__.update().where(Registration.last_name == "Unsigned")
                       .values(waiver_version_id=None))
    db.session.commit()

    def names(**query):
        return sorted(listed_names(signed_in.get(url(race), query_string=query)))

    assert names(ticket=five.id) == ["Late, Five", "Signed-v2, Five"]
    assert names(checked_in="yes") == ["Early, Ten"]
    assert names(checked_in="no", ticket=ten.id) == ["Unsigned, Ten"]
    assert names(waiver=v1.id) == ["Early, Ten", "Late, Five"]
    assert names(waiver="none") == ["Unsigned, Ten"]


def test_sorting_by_each_column_both_ways_with_aria_sort(signed_in, db, race):
    ten, five = race.ticket_types
    runner(db, race, five, "Cleo", "Adams", bib=3, paid_at=datetime(2030, 1, 3, tzinfo=UTC))
    runner(db, race, ten, "Bea", "Brown", bib=None, paid_at=datetime(2030, 1, 1, tzinfo=UTC))
    runner(db, race, ten, "Abe", "Cole", bib=7, paid_at=datetime(2030, 1, 2, tzinfo=UTC))

    def names(sort, direction="asc"):
        return listed_names(signed_in.get(url(race), query_string={"sort": sort, "dir": direction}))

    assert names("name") == ["Adams, Cleo", "Brown, Bea", "Cole, Abe"]
    assert names("name", "desc") == ["Cole, Abe", "Brown, Bea", "Adams, Cleo"]
    assert names("bib") == ["Adams, Cleo", "Cole, Abe", "Brown, Bea"]          # no bib comes last
    assert names("bib", "desc") == ["Cole, Abe", "Adams, Cleo", "Brown, Bea"]  # either way
    assert names("ticket") == ["Brown, Bea", "Cole, Abe", "Adams, Cleo"]       # 10K before 5K, as the race lists them
    assert names("registered") == ["Brown, Bea", "Cole, Abe", "Adams, Cleo"]
    assert names("registered", "desc") == ["Adams, Cleo", "Cole, Abe", "Brown, Bea"]

    page = signed_in.get(url(race), query_string={"sort": "bib", "dir": "desc"}).get_data(as_text=True)
    assert re.search(r'<th scope="col" class="col-bib" aria-sort="descending">', page)
    assert page.count("aria-sort=") == 1
    # The sorted column's header link flips the direction (ascending is the default, so it is left out).
    assert f'href="/manage/races/{race.id}/registrants?sort=bib"' in page
    assert f'href="/manage/races/{race.id}/registrants?sort=name"' not in page  # name ascending is the default
    assert f'href="/manage/races/{race.id}/registrants"' in page


def test_pages_of_fifty_cover_everyone_once(signed_in, db, race):
    many_paid_runners(db, race, race.ticket_types[0], 120)
    seen = []
    for number in (1, 2, 3):
        response = signed_in.get(url(race), query_string={"page": number})
        names = listed_names(response)
        assert len(names) == (50 if number < 3 else 20)
        assert f"Page {number} of 3" in response.get_data(as_text=True)
        seen += names
    assert len(seen) == len(set(seen)) == 120
    assert seen == sorted(seen, key=str.lower)
    # A page past the end (a stale bookmark) shows the last page rather than nothing.
    assert listed_names(signed_in.get(url(race), query_string={"page": 9})) == seen[100:]
    first = signed_in.get(url(race)).get_data(as_text=True)
    assert 'rel="next"' in first and "page=2" in first and 'rel="prev"' not in first



@pytest.mark.parametrize("typed", ["Ångström", "ångström", "ANGSTRÖM", "ZOË", "zoë", "zoe", "angstrom", "zoe ANGSTROM"])
def test_search_finds_a_name_however_its_case_and_accents_are_typed(signed_in, db, race, typed):
    runner(db, race, race.ticket_types[0], "Zoë", "Ångström", email="zoe@fjord.example")
    runner(db, race, race.ticket_types[0], "Chloé", "Anders", email="chloe@example.com")
    assert listed_names(signed_in.get(url(race), query_string={"q": typed})) == ["Ångström, Zoë"]


def test_a_corrected_name_and_bulk_added_runners_are_found(signed_in, db, race):
    tt = race.ticket_types[0]
    registration = runner(db, race, tt, "Soren", "Kirkegard")
    many_paid_runners(db, race, tt, 3)
    signed_in.post(url(race, f"/{registration.id}"), data={
        "csrf_token": token(signed_in, race), **_edit_form(registration, first_name="Søren", last_name="Kierkegaard",
                                                         email="SK@Example.com")})

    assert listed_names(signed_in.get(url(race), query_string={"q": "søren KIERKEGAARD"})) == ["Kierkegaard, Søren"]
    assert listed_names(signed_in.get(url(race), query_string={"q": "sk@example"})) == ["Kierkegaard, Søren"]
    assert listed_names(signed_in.get(url(race), query_string={"q": "BULK00002"})) == ["Runner, Bulk00002"]

def test_search_and_filters_survive_in_sort_and_page_links(signed_in, db, race):
    many_paid_runners(db, race, race.ticket_types[0], 60)
    page = signed_in.get(url(race), query_string={"q": "bulk", "checked_in": "no"}).get_data(as_text=True)
    assert "q=bulk&amp;checked_in=no&amp;page=2" in page
    assert "q=bulk&amp;checked_in=no&amp;sort=bib" in page
    assert "/registrants.csv?q=bulk&amp;checked_in=no" in page


# --- the list stays fast ---------------------------------------------------------------------

def _statements(client, count_queries, path):
    with count_queries() as counter:
        response = client.get(path)
        assert response.status_code == 200
        response.get_data()
    return counter.count


def test_list_and_csv_run_the_same_few_statements_for_10_or_2000_registrants(signed_in, db, race, organizer,
                                                                              count_queries):
    many_paid_runners(db, race, race.ticket_types[0], 10)
    big = organized_race(db, organizer)
    many_paid_runners(db, big, big.ticket_types[0], 2000)
    for query in ("", "?q=bulk0&sort=bib&dir=desc&page=2", "?status=all&checked_in=no&page=40"):
        small = _statements(signed_in, count_queries, url(race) + query)
        large = _statements(signed_in, count_queries, url(big) + query)
        assert small == large, query
        assert large <= 10, query  # sign-in, race, permission; count, page; ticket types, waivers; the header
    assert _statements(signed_in, count_queries, url(race, ".csv")) == _statements(signed_in, count_queries,
                                                                                   url(big, ".csv"))
    assert len(listed_names(signed_in.get(url(big), query_string={"page": 40}))) == 50


# --- one registrant --------------------------------------------------------------------------

def test_detail_page_shows_every_field_and_the_waiver_as_signed(signed_in, db, race):
    registration = runner(db, race, race.ticket_types[0], "Ada", "Lovelace", bib=12, gender="Female",
                          waiver_guardian_name="Anne Isabella Byron")
    signed = datetime(2030, 3, 14, 13, 5, 9, tzinfo=UTC)  # 9:05:09 AM in New York (EDT)
    registration.waiver_signed_at = signed
    db.session.commit()
    waiver = race_editing.current_waiver(db.session, race.id)
    response = signed_in.get(url(race, f"/{registration.id}"))
    page = page_text(response)
    assert response.status_code == 200 and "<html" in page
    for text in ("Ada Lovelace", registration.email, "1990-05-17", "Female", "Grace Hopper", "+1 555 0100", "$45.00",
                 registration.ticket_code, str(registration.order_id), "I run at my own risk.", waiver.sha256,
                 "Ada Lovelace", "Anne Isabella Byron", "Thu 14 Mar 2030, 9:05:09 AM EDT", "203.0.113.7", 'value="12"'):
        assert text in page, text
    assert "<dt>Version</dt><dd>1</dd>" in page


def test_another_races_registration_under_this_race_is_404(signed_in, db, race, organizer):
    other_race = organized_race(db, organizer)  # even one the same organizer runs
    theirs = runner(db, other_race, other_race.ticket_types[0], "Not", "Here")
    t = token(signed_in, race)
    assert signed_in.get(url(race, f"/{theirs.id}")).status_code == 404
    assert signed_in.post(url(race, f"/{theirs.id}"), data={"csrf_token": t, "first_name": "X"}).status_code == 404
    assert signed_in.post(url(race, f"/{theirs.id}/bib"), data={"csrf_token": t, "bib": "5"}).status_code == 404
    assert signed_in.get(url(race, "/999999")).status_code == 404
    assert fresh(db, theirs.id).first_name == "Not" and fresh(db, theirs.id).bib is None


def test_a_cart_registration_is_not_a_registrant(signed_in, db, race):
    in_cart = runner(db, race, race.ticket_types[0], "Still", "Shopping", status=OrderStatus.CART)
    assert signed_in.get(url(race, f"/{in_cart.id}")).status_code == 404


def _edit_form(registration, **changes):
    data = {"first_name": registration.first_name, "last_name": registration.last_name, "email": registration.email,
            "date_of_birth": registration.date_of_birth.isoformat(), "gender": registration.gender,
            "tshirt_size": registration.tshirt_size, "emergency_name": registration.emergency_name,
            "emergency_phone": registration.emergency_phone, "address": registration.address,
            "city": registration.city, "country": registration.country, "club": registration.club,
            "opened": details_version(registration)}  # as the page sends it: the details it was opened with
    data.update(changes)
    return data



def test_a_form_opened_before_the_details_changed_saves_nothing_and_shows_them_as_they_are(signed_in, db, race):
    """The organizer opened the form, then the ticket was transferred (a new runner's name and email): saving the
    old form would give the ticket back to its old runner. It is refused, and the form shows the details now."""
    from sqlalchemy import update

    registration = runner(db, race, race.ticket_types[0], "Ada", "Lovelace")
    page = signed_in.get(url(race, f"/{registration.id}")).get_data(as_text=True)
    opened = re.search(r'name="opened" type="hidden" value="([0-9a-f]{16})"', page)[1]
    assert opened == details_version(registration)
    stale = _edit_form(registration, tshirt_size="L", opened=opened)
    db.session.execute(update(Registration).where(Registration.id == registration.id)
                       .values(first_name="Bo", last_name="Lee", email="bo@example.com"))
    db.session.commit()

    response = signed_in.post(url(race, f"/{registration.id}"), headers=HX,
                              data={"csrf_token": token(signed_in, race), **stale})

    body = page_text(response)
    assert response.status_code == 409 and "These details changed since you opened the form" in body
    assert 'value="Bo"' in body and 'value="bo@example.com"' in body
    assert re.search(r'<div id="registrant-head" hx-swap-oob="true">\s*<h1>Bo\b', body)  # the new runner's name on top
    saved = fresh(db, registration.id)
    assert (saved.first_name, saved.email, saved.tshirt_size) == ("Bo", "bo@example.com", "M")
    assert audits(db, registration.id) == []
    fresh_form = re.search(r'name="opened" type="hidden" value="([0-9a-f]{16})"', body)[1]
    again = signed_in.post(url(race, f"/{registration.id}"), headers=HX, data={
        "csrf_token": token(signed_in, race), **_edit_form(saved, tshirt_size="L", opened=fresh_form)})
    assert again.status_code == 200 and fresh(db, registration.id).tshirt_size == "L"


def test_a_form_without_the_version_it_was_opened_with_saves_nothing_and_shows_the_details(signed_in, db, race):
    """A form from before the page sent its version (a tab open across an update of the site): it is not saved
    blind; the form comes back with the details as they are, to save again."""
    registration = runner(db, race, race.ticket_types[0], "Ada", "Lovelace")
    old_tab = {name: value for name, value in _edit_form(registration, tshirt_size="L").items() if name != "opened"}
    response = signed_in.post(url(race, f"/{registration.id}"), headers=HX,
                              data={"csrf_token": token(signed_in, race), **old_tab})
    assert response.status_code == 409 and "This form is older than the page" in page_text(response)
    assert fresh(db, registration.id).tshirt_size == "M" and audits(db, registration.id) == []

def test_editing_details_saves_and_writes_an_audit_line_per_field(signed_in, db, race, organizer):
    registration = runner(db, race, race.ticket_types[0], "Ada", "Lovlace")
    response = signed_in.post(url(race, f"/{registration.id}"), headers=HX, data={
        "csrf_token": token(signed_in, race), **_edit_form(registration, last_name=" Lovelace ", tshirt_size="L")})
    body = page_text(response)
    assert response.status_code == 200 and "<html" not in body and '<div id="registrant-details"' in body
    # The name at the top of the page sits outside the swapped block: it comes along, swapped out of band.
    assert re.search(r'<div id="registrant-head" hx-swap-oob="true">\s*<h1>Ada Lovelace</h1>', body)
    assert "Saved: last name, t-shirt size." in body
    assert 'changed last name from <q>Lovlace</q> to <q>Lovelace</q>' in body and "Olga Organizer" in body
    saved = fresh(db, registration.id)
    assert (saved.last_name, saved.tshirt_size, saved.waiver_signature) == ("Lovelace", "L", "Ada Lovlace")
    assert audits(db, registration.id) == [("last_name", "Lovlace", "Lovelace"), ("tshirt_size", "M", "L")]
    audit = db.session.scalar(select(RegistrationAudit).limit(1))
    assert audit.profile_id == organizer.id and audit.changed_at is not None

    # Without JavaScript: a redirect back to the page, which lists the changes.
    plain = signed_in.post(url(race, f"/{registration.id}"), data={
        "csrf_token": token(signed_in, race), **_edit_form(saved, email="ADA@Example.com")})
    assert plain.status_code == 303 and plain.headers["Location"].endswith(f"/registrants/{registration.id}")
    assert fresh(db, registration.id).email == "ADA@example.com"
    assert "changed email from" in page_text(signed_in.get(url(race, f"/{registration.id}")))


@pytest.mark.parametrize("changes, field, message", [
    ({"email": "not-an-email"}, "email", "Enter a real email address"),
    ({"first_name": "  "}, "first_name", "Enter the runner's first name"),
    ({"date_of_birth": "2099-01-01"}, "date_of_birth", "can't be in the future"),
    ({"date_of_birth": "1990-02-31"}, "date_of_birth", "Enter a real date"),
    ({"emergency_phone": "call me"}, "emergency_phone", "Use only digits"),
    ({"tshirt_size": "XXXXL"}, "tshirt_size", "Pick a T-shirt size"),
    ({"gender": "Robot"}, "gender", "Pick one of the options"),
])
def test_invalid_edits_are_422_beside_the_field_and_nothing_is_saved(signed_in, db, race, changes, field, message):
    registration = runner(db, race, race.ticket_types[0], "Ada", "Lovelace")
    response = signed_in.post(url(race, f"/{registration.id}"), headers=HX, data={
        "csrf_token": token(signed_in, race), **_edit_form(registration, last_name="Changed", **changes)})
    body = page_text(response)
    assert response.status_code == 422 and message in body
    assert f'id="{field}-error"' in body and "<details class=\"edit-registrant\" open" in body
    assert fresh(db, registration.id).last_name == "Lovelace"
    assert audits(db, registration.id) == []


def _kids_race(db, organizer):
    """A race with a Kids 1K for runners aged 6 to 12 on race day, and its ticket type."""
    kids = organized_race(db, organizer, slug="kids-dash", tickets=[("Kids 1K", 500, 100)])
    kids.ticket_types[0].min_age, kids.ticket_types[0].max_age = 6, 12
    db.session.commit()
    return kids, kids.ticket_types[0]


def _years_before_race_day(race, years: int):
    day = race.starts_at.astimezone(race.tz).date()
    return day.replace(year=day.year - years)


def test_a_corrected_birth_date_must_still_fit_the_ticket_types_age_limits(signed_in, db, organizer):
    kids, kids_1k = _kids_race(db, organizer)
    born = _years_before_race_day(kids, 9)
    child = runner(db, kids, kids_1k, "Tom", "Thumb", date_of_birth=born)

    response = signed_in.post(url(kids, f"/{child.id}"), headers=HX, data={
        "csrf_token": token(signed_in, kids), **_edit_form(child, date_of_birth="1980-03-04")})

    assert response.status_code == 422
    assert "Runners in the Kids 1K must be 6 to 12 years old on race day" in page_text(response)
    assert 'id="date_of_birth-error"' in page_text(response)
    assert fresh(db, child.id).date_of_birth == born and audits(db, child.id) == []


def test_a_corrected_birth_date_inside_the_limits_is_saved(signed_in, db, organizer):
    kids, kids_1k = _kids_race(db, organizer)
    child = runner(db, kids, kids_1k, "Tom", "Thumb", date_of_birth=_years_before_race_day(kids, 9))
    ten = _years_before_race_day(kids, 10)

    response = signed_in.post(url(kids, f"/{child.id}"), headers=HX, data={
        "csrf_token": token(signed_in, kids), **_edit_form(child, date_of_birth=ten.isoformat())})

    assert response.status_code == 200 and fresh(db, child.id).date_of_birth == ten


def test_limits_tightened_after_the_sale_do_not_block_fixing_other_details(signed_in, db, organizer):
    kids, kids_1k = _kids_race(db, organizer)
    child = runner(db, kids, kids_1k, "Tom", "Thumb", date_of_birth=_years_before_race_day(kids, 9))
    kids_1k.max_age = 8  # the organizer narrowed the category after Tom signed up
    db.session.commit()

    response = signed_in.post(url(kids, f"/{child.id}"), headers=HX, data={
        "csrf_token": token(signed_in, kids), **_edit_form(child, emergency_phone="+1 555 0123")})

    assert response.status_code == 200 and fresh(db, child.id).emergency_phone == "+1 555 0123"


@pytest.mark.parametrize("left_out", ["gender", "tshirt_size", "date_of_birth", "emergency_phone"])
def test_an_edit_missing_a_field_is_refused_rather_than_blanking_it(signed_in, db, race, left_out):
    registration = runner(db, race, race.ticket_types[0], "Ada", "Lovelace", gender="Female")
    data = _edit_form(registration, last_name="Changed")
    del data[left_out]

    response = signed_in.post(url(race, f"/{registration.id}"), headers=HX,
                              data={"csrf_token": token(signed_in, race), **data})

    assert response.status_code == 422 and f'id="{left_out}-error"' in page_text(response)
    assert "missing from what your browser sent" in page_text(response)
    saved = fresh(db, registration.id)
    assert (saved.last_name, saved.gender, saved.tshirt_size) == ("Lovelace", "Female", "M")
    assert audits(db, registration.id) == []


def test_invalid_edit_without_javascript_is_the_whole_page_with_422(signed_in, db, race):
    registration = runner(db, race, race.ticket_types[0], "Ada", "Lovelace")
    response = signed_in.post(url(race, f"/{registration.id}"), data={
        "csrf_token": token(signed_in, race), **_edit_form(registration, email="nope")})
    assert response.status_code == 422
    # htmx isn't asking for a fragment, so the page comes whole, its name on top once
    assert "Enter a real email address" in page_text(response)
    assert page_text(response).count('id="registrant-head"') == 1 and "hx-swap-oob" not in page_text(response)


# --- bibs ------------------------------------------------------------------------------------

def _bib(client, race, registration, bib, htmx=True, **extra):
    return client.post(url(race, f"/{registration.id}/bib"), headers=HX if htmx else {},
                       data={"csrf_token": token(client, race), "bib": bib, **extra})


def test_a_bib_is_set_inline_and_logged(signed_in, db, race):
    registration = runner(db, race, race.ticket_types[0], "Ada", "Lovelace")
    response = _bib(signed_in, race, registration, "1042")
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and body.lstrip().startswith("<form") and "Saved" in body and 'value="1042"' in body
    assert fresh(db, registration.id).bib == 1042
    assert audits(db, registration.id) == [("bib", "", "1042")]
    assert _bib(signed_in, race, registration, "").status_code == 200
    assert fresh(db, registration.id).bib is None


def test_a_taken_bib_is_a_422_saying_who_has_it(signed_in, db, race):
    runner(db, race, race.ticket_types[1], "Grace", "Hopper", bib=7)
    registration = runner(db, race, race.ticket_types[0], "Ada", "Lovelace", bib=3)
    response = _bib(signed_in, race, registration, "7")
    body = page_text(response)
    assert response.status_code == 422 and "Bib 7 is already taken by Grace Hopper." in body
    assert 'value="7"' in body and 'aria-invalid="true"' in body  # what was typed stays, marked
    assert fresh(db, registration.id).bib == 3 and audits(db, registration.id) == []


def test_the_same_bib_number_is_fine_in_another_race(signed_in, db, race, organizer):
    other = organized_race(db, organizer)
    runner(db, other, other.ticket_types[0], "Grace", "Hopper", bib=7)
    registration = runner(db, race, race.ticket_types[0], "Ada", "Lovelace")
    assert _bib(signed_in, race, registration, "7").status_code == 200
    assert fresh(db, registration.id).bib == 7


@pytest.mark.parametrize("typed", ["abc", "-4", "0", "12.5", "10000000", "²", "\x00"])
def test_a_bib_that_is_not_a_number_is_refused(signed_in, db, race, typed):
    registration = runner(db, race, race.ticket_types[0], "Ada", "Lovelace")
    response = _bib(signed_in, race, registration, typed)
    assert response.status_code == 422 and "A bib is a whole number" in page_text(response)
    assert fresh(db, registration.id).bib is None


def test_a_bib_form_without_its_bib_field_is_a_400_and_keeps_the_bib(signed_in, db, race):
    """Only an empty box takes a bib away: a form that sent no `bib` at all (a broken or hand-made one) changes
    nothing."""
    registration = runner(db, race, race.ticket_types[0], "Ada", "Lovelace", bib=12)
    for htmx in (True, False):
        response = signed_in.post(url(race, f"/{registration.id}/bib"), headers=HX if htmx else {},
                                  data={"csrf_token": token(signed_in, race)})
        assert response.status_code == 400 and "The form sent no bib number." in page_text(response)
    assert fresh(db, registration.id).bib == 12 and audits(db, registration.id) == []


def test_bib_form_without_javascript_goes_back_to_the_list_or_shows_the_error(signed_in, db, race):
    runner(db, race, race.ticket_types[1], "Grace", "Hopper", bib=7)
    registration = runner(db, race, race.ticket_types[0], "Ada", "Lovelace")
    back = f"/manage/races/{race.id}/registrants?sort=bib"
    ok = _bib(signed_in, race, registration, "8", htmx=False, next=back)
    assert ok.status_code == 303 and ok.headers["Location"] == back
    evil = _bib(signed_in, race, registration, "9", htmx=False, next="https://evil.example/")
    assert evil.headers["Location"].endswith(f"/registrants/{registration.id}")
    taken = _bib(signed_in, race, registration, "7", htmx=False)
    assert taken.status_code == 422 and "<html" in taken.get_data(as_text=True)
    assert "already taken by Grace Hopper" in page_text(taken)


# "/\evil" and "/<tab>/evil" (/%09/evil on the wire) are read by browsers as //evil, another site.
@pytest.mark.parametrize("next_url", ["/\\evil.example", "/\t/evil.example", "//evil.example"],
                         ids=["backslash", "tab", "two slashes"])
def test_bib_form_never_sends_the_organizer_off_the_site(signed_in, db, race, next_url):
    registration = runner(db, race, race.ticket_types[0], "Ada", "Lovelace")
    response = _bib(signed_in, race, registration, "9", htmx=False, next=next_url)
    assert response.status_code == 303
    assert response.headers["Location"] == f"/manage/races/{race.id}/registrants/{registration.id}"


def _assign(client, race, tt, first, last, htmx=True):
    return client.post(f"/manage/races/{race.id}/bibs", headers=HX if htmx else {},
                       data={"csrf_token": token(client, race), "ticket_type": str(tt.id), "first": first, "last": last})


def test_auto_bibs_number_paid_runners_of_one_ticket_type_by_name_skipping_used_numbers(signed_in, db, race):
    ten, five = race.ticket_types
    carol = runner(db, race, ten, "Carol", "Clark")
    alice = runner(db, race, ten, "Alice", "Adams")
    bob = runner(db, race, ten, "Bob", "Baker")
    has_one = runner(db, race, ten, "Dora", "Dunn", bib=1000)
    taken_by_5k = runner(db, race, five, "Eve", "Evans", bib=1002)
    refunded = runner(db, race, ten, "Ray", "Refund", status=OrderStatus.REFUNDED)
    five_k = runner(db, race, five, "Fay", "Fox")

    response = _assign(signed_in, race, ten, "1000", "1999")
    body = page_text(response)
    assert response.status_code == 200 and "Gave 3 10K runners bibs 1001–1004." in body
    assert response.headers["HX-Trigger"] == "registrants-changed"  # the list refreshes itself
    bibs = {r.id: fresh(db, r.id).bib for r in (alice, bob, carol, has_one, taken_by_5k, refunded, five_k)}
    assert bibs == {alice.id: 1001, bob.id: 1003, carol.id: 1004, has_one.id: 1000, taken_by_5k.id: 1002,
                    refunded.id: None, five_k.id: None}
    assert audits(db, alice.id) == [("bib", "", "1001")]



@pytest.mark.postgres
def test_auto_bibs_meeting_a_bib_typed_by_hand_at_that_moment_assign_nothing_and_say_so(app, db, race, organizer):
    """Another organizer types a bib for one of the runners just as the range is assigned: the assignment waits for
    that save, finds the runner numbered, and assigns nobody (all or nothing), rather than overwriting the typed bib."""
    from sqlalchemy import update
    from sqlalchemy.orm import Session

    from extensions import db as database
    from services.registrants.bibs import BibRefused, assign_bibs
    from tests.concurrency import waits_for

    ten = race.ticket_types[0]
    alice, bob = runner(db, race, ten, "Alice", "Adams"), runner(db, race, ten, "Bob", "Baker")
    with app.app_context():
        engine = database.engine
    typing = Session(engine)  # the other organizer's bib, saved, not yet committed
    typing.execute(update(Registration).where(Registration.id == bob.id).values(bib=7))
    outcome = {}

    def assign():
        with app.app_context(), Session(engine) as session:
            try:
                assign_bibs(session, race.id, {"ticket_type": str(ten.id), "first": "1", "last": "99"}, organizer.id,
                            clock.now())
                outcome["assigned"] = True
            except BibRefused as refused:
                outcome["refused"] = str(refused)

    waits_for(typing, assign)

    assert "changed a moment ago" in outcome["refused"]
    assert (fresh(db, alice.id).bib, fresh(db, bob.id).bib) == (None, 7)

def test_auto_bibs_refuse_a_range_that_is_too_small_and_assign_nothing(signed_in, db, race):
    ten = race.ticket_types[0]
    waiting = [runner(db, race, ten, "Run", f"Ner{i}") for i in range(3)]
    runner(db, race, race.ticket_types[1], "Eve", "Evans", bib=11)
    response = _assign(signed_in, race, ten, "10", "12")
    body = page_text(response)
    assert response.status_code == 422
    assert "3 10K runners need a bib, but 10–12 has only 2 free numbers (1 already used)" in body
    assert "nothing was assigned" in body
    assert [fresh(db, r.id).bib for r in waiting] == [None, None, None]
    assert db.session.scalar(select(func.count(RegistrationAudit.id))) == 0


@pytest.mark.parametrize("first, last, message", [
    ("abc", "10", "whole numbers"), ("²", "10", "whole numbers"), ("20", "10", "from the smaller number"),
    ("1", "200000", "at most 100,000"),
    ("0", "10", "from 1 to"),
])
def test_auto_bibs_bad_ranges_are_422(signed_in, db, race, first, last, message):
    runner(db, race, race.ticket_types[0], "Ada", "Lovelace")
    response = _assign(signed_in, race, race.ticket_types[0], first, last)
    assert response.status_code == 422 and message in page_text(response)


def test_auto_bibs_when_everyone_has_one_says_so(signed_in, db, race):
    runner(db, race, race.ticket_types[0], "Ada", "Lovelace", bib=5)
    response = _assign(signed_in, race, race.ticket_types[0], "1", "10")
    assert response.status_code == 422 and "Every paid 10K runner already has a bib." in page_text(response)


def test_auto_bibs_for_another_races_ticket_type_is_refused(signed_in, db, race, organizer):
    other = organized_race(db, organizer)
    theirs = runner(db, other, other.ticket_types[0], "Not", "Mine")
    response = _assign(signed_in, race, other.ticket_types[0], "1", "10")
    assert response.status_code == 422 and "Pick the ticket type" in page_text(response)
    assert fresh(db, theirs.id).bib is None


def test_auto_bibs_without_javascript_redirect_to_the_numbered_list(signed_in, db, race):
    runner(db, race, race.ticket_types[0], "Ada", "Lovelace")
    response = _assign(signed_in, race, race.ticket_types[0], "1", "10", htmx=False)
    assert response.status_code == 303
    assert response.headers["Location"] == f"/manage/races/{race.id}/registrants?ticket={race.ticket_types[0].id}&sort=bib"


# --- CSV -------------------------------------------------------------------------------------

def _csv(response) -> list[dict]:
    raw = response.get_data()
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 byte order mark, for Excel
    return list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))


def test_csv_has_every_field_and_keeps_accents(signed_in, db, race):
    clock.freeze(datetime(2030, 4, 1, 15, 0, tzinfo=UTC))
    registration = runner(db, race, race.ticket_types[0], "Zoë", "Núñez-Brontë", bib=31, gender="Female",
                          checked_in_at=datetime(2030, 4, 1, 11, 42, tzinfo=UTC))
    response = signed_in.get(url(race, ".csv"))
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == 'attachment; filename="lake-10k-registrants-2030-04-01.csv"'
    rows = _csv(response)
    assert len(rows) == 1
    row = rows[0]
    assert (row["First name"], row["Last name"], row["Bib"], row["Ticket type"], row["Price paid"], row["Currency"]) == \
        ("Zoë", "Núñez-Brontë", "31", "10K", "45.00", "USD")
    assert row["Order"] == str(registration.order_id) and row["Status"] == "Paid"
    assert row["Checked in at"] == "2030-04-01 07:42"  # in the race's timezone
    assert row["Waiver version"] == "1" and row["Waiver signature"] == "Zoë Núñez-Brontë"
    assert row["Emergency contact"] == "Grace Hopper" and row["Emergency phone"] == "'+1 555 0100"
    assert row["Gender"] == "Female" and row["T-shirt"] == "M" and row["Date of birth"] == "1990-05-17"
    assert row["Waiver IP"] == "203.0.113.7" and len(row["Waiver SHA-256"]) == 64


def test_csv_cells_that_a_spreadsheet_would_run_are_escaped(signed_in, db, race):
    tt = race.ticket_types[0]
    for first, last in [('=HYPERLINK("http://evil.example","Click")', "Smith"), ("+1", "Plus"), ("-2", "Minus"),
                        ("@x", "At"), ("\tTab", "Tab"), ("Safe", "Person")]:
        runner(db, race, tt, first, last, email=f"{last.lower()}@example.com")
    rows = {row["Last name"]: row["First name"] for row in _csv(signed_in.get(url(race, ".csv")))}
    assert rows == {"Smith": '\'=HYPERLINK("http://evil.example","Click")', "Plus": "'+1", "Minus": "'-2", "At": "'@x",
                    "Tab": "'\tTab", "Person": "Safe"}


def test_csv_honours_the_filters_and_sort(signed_in, db, race):
    ten, five = race.ticket_types
    runner(db, race, ten, "Ada", "Zed", bib=2)
    runner(db, race, ten, "Bea", "Young", bib=1)
    runner(db, race, five, "Cy", "Xu")
    runner(db, race, ten, "Dee", "Refunded", status=OrderStatus.REFUNDED)
    rows = _csv(signed_in.get(url(race, ".csv"), query_string={"ticket": ten.id, "sort": "bib"}))
    assert [r["Last name"] for r in rows] == ["Young", "Zed"]
    assert [r["Last name"] for r in _csv(signed_in.get(url(race, ".csv"), query_string={"status": "refunded"}))] == \
        ["Refunded"]
    assert signed_in.get(url(race, ".csv"), query_string={"sort": "nope"}).status_code == 400


def test_csv_of_an_empty_race_is_just_the_header(signed_in, db, race):
    response = signed_in.get(url(race, ".csv"))
    raw = response.get_data().decode("utf-8-sig")
    assert raw.splitlines()[0].startswith("Registration,Order,Status,Ticket type,Price paid")
    assert len(raw.splitlines()) == 1


def test_csv_streams_rather_than_building_the_file_at_once(signed_in, db, race):
    many_paid_runners(db, race, race.ticket_types[0], 450)
    response = signed_in.get(url(race, ".csv"))
    assert response.is_streamed
    chunks = list(response.response)
    assert len(chunks) >= 3  # written out every 200 rows
    assert sum(1 for _ in csv.reader(io.StringIO(b"".join(c if isinstance(c, bytes) else c.encode() for c in chunks)
                                                 .decode("utf-8-sig")))) == 451


def test_the_list_excludes_other_races(signed_in, db, race, organizer):
    other = organized_race(db, organizer)
    runner(db, other, other.ticket_types[0], "Other", "Race")
    runner(db, race, race.ticket_types[0], "This", "Race")
    assert listed_names(signed_in.get(url(race))) == ["Race, This"]
    assert [r["First name"] for r in _csv(signed_in.get(url(race, ".csv")))] == ["This"]


def test_orders_of_other_races_never_leak_through_a_mismatched_registration(signed_in, db, race, organizer):
    # A registration row claiming this race inside an order of another race is not trusted.
    other = organized_race(db, organizer)
    stray = runner(db, other, other.ticket_types[0], "Stray", "Row")
    db.session.execute(Registration.__table__.update().where(Registration.id == stray.id).values(race_id=race.id))
    db.session.commit()
    assert listed_names(signed_in.get(url(race))) == []
    assert listed_names(signed_in.get(url(race, "?q=stray"))) == []  # the search, which reads no order, too
    assert signed_in.get(url(race, f"/{stray.id}")).status_code == 404
    assert db.session.get(Order, stray.order_id).race_id == other.id


def test_every_value_a_row_shows_is_escaped(signed_in, db, race):
    """The rows are written in Python (blueprints/manage/registrant_rows.py): what a runner or an organizer typed
    reaches the page as text, never as markup, and the row stays whole."""
    tt = race.ticket_types[0]
    tt.name = '5K & <b>"fun"</b>'
    db.session.commit()
    runner(db, race, tt, first="<script>alert(1)</script>", last="O'Brien <i>", email="x+<tag>@example.com",
           details_problem="Needs <u>a</u> guardian & more", checked_in_at=datetime.now(UTC))

    html = signed_in.get(url(race)).get_data(as_text=True)

    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "O&#39;Brien &lt;i&gt;" in html and "x+&lt;tag&gt;@example.com" in html
    assert "5K &amp; &lt;b&gt;&#34;fun&#34;&lt;/b&gt;" in html
    assert "Needs &lt;u&gt;a&lt;/u&gt; guardian &amp; more" in html
    assert "<b>" not in html and "<u>" not in html and "<i>" not in html
    assert html.count('<td class="col-name">') == html.count('<td class="col-waiver"') == 1
