"""One race's public page, its fragment, its calendar file, and what must stay hidden."""
import html
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import pytest
from icalendar import Calendar

from models import RaceStatus
from tests.factories import make_order, make_race


def test_race_page_shows_time_in_the_race_timezone_and_prices_in_its_currency(client, db):
    make_race(db, slug="lima-half", title="Lima Half", timezone="America/Lima", currency="PEN",
              starts_at=datetime(2030, 5, 4, 11, 30, tzinfo=UTC),
              registration_closes_at=datetime(2030, 5, 3, 4, 59, tzinfo=UTC),
              tickets=[("21K", 15050, 50)], location_name="Costa Verde", address="Miraflores, Lima")

    response = client.get("/races/lima-half")

    page = response.get_data(as_text=True)
    assert response.status_code == 200
    # 11:30 UTC is 6:30 in Lima, whose zone has no letters in its abbreviation ("-05"): it is named.
    assert "Sat 4 May 2030, 6:30 AM Peru Standard Time" in page
    assert "Sign-up closes</dt>\n          <dd>Thu 2 May 2030, 11:59 PM Peru Standard Time</dd>" in page
    assert "-05<" not in page and " -05 " not in page
    assert "PEN\u00a0150.50" in page
    assert "50 spots left" in page
    assert "openstreetmap.org/search?query=Costa+Verde%2C+Miraflores%2C+Lima" in page


def test_sold_out_ticket_type_is_marked(client, db):
    race = make_race(db, slug="full", tickets=[("5K", 1000, 1), ("10K", 2000, 5)])
    make_order(db, race, race.ticket_types[0])
    page = client.get("/races/full").get_data(as_text=True)
    assert page.count("Sold out") == 1
    assert "5 spots left" in page


@pytest.mark.parametrize("race_kw, notice", [
    ({"registration_closes_at": datetime.now(UTC) - timedelta(hours=1)}, "Sign-up for this race is closed."),
    ({"starts_at": datetime.now(UTC) - timedelta(days=1)}, "This race has already taken place."),
])
def test_a_race_not_open_for_sign_up_says_why_in_the_words_the_cart_uses(client, db, race_kw, notice):
    make_race(db, slug="over", tickets=[("10K", 4500, 10)], **race_kw)
    page = html.unescape(client.get("/races/over").get_data(as_text=True))
    assert notice in page and "Add to cart" not in page


def test_share_preview_meta_tags(client, db):
    make_race(db, slug="share-me", title="Share Me 5K", summary="Run by the sea")
    page = client.get("/races/share-me").get_data(as_text=True)
    assert '<meta property="og:title" content="Share Me 5K">' in page
    assert '<meta property="og:url" content="http://localhost/races/share-me">' in page
    assert 'name="twitter:card" content="summary_large_image"' in page
    assert 'property="og:image"' in page


def test_organizer_social_links_are_shown(client, db):
    make_race(db, slug="social", social=[("instagram", "https://instagram.com/myrace")])
    page = client.get("/races/social").get_data(as_text=True)
    assert 'href="https://instagram.com/myrace"' in page
    assert ">Instagram<" in page


def test_site_footer_has_configured_social_links(client, db):
    page = client.get("/").get_data(as_text=True)
    assert 'href="https://www.strava.com/clubs/startline"' in page


def test_markdown_description_is_rendered_and_sanitized(client, db):
    make_race(db, slug="xss", description=(
        "## Course\n\n**Flat** and fast.\n\n"
        "<script>alert('x')</script>\n\n"
        "<img src=x onerror=alert(1)>\n\n"
        "[click](javascript:alert(1)) [site](https://example.com)\n\n"
        '<a href="https://e.com" onclick="alert(1)">raw</a>'))

    page = client.get("/races/xss").get_data(as_text=True)

    assert "<h2>Course</h2>" in page
    assert "<strong>Flat</strong>" in page
    elements = _elements(page)
    assert not [tag for tag, _ in elements if tag in ("script", "img", "iframe")]
    assert not [(tag, name) for tag, attrs in elements for name, _ in attrs if name.startswith("on")]
    assert not [value for _, attrs in elements for name, value in attrs
                if name == "href" and value.lower().startswith("javascript")]
    assert 'href="https://example.com" rel="nofollow noopener noreferrer"' in page


def _elements(page: str) -> list[tuple[str, list]]:
    """Every element inside the description, as the browser's parser would see them."""
    prose = page.split('class="prose')[1].split("</section>")[0]
    found = []

    class Collector(HTMLParser):
        def handle_starttag(self, tag, attrs):
            found.append((tag, attrs))

    Collector().feed("<section " + prose)
    return found


def test_unknown_race_is_a_friendly_404(client, htmx_client, db):
    response = client.get("/races/no-such-race")
    assert response.status_code == 404
    page = response.get_data(as_text=True)
    assert "find that page" in page and "no race at this address" in page and "<html" in page

    fragment = htmx_client.get("/races/no-such-race")
    assert fragment.status_code == 404
    assert "<html" not in fragment.get_data(as_text=True)
    assert "find that page" in fragment.get_data(as_text=True)


def test_odd_slugs_are_404_not_500(client, db):
    for slug in ["UPPER", "a%00b", "x" * 500, "%F0%9F%8F%83", "semi;colon"]:
        assert client.get(f"/races/{slug}").status_code == 404


def test_draft_race_is_hidden_from_the_public(client, db):
    make_race(db, slug="draft-race", status=RaceStatus.DRAFT)
    assert client.get("/races/draft-race").status_code == 404
    assert client.get("/races/draft-race.ics").status_code == 404


def test_race_page_fragment(htmx_client, db):
    make_race(db, slug="frag", title="Fragment Run")
    body = htmx_client.get("/races/frag").get_data(as_text=True)
    assert "<html" not in body
    assert "Fragment Run" in body


def test_ics_file_parses_back_with_the_race_details(client, db):
    make_race(db, slug="cal", title="Calendar Run", starts_at=datetime(2031, 3, 1, 14, 0, tzinfo=UTC),
              location_name="Boathouse", address="1 Lake Rd")

    response = client.get("/races/cal.ics")

    assert response.status_code == 200
    assert response.mimetype == "text/calendar"
    assert 'filename="cal.ics"' in response.headers["Content-Disposition"]
    event = Calendar.from_ical(response.data).walk("VEVENT")[0]
    assert str(event["SUMMARY"]) == "Calendar Run"
    assert event.decoded("DTSTART") == datetime(2031, 3, 1, 14, 0, tzinfo=UTC)
    assert event.decoded("DTEND") > event.decoded("DTSTART")
    assert str(event["LOCATION"]) == "Boathouse, 1 Lake Rd"
    assert str(event["URL"]) == "http://localhost/races/cal"
    assert str(event["UID"]).startswith("race-")
