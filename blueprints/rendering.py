"""The one render helper (full page or htmx fragment) and the template filters."""
from __future__ import annotations

from datetime import date, datetime
from functools import lru_cache
from urllib.parse import quote_plus
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime, get_timezone_gmt, get_timezone_location, get_timezone_name
from babel.numbers import format_decimal
from flask import Flask, Response, current_app, jsonify, make_response, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from jinja2_fragments.flask import render_block

from blueprints.runner_fields import field_state, runner_field
from services.languages import DEFAULT_LANGUAGE
from services.links import public_url
from services.markdown import render_markdown
from services.media import cover_srcset, media_url
from services.money import format_money
from services.runners import gender_label
from services.stored_sentences import worded


def formatting_locale():
    """The locale dates, times and numbers are written in: this page's language (or an email's)."""
    return get_locale() or DEFAULT_LANGUAGE


def is_htmx_request() -> bool:
    """True for any request htmx made, boosted links and history restores included."""
    return request.headers.get("HX-Request") == "true"


def is_fragment_request() -> bool:
    """True for an htmx request that wants a piece of a page rather than a whole one."""
    headers = request.headers
    return (is_htmx_request()
            and headers.get("HX-Boosted") != "true"
            and headers.get("HX-History-Restore-Request") != "true")


def page_url(endpoint: str, **values) -> str:
    """url_for(endpoint, **values) for a named endpoint: the same path for every request to an app mounted at the
    same place (no URL defaults are injected), so built once for each. A cart page asks eight, each a route
    table build (issue 17)."""
    if current_app.url_default_functions:  # values injected per request (none today): each built as url_for builds it
        return url_for(endpoint, **values)
    return _page_url(current_app.url_map, request.script_root, endpoint, tuple(values.items()))


@lru_cache(maxsize=4096)
def _page_url(_routes, _mounted_at: str, endpoint: str, values: tuple) -> str:
    return url_for(endpoint, **dict(values))


def wants_json() -> bool:
    """A page's script asking (it sends JSON, or accepts JSON first), not a person: errors answer in JSON."""
    return request.is_json or request.accept_mimetypes.best == "application/json"


def render_error_json(message: str, status: int) -> Response:
    response = jsonify({"error": message})
    response.status_code = status
    return response


def render(template: str, block: str = "content", status: int = 200, **ctx) -> Response:
    """Full page, or just `block` for an htmx request that wants a fragment (or an error page's words as JSON,
    for a page's script)."""
    if template == "errors.html" and wants_json():
        return render_error_json(str(ctx["detail"]), status)
    if is_fragment_request():
        body = render_block(template, block, **ctx)
    else:
        body = render_template(template, **ctx)
    response = make_response(body, status)
    response.vary.add("HX-Request")
    return response


def local_time(value: datetime | None, tz: str, pattern: str = "EEE d MMM y, h:mm a") -> str:
    """A UTC datetime's date (or parts of it) in a race's own timezone, e.g. "Sat 14 Mar 2026".

    For a time of day, use `race_time`: it names the zone.
    """
    if value is None:
        return ""
    return format_datetime(value, pattern, tzinfo=ZoneInfo(tz), locale=formatting_locale())


def local_day(value: datetime | None, tz: str, pattern: str = "d MMM y") -> str:
    """`local_time` for a pattern with no time of day: the same text, formatted once per day and pattern
    (a list of 50 sign-up dates formats each day once, not each row)."""
    if value is None:
        return ""
    return _day_text(value.astimezone(ZoneInfo(tz)).date(), pattern, str(formatting_locale()))


def local_day_writer(tz: str, pattern: str = "d MMM y"):
    """`local_day` for many values in one zone and pattern on one page: the zone and the language found once."""
    zone, locale = ZoneInfo(tz), str(formatting_locale())
    return lambda value: "" if value is None else _day_text(value.astimezone(zone).date(), pattern, locale)


@lru_cache(maxsize=4096)
def _day_text(day: date, pattern: str, locale: str) -> str:
    return format_date(day, pattern, locale=locale)


def local_minute(value: datetime | None, tz: str, pattern: str) -> str:
    """`local_time` for a pattern with neither seconds nor a zone ("h:mm a"): the same text, formatted once per
    local minute and pattern (a list's 50 check-in times are mostly ones an earlier page load formatted)."""
    if value is None:
        return ""
    local = value.astimezone(ZoneInfo(tz)).replace(second=0, microsecond=0, tzinfo=None)
    return _minute_text(local, pattern, str(formatting_locale()))


