"""Page weight and static delivery: hashed, compressed static files cached for a year; plain names
cached briefly; pages compressed when the client accepts it; the race page within its 30 KB; the
trimmed stylesheets in step with their sources; a cover's smaller copies made at upload and offered
in srcset."""
from __future__ import annotations

import gzip
import hashlib
import io
import re
import sys
from pathlib import Path
from urllib.parse import urlsplit

import brotli
import pytest
from flask import Response, request
from PIL import Image

from blueprints.static_files import SIGNED_IN_STYLESHEETS, STYLESHEETS, build
from config import BASE_DIR
from models import Race
from services.media import COVER_WIDTHS, delete_race_image, save_race_image, variant_key
from services.storage import LocalStorage, storage_for
from tests.factories import login, make_profile, make_race

sys.path.insert(0, str(BASE_DIR / "assets"))
import build_css  # noqa: E402  (assets/ is no package: `make css` runs it as a script)

from bench import weight  # noqa: E402

YEAR = "max-age=31536000"
# "/static/css/race.0123456789ab.css": a hashed name from asset()
HASHED_URL = re.compile(r'(?:href|src)="(/static/[^"]+\.[0-9a-f]{12}\.[a-z]+)"')

DESCRIPTION = """## The course

Two laps of the lake on a closed, flat road: **fast** and friendly, with a water station at the
halfway point of each lap and a band at the finish.

| Time | What |
| --- | --- |
| 7:00 | Packet pick-up opens |
| 7:45 | Warm-up with the local club |
| 8:00 | 10K start |
| 8:15 | 5K start |

- Chip timing, results online the same day.
- Strollers welcome in the 5K.
- Parking at the north lot; the shuttle runs from 6:30.
"""


def photo(size=(2400, 1350)) -> bytes:
    out = io.BytesIO()
    Image.merge("RGB", [Image.linear_gradient("L").resize(size)] * 3).save(out, "JPEG", quality=90)
    return out.getvalue()


@pytest.fixture
def storage(app, tmp_path) -> LocalStorage:
    app.config["MEDIA_ROOT"] = str(tmp_path / "media")
    return storage_for(app)


def page_assets(html: str) -> list[str]:
    return HASHED_URL.findall(html)


# ---------------------------------------------------------------------- static files


def test_a_hashed_static_url_is_cached_for_a_year_and_sent_compressed(client, db):
    make_race(db, slug="lake-10k")
    urls = page_assets(client.get("/races/lake-10k").get_data(as_text=True))
    assert any("/css/race." in u for u in urls) and any("/vendor/htmx-" in u for u in urls)
    for url in urls:
        plain = client.get(url)
        assert plain.status_code == 200
        cache = plain.headers["Cache-Control"]
        assert YEAR in cache and "public" in cache and "immutable" in cache, url
        if not url.endswith((".css", ".js")):
            continue
        assert "Accept-Encoding" in plain.headers["Vary"]
        as_br = client.get(url, headers={"Accept-Encoding": "br, gzip"})
        as_gzip = client.get(url, headers={"Accept-Encoding": "gzip"})
        assert as_br.headers["Content-Encoding"] == "br" and as_gzip.headers["Content-Encoding"] == "gzip"
        assert brotli.decompress(as_br.data) == plain.data == gzip.decompress(as_gzip.data)
        # A file of a few KB (offline.js) shrinks less: Brotli's dictionary has less to work on.
        assert len(as_br.data) < len(plain.data) / (3 if len(plain.data) > 4096 else 2)


def test_the_hash_in_the_name_is_the_files_content(client, db):
    make_race(db, slug="lake-10k")
    for url in page_assets(client.get("/races/lake-10k").get_data(as_text=True)):
        name = urlsplit(url).path.removeprefix("/static/")
        digest = re.search(r"\.([0-9a-f]{12})\.[a-z]+$", name).group(1)
        source = BASE_DIR / "static" / re.sub(r"\.[0-9a-f]{12}(\.[a-z]+)$", r"\1", name)
        assert hashlib.sha256(source.read_bytes()).hexdigest()[:12] == digest


def test_a_plain_or_stale_static_url_is_not_cached_for_good(client):
    plain = client.get("/static/css/race.css", headers={"Accept-Encoding": "gzip"})
    assert plain.status_code == 200 and plain.headers["Content-Encoding"] == "gzip"
    assert "immutable" not in plain.headers["Cache-Control"]
    assert int(re.search(r"max-age=(\d+)", plain.headers["Cache-Control"]).group(1)) <= 3600
    # A name with another file's (or an old) hash is not served from the build, let alone cached.
    stale = client.get("/static/css/race.000000000000.css")
    assert stale.status_code == 404 and "immutable" not in stale.headers.get("Cache-Control", "")


