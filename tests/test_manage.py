"""The organizer's side: creating races, the autosaving editor, ticket types, images, publishing."""
from __future__ import annotations

import io
import json
import re
from datetime import UTC, date, datetime, timedelta

import pytest
from PIL import Image
from sqlalchemy import func, select
from wtforms import BooleanField
from wtforms.fields.core import UnboundField

from blueprints.manage.forms import GROUP_FORMS
from models import (
    MediaKind,
    Order,
    OrganizerRole,
    Race,
    RaceMedia,
    RaceOrganizer,
    RaceStatus,
    Registration,
    TicketType,
    WaiverVersion,
)
from services import race_editing, race_fields
from tests.factories import login, make_order, make_profile, make_race
from tests.http import csrf_token


@pytest.fixture
def organizer(db):
    return make_profile(db, full_name="Olga Organizer", email="olga@example.com")


@pytest.fixture
def race(db, organizer):
    race = make_race(db, organizer=organizer, slug="lake-10k", title="Lake 10K", status=RaceStatus.DRAFT,
                     tickets=[("10K", 4500, 50), ("5K", 3000, 80)])
    race_editing.set_waiver_text(db.session, race, "I run at my own risk.")
    db.session.commit()
    return race


@pytest.fixture
def signed_in(client, organizer):
    login(client, organizer)
    return client


def token(client, race_id=None):
    return csrf_token(client, f"/manage/races/{race_id}" if race_id else "/manage/")


def save(client, race, group, data, *, original=None, htmx=True):
    body = {"csrf_token": token(client, race.id), **data}
    if original is not None:
        body["_original"] = json.dumps(original)
    headers = {"HX-Request": "true"} if htmx else {}
    return client.post(f"/manage/races/{race.id}/fields/{group}", data=body, headers=headers)


def fresh(db, model, id_):
    db.session.expire_all()
    return db.session.get(model, id_)


# --- creating ----------------------------------------------------------------------------

def test_any_signed_in_user_can_start_a_draft_with_a_name_and_a_date(signed_in, db, organizer):
    day = (datetime.now(UTC) + timedelta(days=60)).date()
    response = signed_in.post("/manage/races", data={"csrf_token": token(signed_in), "title": "Harbour Run",
                                                     "day": day.isoformat(), "timezone": "Europe/London",
                                                     "currency": "GBP"})
    assert response.status_code == 303
    race = db.session.scalar(select(Race).where(Race.title == "Harbour Run"))
    assert response.headers["Location"] == f"/manage/races/{race.id}"
    assert race.status == RaceStatus.DRAFT and race.slug == "harbour-run" and race.currency == "GBP"
    assert race.starts_at.astimezone().date() == day or race.starts_at.date() == day
    assert db.session.scalar(select(RaceOrganizer.role).where(RaceOrganizer.race_id == race.id,
                                                              RaceOrganizer.profile_id == organizer.id)) == "owner"
    assert "Harbour Run" in signed_in.get("/manage/").get_data(as_text=True)


def test_new_race_form_errors_come_back_beside_the_fields(signed_in, db):
    response = signed_in.post("/manage/races", data={"csrf_token": token(signed_in), "title": "", "day": "1999-01-01",
                                                     "timezone": "Mars/Olympus", "currency": "USD"},
                              headers={"HX-Request": "true"})
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Give the race a name." in page and "Pick a day from today" in page and "Pick a time zone" in page
    assert db.session.scalar(select(func.count(Race.id))) == 0


def test_sample_race_is_a_complete_draft_and_easy_to_delete(signed_in, db, organizer):
    response = signed_in.post("/manage/races/sample", data={"csrf_token": token(signed_in)})
    race = db.session.scalar(select(Race).where(Race.is_sample.is_(True)))
    assert response.status_code == 303 and race.status == RaceStatus.DRAFT
    assert db.session.scalar(select(func.count(TicketType.id)).where(TicketType.race_id == race.id)) == 3
    assert race_editing.current_waiver(db.session, race.id).text.startswith("I know that running")
    cover = db.session.scalar(select(RaceMedia).where(RaceMedia.race_id == race.id, RaceMedia.kind == MediaKind.COVER))
    assert cover is not None and race.cover_image == cover.storage_key
    editor = signed_in.get(f"/manage/races/{race.id}").get_data(as_text=True)
    assert "Sample" in editor and "Delete race" in editor

    deleted = signed_in.post(f"/manage/races/{race.id}/delete", data={"csrf_token": token(signed_in, race.id)})
    assert deleted.status_code == 303
    assert fresh(db, Race, race.id) is None


# --- autosave ----------------------------------------------------------------------------

def test_autosave_a_text_field(signed_in, db, race):
    response = save(signed_in, race, "title", {"title": "Lake 10K 2027"}, original={"title": "Lake 10K"})
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert re.search(r"Saved \d{1,2}:\d\d [AP]M", body)
    assert '"title": "Lake 10K 2027"' in body.replace("&#34;", '"')  # the new baseline for the next save
    assert fresh(db, Race, race.id).title == "Lake 10K 2027"


