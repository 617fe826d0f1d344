"""The page's language: how it is chosen, the header's switcher that changes it, what the page says about it
(<html lang>, hreflang alternates, the manifest), share previews in the race's own language, and the anonymous
pages' cache keeping one copy per language."""
from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from flask import abort
from sqlalchemy import select

from models import Profile, RaceText
from services import clock
from services.markdown import render_markdown
from tests.factories import login, make_profile, make_race
from tests.http import csrf_token

SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin"}


@pytest.fixture
def race(db):
    clock.freeze(clock.now().replace(microsecond=0))
    return make_race(db, slug="lake", title="Lake 10K", tickets=(("10K", 4000, 20), ("5K", 2500, 50)))


@pytest.fixture
def carrera(db):
    """A race its organizer writes in Spanish."""
    return make_race(db, slug="lima", title="Maratón de Lima", language="es", timezone="America/Lima",
                     location_name="Lima", summary="42K junto al mar.")


def html_lang(response) -> str:
    match = re.search(r'<html lang="([^"]*)"', response.get_data(as_text=True))
    assert match, response.get_data(as_text=True)[:300]
    return match.group(1)


def meta(response, prop: str) -> str:
    match = re.search(rf'<meta property="{re.escape(prop)}" content="([^"]*)">', response.get_data(as_text=True))
    assert match, prop
    return match.group(1)


# --- which language ------------------------------------------------------------------------------------

@pytest.mark.parametrize("path, query, cookie, profile, accept, expected", [
    ("/races/lima", "?lang=en", "es", "es", "es", "en"),     # ?lang= beats everything
    ("/races/lima", "?lang=es", "en", "en", "en", "es"),
    ("/races/lima", "", "en", "es", "es", "en"),             # the cookie beats the profile
    ("/races/lima", "", "es", "en", "en", "es"),
    ("/races/lake", "", None, "es", "en", "es"),             # the profile beats Accept-Language
    ("/races/lima", "", None, None, "en", "en"),             # Accept-Language beats the race's own language
    ("/races/lima", "", None, None, "fr, de;q=0.8", "es"),   # none of ours: the race's language on its page
    ("/", "", None, None, "fr", "en"),                       # …and English elsewhere
    ("/races/lake", "", None, None, None, "en"),             # nothing at all: English
    ("/", "", None, None, "es-MX", "es"),                    # a regional variant is its language
    ("/", "?lang=es-MX", None, None, None, "es"),
    ("/", "?lang=ES", None, None, None, "es"),
    ("/", "?lang=xx", "zz", None, "tlh", "en"),              # unknown codes count for nothing
    ("/races/lima", "?lang=xx", None, None, None, "es"),
])
def test_the_language_is_the_first_that_applies(client, db, race, carrera, path, query, cookie, profile, accept,
                                                expected):
    if profile:
        login(client, make_profile(db, language=profile))
    if cookie:
        client.set_cookie("sl_lang", cookie)
    response = client.get(path + query, headers={"Accept-Language": accept} if accept else {})
    assert response.status_code == 200
    assert html_lang(response) == expected


def test_a_spanish_page_is_in_spanish_and_an_english_one_reads_as_before(client, race):
    spanish = client.get("/races/lake?lang=es").get_data(as_text=True)
    for words in ("Agregar al carrito", "Quedan 20 plazas", "Salida", "Iniciar sesión", "Carrito", "Carreras",
                  "inscripciones a carreras sin complicaciones"):
        assert words in spanish, words
    english = client.get("/races/lake").get_data(as_text=True)
    for words in ("Add to cart", "20 spots left", "<dt>Start</dt>", ">Sign in<", "race sign-up without the fuss"):
        assert words in english and words not in spanish, words
    listed = client.get("/", headers={"Accept-Language": "es"}).get_data(as_text=True)
    assert "Encuentra tu próxima carrera" in listed and "Cualquier mes" in listed and "Desde <strong>" in listed


def test_one_spot_left_is_singular_in_both_languages(client, db):
    make_race(db, slug="tiny", tickets=(("5K", 2500, 1),))
    assert "1 spot left" in client.get("/races/tiny").get_data(as_text=True)
    assert "Queda 1 plaza" in client.get("/races/tiny?lang=es").get_data(as_text=True)


def test_the_error_pages_follow_the_language(client, db):
    page = client.get("/races/no-such-race", headers={"Accept-Language": "es"})
    assert page.status_code == 404 and html_lang(page) == "es"
    assert "No hay ninguna carrera en esta dirección" in page.get_data(as_text=True)