def test_the_build_is_made_once_for_the_same_files(tmp_path):
    source = tmp_path / "static"
    (source / "css").mkdir(parents=True)
    (source / "css" / "a.css").write_text("body { color: red; }\n" * 200)
    first = build(source, tmp_path / "build")
    marker = first.root / "marker"
    marker.write_text("still here")
    again = build(source, tmp_path / "build")
    assert again.root == first.root and marker.exists()
    name = first.names["css/a.css"]
    assert {p.name for p in (first.root / "css").iterdir()} >= {
        "a.css", "a.css.gz", "a.css.br", Path(name).name, Path(name).name + ".br", Path(name).name + ".gz"}
    (source / "css" / "a.css").write_text("body { color: blue; }\n" * 200)
    changed = build(source, tmp_path / "build")
    assert changed.root != first.root and changed.names["css/a.css"] != name


# ---------------------------------------------------------------------- pages


def test_a_page_is_compressed_only_for_a_client_that_accepts_it(client, db):
    make_race(db, slug="lake-10k", description=DESCRIPTION)
    plain = client.get("/races/lake-10k")
    assert "Content-Encoding" not in plain.headers and "Accept-Encoding" in plain.headers["Vary"]
    as_gzip = client.get("/races/lake-10k", headers={"Accept-Encoding": "gzip"})
    as_br = client.get("/races/lake-10k", headers={"Accept-Encoding": "gzip, deflate, br"})
    assert as_gzip.headers["Content-Encoding"] == "gzip" and as_br.headers["Content-Encoding"] == "br"
    for html in (gzip.decompress(as_gzip.data), brotli.decompress(as_br.data)):
        assert b"The course" in html and html.rstrip().endswith(b"</html>")
    assert int(as_gzip.headers["Content-Length"]) == len(as_gzip.data) < len(plain.data) / 2
    refused = client.get("/races/lake-10k", headers={"Accept-Encoding": "gzip;q=0, br;q=0"})
    assert "Content-Encoding" not in refused.headers


def test_a_signed_in_page_asked_with_a_query_string_is_not_compressed_against_breach(app, client, db):
    """Such a page carries the session's CSRF token and may echo the query (a search box): its compressed size
    would let an attacker guess the token. The same page without a query, and anonymous pages, are compressed."""
    organizer = make_profile(db)
    race = make_race(db, slug="lake-10k", description=DESCRIPTION, organizer=organizer)
    login(client, organizer)
    accept = {"Accept-Encoding": "gzip, br"}
    searched = client.get(f"/manage/races/{race.id}/registrants?q=csrf_token", headers=accept)
    assert searched.status_code == 200 and b"csrf" in searched.data
    assert "Content-Encoding" not in searched.headers
    assert client.get(f"/manage/races/{race.id}/registrants", headers=accept).headers["Content-Encoding"] == "br"
    assert app.test_client().get("/?q=lake", headers=accept).headers["Content-Encoding"] == "br"  # anonymous