def test_autosave_markdown_updates_the_preview_out_of_band(signed_in, db, race):
    response = save(signed_in, race, "description", {"description": "## Course\n\nFlat **and** fast"})
    body = response.get_data(as_text=True)
    assert 'id="description-preview"' in body and 'hx-swap-oob="true"' in body
    assert "<h2>Course</h2>" in body and "<strong>and</strong>" in body
    assert fresh(db, Race, race.id).description == "## Course\n\nFlat **and** fast"


def test_live_preview_renders_without_saving(signed_in, db, race):
    response = signed_in.post(f"/manage/races/{race.id}/preview", data={
        "csrf_token": token(signed_in, race.id), "description": "# Hi <script>x</script>"}, headers={"HX-Request": "true"})
    assert "<h1>Hi" in response.get_data(as_text=True) and "<script>" not in response.get_data(as_text=True)
    assert fresh(db, Race, race.id).description == ""


def time_zone_menu(signed_in, race, query="") -> str:
    editor = signed_in.get(f"/manage/races/{race.id}{query}").get_data(as_text=True)
    return re.search(r'<select[^>]*name="timezone".*?</select>', editor, re.S).group(0)


@pytest.mark.parametrize("where", ["fetched", "without JavaScript"])
def test_the_time_zone_menu_names_each_zone_once_and_keeps_a_races_old_alias(signed_in, db, race, where):
    # Every zone: fetched by static/js/editor.js once the editor is idle, or in the page itself with ?zones=all
    # (the link a browser without JavaScript shows).
    def every_zone() -> str:
        if where == "fetched":
            return signed_in.get(f"/manage/races/{race.id}/time-zones").get_data(as_text=True)
        return time_zone_menu(signed_in, race, "?zones=all")

    menu = every_zone()
    labels = re.findall(r"<option[^>]*>([^<]*)</option>", menu)
    assert len(labels) > 400
    assert "Peru Time (Lima)" in labels and "Eastern Time (New York)" in labels
    assert len(labels) == len(set(labels)), "a zone appears under two names"
    assert "America/New_York" not in labels and ">US/Eastern<" not in menu

    race.timezone = "US/Eastern"  # a race saved before the menu left out aliases keeps its zone
    db.session.commit()
    assert re.search(r'<option value="US/Eastern" selected>Eastern Time \(New York\)</option>', every_zone())
    assert re.search(r'<option value="US/Eastern" selected>Eastern Time \(New York\)</option>',
                     time_zone_menu(signed_in, race))


def test_the_editor_arrives_with_the_common_zones_and_the_races_own(signed_in, db, race):
    race.timezone = "America/Argentina/Salta"  # not a common zone
    db.session.commit()
    menu = time_zone_menu(signed_in, race)
    values = re.findall(r'<option value="([^"]+)"', menu)
    assert "America/Chicago" in values and "Europe/Madrid" in values and "UTC" in values
    assert 'value="America/Argentina/Salta" selected' in menu
    assert len(values) < 25  # the other zones are fetched (static/js/editor.js)
    assert f'data-more-options="/manage/races/{race.id}/time-zones"' in menu
    assert "data-more-options" not in time_zone_menu(signed_in, race, "?zones=all")


def test_the_time_zones_are_only_for_the_races_organizers(client, db, race):
    assert client.get(f"/manage/races/{race.id}/time-zones").status_code in (302, 303)
    stranger = make_profile(db, email="stranger@example.com")
    login(client, stranger)
    assert client.get(f"/manage/races/{race.id}/time-zones").status_code in (403, 404)


def test_autosave_date_and_time_in_the_race_timezone(signed_in, db, race):
    response = save(signed_in, race, "when", {"day": "2031-06-07", "start": "07:30", "timezone": "America/Lima"})
    assert response.status_code == 200
    saved = fresh(db, Race, race.id)
    assert saved.timezone == "America/Lima"
    assert saved.starts_at == datetime(2031, 6, 7, 12, 30, tzinfo=UTC)  # Lima is UTC-5


# --- the sign-up deadline: never after the start, whichever of the two moves ---------------

def _schedule(db, race, starts_at, closes_at):
    saved = fresh(db, Race, race.id)
    saved.starts_at, saved.registration_closes_at = starts_at, closes_at
    db.session.commit()