@lru_cache(maxsize=4096)
def _minute_text(local: datetime, pattern: str, locale: str) -> str:
    return format_datetime(local, pattern, locale=locale)  # a naive time is written as it is (as UTC)


def race_time(value: datetime | None, tz: str, compact: bool = False) -> str:
    """A moment in the race's zone, with its date and the zone's name: "Sat 14 Mar 2026, 8:00 AM EDT",
    or for a list's time stamps (`compact`) "14 Mar, 8:00 AM EDT".

    Always with the date: a time alone ("until 10:36 PM") is ambiguous near midnight, for someone in
    another zone, and in an email read the next day.
    """
    if value is None:
        return ""
    # The patterns are the catalog's to adapt (Spanish writes the hour 0–23): Unicode date field symbols.
    pattern = _("d MMM, h:mm a") if compact else _("EEE d MMM y, h:mm a")
    return f"{local_time(value, tz, pattern)} {zone_name(value, tz)}"


def zone_name(value: datetime, tz: str) -> str:
    """The zone's name at that moment, as people write it: "EDT", "GMT", "CST".

    Many zones have no letters in their short name ("-05" in Lima, "+0530" in Kolkata): those get
    their long name ("Peru Standard Time"), or the country's time ("India Time") when even that is
    an offset, or the city's ("Coyhaique time") for a zone too new to have a name. Only the Etc/
    zones, which are nothing but an offset, are shown as one ("GMT-05:00").
    """
    local = value.astimezone(ZoneInfo(tz))
    short = get_timezone_name(local, "short", locale=formatting_locale())
    if short.isalpha():
        return short
    for name in (get_timezone_name(local, "long", locale=formatting_locale()),
                 get_timezone_name(local.tzinfo, "long", zone_variant="generic", locale=formatting_locale())):
        if not any(char.isdigit() for char in name) and not name.startswith("Unknown Region"):
            return name
    if "/" in tz and not tz.startswith("Etc/"):
        return _("%(city)s time", city=get_timezone_location(local.tzinfo, locale=formatting_locale(), return_city=True))
    return get_timezone_gmt(local, locale=formatting_locale())


def day_month(value: date) -> str:
    """A day as a short "31 Jan" (a price step's last day; the year is the race's)."""
    return format_date(value, "d MMM", locale=formatting_locale())


def zone_label(tz: str) -> str:
    """A zone's name for a page about times all year round: "Eastern Time (New York)", "Peru Time (Lima)"."""
    zone = ZoneInfo(tz)
    name = get_timezone_name(zone, "long", zone_variant="generic", locale=formatting_locale())
    if name.startswith("Unknown Region"):  # UTC and the Etc/ zones have no region
        return tz
    city = get_timezone_location(zone, locale=formatting_locale(), return_city=True)
    return name if city in name else f"{name} ({city})"



def number(value: int) -> str:
    """A count as this page's language writes it: "1,250" in English, "1250" or "12.500" in Spanish."""
    return format_decimal(value, locale=formatting_locale())


def map_url(*parts: str) -> str:
    query = ", ".join(p for p in parts if p)
    return f"https://www.openstreetmap.org/search?query={quote_plus(query)}"


def register_template_helpers(app: Flask) -> None:
    app.jinja_env.filters["money"] = format_money
    app.jinja_env.filters["markdown"] = render_markdown
    app.jinja_env.filters["local_time"] = local_time
    app.jinja_env.filters["local_day"] = local_day
    app.jinja_env.filters["race_time"] = race_time
    app.jinja_env.filters["zone_name"] = zone_name
    app.jinja_env.filters["day_month"] = day_month
    app.jinja_env.filters["number"] = number
    app.jinja_env.filters["worded"] = worded  # a sentence a row keeps, in the reader's language
    app.jinja_env.globals["zone_label"] = zone_label
    app.jinja_env.globals["page_url"] = page_url
    app.jinja_env.globals["map_url"] = map_url
    app.jinja_env.globals["media_url"] = media_url
    app.jinja_env.globals["cover_srcset"] = cover_srcset
    app.jinja_env.globals["public_url"] = public_url
    app.jinja_env.globals["runner_field"] = runner_field  # the runner form's fields (cart/_fields.html)
    app.jinja_env.globals["field_state"] = field_state
    app.jinja_env.globals["gender_label"] = gender_label  # a stored gender, worded in the reader's language


def redirect_to(url: str, status: int = 303) -> Response:
    """A redirect that also works for htmx requests (which would otherwise swap the target page in)."""
    if is_fragment_request():
        response = make_response("", 200)
        response.headers["HX-Redirect"] = url
        return response
    return redirect(url, status)
