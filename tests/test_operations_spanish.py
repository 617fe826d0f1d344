"""The organizer's operations pages in Spanish (issue 19): dashboard, registrant, order and refund, the check-in
desk (its answers, its signing form, the offline script's texts with their plural forms), messages, the waitlist,
bibs and the registrant CSV. What a check-in event keeps is worded in the reader's language when it is shown."""
from __future__ import annotations

import csv
import html
import io
import json
import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from models import CheckInEvent, OrderStatus
from services.registrants import export
from services.registrants.edits import details_version
from tests.factories import login, make_paid_order
from tests.http import csrf_token
from tests.registrant_factories import (  # noqa: F401  (fixtures)
    awaiting_runner,
    organized_race,
    organizer,
    race,
    runner,
    signed_in,
)
from tests.waitlist_factories import in_line, sold_out_race


@pytest.fixture
def spanish(signed_in):
    """The organizer's browser reads the site in Spanish (the switcher's cookie)."""
    signed_in.set_cookie("sl_lang", "es")
    return signed_in


def text(response) -> str:
    """The page as a person reads it: tags dropped, entities and spaces tidied."""
    body = re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))
    return " ".join(html.unescape(body).split())


def manage(race, path=""):
    return f"/manage/races/{race.id}{path}"


def test_the_dashboard_in_spanish(spanish, db, race):
    make_paid_order(db, race, {race.ticket_types[0]: 2}, runners=[{"tshirt_size": "M", "gender": "Female"}])
    response = spanish.get(manage(race, "/dashboard"))
    page = response.get_data(as_text=True)
    words = text(response)
    assert response.status_code == 200 and '<html lang="es"' in page
    for spanish_text in ("Ingresos netos", "Plazas disponibles", "Vendidas por tipo de inscripción",
                         "Abrir el mostrador de acreditación", "Camisetas por pedir", "Edad el día de la carrera",
                         "Últimas inscripciones", "Últimos pedidos", "2 inscripciones", "Publicada",
                         "<strong>0</strong> de 2 corredores acreditados"):
        assert spanish_text in (page if "<" in spanish_text else words), spanish_text
    assert "Net revenue" not in words and "Latest orders" not in words


def test_a_dashboard_fragment_is_in_the_page_language_too(spanish, race):
    response = spanish.get(manage(race, "/dashboard"), headers={"HX-Request": "true"})
    assert response.status_code == 200 and "<html" not in response.get_data(as_text=True)
    assert "Ingresos netos" in text(response)


def test_the_registrant_page_and_its_changes_in_spanish(spanish, db, race):
    ada = runner(db, race, race.ticket_types[0], "Ada", "Lovelace", bib=7)
    target = manage(race, f"/checkin/{ada.ticket_code}")
    spanish.post(target, data={"csrf_token": csrf_token(spanish, manage(race, "/checkin"))})
    words = text(spanish.get(manage(race, f"/registrants/{ada.id}")))
    for spanish_text in ("Fecha de nacimiento", "Contacto de emergencia", "Corregir estos datos", "Pagado",
                         "Transferir o cambiar de distancia", "Deslinde de responsabilidad", "acreditó al corredor",
                         "(pagado, total"):
        assert spanish_text in words, spanish_text


def test_a_bad_edit_of_a_registrant_is_refused_in_spanish(spanish, db, race):
    ada = runner(db, race, race.ticket_types[0], "Ada", "Lovelace")
    url = manage(race, f"/registrants/{ada.id}")
    response = spanish.post(url, data={"csrf_token": csrf_token(spanish, url), "first_name": "Ada", "last_name": "L",
                                       "email": "ada@example.com", "date_of_birth": "1990-05-17", "gender": "",
                                       "tshirt_size": "XXXXL", "emergency_name": "Grace Hopper",
                                       "emergency_phone": "+1 555 0100", "address": "", "city": "", "country": "",
                                       "club": "", "opened": details_version(ada)},
                            headers={"HX-Request": "true"})
    words = text(response)
    assert response.status_code == 422
    assert "Corrige los campos marcados abajo; no se guardó nada." in words
    assert "Elige una talla de camiseta de la lista." in words


def test_the_order_and_its_refund_confirmation_in_spanish(spanish, db, race):
    order = make_paid_order(db, race, {race.ticket_types[0]: 2})
    words = text(spanish.get(manage(race, f"/orders/{order.id}")))
    assert "Pedido " in words and "Reembolsar el pedido completo…" in words and "Reembolsos" in words
    confirm = text(spanish.get(manage(race, f"/orders/{order.id}/refund")))
    assert "Estas inscripciones se cancelan y sus plazas vuelven a la venta:" in confirm
    assert "Mantenerlo, volver" in confirm


