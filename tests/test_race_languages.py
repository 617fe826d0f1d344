"""A race's languages (issue 19): the organizer's editor in Spanish, the race's own language, and its description
and waiver in more languages, each a tab that autosaves like every other field."""
from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from html import unescape

import pytest
from sqlalchemy import select

from models import OrderStatus, Race, RaceStatus, RaceText, Registration, TicketType, WaiverVersion
from services import cart_status, race_editing, race_texts, races
from services.runners import RunnerDetails, save_runner
from tests.factories import login, make_cart, make_profile, make_race
from tests.http import csrf_token

SPANISH_WAIVER = "Sé que correr una carrera es una actividad potencialmente peligrosa. Participo bajo mi propio riesgo."


@pytest.fixture
def organizer(db):
    return make_profile(db, full_name="Olga Organizer", email="olga@example.com")


@pytest.fixture
def race(db, organizer):
    race = make_race(db, organizer=organizer, slug="lima-10k", title="Lima 10K", status=RaceStatus.DRAFT,
                     description="Run by the sea.", tickets=[("10K", 4500, 50)])
    race_editing.set_waiver_text(db.session, race, "I run at my own risk.")
    db.session.commit()
    return race


@pytest.fixture
def signed_in(client, organizer):
    login(client, organizer)
    return client


def fresh(db, race_id) -> Race:
    db.session.expire_all()
    return db.session.get(Race, race_id)


def post(client, race, path, data, *, htmx=True, original=None):
    body = {"csrf_token": csrf_token(client, f"/manage/races/{race.id}"), **data}
    if original is not None:
        body["_original"] = json.dumps(original)
    return client.post(f"/manage/races/{race.id}/{path}", data=body, headers={"HX-Request": "true"} if htmx else {})


def text_of(response) -> str:
    return unescape(response.get_data(as_text=True))


def with_spanish(db, race) -> Race:
    race_texts.add_language(db.session, fresh(db, race.id), "es")
    return fresh(db, race.id)


def texts(db, race_id) -> list[tuple[str, str, str]]:
    db.session.expire_all()
    return [(t.language, t.description, t.description_html) for t in race_texts.race_texts(db.session, race_id)]


def waivers(db, race_id) -> list[tuple[int, str, str]]:
    db.session.expire_all()
    return [(v.number, v.language, v.text) for v in db.session.scalars(
        select(WaiverVersion).where(WaiverVersion.race_id == race_id).order_by(WaiverVersion.number))]


# --- the editor and setup pages in Spanish ------------------------------------------------------

def test_the_editor_reads_in_spanish(signed_in, db, race):
    page = signed_in.get(f"/manage/races/{race.id}?lang=es").get_data(as_text=True)

    assert '<html lang="es"' in page
    for spanish in ("Nombre de la carrera", "Idioma de la carrera", "Descripción en English", "Inscripciones",
                    "Deslinde de responsabilidad", "Los cambios se guardan mientras escribes.", "Borrador",
                    "Eliminar carrera", "Editar carrera", "Guardar"):
        assert spanish in page, spanish
    for english in ("Race name", "Race language", "Delete race", "Changes save as you type", "Waiver text"):
        assert english not in page, english


@pytest.mark.parametrize("path, spanish", [
    ("/manage/", "Tus carreras"), ("/manage/", "Crear carrera de ejemplo"),
    ("/manage/races/{id}/team", "Invitar a un coorganizador"),
    ("/manage/races/{id}/codes", "Códigos de descuento"),
])
def test_the_setup_pages_read_in_spanish(signed_in, db, race, path, spanish):
    response = signed_in.get(path.format(id=race.id) + "?lang=es")
    assert response.status_code == 200 and spanish in response.get_data(as_text=True)


def test_an_editor_refusal_is_in_the_page_s_language(signed_in, db, race):
    signed_in.set_cookie("sl_lang", "es")
    response = post(signed_in, race, "fields/title", {"title": ""})
    assert response.status_code == 422 and "Una carrera necesita un nombre." in response.get_data(as_text=True)


