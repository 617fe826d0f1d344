"""The runner's own pages in Spanish (issue 19): signing in and up, email links, tickets, a friend's own details,
ticket changes, the waitlist and unsubscribing, asked for by `?lang=es` or the browser's Accept-Language; and
signing in brings the language chosen on the profile to this browser (the `sl_lang` cookie)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from html import unescape

import pytest

from blueprints.languages import LANGUAGE_COOKIE
from models import Order, Profile, Race, WaitlistStatus
from services import runner_invites
from services.messages.unsubscribe import token_maker
from services.waitlist_emails import LEAVE_SALT, OFFER_SALT, link_token
from tests.change_factories import make_change_race, paid_ticket
from tests.factories import login, make_account, make_profile
from tests.http import cookie, csrf_token, post_form
from tests.runner_invite_factories import buy_for_friend, make_friend_race
from tests.test_magic_link import outbox_link
from tests.waitlist_factories import in_line, sold_out_race

SPANISH = {"Accept-Language": "es"}
PASSWORD = "correct horse battery"


def spanish(response) -> str:
    """The page's text, after checking it is a whole page in Spanish."""
    page = unescape(response.get_data(as_text=True))
    assert '<html lang="es"' in page
    return page


def fragment(response) -> str:
    return unescape(response.get_data(as_text=True))


# --- signing in and up ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("path", "words"), [
    ("/auth/sign-in", ["Iniciar sesión", "¿Eres nuevo?", "Crea una cuenta", "¿Olvidaste tu contraseña?",
                       "Envíame un enlace para iniciar sesión", "Correo electrónico", "Contraseña"]),
    ("/auth/sign-up", ["Crear una cuenta", "¿Ya tienes una?", "Tu nombre", "Al menos 8 caracteres.", "Crear cuenta"]),
    ("/auth/link", ["Inicia sesión con un enlace", "No necesitas contraseña", "Iniciar sesión con contraseña"]),
    ("/auth/forgot", ["Restablece tu contraseña", "Envíame un enlace", "Volver a iniciar sesión"]),
    ("/auth/confirm", ["Ese enlace no funcionó", "Este enlace está incompleto", "Restablecer contraseña"]),
])
def test_the_account_pages_read_in_spanish(client, db, path, words):
    response = client.get(f"{path}?lang=es")
    page = spanish(response)
    assert all(word in page for word in words), [word for word in words if word not in page]
    assert "Sign in with a link" not in page and "Forgot your password?" not in page


def test_refusals_at_sign_in_and_sign_up_are_in_the_browser_s_language(client, db):
    make_account(db, "ana@example.com", PASSWORD)
    wrong = post_form(client, "/auth/sign-in", {"email": "ana@example.com", "password": "not it at all"},
                      headers=SPANISH)
    assert wrong.status_code == 422 and "El correo y la contraseña no coinciden" in spanish(wrong)
    empty = post_form(client, "/auth/sign-up", {"full_name": "", "email": "ana@", "password": "short"},
                      headers=SPANISH)
    page = spanish(empty)
    assert empty.status_code == 422
    assert "Dinos tu nombre." in page and "Eso no parece una dirección de correo electrónico." in page
    assert "Usa al menos 8 caracteres." in page


def test_asking_for_a_sign_in_link_answers_in_spanish(client, db):
    sent = post_form(client, "/auth/link", {"email": "ron@example.com"}, page="/auth/link?lang=es", headers=SPANISH)
    page = spanish(sent)
    assert "Revisa tu correo" in page and "Enviamos un enlace para iniciar sesión a <strong>ron@example.com</strong>" in page
    assert "inténtalo de nuevo" in page


# --- the language follows the person to this browser -------------------------------------------------