def test_the_check_in_desk_and_its_answers_in_spanish(spanish, db, race):
    ada = runner(db, race, race.ticket_types[0], "Ada", "Lovelace", bib=1001)
    ray = runner(db, race, race.ticket_types[0], "Ray", "Refund", status=OrderStatus.REFUNDED)
    desk = spanish.get(manage(race, "/checkin?q=lovelace"))
    words = text(desk)
    assert desk.status_code == 200 and '<html lang="es"' in desk.get_data(as_text=True)
    assert "Acreditación" in words and "Dorsal 1001" in words and "Escanear entrada" in words
    assert "Acreditar Ada Lovelace" in words and "0 / 1 acreditados" in words

    token = csrf_token(spanish, manage(race, "/checkin"))
    tapped = spanish.post(manage(race, f"/checkin/{ada.ticket_code}"), data={"csrf_token": token, "q": "lovelace"},
                          headers={"HX-Request": "true"})
    assert tapped.status_code == 200 and "Acreditado a las" in text(tapped)
    again = spanish.post(manage(race, f"/checkin/{ada.ticket_code}"), data={"csrf_token": token},
                         headers={"HX-Request": "true"})
    assert again.status_code == 409 and "Ya acreditado a las" in text(again)
    refused = spanish.post(manage(race, f"/checkin/{ray.ticket_code}"), data={"csrf_token": token},
                           headers={"HX-Request": "true"})
    assert refused.status_code == 422
    assert "Esta inscripción se reembolsó, así que no se puede acreditar." in text(refused)


def test_signing_the_waiver_at_the_desk_in_spanish(spanish, db, race):
    fay = awaiting_runner(db, race, race.ticket_types[0], "Fay", "Friend")
    url = manage(race, f"/checkin/{fay.ticket_code}/sign")
    words = text(spanish.get(url))
    assert "Firmar el deslinde de responsabilidad: Fay Friend" in words and "Firmar y acreditar" in words
    response = spanish.post(url, data={"csrf_token": csrf_token(spanish, url), "signature": "Fay Friend"})
    assert response.status_code == 422
    assert "Marca la casilla cuando se haya leído y aceptado el deslinde de responsabilidad." in text(response)


def _texts(page: str) -> dict:
    found = re.search(r"<div id=\"checkin-texts\" hidden data-texts='([^']*)'></div>", page)
    return json.loads(html.unescape(found.group(1)))


def test_the_offline_scripts_texts_come_from_the_page_with_both_plural_forms(spanish, client, race, organizer):
    spanish_texts = _texts(spanish.get(manage(race, "/checkin")).get_data(as_text=True))
    assert spanish_texts["ready"] == {
        "one": "Listo para usar sin conexión: {num} corredor, actualizado a las {time}.",
        "other": "Listo para usar sin conexión: {num} corredores, actualizado a las {time}."}
    assert spanish_texts["waiting"]["one"] == "{num} acreditación pendiente de sincronizar."
    assert spanish_texts["waiting"]["other"] == "{num} acreditaciones pendientes de sincronizar."
    assert spanish_texts["check_in"] == "Acreditar" and spanish_texts["nobody"].startswith("Nadie se llama “{q}”")

    spanish.set_cookie("sl_lang", "en")
    english = _texts(spanish.get(manage(race, "/checkin")).get_data(as_text=True))
    assert english["ready"] == {"one": "Ready for offline: {num} runner, updated {time}.",
                                "other": "Ready for offline: {num} runners, updated {time}."}
    assert english["waiting"]["other"] == "{num} check-ins waiting to sync."
    assert english["confirm_sign_out"] == {
        "one": "{num} check-in on this phone hasn't synced yet. Sign out and lose it?",
        "other": "{num} check-ins on this phone haven't synced yet. Sign out and lose them?"}
    assert english["signed_out"].startswith("You're signed out. Sign in again to sync")
    assert set(english) == set(spanish_texts)


def test_the_script_has_no_english_of_its_own():
    """Every text the offline script shows comes from the page (say(...)): no English sentence is left in it."""
    source = open("static/js/checkin-offline.js").read()
    code = "\n".join(line for line in source.splitlines() if not line.strip().startswith("//"))
    for english in ("Ready for offline", "waiting to sync", "Check in", "Not synced yet", "Wrong race",
                    "Already checked in", "Starting the camera", "Sync refused", "haven't synced"):
        assert english not in code, english


