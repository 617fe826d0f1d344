"""The one render helper (full page or htmx fragment) and the template filters."""
from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path
from urllib.parse import quote_plus
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from flask import Flask, Response, make_response, redirect, render_template, request, url_for
from jinja2_fragments.flask import render_block

from services.links import public_url
from services.markdown import render_markdown
from services.media import media_url
from services.money import format_money


def is_htmx_request() -> bool:
    """True for any request htmx made, boosted links and history restores included."""
    return request.headers.get("HX-Request") == "true"


def is_fragment_request() -> bool:
    """True for an htmx request that wants a piece of a page rather than a whole one."""
    headers = request.headers
    return (is_htmx_request()
            and headers.get("HX-Boosted") != "true"
            and headers.get("HX-History-Restore-Request") != "true")


def render(template: str, block: str = "content", status: int = 200, **ctx) -> Response:
    """Full page, or just `block` for an htmx request that wants a fragment."""
    if is_fragment_request():
        body = render_block(template, block, **ctx)
    else:
        body = render_template(template, **ctx)
    response = make_response(body, status)
    response.vary.add("HX-Request")
    return response


def local_time(value: datetime | None, tz: str, pattern: str = "EEE d MMM y, h:mm a") -> str:
    """A UTC datetime shown in a race's own timezone, e.g. "Sat 14 Mar 2026, 8:00 AM"."""
    if value is None:
        return ""
    return format_datetime(value, pattern, tzinfo=ZoneInfo(tz), locale="en")


def tz_abbreviation(value: datetime, tz: str) -> str:
    return value.astimezone(ZoneInfo(tz)).tzname() or tz


def map_url(*parts: str) -> str:
    query = ", ".join(p for p in parts if p)
    return f"https://www.openstreetmap.org/search?query={quote_plus(query)}"


def register_template_helpers(app: Flask) -> None:
    app.jinja_env.filters["money"] = format_money
    app.jinja_env.filters["markdown"] = render_markdown
    app.jinja_env.filters["local_time"] = local_time
    app.jinja_env.filters["tz_abbreviation"] = tz_abbreviation
    app.jinja_env.globals["map_url"] = map_url
    app.jinja_env.globals["media_url"] = media_url
    app.jinja_env.globals["public_url"] = public_url
    register_asset_helper(app)


def register_asset_helper(app: Flask) -> None:
    """`asset("css/app.css")`: a static URL with a content hash, so it can be cached for a year."""
    hashes: dict[str, str] = {}

    def asset(filename: str) -> str:
        if filename not in hashes or app.debug:
            path = Path(app.static_folder) / filename
            hashes[filename] = hashlib.sha256(path.read_bytes()).hexdigest()[:10]
        return url_for("static", filename=filename, v=hashes[filename])

    app.jinja_env.globals["asset"] = asset


def redirect_to(url: str, status: int = 303) -> Response:
    """A redirect that also works for htmx requests (which would otherwise swap the target page in)."""
    if is_fragment_request():
        response = make_response("", 200)
        response.headers["HX-Redirect"] = url
        return response
    return redirect(url, status)