def test_moving_the_start_moves_a_set_deadline_by_as_much_and_says_so(signed_in, db, race):
    # Saturday 8 Feb 2031, 08:00 in New York (EST, UTC-5); sign-up closes the day before at 08:00.
    _schedule(db, race, datetime(2031, 2, 8, 13, 0, tzinfo=UTC), datetime(2031, 2, 7, 13, 0, tzinfo=UTC))

    response = save(signed_in, race, "when", {"day": "2031-02-08", "start": "09:30", "timezone": "America/New_York"},
                    original={"day": "2031-02-08", "start": "08:00", "timezone": "America/New_York"})

    assert response.status_code == 200
    saved = fresh(db, Race, race.id)
    assert saved.starts_at == datetime(2031, 2, 8, 14, 30, tzinfo=UTC)
    assert saved.registration_closes_at == datetime(2031, 2, 7, 14, 30, tzinfo=UTC)  # still a day before the start
    page = response.get_data(as_text=True)
    assert "sign-up now closes Fri 7 Feb 2031, 9:30 AM EST" in page
    # The deadline's inputs on the page follow out of band, and saving them next is no conflict.
    assert re.search(r'<input id="closes-closes_time"[^>]*value="09:30"[^>]*hx-swap-oob="true"', page)
    assert save(signed_in, race, "closes", {"closes_day": "2031-02-07", "closes_time": "10:00"},
                original={"closes_day": "2031-02-07", "closes_time": "09:30"}).status_code == 200


def test_moving_the_start_of_a_race_without_a_deadline_sets_none(signed_in, db, race):
    _schedule(db, race, datetime(2031, 2, 8, 13, 0, tzinfo=UTC), None)
    response = save(signed_in, race, "when", {"day": "2031-02-09", "start": "08:00", "timezone": "America/New_York"})
    assert response.status_code == 200 and "sign-up now closes" not in response.get_data(as_text=True)
    assert fresh(db, Race, race.id).registration_closes_at is None


def test_a_deadline_after_the_start_is_refused_by_the_start_group_and_the_publish_checklist(signed_in, db, race):
    # A deadline after the start (saved before the rule held everywhere) stays wrong however the start moves.
    start, closes = datetime(2031, 2, 8, 13, 0, tzinfo=UTC), datetime(2031, 2, 8, 15, 0, tzinfo=UTC)
    _schedule(db, race, start, closes)

    moved = save(signed_in, race, "when", {"day": "2031-02-08", "start": "09:00", "timezone": "America/New_York"})
    assert moved.status_code == 422 and "Sign-up has to close before the start." in moved.get_data(as_text=True)
    assert (fresh(db, Race, race.id).starts_at, fresh(db, Race, race.id).registration_closes_at) == (start, closes)

    published = signed_in.post(f"/manage/races/{race.id}/publish", data={"csrf_token": token(signed_in, race.id)},
                               headers={"HX-Request": "true"})
    assert published.status_code == 422 and "sign-up closes before the start" in published.get_data(as_text=True)
    assert fresh(db, Race, race.id).status == RaceStatus.DRAFT


def test_every_editor_field_group_has_a_form_and_a_rule_set():
    assert set(GROUP_FORMS) == set(race_fields.GROUPS)


def test_autosave_select_and_money_like_tax_rate(signed_in, db, race):
    assert save(signed_in, race, "tax", {"tax_mode": "exclusive", "tax_rate": "8.25", "tax_label": "Sales tax"}
                ).status_code == 200
    saved = fresh(db, Race, race.id)
    assert (saved.tax_mode.value, saved.tax_rate_bps, saved.tax_label) == ("exclusive", 825, "Sales tax")


@pytest.mark.parametrize("group, data, message", [
    ("title", {"title": ""}, "A race needs a name."),
    ("title", {"title": "x" * 121}, "under 120 characters"),
    ("slug", {"slug": "Not A Slug"}, "lowercase letters"),
    ("when", {"day": "2031-02-30", "start": "07:30", "timezone": "UTC"}, "Enter a real date"),
    ("when", {"day": "2031-06-07", "start": "25:00", "timezone": "UTC"}, "Enter a time like"),
    ("when", {"day": "2031-06-07", "start": "07:00", "timezone": "Nowhere/Land"}, "Pick a time zone"),
    ("closes", {"closes_day": "2099-01-01", "closes_time": "10:00"}, "close before the start"),
    ("closes", {"closes_day": "2030-01-01", "closes_time": ""}, "both a date and a time"),
    ("tax", {"tax_mode": "exclusive", "tax_rate": "abc"}, "as a number"),
    ("tax", {"tax_mode": "inclusive", "tax_rate": "150"}, "at most 100"),
    ("social-instagram", {"url": "javascript:alert(1)"}, "full link"),
    ("social-instagram", {"url": "http://insecure.example.com"}, "https://"),
    ("runner-questions", {"tshirt_sizes": ",".join(["XL"] * 20)}, "up to 15 sizes"),
    # The last minute of year 9999 in New York is past the last UTC datetime there is.
    ("closes", {"closes_day": "9999-12-31", "closes_time": "23:59"}, "between 2000 and 2100"),
    ("when", {"day": "9999-12-31", "start": "23:59", "timezone": "America/New_York"}, "between 2000 and 2100"),
])
def test_invalid_values_get_a_422_beside_the_field_and_nothing_is_saved(signed_in, db, race, group, data, message):
    before = fresh(db, Race, race.id)
    snapshot = (before.title, before.slug, before.starts_at, before.timezone, before.tax_rate_bps,
                before.registration_closes_at, before.tshirt_sizes)
    response = save(signed_in, race, group, data)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True).replace("&#39;", "'")
    after = fresh(db, Race, race.id)
    assert (after.title, after.slug, after.starts_at, after.timezone, after.tax_rate_bps,
            after.registration_closes_at, after.tshirt_sizes) == snapshot