def test_every_editor_input_has_a_label(signed_in, db, race):
    with_spanish(db, race)
    page = signed_in.get(f"/manage/races/{race.id}?lang=es&description=es&waiver=es").get_data(as_text=True)
    labelled = set(re.findall(r'<label[^>]*for="([^"]+)"', page))
    inputs = re.findall(r'<(?:input|select|textarea)\b([^>]*)>', page)
    unlabelled = []
    for attributes in inputs:
        if re.search(r'type="(hidden|submit)"', attributes):
            continue
        ident = re.search(r'\bid="([^"]+)"', attributes)
        if ident is None or ident.group(1) not in labelled:
            unlabelled.append(attributes.strip()[:80])
    checkboxes_in_labels = len(re.findall(r'<label class="checkbox-label"><input', page))
    assert len([u for u in unlabelled if 'type="checkbox"' in u]) == checkboxes_in_labels
    assert [u for u in unlabelled if 'type="checkbox"' not in u] == []


# --- the race's own language ----------------------------------------------------------------------

def test_the_race_language_autosaves_and_counts_as_a_change(signed_in, db, race):
    version = fresh(db, race.id).version

    response = post(signed_in, race, "fields/language", {"language": "es"}, original={"language": "en"})

    body = response.get_data(as_text=True)
    assert response.status_code == 200 and 'aria-live="polite"' in body and "Saved" in body
    # The tabs follow: the description and waiver sections come along out of band.
    assert 'id="description"' in body and 'id="waiver"' in body and body.count('hx-swap-oob="true"') >= 3
    saved = fresh(db, race.id)
    assert saved.language == "es" and saved.version == version + 1


def test_the_race_language_without_javascript_redirects_to_its_section(signed_in, db, race):
    response = post(signed_in, race, "fields/language", {"language": "es"}, htmx=False)
    assert response.status_code == 303 and response.headers["Location"].endswith("#languages")
    assert fresh(db, race.id).language == "es"


@pytest.mark.parametrize("htmx", [True, False], ids=["fragment", "page"])
def test_a_race_language_we_dont_have_is_refused(signed_in, db, race, htmx):
    response = post(signed_in, race, "fields/language", {"language": "fr"}, htmx=htmx)
    assert response.status_code == 422 and "We don't have that language" in text_of(response)
    assert fresh(db, race.id).language == "en"


def test_making_an_added_language_the_race_s_own_swaps_the_descriptions_and_loses_nothing(db, race):
    race = with_spanish(db, race)
    race_texts.set_description(race, race_texts.text_in(db.session, race, "es"), "Corre junto al mar.")
    db.session.commit()

    race_texts.change_race_language(db.session, fresh(db, race.id), "es")
    db.session.commit()

    saved = fresh(db, race.id)
    assert (saved.language, saved.description) == ("es", "Corre junto al mar.")
    assert [(code, text) for code, text, _html in texts(db, race.id)] == [("en", "Run by the sea.")]


# --- adding and removing a language ------------------------------------------------------------------

def test_adding_a_language_gives_the_description_and_waiver_a_tab(signed_in, db, race):
    version = fresh(db, race.id).version

    response = post(signed_in, race, "languages", {"language": "es"}, htmx=False)

    assert response.status_code == 303 and "description=es" in response.headers["Location"]
    assert texts(db, race.id) == [("es", "", "")] and fresh(db, race.id).version == version + 1
    page = signed_in.get(response.headers["Location"]).get_data(as_text=True)
    tabs = re.findall(r'<nav class="tabs language-tabs" aria-label="([^"]+)">(.*?)</nav>', page, re.S)
    assert [label for label, _ in tabs] == ["Description languages", "Waiver languages"]
    description_tabs = tabs[0][1]
    assert re.search(r'lang="es" aria-current="page">Español</a>', description_tabs)
    assert 'lang="en" >English</a>' in description_tabs  # the race's own, first, a plain link
    assert description_tabs.index("English") < description_tabs.index("Español")
    assert 'id="description-es-description"' in page and 'id="waiver-waiver"' in page  # the waiver's own tab open
    assert "Remove<span" in page and "Add a language" not in page  # nothing left to add: en and es are ours