def test_signing_in_sets_the_language_cookie_from_the_profile(client, db):
    make_account(db, "ana@example.com", PASSWORD, language="es")
    assert cookie(client, LANGUAGE_COOKIE) is None
    response = post_form(client, "/auth/sign-in", {"email": "ana@example.com", "password": PASSWORD})
    assert response.status_code == 303
    [set_cookie] = [c for c in response.headers.getlist("Set-Cookie") if c.startswith(f"{LANGUAGE_COOKIE}=")]
    assert "HttpOnly" in set_cookie and "SameSite=Lax" in set_cookie and "Max-Age=31536000" in set_cookie
    assert cookie(client, LANGUAGE_COOKIE) == "es"
    client.delete_cookie("sl_access")
    client.delete_cookie("sl_refresh")
    assert '<html lang="es"' in client.get("/auth/sign-in").get_data(as_text=True)  # signed out, the cookie stays


def test_the_profile_s_language_replaces_what_this_browser_chose_before(client, db):
    make_account(db, "ana@example.com", PASSWORD, language="es")
    client.set_cookie(LANGUAGE_COOKIE, "en")
    post_form(client, "/auth/sign-in", {"email": "ana@example.com", "password": PASSWORD})
    assert cookie(client, LANGUAGE_COOKIE) == "es"


def test_a_profile_without_a_language_leaves_the_browser_s_choice_alone(client, db):
    make_account(db, "ana@example.com", PASSWORD)
    client.set_cookie(LANGUAGE_COOKIE, "es")
    response = post_form(client, "/auth/sign-in", {"email": "ana@example.com", "password": PASSWORD})
    assert response.status_code == 303
    assert not [c for c in response.headers.getlist("Set-Cookie") if c.startswith(f"{LANGUAGE_COOKIE}=")]
    assert cookie(client, LANGUAGE_COOKIE) == "es"


def test_a_refused_sign_in_sets_no_language(client, db):
    make_account(db, "ana@example.com", PASSWORD, language="es")
    post_form(client, "/auth/sign-in", {"email": "ana@example.com", "password": "not it at all"})
    assert cookie(client, LANGUAGE_COOKIE) is None


def test_signing_in_by_an_emailed_link_sets_the_language_too(client, db):
    make_account(db, "ron@example.com", PASSWORD, language="es")
    post_form(client, "/auth/link", {"email": "ron@example.com"})
    landed = client.get(outbox_link(db, "ron@example.com"))
    assert landed.status_code == 303 and cookie(client, LANGUAGE_COOKIE) == "es"


def test_a_signed_in_request_alone_does_not_set_the_cookie(client, db):
    """Only signing in brings the profile's language: on other requests the selector reads the profile itself."""
    login(client, make_profile(db, language="es"))
    response = client.get("/tickets/")
    assert '<html lang="es"' in response.get_data(as_text=True)
    assert cookie(client, LANGUAGE_COOKIE) is None


# --- tickets --------------------------------------------------------------------------------------------

@pytest.fixture
def ticket(db):
    race = make_change_race(db, fee=500, slug="lake-10k", title="Lake 10K")
    return paid_ticket(db, race, bib="42")


def test_my_tickets_and_a_ticket_read_in_spanish(client, db, ticket):
    login(client, db.session.get(Profile, db.session.get(Order, ticket.order_id).buyer_id))
    mine = spanish(client.get("/tickets/?lang=es"))
    assert "Mis entradas" in mine and "Muestra el código QR" in mine and "Abrir entrada" in mine
    assert "Dorsal 42" in mine and "Añadir al calendario" in mine and "My tickets" not in mine
    one = spanish(client.get(f"/tickets/{ticket.ticket_code}", headers=SPANISH))
    assert "Entrada: Ada Lovelace" in one and "Dorsal <strong>42</strong>" in one
    assert "Página de la carrera" in one and "Transferir o cambiar de distancia" in one


def test_no_tickets_yet_in_spanish(client, db):
    login(client, make_profile(db))
    page = spanish(client.get("/tickets/?lang=es"))
    assert "Todavía no tienes entradas." in page and "Buscar una carrera" in page


def test_a_ticket_that_is_not_there_says_so_in_spanish(client, db):
    response = client.get("/tickets/no-such-code-at-all?lang=es")
    assert response.status_code == 404 and "No hay ninguna entrada con ese código." in spanish(response)


# --- ticket changes -------------------------------------------------------------------------------------