def test_slug_must_be_unique(signed_in, db, race):
    make_race(db, slug="taken-slug")
    response = save(signed_in, race, "slug", {"slug": "taken-slug"})
    assert response.status_code == 422 and "Another race already uses" in response.get_data(as_text=True)


def test_a_change_made_in_another_tab_is_not_silently_overwritten(signed_in, db, race):
    # Tab A loaded "Lake 10K"; tab B saved a new title since.
    assert save(signed_in, race, "title", {"title": "From tab B"}, original={"title": "Lake 10K"}).status_code == 200

    response = save(signed_in, race, "title", {"title": "From tab A"}, original={"title": "Lake 10K"})

    assert response.status_code == 409
    assert "Someone changed this" in response.get_data(as_text=True)
    assert fresh(db, Race, race.id).title == "From tab B"


def test_saving_the_same_value_twice_is_no_conflict(signed_in, db, race):
    save(signed_in, race, "title", {"title": "Same"}, original={"title": "Lake 10K"})
    assert save(signed_in, race, "title", {"title": "Same"}, original={"title": "Lake 10K"}).status_code == 200


def test_without_javascript_the_form_posts_and_redirects(signed_in, db, race):
    response = save(signed_in, race, "where", {"location_name": "Boathouse", "address": "1 Lake Rd"}, htmx=False)
    assert response.status_code == 303 and response.headers["Location"].endswith("#where")
    assert fresh(db, Race, race.id).location_name == "Boathouse"

    bad = save(signed_in, race, "title", {"title": ""}, htmx=False)
    assert bad.status_code == 422 and "<html" in bad.get_data(as_text=True)


def filled_in(db, race):
    """The race with every editor group holding something a blank post could wipe."""
    race = fresh(db, Race, race.id)
    race.summary, race.description, race.tshirt_sizes, race.ask_gender = "By the lake.", "## Course", "S,M,L", True
    race.registration_closes_at = race.starts_at - timedelta(days=2)
    race_editing.set_social_link(db.session, race, "instagram", "https://instagram.com/lake10k")
    db.session.commit()
    return race


def editor_state(db, race_id) -> tuple:
    """Everything the editor's groups store for a race (its row, waiver, links), to compare before and after."""
    db.session.expire_all()
    race = db.session.get(Race, race_id)
    return ({column.key: getattr(race, column.key) for column in Race.__table__.columns},
            race_fields.all_current_values(db.session, race))


def group_fields(db, race, group) -> dict[str, str]:
    """What the editor page sends for a group: each input's current value (a checkbox is sent only when ticked)."""
    values = race_fields.current_values(db.session, fresh(db, Race, race.id), group)
    return {name: value for name, value in values.items() if name != "ask_gender"}


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "no-js"])
@pytest.mark.parametrize("group", sorted(GROUP_FORMS))
def test_a_group_posted_with_no_fields_is_refused_and_wipes_nothing(signed_in, db, race, group, htmx):
    filled_in(db, race)
    before = editor_state(db, race.id)

    response = save(signed_in, race, group, {}, htmx=htmx)

    assert response.status_code == 422
    assert "missing from what your browser sent" in response.get_data(as_text=True)
    assert editor_state(db, race.id) == before


def sent_fields(form_class) -> list[str]:
    """The fields a form's page always sends (all but checkboxes, which an unticked box leaves out)."""
    return sorted(name for name in dir(form_class) if isinstance(unbound := getattr(form_class, name), UnboundField)
                  and unbound.field_class is not BooleanField)


@pytest.mark.parametrize("group, left_out", [
    (group, name) for group, (form_class, _) in sorted(GROUP_FORMS.items()) for name in sent_fields(form_class)])
def test_a_group_missing_one_of_its_fields_is_a_422_beside_it_not_a_500(signed_in, db, race, group, left_out):
    filled_in(db, race)
    data = group_fields(db, race, group)
    data.pop(left_out)
    before = editor_state(db, race.id)

    response = save(signed_in, race, group, data, htmx=False)

    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert f'id="error-{group}-{left_out}"' in page and "missing from what your browser sent" in page
    assert editor_state(db, race.id) == before


def test_without_javascript_an_error_shows_beside_its_own_input_only(signed_in, db, race):
    filled_in(db, race)
    response = save(signed_in, race, "social-strava", {"url": "http://strava.example.com"}, htmx=False)
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'id="error-social-strava-url"' in page and page.count("Use an https:// link.") == 1
    assert 'id="social-strava-url"' in page and "error-social-instagram-url" not in page


