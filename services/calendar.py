"""iCalendar (.ics) files for a race, so runners can add it to their calendar."""
from __future__ import annotations

from datetime import timedelta

from flask import current_app
from icalendar import Calendar, Event, vText

from models import Race
from models.base import utcnow
from services.links import public_host, public_url

# Races have a start time only; calendars need an end, so we block out a morning.
EVENT_LENGTH = timedelta(hours=3)


def race_calendar(race: Race, race_url: str, site_name: str, domain: str) -> bytes:
    """One event for the race, linking to `race_url`; its UID is stable so a second import updates it."""
    cal = Calendar()
    cal.add("prodid", f"-//{site_name}//Race calendar//EN")
    cal.add("version", "2.0")
    cal.add("method", "PUBLISH")
    event = Event()
    event.add("uid", f"race-{race.id}@{domain}")
    event.add("dtstamp", utcnow())
    event.add("dtstart", race.starts_at)
    event.add("dtend", race.starts_at + EVENT_LENGTH)
    # The texts are the organizer's, in the race's language: calendars that read LANGUAGE (RFC 5545) know it.
    language = {"LANGUAGE": race.language or "en"}
    event.add("summary", race.title, parameters=language)
    event.add("description", "\n\n".join(p for p in (race.summary, race_url) if p), parameters=language)
    location = ", ".join(p for p in (race.location_name, race.address) if p)
    if location:
        event["location"] = vText(location)
    event.add("url", race_url)
    cal.add_component(event)
    return cal.to_ical()


def site_race_calendar(race: Race) -> bytes:
    """The race's calendar file as this site publishes it: its public race page, name and domain."""
    return race_calendar(race, public_url("races.race_page", slug=race.slug), current_app.config["SITE_NAME"],
                         public_host())