@pytest.mark.parametrize("htmx", [True, False], ids=["fragment", "page"])
def test_adding_a_language_we_dont_have_is_refused_and_adds_nothing(signed_in, db, race, htmx):
    response = post(signed_in, race, "languages", {"language": "xx"}, htmx=htmx)
    assert response.status_code == 422
    assert "We don't have that language" in text_of(response)
    assert texts(db, race.id) == []


def test_removing_a_language_keeps_its_signed_waivers_but_offers_them_no_more(signed_in, db, race):
    race = with_spanish(db, race)
    post(signed_in, race, "fields/waiver-es", {"waiver": SPANISH_WAIVER})

    response = post(signed_in, race, "languages/es/remove", {}, htmx=False)

    assert response.status_code == 303 and texts(db, race.id) == []
    assert (2, "es", SPANISH_WAIVER) in waivers(db, race.id)
    assert race_texts.waiver_to_sign(db.session, race.id, "es").text == "I run at my own risk."


def test_the_race_s_own_language_cannot_be_removed(signed_in, db, race):
    response = post(signed_in, race, "languages/en/remove", {})
    assert response.status_code == 422 and "English is the race's own language" in text_of(response)


# --- the description in another language ----------------------------------------------------------

def test_the_spanish_description_autosaves_renders_sanitized_and_counts_as_a_change(signed_in, db, race):
    race = with_spanish(db, race)
    version = race.version

    response = post(signed_in, race, "fields/description-es",
                    {"description": "## Ruta\n**Junto al mar** <script>alert(1)</script>"}, original={"description": ""})

    body = response.get_data(as_text=True)
    assert response.status_code == 200 and 'id="state-description-es"' in body and "Saved" in body
    assert re.search(r'<div id="description-es-preview" class="prose preview" hx-swap-oob="true">\s*<h2>Ruta</h2>', body)
    [(language, markdown, html)] = texts(db, race.id)
    assert language == "es" and markdown.startswith("## Ruta") and "<strong>Junto al mar</strong>" in html
    assert "<script" not in html
    saved = fresh(db, race.id)
    assert saved.description == "Run by the sea." and saved.version == version + 1


def test_the_spanish_description_without_javascript_comes_back_to_its_tab(signed_in, db, race):
    race = with_spanish(db, race)
    response = post(signed_in, race, "fields/description-es", {"description": "Corre."}, htmx=False)
    assert response.status_code == 303 and response.headers["Location"].endswith("?description=es#description")
    page = signed_in.get(response.headers["Location"]).get_data(as_text=True)
    assert re.search(r'<textarea id="description-es-description"[^>]*lang="es"[^>]*>Corre.</textarea>', page)


def test_a_tab_shows_the_hint_that_the_race_s_own_text_stands_in_until_written(signed_in, db, race):
    with_spanish(db, race)
    page = signed_in.get(f"/manage/races/{race.id}?description=es").get_data(as_text=True)
    assert "Until you write it, visitors reading Español see the description in English." in page


