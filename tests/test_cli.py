"""CLI commands: demo data."""
from sqlalchemy import func, select

from models import Race, TicketType


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
