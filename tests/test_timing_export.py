"""The two registrant downloads: for spreadsheets (formulas defused) and for timing software (raw, one runner a line)."""
from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime

import pytest

from models import OrderStatus
from services import clock
from tests.registrant_factories import many_paid_runners, organized_race, organizer, race, runner, signed_in  # noqa: F401  (fixtures)

TIMING_HEADER = "Bib,First name,Last name,Gender,Date of birth,Age on race day,Ticket type,Team,City,Country,T-shirt"


@pytest.fixture(autouse=True)
def race_week():
    clock.freeze(datetime(2030, 4, 1, 15, 0, tzinfo=UTC))
    yield
    clock.reset()


def timing(client, race, **args):
    return client.get(f"/manage/races/{race.id}/registrants-timing.csv", query_string=args)


def spreadsheet(client, race, **args):
    return client.get(f"/manage/races/{race.id}/registrants.csv", query_string=args)


def test_the_timing_file_has_raw_values_one_runner_a_line_in_the_columns_timing_programs_import(signed_in, db, race):
    race.starts_at = datetime(2030, 5, 4, 12, 0, tzinfo=UTC)
    db.session.commit()
    zoe = runner(db, race, race.ticket_types[0], "Zoë", "Núñez-Brontë", bib=31, gender="Female")
    ada = runner(db, race, race.ticket_types[1], "+Ada", "O'Brien, Jr", bib=7, gender="Male")
    zoe.tshirt_size, zoe.date_of_birth, zoe.emergency_phone = "S", date(1990, 5, 5), "+44 20 7946 0000"
    ada.date_of_birth = date(2012, 5, 4)
    db.session.commit()

    response = timing(signed_in, race)

    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == 'attachment; filename="lake-10k-timing-2030-04-01.csv"'
    raw = response.get_data(as_text=True)
    assert not raw.startswith("\ufeff")  # timing programs read plain UTF-8; a BOM would end up in "Bib"
    assert raw.splitlines() == [
        TIMING_HEADER,
        '7,+Ada,"O\'Brien, Jr",Male,2012-05-04,18,5K,,,,M',       # raw: no ' before the +; 18 on race day
        "31,Zoë,Núñez-Brontë,Female,1990-05-05,39,10K,,,,S",
    ]


def test_the_timing_file_holds_only_runners_who_may_start_under_the_other_filters(signed_in, db, race):
    ten, five = race.ticket_types
    runner(db, race, ten, "Paid", "Ten", bib=2)
    runner(db, race, ten, "Nobib", "Ten")
    runner(db, race, five, "Paid", "Five", bib=1)
    runner(db, race, ten, "Ray", "Refund", status=OrderStatus.REFUNDED, bib=3)
    runner(db, race, ten, "Part", "Refunded", refunded=True, bib=4)

    def last_names(**args):
        return [row["Last name"] for row in csv.DictReader(io.StringIO(timing(signed_in, race, **args).get_data(
            as_text=True)))]

    assert last_names() == ["Five", "Ten", "Ten"]  # by bib, runners without one last
    assert last_names(status="all") == last_names(status="refunded") == ["Five", "Ten", "Ten"]
    assert last_names(ticket=ten.id, sort="name", dir="desc") == ["Ten", "Ten"]
    assert last_names(q="nobib") == ["Ten"]
    assert timing(signed_in, race, sort="nope").status_code == 400


def test_a_line_break_in_a_value_never_splits_a_runner_over_two_lines(signed_in, db, race):
    registration = runner(db, race, race.ticket_types[0], "Ada", "Lovelace", bib=1)
    registration.last_name = "Love\nlace"  # only a direct write could do this; the file still holds
    db.session.commit()
    lines = timing(signed_in, race).get_data(as_text=True).splitlines()
    assert len(lines) == 2 and ",Ada,Love lace," in lines[1]


def test_the_spreadsheet_file_still_defuses_formulas_and_the_timing_file_does_not(signed_in, db, race):
    registration = runner(db, race, race.ticket_types[0], "=1+2", "Sum", bib=5)
    registration.emergency_phone = "+44 20 7946 0000"
    db.session.commit()
    sheet = next(csv.DictReader(io.StringIO(spreadsheet(signed_in, race).get_data().decode("utf-8-sig"))))
    assert sheet["First name"] == "'=1+2" and sheet["Emergency phone"] == "'+44 20 7946 0000"
    timed = next(csv.DictReader(io.StringIO(timing(signed_in, race).get_data(as_text=True))))
    assert timed["First name"] == "=1+2"


def test_the_list_offers_both_downloads_with_its_filters(signed_in, db, race):
    page = signed_in.get(f"/manage/races/{race.id}/registrants", query_string={"q": "ada"}).get_data(as_text=True)
    assert f'href="/manage/races/{race.id}/registrants.csv?q=ada" download>for spreadsheets</a>' in page
    assert f'href="/manage/races/{race.id}/registrants-timing.csv?q=ada" download' in page
    assert ">for timing software</a>" in page


def test_only_the_races_organizers_get_the_timing_file(client, db, race):
    assert timing(client, race).status_code in (302, 303, 401, 403, 404)


def test_the_timing_file_runs_the_same_few_statements_for_10_or_2000_runners(signed_in, db, race, organizer,
                                                                              count_queries):
    many_paid_runners(db, race, race.ticket_types[0], 10)
    big = organized_race(db, organizer)
    many_paid_runners(db, big, big.ticket_types[0], 2000)

    def statements(of):
        with count_queries() as counter:
            lines = timing(signed_in, of).get_data(as_text=True).splitlines()
        return counter.count, len(lines)

    small, large = statements(race), statements(big)
    assert small[0] == large[0] and (small[1], large[1]) == (11, 2001)