@pytest.mark.parametrize("htmx", [True, False], ids=["fragment", "page"])
@pytest.mark.parametrize("group, data, status, message", [
    ("description-fr", {"description": "Bonjour"}, 404, "We don't have that language"),
    ("waiver-fr", {"waiver": "Bonjour"}, 404, "We don't have that language"),
    ("description-es", {"description": "x" * 20001}, 422, "Keep it under 20,000 characters."),
    ("waiver-es", {"waiver": "x" * 20001}, 422, "Keep it under 20,000 characters."),
    ("description-es", {"description": ["Hola", "Adiós"]}, 422, "sent more than once"),
    ("waiver-es", {"waiver": ["Uno", "Dos"]}, 422, "sent more than once"),
    ("description-es", {"description": "Hola\x07"}, 422, "invisible control characters"),
])
def test_bad_language_tab_input_is_refused_with_a_message_and_nothing_is_saved(signed_in, db, race, htmx, group, data,
                                                                               status, message):
    race = with_spanish(db, race)
    before = (texts(db, race.id), waivers(db, race.id), fresh(db, race.id).version)

    response = post(signed_in, race, f"fields/{group}", data, htmx=htmx)

    assert response.status_code == status and message in text_of(response)
    assert (texts(db, race.id), waivers(db, race.id), fresh(db, race.id).version) == before


@pytest.mark.parametrize("group, data", [("description-es", {"description": "Hola"}), ("waiver-es", {"waiver": "Hola"})])
def test_a_language_the_race_does_not_have_cannot_be_written(signed_in, db, race, group, data):
    before = (texts(db, race.id), waivers(db, race.id))
    response = post(signed_in, race, f"fields/{group}", data)
    assert response.status_code == 422
    assert "Add Español to the race's languages first." in text_of(response)
    assert (texts(db, race.id), waivers(db, race.id)) == before


def test_the_description_in_a_visitor_s_language(db, race):
    race = with_spanish(db, race)
    race_texts.set_description(race, race_texts.text_in(db.session, race, "es"), "Corre **junto al mar**.")
    db.session.commit()

    assert "<strong>junto al mar</strong>" in races.description_html(db.session, race, "es")
    assert races.description_html(db.session, race, "en") == race.description_html
    assert races.description_html(db.session, race, "de") == race.description_html
    race_texts.set_description(race, race_texts.text_in(db.session, race, "es"), "")
    db.session.commit()
    assert races.description_html(db.session, race, "es") == race.description_html


# --- the waiver in another language ------------------------------------------------------------------

def test_the_spanish_waiver_is_a_new_immutable_version_in_spanish(signed_in, db, race):
    race = with_spanish(db, race)
    version = race.version

    response = post(signed_in, race, "fields/waiver-es", {"waiver": SPANISH_WAIVER})
    post(signed_in, race, "fields/waiver-es", {"waiver": SPANISH_WAIVER})  # unchanged: no new version
    post(signed_in, race, "fields/waiver-es", {"waiver": SPANISH_WAIVER + " Firmo."})

    assert response.status_code == 200 and 'id="state-waiver-es"' in response.get_data(as_text=True)
    assert waivers(db, race.id) == [(1, "en", "I run at my own risk."), (2, "es", SPANISH_WAIVER),
                                    (3, "es", SPANISH_WAIVER + " Firmo.")]
    assert fresh(db, race.id).version == version + 3
    # The race's own waiver is still the one everyone else signs, and the one its checklist counts.
    assert race_editing.current_waiver(db.session, race.id).number == 1


def test_the_waiver_to_sign_in_a_runner_s_language(db, race):
    race = with_spanish(db, race)
    english = race_editing.current_waiver(db.session, race.id)
    assert race_texts.waiver_to_sign(db.session, race.id, "es") == english  # nothing written in Spanish yet
    spanish = race_editing.set_waiver_text(db.session, race, SPANISH_WAIVER, language="es")
    db.session.commit()

    assert race_texts.waiver_to_sign(db.session, race.id, "es") == spanish
    assert race_texts.waiver_to_sign(db.session, race.id, "en") == english
    assert race_texts.waiver_to_sign(db.session, race.id, "fr") == english
    race_editing.set_waiver_text(db.session, race, "", language="es")  # emptied: the race's own stands in
    db.session.commit()
    assert race_texts.waiver_to_sign(db.session, race.id, "es") == english