def test_emptying_a_field_on_purpose_still_saves(signed_in, db, race):
    filled_in(db, race)
    assert save(signed_in, race, "summary", {"summary": ""}).status_code == 200
    assert save(signed_in, race, "social-instagram", {"url": ""}).status_code == 200
    assert save(signed_in, race, "closes", {"closes_day": "", "closes_time": ""}).status_code == 200
    saved = fresh(db, Race, race.id)
    assert (saved.summary, saved.registration_closes_at) == ("", None)
    assert race_fields.current_values(db.session, saved, "social-instagram") == {"url": ""}


def test_unknown_field_group_is_404(signed_in, db, race):
    assert save(signed_in, race, "organizer_id", {"organizer_id": "x"}).status_code == 404


def test_social_links_are_added_changed_and_removed(signed_in, db, race, client):
    save(signed_in, race, "social-strava", {"url": "https://www.strava.com/clubs/lake"})
    assert "https://www.strava.com/clubs/lake" in signed_in.get("/races/lake-10k").get_data(as_text=True)
    save(signed_in, race, "social-strava", {"url": ""})
    assert "strava.com/clubs/lake" not in signed_in.get("/races/lake-10k").get_data(as_text=True)


# --- waiver -------------------------------------------------------------------------------

def test_editing_the_waiver_makes_a_new_version_and_signers_keep_theirs(signed_in, db, race):
    v1 = race_editing.current_waiver(db.session, race.id)
    order = make_order(db, race, race.ticket_types[0])
    registration = order.registrations[0]
    registration.waiver_version_id = v1.id
    db.session.commit()

    save(signed_in, race, "waiver", {"waiver": "New terms: be kind."})
    save(signed_in, race, "waiver", {"waiver": "New terms: be kind."})  # unchanged: no third version

    versions = list(db.session.scalars(select(WaiverVersion).where(WaiverVersion.race_id == race.id)
                                       .order_by(WaiverVersion.number)))
    assert [(v.number, v.text) for v in versions] == [(1, "I run at my own risk."), (2, "New terms: be kind.")]
    assert versions[1].sha256 != versions[0].sha256 and len(versions[1].sha256) == 64
    assert fresh(db, Registration, registration.id).waiver_version_id == v1.id


# --- ticket types -------------------------------------------------------------------------

def ticket_form(tt, **changes):
    data = {"name": tt.name, "description": tt.description, "price": f"{tt.price / 100:.2f}",
            "capacity": str(tt.capacity), "min_age": "", "max_age": "", "sales_start": "", "sales_end": ""}
    data.update(changes)
    return data


def save_ticket(client, race, tt, **changes):
    return client.post(f"/manage/races/{race.id}/tickets/{tt.id}",
                       data={"csrf_token": token(client, race.id), **ticket_form(tt, **changes)},
                       headers={"HX-Request": "true"})


@pytest.mark.parametrize("field", ["sales_start", "sales_end"])
def test_a_sales_window_past_the_calendars_end_is_a_422_not_a_500(signed_in, db, race, field):
    tt = race.ticket_types[0]
    response = save_ticket(signed_in, race, tt, **{field: "9999-12-31T23:59"})
    assert response.status_code == 422 and "between 2000 and 2100" in response.get_data(as_text=True)
    assert getattr(fresh(db, TicketType, tt.id), field) is None


def test_ticket_type_autosaves_price_capacity_and_ages(signed_in, db, race):
    tt = race.ticket_types[0]
    response = save_ticket(signed_in, race, tt, price="45.50", capacity="120", min_age="16", max_age="99")
    assert response.status_code == 200 and "Saved" in response.get_data(as_text=True)
    saved = fresh(db, TicketType, tt.id)
    assert (saved.price, saved.capacity, saved.min_age, saved.max_age) == (4550, 120, 16, 99)


@pytest.mark.parametrize("changes, message", [
    ({"price": "-5"}, "Use a price from 0"),
    ({"price": "12.345"}, "Enter the price as a number"),
    ({"price": "abc"}, "Enter the price as a number"),
    ({"capacity": "-1"}, "whole number"),
    ({"capacity": "lots"}, "whole number"),
    ({"name": ""}, "Give the ticket a name"),
    ({"min_age": "30", "max_age": "20"}, "can't be below the minimum"),
])
def test_ticket_type_bad_values_are_refused(signed_in, db, race, changes, message):
    tt = race.ticket_types[0]
    response = save_ticket(signed_in, race, tt, **changes)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True).replace("&#39;", "'")
    saved = fresh(db, TicketType, tt.id)
    assert (saved.name, saved.price, saved.capacity) == ("10K", 4500, 50)


def test_capacity_cannot_go_below_what_is_sold(signed_in, db, race):
    tt = race.ticket_types[0]
    make_order(db, race, tt, 3)
    response = save_ticket(signed_in, race, tt, capacity="2")
    assert response.status_code == 422 and "3 spots are already sold" in response.get_data(as_text=True)
    assert save_ticket(signed_in, race, tt, capacity="3").status_code == 200