def test_the_change_page_and_a_refused_transfer_read_in_spanish(client, db, ticket):
    login(client, db.session.get(Profile, db.session.get(Order, ticket.order_id).buyer_id))
    path = f"/tickets/{ticket.ticket_code}/change"
    page = spanish(client.get(f"{path}?lang=es"))
    assert "Transferir a otro corredor" in page and "Nombre del nuevo corredor" in page and "Apellidos" in page
    assert "Cambiar de distancia" in page and "Pagar 5,00" in page
    assert "dejan de funcionar de inmediato. Cargo: <strong>" in " ".join(page.split())
    english = " ".join(fragment(client.get(path)).split())
    assert "stop working at once. Fee: <strong>$5.00</strong>, paid before the transfer happens." in english
    refused = client.post(f"{path}/transfer", headers=SPANISH,
                          data={"csrf_token": csrf_token(client, path), "first_name": "Bo", "last_name": "Lee",
                                "email": "ada@example.com"})
    assert refused.status_code == 409 and "Ese es el correo que ya tiene esta inscripción" in spanish(refused)


def test_a_free_transfer_ends_on_a_spanish_status_page(client, db, ticket):
    db.session.get(Race, ticket.race_id).transfer_fee = 0
    db.session.commit()
    login(client, db.session.get(Profile, db.session.get(Order, ticket.order_id).buyer_id))
    path = f"/tickets/{ticket.ticket_code}/change"
    done = client.post(f"{path}/transfer", data={"csrf_token": csrf_token(client, path), "first_name": "Bo",
                                                 "last_name": "Lee", "email": "bo@example.com"})
    assert done.status_code == 303
    status = spanish(client.get(done.headers["Location"], headers=SPANISH))
    assert "La inscripción ahora es de Bo Lee" in status and "deslinde de responsabilidad" in status


def test_without_an_account_the_change_page_offers_the_runner_a_link_in_spanish(client, db, ticket):
    page = spanish(client.get(f"/tickets/{ticket.ticket_code}/change?lang=es"))
    assert "Enviar un enlace al corredor" in page and "(Ada Lovelace)" in page
    sent = client.post(f"/tickets/{ticket.ticket_code}/change/link", headers=SPANISH,
                       data={"csrf_token": csrf_token(client, f"/tickets/{ticket.ticket_code}/change")})
    assert "Enviamos un enlace al correo del corredor" in spanish(sent)


def test_a_forged_change_link_is_refused_in_spanish(client, db):
    response = client.get("/ticket-changes/forged?lang=es")
    assert response.status_code == 404
    page = spanish(response)
    assert "Esta inscripción no se puede cambiar aquí" in page and "Este enlace no es nuestro" in page


# --- a friend fills in their own details ----------------------------------------------------------------

def test_the_friend_s_details_page_reads_in_spanish(app, client, db):
    race = make_friend_race(db, slug="friends-10k", title="Friends 10K")
    friend = buy_for_friend(db, race)
    with app.app_context():
        token = runner_invites.link_token(friend)
    page = spanish(client.get(f"/runner-details/{token}?lang=es"))
    assert "Completa tus datos" in page and "Ana López compró esta inscripción para Ben Okafor." in page
    assert "Tu inscripción" in page and "(desde 18 años el día de la carrera)" in page
    assert "Comprada por" in page and "Enviar mis datos" in page


def test_a_forged_friend_link_is_refused_in_spanish(client, db):
    response = client.get("/runner-details/forged", headers=SPANISH)
    assert response.status_code == 404
    page = spanish(response)
    assert "No encontramos ese enlace" in page and "Ver carreras" in page


# --- the waitlist --------------------------------------------------------------------------------------

@pytest.fixture
def sold_out(db):
    return sold_out_race(db, slug="lake-10k", title="Lake 10K")


