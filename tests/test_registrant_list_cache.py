"""The registrant list's results kept as rendered (services/registrants/list_cache.py): a settled list is served from
the cache at the cost of its key, every change of what the list shows is seen at once, a list that changed within
the last minute is never kept, and each organizer's bib forms carry their own CSRF token."""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from models import Order, OrderStatus, Registration, TicketType
from services import clock, race_editing
from services.registrants import bibs, checkin, list_cache, query
from tests.factories import login, make_profile, recount_race
from tests.registrant_factories import add_co_organizer, organized_race, runner

LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)
_SECTION = re.compile(r'<section id="registrant-results".*?</section>', re.S)
_TOKEN = re.compile(r'(name="csrf_token" (?:type="hidden" )?value=")[^"]+')


@pytest.fixture
def settled(monkeypatch):
    """Every list counts as settled at once: each test then sees whether the key alone notices its change."""
    monkeypatch.setattr(list_cache, "SETTLED", timedelta(0))


@pytest.fixture
def race(db, organizer):
    clock.freeze(datetime(2026, 3, 14, 15, 0, tzinfo=UTC))
    race = organized_race(db, organizer, slug="lake-10k", title="Lake 10K", timezone="America/New_York")
    runner(db, race, race.ticket_types[0], "Ada", "Lovelace", bib=7)
    runner(db, race, race.ticket_types[1], "Grace", "Hopper")
    return race


@pytest.fixture
def organizer(db):
    return make_profile(db, full_name="Olga Organizer", email="olga@example.com")


def _results(client, url: str) -> str:
    """The list's results as one organizer sees them, their CSRF tokens blanked."""
    response = client.get(url)
    assert response.status_code == 200
    return _TOKEN.sub(r"\1", _SECTION.search(response.get_data(as_text=True))[0])


def _fresh(app, client, url: str) -> str:
    app.extensions["registrant_list_cache"]._pages.clear()
    return _results(client, url)


def _statements(client, count_queries, url: str) -> int:
    with count_queries() as counter:
        assert client.get(url).status_code == 200
    return counter.count


def _registration(db, race, first: str) -> Registration:
    db.session.expire_all()
    return db.session.query(Registration).filter_by(race_id=race.id, first_name=first).one()


def test_a_settled_list_is_served_from_the_cache_for_its_key_alone(app, client, db, organizer, race, settled,
                                                                   count_queries):
    login(client, organizer)
    url = f"/manage/races/{race.id}/registrants"
    missed = _statements(client, count_queries, url)
    hit = _statements(client, count_queries, url)
    assert hit == missed - 2  # the counts and the page's rows are not read
    assert _results(client, url) == _fresh(app, client, url)
    htmx = client.get(url, headers={"HX-Request": "true"}).get_data(as_text=True)
    assert htmx.lstrip().startswith('<section id="registrant-results"')


def test_a_list_changed_within_the_last_minute_is_not_kept(app, client, db, organizer, race, count_queries):
    login(client, organizer)
    url = f"/manage/races/{race.id}/registrants"
    assert list_cache.list_version(db.session, race.id, clock.now()) is None  # just written
    first = _statements(client, count_queries, url)
    assert _statements(client, count_queries, url) == first
    db.session.execute(update(Registration).values(updated_at=datetime.now(UTC) - timedelta(seconds=61)))
    db.session.commit()
    assert list_cache.list_version(db.session, race.id, clock.now()) is not None
    assert _statements(client, count_queries, url) == first  # stored now
    assert _statements(client, count_queries, url) == first - 2
    # A stamp in the future (another server's clock ahead of ours) is no reason to trust the list either.
    db.session.execute(update(Registration).where(Registration.first_name == "Ada")
                       .values(updated_at=datetime.now(UTC) + timedelta(minutes=5)))
    db.session.commit()
    assert list_cache.list_version(db.session, race.id, clock.now()) is None


def _check_in(db, race, organizer):
    checkin.check_in(db.session, query.registration_for_race(db.session, race.id, _registration(db, race, "Ada").id),
                     organizer.id, clock.now())
    db.session.commit()


def _bib_range(db, race, organizer):
    done = bibs.assign_bibs(db.session, race.id, {"ticket_type": str(race.ticket_types[1].id), "first": "500",
                                                  "last": "599"}, organizer.id, clock.now())
    assert done.count == 1


def _corrected_name(db, race, organizer):
    _registration(db, race, "Ada").last_name = "King"
    db.session.commit()


def _order_refunded(db, race, organizer):
    order = db.session.get(Order, _registration(db, race, "Grace").order_id)
    order.status = OrderStatus.REFUNDED
    recount_race(db, race)  # as the refund keeps the stored counts
    db.session.commit()