def test_ticket_types_are_added_moved_hidden_and_deleted(signed_in, db, race):
    t = token(signed_in, race.id)
    headers = {"HX-Request": "true"}
    added = signed_in.post(f"/manage/races/{race.id}/tickets", data={"csrf_token": t}, headers=headers)
    assert added.status_code == 200 and "New distance" in added.get_data(as_text=True)
    new = db.session.scalar(select(TicketType).where(TicketType.race_id == race.id, TicketType.name == "New distance"))

    signed_in.post(f"/manage/races/{race.id}/tickets/{new.id}/move", data={"csrf_token": t, "direction": "up"},
                   headers=headers)
    order = list(db.session.scalars(select(TicketType.name).where(TicketType.race_id == race.id)
                                    .order_by(TicketType.position)))
    assert order == ["10K", "New distance", "5K"]

    signed_in.post(f"/manage/races/{race.id}/tickets/{new.id}/visibility", data={"csrf_token": t, "hidden": "1"},
                   headers=headers)
    assert fresh(db, TicketType, new.id).hidden is True

    signed_in.post(f"/manage/races/{race.id}/tickets/{new.id}/delete", data={"csrf_token": t}, headers=headers)
    assert fresh(db, TicketType, new.id) is None


def test_a_ticket_type_with_sales_can_be_hidden_but_not_deleted(signed_in, db, race):
    tt = race.ticket_types[0]
    make_order(db, race, tt, 1)
    response = signed_in.post(f"/manage/races/{race.id}/tickets/{tt.id}/delete",
                              data={"csrf_token": token(signed_in, race.id)}, headers={"HX-Request": "true"})
    assert response.status_code == 422 and "Hide it instead" in response.get_data(as_text=True)
    assert fresh(db, TicketType, tt.id) is not None


# --- images -------------------------------------------------------------------------------

def png_bytes(size=(800, 500), color=(200, 80, 40)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "PNG")
    return out.getvalue()


def upload(client, race, data: bytes, filename="photo.png", kind="cover"):
    return client.post(f"/manage/races/{race.id}/media", headers={"HX-Request": "true"},
                       data={"csrf_token": token(client, race.id), "kind": kind,
                             "image": (io.BytesIO(data), filename)}, content_type="multipart/form-data")


def test_cover_upload_is_saved_at_once_and_shown(signed_in, db, race):
    response = upload(signed_in, race, png_bytes())
    assert response.status_code == 200
    media = db.session.scalar(select(RaceMedia).where(RaceMedia.race_id == race.id))
    assert media.kind == MediaKind.COVER and media.content_type == "image/webp"
    assert fresh(db, Race, race.id).cover_image == media.storage_key
    assert f"/media/{media.storage_key}" in response.get_data(as_text=True)


def test_a_text_file_named_like_an_image_is_refused(signed_in, db, race):
    response = upload(signed_in, race, b"just some text, honestly", filename="cover.jpg")
    assert response.status_code == 422
    assert "isn't a JPEG, PNG or WebP image" in response.get_data(as_text=True).replace("&#39;", "'")
    assert db.session.scalar(select(func.count(RaceMedia.id))) == 0


def test_an_oversized_upload_is_413_with_a_message(signed_in, db, race):
    response = upload(signed_in, race, b"\0" * (13 * 1024 * 1024))
    assert response.status_code == 413
    assert "too big" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count(RaceMedia.id))) == 0


# --- publishing -------------------------------------------------------------------------

def test_publish_says_what_is_missing(signed_in, db, organizer):
    bare = race_editing.create_race(db.session, organizer, title="Bare", day=date.today() + timedelta(days=30),
                                    timezone="UTC")
    response = signed_in.post(f"/manage/races/{bare.id}/publish", data={"csrf_token": token(signed_in, bare.id)},
                              headers={"HX-Request": "true"})
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "at least one ticket type on sale" in page and "waiver text" in page and "location" in page
    assert fresh(db, Race, bare.id).status == RaceStatus.DRAFT


def test_publishing_puts_the_race_on_the_public_list(signed_in, client, db, race):
    assert "Lake 10K" not in client.application.test_client().get("/").get_data(as_text=True)
    response = signed_in.post(f"/manage/races/{race.id}/publish", data={"csrf_token": token(signed_in, race.id)})
    assert response.status_code == 303
    assert fresh(db, Race, race.id).status == RaceStatus.PUBLISHED
    assert "Lake 10K" in client.application.test_client().get("/").get_data(as_text=True)


