"""Times in a race's zone: always with the date and a zone name people can read, never a bare offset."""
from datetime import UTC, datetime

import pytest

from blueprints.manage.forms import timezone_choices
from blueprints.rendering import race_time, zone_label, zone_name

SUMMER, WINTER = datetime(2030, 7, 6, 12, 0, tzinfo=UTC), datetime(2030, 1, 5, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("tz, summer, winter", [
    ("America/New_York", "EDT", "EST"),
    ("Europe/London", "British Summer Time", "GMT"),
    ("America/Lima", "Peru Standard Time", "Peru Standard Time"),
    ("Europe/Berlin", "Central European Summer Time", "Central European Standard Time"),
    ("Asia/Kolkata", "India Time", "India Time"),
    ("UTC", "UTC", "UTC"),
])
def test_a_zone_is_named_by_its_abbreviation_or_else_its_long_name(tz, summer, winter):
    assert (zone_name(SUMMER, tz), zone_name(WINTER, tz)) == (summer, winter)


def test_every_zone_an_organizer_can_pick_has_a_name_that_is_not_just_an_offset():
    for choice in timezone_choices():
        for moment in (SUMMER, WINTER):
            name = zone_name(moment, choice.value)
            assert name[0].isalpha() and "Unknown" not in name, (choice.value, name)
            if name.startswith("GMT") and name != "GMT":  # an offset: only for zones that are nothing else
                assert choice.value.startswith("Etc/"), (choice.value, name)


def test_a_race_time_has_its_date_and_its_zone():
    assert race_time(datetime(2030, 5, 4, 11, 30, tzinfo=UTC), "America/Lima") == "Sat 4 May 2030, 6:30 AM Peru Standard Time"
    assert race_time(datetime(2030, 5, 4, 11, 30, tzinfo=UTC), "America/New_York", compact=True) == "4 May, 7:30 AM EDT"
    assert race_time(None, "America/Lima") == ""


@pytest.mark.parametrize("tz, label", [("America/New_York", "Eastern Time (New York)"), ("America/Lima", "Peru Time (Lima)"),
                                       ("Asia/Singapore", "Singapore Time"), ("UTC", "UTC")])
def test_a_zone_is_labelled_by_name_and_place_not_by_its_database_id(tz, label):
    assert zone_label(tz) == label