def _ticket_refunded_alone(db, race, organizer):
    _registration(db, race, "Grace").refunded_at = clock.now()
    recount_race(db, race)
    db.session.commit()


def _moved_to_the_other_distance(db, race, organizer):
    _registration(db, race, "Ada").ticket_type_id = race.ticket_types[1].id
    recount_race(db, race)
    db.session.commit()


def _new_runner(db, race, organizer):
    runner(db, race, race.ticket_types[0], "Katherine", "Johnson")


def _ticket_type_renamed(db, race, organizer):
    ticket_type = db.session.get(TicketType, race.ticket_types[0].id)
    ticket_type.name = "Ten K"
    db.session.commit()


def _zone_changed(db, race, organizer):
    _check_in(db, race, organizer)  # (settled before the change below)
    db.session.execute(update(Registration).values(updated_at=LONG_AGO))
    db.session.commit()
    race.timezone = "Asia/Tokyo"  # a check-in at 11 AM in New York is midnight in Tokyo
    race_editing.touch(race)
    db.session.commit()


CHANGES = [_check_in, _bib_range, _corrected_name, _order_refunded, _ticket_refunded_alone,
           _moved_to_the_other_distance, _new_runner, _ticket_type_renamed, _zone_changed]


@pytest.mark.parametrize("change", CHANGES, ids=[change.__name__.strip("_") for change in CHANGES])
@pytest.mark.parametrize("filters", ["", "?status=all&sort=registered&dir=desc", "?q=a"])
def test_every_change_the_list_shows_is_seen_at_once(app, client, db, organizer, race, settled, change, filters):
    login(client, organizer)
    url = f"/manage/races/{race.id}/registrants{filters}"
    before = _results(client, url)
    assert _results(client, url) == before  # from the cache
    change(db, race, organizer)
    after = _results(client, url)
    assert after != before, "the change shows in the list"
    assert after == _fresh(app, client, url)


def test_a_pending_ticket_leaves_the_list_when_its_hold_runs_out_and_comes_back_when_it_is_renewed(
        app, client, db, organizer, race, settled):
    login(client, organizer)
    url = f"/manage/races/{race.id}/registrants?status=pending"
    held = runner(db, race, race.ticket_types[0], "Hedy", "Lamarr", status=OrderStatus.PENDING,
                  reserved_until=clock.now() + timedelta(minutes=10))
    assert "Lamarr" in _results(client, url) and "Lamarr" in _results(client, url)
    clock.advance(timedelta(minutes=11))
    assert "Lamarr" not in _results(client, url)
    assert "Lamarr" not in _results(client, url)
    db.session.execute(update(Order).where(Order.id == held.order_id)  # no row of a ticket changes
                       .values(reserved_until=clock.now() + timedelta(minutes=10)))
    db.session.commit()
    assert "Lamarr" in _results(client, url)


def test_a_check_in_time_says_its_day_once_the_day_has_passed(app, client, db, organizer, race, settled):
    login(client, organizer)
    _check_in(db, race, organizer)
    url = f"/manage/races/{race.id}/registrants"
    today = _results(client, url)
    assert "11:00 AM" in today and "Sat 14 Mar" not in today
    clock.advance(timedelta(days=1))
    assert "Sat 14 Mar, 11:00 AM" in _results(client, url)


def test_each_language_is_kept_apart(app, client, db, organizer, race, settled):
    login(client, organizer)
    url = f"/manage/races/{race.id}/registrants"
    english = _results(client, url)
    client.set_cookie("sl_lang", "es")
    spanish = _results(client, url)
    assert "inscritos pagados" in spanish and "paid registrants" in english
    client.delete_cookie("sl_lang")
    assert _results(client, url) == english


def test_each_organizer_s_bib_forms_carry_their_own_csrf_token(app, client, db, organizer, race, settled):
    login(client, organizer)
    url = f"/manage/races/{race.id}/registrants"
    client.get(url)  # stored with Olga's session
    colleague = make_profile(db, full_name="Carl Co", email="carl@example.com")
    add_co_organizer(db, race, colleague)
    carl = app.test_client()
    login(carl, colleague)
    page = carl.get(url).get_data(as_text=True)
    assert list_cache.CSRF_STAND_IN not in page
    form = re.search(r'<form[^>]*action="([^"]+/bib)"[^>]*>.*?name="csrf_token" (?:type="hidden" )?value="([^"]+)"',
                     page, re.S)
    saved = carl.post(form[1], data={"csrf_token": form[2], "bib": "42"}, headers={"HX-Request": "true"})
    assert saved.status_code == 200
    assert db.session.query(Registration).filter_by(bib=42).count() == 1
