"""CLI commands: demo data."""
from datetime import UTC, datetime

from sqlalchemy import func, select, update

from models import Race, Registration, TicketType
from tests.factories import make_profile


def test_seed_demo_adds_sample_races_and_is_safe_to_run_twice(runner, db):
    first = runner.invoke(args=["seed-demo"])
    assert first.exit_code == 0, first.output
    assert "Seeded 3 race(s)." in first.output
    races = db.session.scalar(select(func.count(Race.id)))
    types = db.session.scalar(select(func.count(TicketType.id)))

    second = runner.invoke(args=["seed-demo"])

    assert "exist already" in second.output
    assert db.session.scalar(select(func.count(Race.id))) == races == 3
    assert db.session.scalar(select(func.count(TicketType.id))) == types >= 5


def test_seed_demo_if_empty_leaves_an_existing_site_alone(runner, db):
    runner.invoke(args=["seed-demo"])
    result = runner.invoke(args=["seed-demo", "--if-empty"])
    assert "nothing seeded" in result.output


def test_seeded_races_are_browsable(runner, client, db):
    runner.invoke(args=["seed-demo"])
    page = client.get("/").get_data(as_text=True)
    assert "Lakeside Spring 5K &amp; 10K" in page
    assert client.get("/races/sacred-valley-trail-half").status_code == 200


def test_refill_search_keys_makes_rows_written_without_keys_searchable_again(runner, client, db):
    """After an offline `prod-migrate --sql`, old rows have empty keys until this command runs."""
    runner.invoke(args=["seed-demo"])
    db.session.execute(update(Race).values(search_key="").execution_options(synchronize_session=False))
    db.session.commit()
    assert "Sacred Valley" not in client.get("/?q=sacred").get_data(as_text=True)

    result = runner.invoke(args=["refill-search-keys"])

    assert result.exit_code == 0 and "Search keys computed" in result.output
    assert "Sacred Valley" in client.get("/?q=SACRED").get_data(as_text=True)


def test_refill_search_keys_stamps_the_registrations_whose_key_it_wrote_and_only_those(runner, db):
    """What a search finds changed: the registrant list's cache (keyed by the newest stamp) must see it."""
    from tests.registrant_factories import organized_race
    from tests.registrant_factories import runner as paid_runner

    race = organized_race(db, make_profile(db))
    ada, grace = (paid_runner(db, race, race.ticket_types[0], first) for first in ("Ada", "Grace"))
    long_ago = datetime(2020, 1, 1, tzinfo=UTC)
    db.session.execute(update(Registration).values(updated_at=long_ago))
    db.session.execute(update(Registration).where(Registration.id == ada.id).values(search_key=""))
    db.session.commit()

    assert runner.invoke(args=["refill-search-keys"]).exit_code == 0

    db.session.expire_all()
    assert db.session.get(Registration, ada.id).search_key != "" and db.session.get(Registration, ada.id).updated_at > long_ago
    assert db.session.get(Registration, grace.id).updated_at == long_ago


def test_refill_descriptions_renders_the_stored_html_again(runner, client, db):
    """After an offline `prod-migrate --sql`, old races show no description until this command runs."""
    runner.invoke(args=["seed-demo"])
    db.session.execute(update(Race).values(description_html="").execution_options(synchronize_session=False))
    db.session.commit()
    db.session.expire_all()
    race = db.session.scalar(select(Race).where(Race.description != "").limit(1))
    assert race is not None and race.description_html == ""

    result = runner.invoke(args=["refill-descriptions"])

    assert result.exit_code == 0 and "Descriptions rendered" in result.output
    db.session.expire_all()
    assert db.session.get(Race, race.id).description_html.startswith("<")