def test_publishing_confirms_with_the_link_a_copy_button_and_share_links(signed_in, db, race):
    response = signed_in.post(f"/manage/races/{race.id}/publish", data={"csrf_token": token(signed_in, race.id)},
                              headers={"HX-Request": "true"})

    page = response.get_data(as_text=True)
    assert response.status_code == 200 and page.lstrip().startswith('<section id="publish"')
    assert "Your race is live" in page
    assert '<a href="http://localhost/races/lake-10k" id="race-link">http://localhost/races/lake-10k</a>' in page
    assert re.search(r'<a href="http://localhost/races/lake-10k" class="copy-link"[^>]*data-copy-link', page)
    shared = "http%3A%2F%2Flocalhost%2Fraces%2Flake-10k"
    for service in ("mailto:?subject=Lake%2010K", "https://wa.me/?text=", "https://www.facebook.com/sharer/sharer.php?u=",
                    "https://twitter.com/intent/tweet?", "https://www.linkedin.com/sharing/share-offsite/?url="):
        assert re.search(rf'href="{re.escape(service)}[^"]*{shared}', page), service
    assert fresh(db, Race, race.id).status == RaceStatus.PUBLISHED


def test_publishing_without_javascript_lands_on_the_confirmation(signed_in, db, race):
    response = signed_in.post(f"/manage/races/{race.id}/publish", data={"csrf_token": token(signed_in, race.id)})

    assert response.status_code == 303
    assert response.headers["Location"] == f"/manage/races/{race.id}?published=1#publish"
    page = signed_in.get(response.headers["Location"]).get_data(as_text=True)
    assert "Your race is live" in page and 'data-copy-link' in page
    assert "Your race is live" not in signed_in.get(f"/manage/races/{race.id}").get_data(as_text=True)


def test_a_published_races_editor_keeps_the_share_links_and_a_drafts_has_none(signed_in, db, race):
    assert "Share your race" not in signed_in.get(f"/manage/races/{race.id}").get_data(as_text=True)
    fresh(db, Race, race.id).status = RaceStatus.PUBLISHED
    db.session.commit()
    page = signed_in.get(f"/manage/races/{race.id}").get_data(as_text=True)
    assert "Share your race" in page and "Your race is live" not in page and "data-copy-link" in page


def test_the_web_address_hint_shows_the_races_own_link_and_follows_a_new_address(signed_in, db, race):
    page = signed_in.get(f"/manage/races/{race.id}").get_data(as_text=True).replace("&#39;", "'")
    assert "Your race's link: http://localhost/races/lake-10k." in page and "/races/…" not in page

    saved = save(signed_in, race, "slug", {"slug": "lake-10k-2031"}).get_data(as_text=True).replace("&#39;", "'")

    assert re.search(r'<small class="hint" id="hint-slug-slug" hx-swap-oob="true">\s*'
                     r"Your race's link: http://localhost/races/lake-10k-2031\.", saved)


def move_buttons(page: str) -> list[str]:
    return re.findall(r">(Move (?:up|down))<span class=\"visually-hidden\"> ([^<]+)</span>", page)


def test_move_buttons_show_only_where_a_ticket_type_can_move(signed_in, db, race):
    page = signed_in.get(f"/manage/races/{race.id}").get_data(as_text=True)
    assert move_buttons(page) == [("Move down", "10K"), ("Move up", "5K")]

    db.session.delete(fresh(db, TicketType, race.ticket_types[1].id))
    db.session.commit()
    assert move_buttons(signed_in.get(f"/manage/races/{race.id}").get_data(as_text=True)) == []


def test_organizer_sees_a_preview_banner_on_a_draft(signed_in, db, race):
    page = signed_in.get("/races/lake-10k")
    assert page.status_code == 200 and "Preview." in page.get_data(as_text=True)


def test_a_race_with_paid_registrations_cannot_be_deleted(signed_in, db, race):
    make_order(db, race, race.ticket_types[0])
    response = signed_in.post(f"/manage/races/{race.id}/delete", data={"csrf_token": token(signed_in, race.id)},
                              headers={"HX-Request": "true"})
    assert response.status_code == 422 and fresh(db, Race, race.id) is not None


# --- who may ------------------------------------------------------------------------------

def organizer_routes(race, tt_id, media_id):
    r = f"/manage/races/{race.id}"
    return [
        ("GET", r, {}), ("POST", f"{r}/fields/title", {"title": "Hacked"}), ("POST", f"{r}/preview", {"description": "x"}),
        ("POST", f"{r}/tickets", {}), ("POST", f"{r}/tickets/{tt_id}", {"name": "Hacked", "price": "1", "capacity": "1"}),
        ("POST", f"{r}/tickets/{tt_id}/move", {"direction": "up"}), ("POST", f"{r}/tickets/{tt_id}/visibility", {"hidden": "1"}),
        ("POST", f"{r}/tickets/{tt_id}/delete", {}), ("POST", f"{r}/media", {"kind": "cover"}),
        ("POST", f"{r}/media/{media_id}/delete", {}), ("POST", f"{r}/publish", {}), ("POST", f"{r}/unpublish", {}),
        ("POST", f"{r}/delete", {}),
    ]