def test_joining_the_waitlist_reads_in_spanish(client, db, sold_out):
    race, ten_k, _orders = sold_out
    on_page = spanish(client.get("/races/lake-10k?lang=es"))
    assert "Apuntarme a la lista de espera" in on_page and "Cuántas plazas" in on_page
    bad = post_form(client, "/races/lake-10k/waitlist", {"ticket_type": str(ten_k.id), "name": "", "email": "x",
                                                         "spots": "9"}, page="/races/lake-10k", headers=SPANISH)
    page = spanish(bad)
    assert bad.status_code == 422
    assert "Escribe tu nombre." in page and "Escribe una dirección de correo completa" in page
    assert "Elige entre 1 y 4 plazas." in page
    joined = post_form(client, "/races/lake-10k/waitlist", {"ticket_type": str(ten_k.id), "name": "Ann Wait",
                                                            "email": "ann@example.com", "spots": "2"},
                       page="/races/lake-10k", headers={**SPANISH, "HX-Request": "true"})
    section = fragment(joined)
    assert "Estás en la lista de espera" in section and "Eres el número 1 en la lista de espera de 10K." in section
    assert f"te la reserva durante {race.waitlist_hold_hours} horas" in section


def test_the_leave_and_offer_links_read_in_spanish(app, client, db, sold_out):
    race, ten_k, _orders = sold_out
    now = datetime.now(UTC)
    entry = in_line(db, race, ten_k, now, email="ann@example.com", name="Ann", spots=2)
    with app.app_context():
        leave, offer = link_token(entry, LEAVE_SALT), link_token(entry, OFFER_SALT)
    page = spanish(client.get(f"/waitlist/leave/{leave}?lang=es"))
    assert "¿Salir de la lista de espera?" in page
    assert "Ann, estás en la lista de espera para 2 plazas de 10K en Lake 10K." in page
    waiting = client.get(f"/waitlist/offer/{offer}", headers=SPANISH)
    assert waiting.status_code == 410 and "Todavía no hay oferta" in spanish(waiting)
    entry.status, entry.offered_spots, entry.offer_expires_at = WaitlistStatus.OFFERED, 1, now + timedelta(hours=24)
    db.session.commit()
    page = spanish(client.get(f"/waitlist/offer/{offer}?lang=es"))
    assert "Es tu turno, Ann" in page and "<strong>1 plaza de 10K</strong> reservada para ti" in page
    assert "Pediste 2; ahora hay 1 libre." in page and "Aceptar" in page and "Rechazar" in page
    declined = post_form(client, f"/waitlist/offer/{offer}/decline", {}, page=f"/waitlist/offer/{offer}",
                         headers=SPANISH)
    assert "Oferta rechazada" in spanish(declined)


# --- unsubscribing -------------------------------------------------------------------------------------

def test_unsubscribing_reads_in_spanish(app, client, db, ticket):
    with app.app_context():
        token = token_maker(ticket.race_id)("ann@example.com")
    page = spanish(client.get(f"/unsubscribe/{token}?lang=es"))
    assert "¿Dejar de recibir mensajes sobre Lake 10K?" in page and "Darme de baja" in page
    done = spanish(client.post(f"/unsubscribe/{token}", headers=SPANISH))
    assert "Te diste de baja" in done and "<strong>ann@example.com</strong> ya no recibirá mensajes" in done
    forged = client.get("/unsubscribe/forged?lang=es")
    assert forged.status_code == 404 and "Este enlace para darte de baja no es válido" in spanish(forged)


def test_the_friend_s_ticket_after_their_details_reads_in_spanish(app, client, db):
    race = make_friend_race(db, slug="friends-10k", title="Friends 10K")
    friend = buy_for_friend(db, race)
    friend.runner_details_at = datetime.now(UTC)
    db.session.commit()
    with app.app_context():
        token = runner_invites.claim_token(friend)
    page = spanish(client.get(f"/runner-details/ticket/{token}?lang=es"))
    assert "Gracias, Ben: recibimos tus datos" in page and "Crea una cuenta para guardar esta inscripción" in page
    assert "Ya tengo una: iniciar sesión" in page and "Abrir entrada" in page


def test_the_organizer_s_view_of_a_ticket_reads_in_spanish(client, db, ticket):
    organizer = db.session.get(Race, ticket.race_id).organizer_id
    login(client, db.session.get(Profile, organizer))
    page = spanish(client.get(f"/tickets/{ticket.ticket_code}?lang=es"))
    assert "Mesa de acreditación" in page and ">Acreditar</button>" in page