def test_a_refused_form_is_in_the_signed_in_person_s_language(client, db, race):
    """Flask-WTF's CSRF check runs before anyone is known: the refusal learns who asks, and reads their profile."""
    login(client, make_profile(db, language="es"))
    response = client.post("/auth/sign-out", data={})
    assert response.status_code == 400 and html_lang(response) == "es"
    assert "Este formulario ha caducado" in response.get_data(as_text=True)


def test_a_refusal_ahead_of_every_hook_is_in_the_signed_in_person_s_language(app, client, db, race):
    """The rate limiter's app-wide limits are checked before anyone is known, as Flask-WTF's check is."""
    login(client, make_profile(db, language="es"))
    app.before_request_funcs[None].insert(0, lambda: abort(429))
    response = client.get("/races/lake")
    assert response.status_code == 429 and html_lang(response) == "es"
    assert "Ve un poco más despacio" in response.get_data(as_text=True)


def test_a_rate_limited_page_is_in_the_signed_in_person_s_language(app, client, db, race):
    app.config["AUTH_RATE_LIMIT"] = "1 per minute"
    login(client, make_profile(db, language="es"))
    token = csrf_token(client, "/races/lake")
    data = {"csrf_token": token, "email": "x@example.com", "password": "wrong pass"}
    statuses = [client.post("/auth/sign-in", data=data).status_code for _ in range(2)]
    blocked = client.post("/auth/sign-in", data=data)
    assert statuses[-1] == blocked.status_code == 429 and html_lang(blocked) == "es"
    assert "Ve un poco más despacio" in blocked.get_data(as_text=True)


# --- the switcher --------------------------------------------------------------------------------------

def switch(client, lang="es", next_url="/races/lake", headers=SAME_ORIGIN, **data):
    return client.post("/language", data={"lang": lang, "next": next_url, **data}, headers=headers)


def test_the_header_offers_the_other_language_in_its_own_name(client, race):
    page = client.get("/races/lake").get_data(as_text=True)
    form = re.search(r'<form method="post" action="/language"[^>]*>.*?</form>', page, re.S).group(0)
    assert 'name="next" value="/races/lake"' in form and "csrf_token" not in form  # a cookieless page
    assert 'value="es" lang="es"' in form and "Español" in form and 'value="en"' not in form
    spanish = client.get("/races/lake?lang=es&add=1:1").get_data(as_text=True)
    assert 'value="en" lang="en"' in spanish and "English" in spanish
    assert 'name="next" value="/races/lake?add=1:1"' in spanish  # this page again, without its ?lang=


def test_switching_keeps_the_language_in_a_cookie_for_a_year_and_comes_back(client, race):
    response = switch(client)
    assert response.status_code == 303 and response.headers["Location"] == "/races/lake"
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("sl_lang=es;") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Max-Age=31536000" in cookie
    assert html_lang(client.get("/races/lake")) == "es"
    switch(client, "en")
    assert html_lang(client.get("/races/lake", headers={"Accept-Language": "es"})) == "en"


@pytest.mark.parametrize("next_url", ["https://evil.example/", "//evil.example/x", "/\\evil.example", "", "javascript:alert(1)"])
def test_the_switcher_goes_back_only_to_a_page_of_ours(client, db, next_url):
    response = switch(client, next_url=next_url)
    assert response.status_code == 303 and response.headers["Location"] == "/"


def test_a_signed_in_person_keeps_the_language_on_their_profile(client, db, race):
    profile = make_profile(db)
    login(client, profile)
    token = csrf_token(client, "/races/lake")
    assert switch(client, headers={}, csrf_token=token).status_code == 303
    db.session.expire_all()
    assert db.session.scalar(select(Profile.language).where(Profile.id == profile.id)) == "es"
    client.delete_cookie("sl_lang")  # another device: the profile still says Spanish
    assert html_lang(client.get("/races/lake")) == "es"


def test_a_signed_in_switch_without_its_token_or_the_browsers_word_is_refused(client, db, race):
    profile = make_profile(db)
    login(client, profile)
    assert switch(client, headers={}).status_code == 400
    db.session.expire_all()
    assert db.session.scalar(select(Profile.language).where(Profile.id == profile.id)) is None


def test_an_unknown_language_is_a_400_page(client, db):
    response = switch(client, lang="xx")
    assert response.status_code == 400 and "Set-Cookie" not in response.headers
    assert "We don&#39;t have that language" in response.get_data(as_text=True)