def _tap(registration, action="check_in", minutes=1):
    at = datetime.now(UTC) + timedelta(minutes=minutes)
    return {"id": str(uuid.uuid4()), "ticket_code": registration.ticket_code, "action": action,
            "at": at.isoformat().replace("+00:00", "Z")}


def _sync(client, race, items, language):
    token = csrf_token(client, manage(race, "/checkin"))
    return client.post(f"/api/v1/races/{race.slug}/check-ins", data=json.dumps({"items": items}),
                       content_type="application/json",
                       headers={"X-CSRFToken": token, "Accept-Language": language, "Accept": "application/json"})


def test_a_check_in_event_keeps_a_code_and_is_worded_in_each_readers_language(signed_in, db, race):
    ray = runner(db, race, race.ticket_types[0], "Ray", "Refund", status=OrderStatus.REFUNDED)
    ada = runner(db, race, race.ticket_types[0], "Ada", "Lovelace")
    refused, first, late = _tap(ray), _tap(ada, minutes=0), _tap(ada, minutes=1)
    english = _sync(signed_in, race, [refused, first, late], "en").get_json()["results"]
    assert [r["message"] for r in english] == [
        "This ticket was refunded, so it can't be checked in.", "Checked in.", english[2]["message"]]
    assert english[2]["message"].startswith("Already checked in at ")

    kept = {str(e.client_id): e for e in db.session.scalars(select(CheckInEvent))}
    assert kept[refused["id"]].message == "refunded"            # the refusal's code, no sentence
    assert kept[late["id"]].message.endswith("Z")               # the earlier check-in's time

    signed_in.set_cookie("sl_lang", "es")
    spanish = _sync(signed_in, race, [refused, first, late], "es").get_json()["results"]
    assert all(r["duplicate"] for r in spanish)
    assert [r["message"] for r in spanish[:2]] == ["Esta inscripción se reembolsó, así que no se puede acreditar.",
                                                   "Acreditado."]
    assert spanish[2]["message"].startswith("Ya acreditado a las ")
    roster = signed_in.get(f"/api/v1/races/{race.slug}/roster").get_json()
    assert roster["messages"]["waiver_missing"].startswith("{name} no ha firmado el deslinde")


def test_an_event_kept_before_the_codes_is_said_as_it_was_kept(app):
    from services.registrants.checkin_sync import describe
    with app.test_request_context("/?lang=es"):
        assert describe("refused", "This ticket was refunded, so it can't be checked in.", None, None) == (
            "This ticket was refunded, so it can't be checked in.")
        assert describe("already_checked_in", "Already checked in at 7:12 AM.", None, None) == (
            "Already checked in at 7:12 AM.")


def test_messages_in_spanish(spanish, db, race):
    runner(db, race, race.ticket_types[0], "Ann", email="ann@example.com")
    runner(db, race, race.ticket_types[1], "Bob", email="bob@example.com")
    page = spanish.get(manage(race, "/messages")).get_data(as_text=True)
    words = html.unescape(re.sub(r"<[^>]+>", " ", page))
    assert "Nuevo mensaje" in words and "Quién lo recibe" in words and "Aún no se ha enviado ningún mensaje." in words
    assert "Lo recibirán <strong>2 personas</strong>." in page and "Enviar a 2 corredores…" in page
    key = re.search(r'name="key"[^>]*value="([^"]+)"', page).group(1)
    data = {"csrf_token": csrf_token(spanish, manage(race, "/messages")), "key": key, "subject": "Kits",
            "body": "Viernes.", "ticket_type": "", "checked_in": "", "details": ""}
    confirm = text(spanish.post(manage(race, "/messages/confirm"), data=data))
    assert "¿Enviar a 2 corredores?" in confirm and "2 direcciones" in confirm
    refused = spanish.post(manage(race, "/messages/confirm"), data={**data, "subject": ""})
    assert refused.status_code == 422 and "Escribe un asunto." in text(refused)
    sent = spanish.post(manage(race, "/messages/send"), data=data)
    detail = text(spanish.get(sent.headers["Location"]))
    assert "En cola para 2 personas." in detail and "Todos" in detail and "Entregados" in detail