def _snapshot(db, race):
    db.session.expire_all()
    return (fresh(db, Race, race.id).title, fresh(db, Race, race.id).status,
            db.session.scalar(select(func.count(TicketType.id)).where(TicketType.race_id == race.id)),
            db.session.scalar(select(func.count(RaceMedia.id))), db.session.scalar(select(func.count(Order.id))))


@pytest.mark.parametrize("who", ["stranger", "signed out"])
def test_only_organizers_can_open_or_change_anything(app, db, race, who):
    media = RaceMedia(race_id=race.id, kind=MediaKind.GALLERY, storage_key=f"races/{race.id}/x.webp",
                      content_type="image/webp", width=1, height=1, bytes=1)
    db.session.add(media)
    db.session.commit()
    tt_id = race.ticket_types[0].id
    visitor = app.test_client()
    if who == "stranger":
        login(visitor, make_profile(db, email="mallory@example.com"))
    before = _snapshot(db, race)
    t = csrf_token(visitor, "/auth/sign-in" if who == "signed out" else "/")  # the race list gives a visitor none
    for method, path, data in organizer_routes(race, tt_id, media.id):
        response = visitor.open(path, method=method, data={"csrf_token": t, **data})
        if who == "stranger":
            assert response.status_code == 403, path
        else:
            assert response.status_code == 303, path
            assert response.headers["Location"].startswith("/auth/sign-in"), path
    assert _snapshot(db, race) == before


def test_co_organizer_has_the_same_rights(app, db, race):
    helper = make_profile(db, email="co@example.com")
    db.session.add(RaceOrganizer(race_id=race.id, profile_id=helper.id, role=OrganizerRole.CO_ORGANIZER))
    db.session.commit()
    client = app.test_client()
    login(client, helper)
    assert client.get(f"/manage/races/{race.id}").status_code == 200
    assert save(client, race, "title", {"title": "Co-edited"}).status_code == 200


def test_missing_race_is_404_for_organizers(signed_in, db):
    assert signed_in.get("/manage/races/999999").status_code == 404


def test_unpublished_race_and_status_are_listed_on_manage_index(signed_in, db, race):
    page = signed_in.get("/manage/").get_data(as_text=True)
    assert "Lake 10K" in page and "Draft" in page


def test_editor_page_and_fragment(signed_in, db, race):
    page = signed_in.get(f"/manage/races/{race.id}").get_data(as_text=True)
    assert "<html" in page and 'id="form-title"' in page and "10K" in page
    fragment = signed_in.post(f"/manage/races/{race.id}/tickets", data={"csrf_token": token(signed_in, race.id)},
                              headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<html" not in fragment and fragment.lstrip().startswith('<section id="tickets"')





def test_ticket_type_sales_window_is_saved_in_the_race_timezone(signed_in, db, race):
    tt = race.ticket_types[0]  # the race is in America/New_York
    response = save_ticket(signed_in, race, tt, sales_start="2030-03-01T09:00", sales_end="2030-04-01T18:30")
    assert response.status_code == 200
    saved = fresh(db, TicketType, tt.id)
    assert saved.sales_start == datetime(2030, 3, 1, 14, 0, tzinfo=UTC)
    assert saved.sales_end == datetime(2030, 4, 1, 22, 30, tzinfo=UTC)
    editor = signed_in.get(f"/manage/races/{race.id}").get_data(as_text=True)
    assert 'value="2030-03-01T09:00"' in editor


@pytest.mark.parametrize("changes, message", [
    ({"sales_start": "2030-04-01T09:00", "sales_end": "2030-03-01T09:00"}, "end after they start"),
    ({"sales_start": "next tuesday"}, "enter a date and time"),
])
def test_ticket_type_sales_window_bad_values(signed_in, db, race, changes, message):
    tt = race.ticket_types[0]
    response = save_ticket(signed_in, race, tt, **changes)
    assert response.status_code == 422 and message in response.get_data(as_text=True)
    assert fresh(db, TicketType, tt.id).sales_start is None


def test_ticket_type_not_yet_on_sale_says_so_on_the_race_page(signed_in, client, db, race):
    tt = race.ticket_types[0]
    save_ticket(signed_in, race, tt, sales_start="2099-01-01T09:00")
    race_row = fresh(db, Race, race.id)
    race_row.status = RaceStatus.PUBLISHED
    db.session.commit()
    assert "Not on sale" in client.application.test_client().get("/races/lake-10k").get_data(as_text=True)


def test_the_time_zone_menu_is_in_the_pages_language_whichever_was_asked_first(signed_in, race):
    spanish = signed_in.get(f"/manage/races/{race.id}/time-zones?lang=es").get_data(as_text=True)
    english = signed_in.get(f"/manage/races/{race.id}/time-zones?lang=en").get_data(as_text=True)
    assert "hora central (Chicago)" in spanish and "Central Time (Chicago)" not in spanish
    assert "Central Time (Chicago)" in english and "hora central (Chicago)" not in english