@pytest.mark.parametrize("data", [
    {"next": "/races/lake"},  # no lang at all
    {"lang": "", "next": "/races/lake"},
    {"lang": "e" * 100_000, "next": "/races/lake"},
    {"lang": ["es", "en"], "next": "/races/lake"},
    {"lang": ["xx", "es"], "next": "/races/lake"},
    {"lang": "español", "next": "/races/lake"},
    {"lang": "日本語", "next": "/races/lake"},
    {"lang": "es\x00", "next": "/races/lake"},
    {"lang": "es", "next": "https://evil.example"},
    {"lang": "es", "next": "//evil.example"},
    {"lang": "es", "next": "/\\evil.example"},
    {"lang": "es", "next": "/\\/evil.example"},
    {"lang": "es", "next": "/races\\lake"},
    {"lang": "es", "next": "/" + "x" * 100_000},
    {"lang": "es", "next": ["//evil.example", "/races/lake"]},
    {"lang": "es", "next": "/races/ñandú?x=ü"},
    {"lang": "es", "next": "/\t/evil.example"},
    {"lang": "es", "next": "https:/evil.example"},
], ids=lambda data: repr(data)[:60])
def test_bad_switcher_input_is_a_400_or_a_way_back_to_a_page_of_ours_never_a_500(client, race, data):
    response = client.post("/language", data=data, headers=SAME_ORIGIN)

    assert response.status_code in (303, 400)
    if response.status_code == 303:
        location = response.headers["Location"]
        parts = urlsplit(location)
        assert location.startswith("/") and not location.startswith("//") and "\\" not in location
        assert not parts.scheme and not parts.netloc and "evil" not in location
    else:
        assert "Set-Cookie" not in response.headers and "We don&#39;t have that language" in response.get_data(as_text=True)


@pytest.mark.parametrize("path, status", [("/", 200), ("/races/lake", 200), ("/races/no-such-race", 404)])
@pytest.mark.parametrize("query", ["lang=" + "e" * 100_000, "lang=es&lang=en", "lang=xx&lang=es", "lang=%00",
                                   "lang=%ff%fe", "lang=%C3%B1", "lang=%E2%80%AE", "lang=es%0d%0aX-Evil:%201",
                                   "lang=", "lang", "lang=es&next=//evil.example"],
                         ids=lambda query: query[:30])
def test_an_odd_lang_on_the_address_is_a_page_never_a_500(client, race, path, status, query):
    response = client.get(f"{path}?{query}")
    assert response.status_code == status
    assert "evil" not in response.headers.get("Location", "") and "X-Evil" not in response.headers


@pytest.mark.parametrize("headers", [{"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"},
                                     {"Sec-Fetch-Site": "same-site", "Origin": "https://shop.localhost"}])
def test_a_cross_site_switch_is_refused_as_the_other_cookieless_forms(client, db, headers):
    response = switch(client, headers=headers)
    assert response.status_code == 403 and "Set-Cookie" not in response.headers
    assert "This form was sent from another site" in response.get_data(as_text=True)


# --- what the page says about its language ---------------------------------------------------------------

def test_every_page_names_its_alternates_in_each_language_and_a_default(client, race):
    page = client.get("/races/lake?lang=es", headers={"Accept-Language": "en"}).get_data(as_text=True)
    alternates = re.findall(r'<link rel="alternate" hreflang="([^"]+)" href="([^"]+)">', page)
    assert alternates == [("en", "http://localhost/races/lake?lang=en"), ("es", "http://localhost/races/lake?lang=es"),
                          ("x-default", "http://localhost/races/lake")]
    listed = client.get("/?q=lake&lang=en").get_data(as_text=True)
    assert '<link rel="alternate" hreflang="x-default" href="http://localhost/?q=lake">' in listed
    assert '<link rel="alternate" hreflang="es" href="http://localhost/?q=lake&amp;lang=es">' in listed


def test_a_forged_host_never_reaches_the_shared_pages_alternates(client, race):
    """The anonymous race page is cached for everyone: its links are at SITE_URL, whatever Host a request says."""
    forged = client.get("/races/lake", headers={"Host": "evil.example"}).get_data(as_text=True)
    honest = client.get("/races/lake").get_data(as_text=True)
    for page in (forged, honest):
        assert "evil.example" not in page
        assert '<link rel="alternate" hreflang="es" href="http://localhost/races/lake?lang=es">' in page


@pytest.mark.parametrize("query", ["slug=other", "endpoint=1", "_external=1", "_method=POST", "values=x",
                                   "lang=es&lang=en&slug=x&_anchor=y"])
def test_query_arguments_that_clash_with_the_route_are_left_out_of_the_links_never_a_500(client, race, query):
    response = client.get(f"/races/lake?{query}")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    alternates = re.findall(r'<link rel="alternate" hreflang="([^"]+)" href="([^"]+)">', page)
    assert [href for _code, href in alternates] == ["http://localhost/races/lake?lang=en",
                                                    "http://localhost/races/lake?lang=es", "http://localhost/races/lake"]
    assert 'name="next" value="/races/lake"' in page  # the switcher comes back to this very page