def test_the_waitlist_in_spanish(db, client, organizer):
    race, ten_k, _orders = sold_out_race(db, organizer=organizer, slug="full-10k")
    in_line(db, race, ten_k, datetime.now(UTC), email="wendy@example.com", spots=2)
    login(client, organizer)
    client.set_cookie("sl_lang", "es")
    words = text(client.get(manage(race, "/waitlist")))
    assert "Lista de espera" in words and "Ofertas activas" in words and "1 en espera" in words
    assert "0 plazas libres para ofertas" in words and "Pausar ofertas" in words
    url = manage(race, "/waitlist/pause")
    paused = client.post(url, data={"csrf_token": csrf_token(client, manage(race, "/waitlist")), "paused": "1"},
                         headers={"HX-Request": "true"})
    assert "Ofertas en pausa: nadie recibe una oferta nueva hasta que las reanudes." in text(paused)


def test_a_bib_refusal_in_spanish(spanish, db, race):
    ada = runner(db, race, race.ticket_types[0], "Ada", "Lovelace", bib=7)
    bob = runner(db, race, race.ticket_types[0], "Bob", "Builder")
    url = manage(race, f"/registrants/{bob.id}/bib")
    response = spanish.post(url, data={"csrf_token": csrf_token(spanish, manage(race, "/checkin")), "bib": "7"},
                            headers={"HX-Request": "true"})
    assert response.status_code == 422
    assert f"El dorsal 7 ya lo tiene {ada.runner_name}." in text(response)
    assert 'placeholder="Añadir dorsal"' in response.get_data(as_text=True)


def test_the_csv_has_its_header_in_the_organizers_language_and_stays_defused(spanish, db, race):
    runner(db, race, race.ticket_types[0], "=HYPERLINK(1)", "Lovelace")
    raw = spanish.get(manage(race, "/registrants.csv")).get_data()
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0][:4] == ["Inscripción", "Pedido", "Estado", "Tipo de inscripción"]
    assert "Fecha de nacimiento" in rows[0] and "SHA-256 del deslinde" in rows[0]
    assert rows[1][rows[0].index("Nombre")] == "'=HYPERLINK(1)"
    assert rows[1][rows[0].index("Datos")] == "completos"


def test_a_header_that_looks_like_a_formula_is_defused_like_any_cell():
    """A translation is text from outside the code: the spreadsheet file defuses it as it does every cell."""
    chunks = export._chunks(["=SUM(A1)", "Nombre"], [], export.spreadsheet_safe, byte_order_mark=False,
                            rows_per_chunk=10)
    assert "".join(chunks).splitlines()[0] == "'=SUM(A1),Nombre"


def test_the_timing_csv_keeps_its_english_columns_in_any_language(spanish, db, race):
    runner(db, race, race.ticket_types[0], "Ada", "Lovelace", bib=1)
    raw = spanish.get(manage(race, "/registrants-timing.csv")).get_data(as_text=True)
    assert raw.splitlines()[0].startswith("Bib,First name,Last name")


def test_a_stored_gender_is_worded_in_the_reader_s_language_where_people_read_it(spanish, db, race):
    """"Female" is what is stored; the dashboard, the registrant page and its form, and the spreadsheet say "Mujer".
    The timing CSV keeps the stored value, as it keeps its English columns, for the programs that import it."""
    race.ask_gender = True
    ada = runner(db, race, race.ticket_types[0], "Ada", "Lovelace", bib=1, gender="Female")
    runner(db, race, race.ticket_types[0], "Old", "Value", gender="Woman")  # from before the options: as stored

    dashboard = text(spanish.get(manage(race, "/dashboard")))
    assert "Mujer 1" in dashboard and "Woman 1" in dashboard and "Female" not in dashboard

    page = spanish.get(manage(race, f"/registrants/{ada.id}")).get_data(as_text=True)
    assert re.search(r"<dt>Género</dt><dd>Mujer</dd>", page)
    assert re.search(r'<option selected value="Female">Mujer</option>', page)
    assert '<option value="Non-binary">No binario</option>' in page

    rows = list(csv.reader(io.StringIO(spanish.get(manage(race, "/registrants.csv")).get_data().decode("utf-8-sig"))))
    assert sorted(row[rows[0].index("Género")] for row in rows[1:]) == ["Mujer", "Woman"]
    timing = list(csv.reader(io.StringIO(spanish.get(manage(race, "/registrants-timing.csv")).get_data(as_text=True))))
    assert sorted(row[timing[0].index("Gender")] for row in timing[1:]) == ["Female", "Woman"]

    spanish.set_cookie("sl_lang", "en")
    english = spanish.get(manage(race, f"/registrants/{ada.id}")).get_data(as_text=True)
    assert "<dd>Female</dd>" in english and '<option selected value="Female">Female</option>' in english