def test_small_bodies_304s_and_streams_are_left_alone_and_a_strong_etag_turns_weak(app, client):
    big = "<p>" + "lap " * 2000 + "</p>"

    @app.get("/t/etag")
    def etag_page():
        response = Response(big, mimetype="text/html")
        response.set_etag("v1")
        return response.make_conditional(request)

    @app.get("/t/stream")
    def stream_page():
        return Response((big for _ in range(2)), mimetype="text/html")

    tiny = client.get("/healthz", headers={"Accept-Encoding": "gzip"})
    assert tiny.status_code == 200 and "Content-Encoding" not in tiny.headers
    first = client.get("/t/etag", headers={"Accept-Encoding": "gzip"})
    assert first.headers["Content-Encoding"] == "gzip" and first.headers["ETag"] == 'W/"v1"'
    again = client.get("/t/etag", headers={"Accept-Encoding": "gzip", "If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and "Content-Encoding" not in again.headers and again.data == b""
    streamed = client.get("/t/stream", headers={"Accept-Encoding": "gzip"})
    assert "Content-Encoding" not in streamed.headers and streamed.data == (big * 2).encode()


def test_the_race_page_weighs_at_most_30_kb_compressed(client, db, storage):
    race = make_race(db, slug="lake-10k", title="Lakeside Spring 5K & 10K", description=DESCRIPTION,
                     summary="Flat, fast and friendly: a loop of the lake with pancakes at the finish.",
                     tickets=(("10K", 4000, 300), ("5K", 3500, 400), ("Kids 1K", 1000, 100)),
                     social=(("instagram", "https://instagram.com/lakeside"), ("strava", "https://strava.com/clubs/1")))
    save_race_image(db.session, storage, race, photo(), kind="cover")

    def fetch(url, headers):
        response = client.get(urlsplit(url).path, headers=headers)
        assert response.status_code == 200, url
        return response.data, (response.headers.get("Content-Encoding") or "").lower()

    measured = weight.measure("http://localhost/races/lake-10k", fetch=fetch)
    kinds = [r.kind for r in measured.resources]
    assert kinds.count("html") == 1 and kinds.count("css") == 1 and kinds.count("js") == 2  # htmx, offline.js
    assert all(r.compressed_by == "server" for r in measured.resources)
    assert measured.only_allowed_scripts and not measured.other_origin
    assert measured.gzip_total <= weight.BUDGET_BYTES == 30 * 1024, [r.__dict__ for r in measured.resources]


# ---------------------------------------------------------------------- stylesheets


def test_the_stylesheets_are_built_from_the_current_sources():
    for bundle in build_css.BUNDLES:
        first_line = (BASE_DIR / "static" / "css" / f"{bundle}.css").read_text().split("\n", 1)[0]
        assert first_line == build_css.header().strip(), f"static/css/{bundle}.css is stale: run make css"
    served = set(STYLESHEETS.values()) | set(SIGNED_IN_STYLESHEETS.values()) | {"css/site.css"}
    assert served == {f"css/{b}.css" for b in build_css.BUNDLES}


def _classes_in(paths) -> set[str]:
    found = set()
    for path in paths:
        for value in re.findall(r'class="([^"]*)"', path.read_text()):
            value = re.sub(r"\{[{%].*?[%}]\}", " ", value)  # an expression's own classes are safelisted
            found.update(token for token in value.split() if re.fullmatch(r"[A-Za-z][\w-]*", token))
    return found


@pytest.mark.parametrize("bundle", ["race", "race-signed-in", "site", "manage"])
def test_every_class_a_bundles_templates_use_keeps_its_rules(bundle):
    """A class added to a template after the last `make css` would lose its style: this says so."""
    sources = "".join((BASE_DIR / s).read_text() for s in build_css.SOURCES)
    built = (BASE_DIR / "static" / "css" / f"{bundle}.css").read_text()
    templates = [p for pattern in build_css.BUNDLES[bundle] if pattern.endswith(".html")
                 for p in BASE_DIR.glob(pattern)]
    missing = sorted(c for c in _classes_in(templates)
                     if re.search(rf"\.{re.escape(c)}(?![\w-])", sources)
                     and not re.search(rf"\.{re.escape(c)}(?![\w-])", built))
    assert not missing, f"static/css/{bundle}.css lacks {missing}: run make css"


@pytest.mark.parametrize("bundle", ["race"])
def test_what_a_bundle_drops_as_absent_is_in_none_of_its_templates(bundle):
    """A <details> or a time input added to a race page would find no rules in race.css: this says so."""
    markup = "".join(p.read_text() for pattern in build_css.BUNDLES[bundle] if pattern.endswith(".html")
                     for p in BASE_DIR.glob(pattern))
    markup = re.sub(r"\{#.*?#\}", "", markup, flags=re.S)
    for token in build_css._ABSENT[bundle]:
        if token.startswith("["):
            name, value = token.strip("[]").split("=")
            assert not re.search(rf'\b{name}="{value}"', markup), f"{token} is in {bundle}'s templates"
        else:
            assert not re.search(rf"<{token}[\s>]", markup), f"<{token}> is in {bundle}'s templates"


def test_the_account_menu_is_styled_for_a_signed_in_visitor_only(client, db):
    """race.css, the race page's weight, has no rules for the account menu; a signed-in visitor's stylesheet has."""
    race_css = (BASE_DIR / "static" / "css" / "race.css").read_text()
    signed_in_css = (BASE_DIR / "static" / "css" / "race-signed-in.css").read_text()
    assert "details.dropdown" not in race_css and ".account-menu" not in race_css
    assert "details.dropdown" in signed_in_css and ".account-menu" in signed_in_css
    race = make_race(db, slug="lake-10k")
    login(client, make_profile(db))
    page = client.get(f"/races/{race.slug}").get_data(as_text=True)
    assert 'class="dropdown account-menu"' in page and "/static/css/race-signed-in." in page


def test_hover_and_focus_states_survive_the_trimming():
    race_css = (BASE_DIR / "static" / "css" / "race.css").read_text()
    assert ":focus-visible" in race_css and ":hover" in race_css
    assert "[data-theme=dark]" not in race_css.replace(":not([data-theme=dark])", "")


def test_each_area_loads_its_own_stylesheet(client, db):
    make_race(db, slug="lake-10k")
    assert "/static/css/race." in client.get("/").get_data(as_text=True)
    assert "/static/css/race." in client.get("/races/lake-10k").get_data(as_text=True)
    assert "/static/css/site." in client.get("/cart").get_data(as_text=True)


# ---------------------------------------------------------------------- cover images


def test_a_cover_gets_smaller_webp_copies_offered_in_srcset(client, db, storage):
    race = make_race(db, slug="lake-10k")
    media = save_race_image(db.session, storage, race, photo(), kind="cover", filename="cover.jpg")
    db.session.expire_all()
    assert db.session.get(Race, race.id).cover_widths == "480,960,1600,2000"  # the copies', then its own
    for width in COVER_WIDTHS:
        with Image.open(storage.path(variant_key(media.storage_key, width))) as copy:
            assert copy.format == "WEBP" and copy.size == (width, round(1125 * width / 2000))

    page = client.get("/races/lake-10k").get_data(as_text=True)
    hero = re.search(r'<img class="race-cover"[^>]*>', page).group(0)
    assert 'fetchpriority="high"' in hero and 'loading="lazy"' not in hero and "sizes=" in hero
    srcset = re.search(r'srcset="([^"]+)"', hero).group(1)
    candidates = [c.split() for c in srcset.split(", ")]
    assert [w for _, w in candidates] == ["480w", "960w", "1600w", "2000w"]
    assert candidates[-1][0] == f"/media/{media.storage_key}"
    for url, _ in candidates:
        assert client.get(url).status_code == 200
    card = re.search(r'<img class="race-card-cover"[^>]*>', client.get("/").get_data(as_text=True)).group(0)
    assert "srcset=" in card and 'width="640" height="360"' in card


def test_a_small_cover_gets_no_copies_larger_than_itself(db, storage):
    race = make_race(db)
    media = save_race_image(db.session, storage, race, photo((1000, 600)), kind="cover")
    db.session.expire_all()
    assert db.session.get(Race, race.id).cover_widths == "480,960,1000"
    assert not storage.path(variant_key(media.storage_key, 1600)).exists()


def test_a_cover_from_before_the_copies_is_shown_at_its_one_size(client, db, storage):
    race = make_race(db, slug="old-cover")
    media = save_race_image(db.session, storage, race, photo(), kind="cover")
    db.session.get(Race, race.id).cover_widths = ""  # as every cover uploaded before the copies
    db.session.commit()
    hero = re.search(r'<img class="race-cover"[^>]*>', client.get("/races/old-cover").get_data(as_text=True)).group(0)
    assert "srcset" not in hero and f'src="/media/{media.storage_key}"' in hero


def test_replacing_or_deleting_a_cover_removes_its_copies(db, storage):
    race = make_race(db)
    first = save_race_image(db.session, storage, race, photo(), kind="cover")
    second = save_race_image(db.session, storage, race, photo(), kind="cover")
    assert not any(storage.path(variant_key(first.storage_key, w)).exists() for w in COVER_WIDTHS)
    assert all(storage.path(variant_key(second.storage_key, w)).exists() for w in COVER_WIDTHS)
    delete_race_image(db.session, storage, second)
    assert [p for p in storage.root.rglob("*") if p.is_file()] == []
    db.session.expire_all()
    assert db.session.get(Race, race.id).cover_widths == ""


def test_when_the_database_write_fails_the_copies_are_deleted_too(db, storage, monkeypatch):
    race = make_race(db)

    def refuse():
        raise RuntimeError("database down")

    monkeypatch.setattr(db.session, "commit", refuse)
    with pytest.raises(RuntimeError):
        save_race_image(db.session, storage, race, photo(), kind="cover")
    assert [p for p in storage.root.rglob("*") if p.is_file()] == []