def test_the_manifest_is_in_the_pages_language(client, db):
    english = client.get("/").get_data(as_text=True)
    assert '<link rel="manifest" href="/manifest.webmanifest">' in english  # as it always was
    spanish_page = client.get("/", headers={"Accept-Language": "es"}).get_data(as_text=True)
    assert '<link rel="manifest" href="/manifest.webmanifest?lang=es">' in spanish_page
    manifest = client.get("/manifest.webmanifest?lang=es")
    body = manifest.json
    assert body["lang"] == "es" and body["id"] == "/" and body["start_url"] == "/"
    assert body["description"].startswith("Encuentra una carrera")
    assert [s["name"] for s in body["shortcuts"]] == ["Mis entradas", "Acreditación"]
    assert body["screenshots"][0]["label"].endswith("la lista de carreras")
    plain = client.get("/manifest.webmanifest", headers={"Accept-Language": "es-AR"})
    assert plain.json["lang"] == "es" and "Accept-Language" in plain.vary
    assert client.get("/manifest.webmanifest").json["lang"] == "en"


def test_share_previews_are_in_the_races_own_language_whoever_looks(client, race, carrera):
    for accept in ("en", "es"):
        lima = client.get("/races/lima", headers={"Accept-Language": accept})
        assert meta(lima, "og:locale") == "es_ES"
        day = carrera.starts_at.astimezone(clock.now().tzinfo)  # the date is in Spanish: a Spanish weekday
        assert re.match(r"(lun|mar|mié|jue|vie|sáb|dom)\.? ", meta(lima, "og:description")), day
        assert meta(lima, "og:description").endswith("· Lima. 42K junto al mar.")
        lake = client.get("/races/lake", headers={"Accept-Language": accept})
        assert meta(lake, "og:locale") == "en_US"
        assert re.match(r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun) ", meta(lake, "og:description"))


def test_a_description_written_in_the_visitors_language_is_the_one_shown(client, db, race):
    db.session.add(RaceText(race_id=race.id, language="es", description="Junto al **lago**.",
                            description_html=str(render_markdown("Junto al **lago**."))))
    db.session.execute(race.__table__.update().where(race.__table__.c.id == race.id)
                       .values(description_html=str(render_markdown("By the **lake**."))))
    db.session.commit()
    assert "Junto al <strong>lago</strong>" in client.get("/races/lake?lang=es").get_data(as_text=True)
    english = client.get("/races/lake").get_data(as_text=True)
    assert "By the <strong>lake</strong>" in english and "lago" not in english


# --- the anonymous pages' cache ----------------------------------------------------------------------------

@pytest.mark.parametrize("path, english, spanish", [("/races/lake", "Add to cart", "Agregar al carrito"),
                                                    ("/", "Find your next race", "Encuentra tu próxima carrera")])
def test_the_anonymous_cache_keeps_one_copy_per_language(app, client, race, path, english, spanish):
    def visit(**headers):
        response = client.get(path, headers=headers)
        assert response.status_code == 200 and "Set-Cookie" not in response.headers  # still no cookie
        assert response.headers["Cache-Control"].startswith("public")
        assert {"Accept-Language", "Cookie"} <= set(response.vary)
        return response

    first = visit()
    assert english in first.get_data(as_text=True)
    es = visit(**{"Accept-Language": "es"})
    assert spanish in es.get_data(as_text=True) and english not in es.get_data(as_text=True)
    assert es.headers["ETag"] != first.headers["ETag"]
    again = visit()
    assert english in again.get_data(as_text=True) and again.headers["ETag"] == first.headers["ETag"]
    client.set_cookie("sl_lang", "es")  # the switcher's cookie says nothing about who the visitor is
    assert visit().headers["ETag"] == es.headers["ETag"]
    cache = app.extensions["race_page_cache" if path != "/" else "race_list_cache"]
    assert len(cache) == 2


def test_the_calendar_file_says_which_language_the_races_texts_are_in(client, carrera):
    body = client.get("/races/lima.ics").get_data()
    assert "SUMMARY;LANGUAGE=es:Maratón de Lima".encode() in body
    assert b"DESCRIPTION;LANGUAGE=es:42K junto al mar." in body


def test_the_month_menu_names_months_in_the_pages_language(client, db):
    clock.freeze(clock.now().replace(year=2026, month=12, day=6))
    assert "Diciembre 2026" in client.get("/?lang=es").get_data(as_text=True)
    english = client.get("/").get_data(as_text=True)
    assert "December 2026" in english and "January 2027" in english and "Any month" in english