def test_a_runner_signing_the_spanish_waiver_keeps_its_language_and_text(db, race):
    ten_k = race.ticket_types[0]
    race = with_spanish(db, race)
    race_editing.set_waiver_text(db.session, race, SPANISH_WAIVER, language="es")
    db.session.commit()
    cart = make_cart(db, race, {ten_k: 1}, complete=False)
    ticket = cart.registrations[0]
    shown = race_texts.waiver_to_sign(db.session, race.id, "es")

    save_runner(db.session, ticket, RunnerDetails(
        first_name="Ana", last_name="López", email="ana@example.com", date_of_birth=date(1990, 5, 17),
        tshirt_size=race.tshirt_size_list[0], emergency_name="Rosa López", emergency_phone="+51 1 555 0100",
        waiver_accepted=True, waiver_signature="Ana López", waiver_version_id=shown.id),
        race=race, ticket_type=ten_k, waiver=shown, now=datetime.now(UTC), ip="127.0.0.1")

    db.session.expire_all()
    signed = db.session.get(Registration, ticket.id)
    version = db.session.get(WaiverVersion, signed.waiver_version_id)
    assert (version.language, version.text) == ("es", SPANISH_WAIVER)
    assert signed.waiver_signature == "Ana López" and cart.status == OrderStatus.CART


def test_a_race_written_in_spanish_writes_its_own_waiver_in_spanish(signed_in, db, race):
    post(signed_in, race, "fields/language", {"language": "es"})
    post(signed_in, race, "fields/waiver", {"waiver": SPANISH_WAIVER})
    assert waivers(db, race.id)[-1] == (2, "es", SPANISH_WAIVER)
    assert race_editing.current_waiver(db.session, race.id).language == "es"


def test_race_text_rows_are_one_per_language(db, race):
    race = with_spanish(db, race)
    race_texts.add_language(db.session, race, "es")  # again: nothing new
    assert len(db.session.scalars(select(RaceText).where(RaceText.race_id == race.id)).all()) == 1


def test_a_runner_signs_the_waiver_in_their_language_and_the_signature_counts_whatever_the_buyer_reads(
        app, client, db, race):
    race = with_spanish(db, race)
    english = race_editing.current_waiver(db.session, race.id)
    spanish = race_editing.set_waiver_text(db.session, race, SPANISH_WAIVER, language="es")
    race.status = RaceStatus.PUBLISHED
    db.session.commit()
    buyer = make_profile(db, email="bea@example.com")
    ten_k = db.session.scalar(select(TicketType).where(TicketType.race_id == race.id))
    order = make_cart(db, race, {ten_k: 1}, buyer=buyer)  # signed: the newest version, the Spanish one
    assert db.session.scalar(select(Registration.waiver_version_id).where(Registration.order_id == order.id)) == spanish.id
    login(client, buyer)

    spanish_page = text_of(client.get("/races/lima-10k/cart?lang=es"))
    assert SPANISH_WAIVER in spanish_page and "I run at my own risk." not in spanish_page
    assert "I run at my own risk." in text_of(client.get("/races/lima-10k/cart?lang=en"))
    for language in ("en", "es"):  # the Spanish signature stands for a buyer reading either language
        with app.test_request_context(f"/?lang={language}"):
            assert race_texts.waiver_to_sign(db.session, race.id).id == (english.id if language == "en" else spanish.id)
            assert cart_status.cart_problems(db.session, order, datetime.now(UTC)) == []

    newer = race_editing.set_waiver_text(db.session, race, SPANISH_WAIVER + " Nuevo párrafo.", language="es")
    db.session.commit()
    with app.test_request_context("/?lang=en"):  # the Spanish text changed since it was signed: sign again
        assert race_texts.still_current(db.session, race.id, {spanish.id, newer.id, english.id}) == {newer.id, english.id}
        assert any("waiver" in problem for problem in cart_status.cart_problems(db.session, order, datetime.now(UTC)))
