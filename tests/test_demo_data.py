"""The demo races read like real ones: their own descriptions, held in their season, sensible age bands."""
from datetime import UTC, datetime, timedelta
from itertools import combinations
from zoneinfo import ZoneInfo

import pytest

from models import Race
from services.demo import DEMO_RACES, MIN_LEAD, seed_demo


def test_each_demo_race_has_its_own_description(runner, client, db):
    runner.invoke(args=["seed-demo"])
    lakeside = client.get("/races/lakeside-spring-5k-10k").get_data(as_text=True)
    sacred_valley = client.get("/races/sacred-valley-trail-half").get_data(as_text=True)

    assert "pancakes at the boathouse" in lakeside
    assert "pancakes at the boathouse" not in sacred_valley
    assert "Urubamba" in sacred_valley
    assert len({sample.description for sample in DEMO_RACES}) == len(DEMO_RACES)


def test_seeded_races_show_their_cover_on_the_race_list(runner, client, db):
    runner.invoke(args=["seed-demo"])
    page = client.get("/").get_data(as_text=True)
    assert page.count('class="race-card-cover"') == len(DEMO_RACES)
    assert all(race.cover_image for race in db.session.query(Race))


def test_a_spring_race_seeded_in_december_is_held_in_spring(db):
    seed_demo(db.session, datetime(2026, 12, 5, 9, 0, tzinfo=UTC))
    lakeside = db.session.query(Race).filter_by(slug="lakeside-spring-5k-10k").one()

    local = lakeside.starts_at.replace(tzinfo=UTC).astimezone(ZoneInfo(lakeside.timezone))
    assert (local.year, local.month, local.strftime("%A")) == (2027, 4, "Saturday")


@pytest.mark.parametrize("now", [datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 4, 20, tzinfo=UTC),
                                 datetime(2026, 6, 30, 23, tzinfo=UTC), datetime(2026, 11, 2, tzinfo=UTC),
                                 datetime(2026, 12, 31, 23, tzinfo=UTC)])
def test_every_demo_race_falls_in_its_season_on_its_weekday_and_far_enough_ahead(db, now):
    seed_demo(db.session, now)
    for sample in DEMO_RACES:
        race = db.session.query(Race).filter_by(slug=sample.slug).one()
        local = race.starts_at.replace(tzinfo=UTC).astimezone(ZoneInfo(race.timezone))
        assert local.month == sample.month and local.weekday() == sample.weekday, sample.slug
        assert race.starts_at.replace(tzinfo=UTC) - now >= MIN_LEAD - timedelta(days=1), sample.slug
        assert race.registration_closes_at.replace(tzinfo=UTC) > now


@pytest.mark.parametrize("sample", DEMO_RACES, ids=lambda s: s.slug)
def test_no_runner_fits_both_a_kids_race_and_a_race_with_a_minimum_age(sample):
    for one, other in combinations(sample.tickets, 2):
        for kids, grown_up in ((one, other), (other, one)):
            if kids.max_age is not None and grown_up.min_age is not None and kids.min_age is None:
                assert kids.max_age < grown_up.min_age, f"a {kids.max_age}-year-old fits {kids.name} and {grown_up.name}"
