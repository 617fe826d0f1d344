"""A runner whose waiver isn't signed at check-in (their details are pending, say): the desk warns, and they sign
on the organizer's phone (their full name, or a parent or guardian's), recorded as signed at check-in."""
from __future__ import annotations

import re
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from models import OrderStatus, Registration, RegistrationAudit, WaiverVersion
from services import clock, race_editing, race_texts
from tests.factories import login, make_profile, recount_race
from tests.http import csrf_token
from tests.registrant_factories import (  # noqa: F401  (fixtures)
    awaiting_runner,
    organized_race,
    organizer,
    race,
    runner,
    signed_in,
    waiver_of,
)

HX = {"HX-Request": "true"}
MORNING = datetime(2030, 5, 4, 11, 42, tzinfo=UTC)  # 7:42 AM in New York


@pytest.fixture(autouse=True)
def race_morning():
    clock.freeze(MORNING)
    yield
    clock.reset()


@pytest.fixture
def fay(db, race):
    return awaiting_runner(db, race, race.ticket_types[0], "Fay", "Friend", bib=9)


def desk(race):
    return f"/manage/races/{race.id}/checkin"


def sign_url(race, registration):
    return f"{desk(race)}/{registration.ticket_code}/sign"


def text(response) -> str:
    return response.get_data(as_text=True).replace("&#39;", "'").replace("&#34;", '"').replace("&amp;", "&")


def fresh(db, registration) -> Registration:
    db.session.expire_all()
    return db.session.get(Registration, registration.id)


def signing(db, race, **changes) -> dict:
    data = {"accepted": "y", "signature": "Fay Friend", "guardian_name": "",
            "waiver_version": str(waiver_of(db, race).id), "q": "fay"}
    data.update(changes)
    return {name: value for name, value in data.items() if value is not None}


def sign(client, race, registration, data, *, htmx=True):
    return client.post(sign_url(race, registration), headers=HX if htmx else {},
                       data={"csrf_token": csrf_token(client, desk(race)), **data})


# --- the desk warns -----------------------------------------------------------------------------

def test_the_desk_warns_that_the_waiver_is_unsigned_and_offers_signing_instead_of_one_tap(signed_in, db, race, fay):
    runner(db, race, race.ticket_types[0], "Fabian", "Signed")
    body = text(signed_in.get(desk(race), query_string={"q": "fa"}, headers=HX))

    fay_row = body[body.index(f'id="reg-{fay.id}"'):]
    assert 'class="checkin-row is-unsigned"' in body
    assert "<strong>Waiver not signed</strong> · details still to fill in" in fay_row
    assert f'href="{sign_url(race, fay)}?q=fa"' in fay_row and ">Sign waiver<" in fay_row
    assert fay_row.index(">Sign waiver<") < fay_row.index("</li>")
    assert fay_row[:fay_row.index("</li>")].count(">Check in<") == 0
    assert body.count(">Check in<") == 1  # Fabian signed when he registered: one tap as before


def test_one_tap_check_in_of_an_unsigned_runner_is_refused_unless_the_race_has_no_waiver(signed_in, db, race, fay):
    response = signed_in.post(f"{desk(race)}/{fay.ticket_code}", headers=HX,
                              data={"csrf_token": csrf_token(signed_in, desk(race))})
    assert response.status_code == 422
    assert "Fay Friend hasn't signed the waiver: have them sign it on this phone first." in text(response)
    assert ">Sign waiver<" in text(response) and fresh(db, fay).checked_in_at is None

    race_editing.set_waiver_text(db.session, race, "")  # the organizer emptied it: nothing to sign
    db.session.commit()
    body = text(signed_in.get(desk(race), query_string={"q": "fay"}, headers=HX))
    assert "Waiver not signed" not in body and ">Check in<" in body
    response = signed_in.post(f"{desk(race)}/{fay.ticket_code}", headers=HX,
                              data={"csrf_token": csrf_token(signed_in, desk(race))})
    assert response.status_code == 200 and fresh(db, fay).checked_in_at is not None


# --- the signing form -------------------------------------------------------------------------

def test_the_signing_page_shows_the_waiver_and_whom_it_is_for(signed_in, db, race, fay):
    page = text(signed_in.get(sign_url(race, fay), query_string={"q": "fay"}))
    assert "<html" in page and "Sign the waiver: Fay Friend</h1>" in page and "I run at my own risk." in page
    assert "Fay hasn't filled in their details yet, so the waiver isn't signed." in page
    for label in ('for="sign-{0}-accepted"', 'for="sign-{0}-by-guardian"', 'for="sign-{0}-guardian-name"',
                  'for="sign-{0}-signature"'):
        assert label.format(fay.id) in page
    assert 'name="csrf_token"' in page and f'value="{waiver_of(db, race).id}"' in page and "hx-post" not in page

    row = text(signed_in.get(sign_url(race, fay), query_string={"q": "fay"}, headers=HX))
    assert row.lstrip().startswith(f'<li id="reg-{fay.id}" class="checkin-sign checkin-row"') and "<html" not in row
    assert f'hx-target="#reg-{fay.id}"' in row and "Sign the waiver: Fay Friend</h2>" in row


def test_signing_at_the_desk_records_the_signature_and_checks_the_runner_in(signed_in, db, race, organizer, fay):
    response = sign(signed_in, race, fay, signing(db, race, signature="  fay   FRIEND "))

    body = text(response)
    assert response.status_code == 200 and body.lstrip().startswith(f'<li id="reg-{fay.id}" class="checkin-row is-in')
    assert "Waiver signed. Checked in." in body and "✓ In at 7:42 AM" in body and 'id="checkin-counter"' in body
    saved = fresh(db, fay)
    assert saved.waiver_signature == "fay   FRIEND" and saved.waiver_guardian_name == ""
    assert saved.waiver_version_id == waiver_of(db, race).id and saved.waiver_signed_at_checkin is True
    assert saved.waiver_signed_at is not None and saved.checked_in_at is not None and saved.waiver_ip == "127.0.0.1"
    assert saved.awaiting_runner  # the waiver is signed; the rest of their details are still theirs to give
    audits = db.session.execute(select(RegistrationAudit.field, RegistrationAudit.new_value, RegistrationAudit.profile_id)
                                .where(RegistrationAudit.registration_id == fay.id)
                                .order_by(RegistrationAudit.id)).all()
    assert [(field, who) for field, _, who in audits] == [("waiver", organizer.id), ("checked_in", organizer.id)]
    assert audits[0][1] == "fay   FRIEND"

    detail = text(signed_in.get(f"/manage/races/{race.id}/registrants/{fay.id}"))
    assert "<dt>Where</dt><dd>At check-in, on an organizer's phone</dd>" in detail
    assert "had the runner sign the waiver at check-in as <q>fay   FRIEND</q>" in detail


def test_without_javascript_signing_goes_back_to_the_desk_or_the_ticket(signed_in, db, race, fay):
    plain = sign(signed_in, race, fay, signing(db, race), htmx=False)
    assert plain.status_code == 303 and plain.headers["Location"].endswith(f"{desk(race)}?q=fay#reg-{fay.id}")
    assert "Waiver signed. Checked in." in text(signed_in.get(plain.headers["Location"]))  # said after the redirect

    other = awaiting_runner(db, race, race.ticket_types[0], "Gil", "Guest")
    from_ticket = sign(signed_in, race, other, signing(db, race, signature="Gil Guest", view="ticket", q=""),
                       htmx=False)
    assert from_ticket.status_code == 303 and from_ticket.headers["Location"].endswith(f"/tickets/{other.ticket_code}")
    assert fresh(db, other).checked_in_at is not None
    assert "Waiver signed. Checked in." in text(signed_in.get(from_ticket.headers["Location"]))


def test_a_parent_or_guardian_signs_for_a_minor(signed_in, db, race):
    kid = awaiting_runner(db, race, race.ticket_types[1], "Kim", "Kid")
    kid.date_of_birth = date(2016, 6, 1)
    db.session.commit()
    refused = sign(signed_in, race, kid, signing(db, race, signature="Kim Kid"))
    assert refused.status_code == 422 and "Kim Kid is under 18: a parent or guardian signs for them." in text(refused)
    form = text(signed_in.get(sign_url(race, kid)))  # their age is known: the guardian box comes ticked
    assert f'id="sign-{kid.id}-by-guardian" name="by_guardian" value="y" checked' in form

    signed = sign(signed_in, race, kid, signing(db, race, by_guardian="y", guardian_name="Pat Parent",
                                                signature="pat parent"))
    assert signed.status_code == 200
    saved = fresh(db, kid)
    assert (saved.waiver_guardian_name, saved.waiver_signature) == ("Pat Parent", "pat parent")


def test_a_guardian_may_sign_when_the_runners_age_is_unknown(signed_in, db, race, fay):
    response = sign(signed_in, race, fay, signing(db, race, by_guardian="y", guardian_name="Pat Parent",
                                                  signature="Pat Parent"))
    assert response.status_code == 200 and fresh(db, fay).waiver_guardian_name == "Pat Parent"


@pytest.mark.parametrize("changes, field, message", [
    ({"signature": "Someone Else"}, "signature", "The signature must match the runner's name: Fay Friend."),
    ({"signature": ""}, "signature", "Type the runner's full name to sign the waiver."),
    ({"signature": "F" * 70_000}, "signature", "Type the runner's full name, nothing else."),
    ({"signature": "Fay\x00 Friend"}, "signature", "Type the runner's full name, nothing else."),
    ({"accepted": None}, "accepted", "Tick the box once the waiver has been read and is accepted."),
    ({"waiver_version": "1" * 40}, "accepted", "The waiver has changed since this page was opened."),
    ({"by_guardian": "y"}, "guardian_name", "Enter the parent or guardian's name."),
    ({"by_guardian": "y", "guardian_name": "Pat Parent", "signature": "Fay Friend"}, "signature",
     "The signature must be the parent or guardian's name: Pat Parent."),
    ({"by_guardian": "y", "guardian_name": "P" * 70_000, "signature": "P"}, "guardian_name",
     "Keep the parent or guardian's name to 200 characters or fewer"),
])
def test_a_signature_that_does_not_sign_is_422_beside_its_field_and_changes_nothing(signed_in, db, race, fay, changes,
                                                                                    field, message):
    response = sign(signed_in, race, fay, signing(db, race, **changes))
    body = text(response)
    assert response.status_code == 422 and message in body and f'id="sign-{fay.id}-{field}-error"' in body
    assert body.lstrip().startswith(f'<li id="reg-{fay.id}"')
    saved = fresh(db, fay)
    assert (saved.waiver_signed_at, saved.checked_in_at, saved.waiver_signature) == (None, None, "")
    assert db.session.scalar(select(RegistrationAudit.id).where(RegistrationAudit.registration_id == fay.id)) is None


def test_a_post_with_nothing_but_the_token_is_a_422_page(signed_in, db, race, fay):
    response = sign(signed_in, race, fay, {}, htmx=False)
    assert response.status_code == 422 and "<html" in text(response)
    assert "Tick the box" in text(response) and fresh(db, fay).checked_in_at is None


def test_the_waiver_changed_after_the_page_opened_is_refused(signed_in, db, race, fay):
    shown = waiver_of(db, race).id
    race_editing.set_waiver_text(db.session, race, "I run at my own risk, and I mean it.")
    db.session.commit()
    response = sign(signed_in, race, fay, signing(db, race, waiver_version=str(shown)))
    assert response.status_code == 422 and "The waiver has changed" in text(response)
    assert "I mean it." in text(response) and fresh(db, fay).waiver_signed_at is None


def test_a_runner_who_signed_or_checked_in_already_is_not_signed_again(signed_in, db, race, fay):
    ada = runner(db, race, race.ticket_types[0], "Ada", "Lovelace")
    signed = sign(signed_in, race, ada, signing(db, race, signature="Ada Lovelace"))
    assert signed.status_code == 422 and "Ada Lovelace has signed the waiver. <a" in text(signed)
    assert "has signed the waiver. <a" in text(signed_in.get(sign_url(race, ada)))

    assert sign(signed_in, race, fay, signing(db, race)).status_code == 200
    again = sign(signed_in, race, fay, signing(db, race))
    assert again.status_code == 409 and "Already checked in at 7:42 AM." in text(again)


def test_a_refunded_ticket_cannot_be_signed_and_checked_in(signed_in, db, race):
    gone = awaiting_runner(db, race, race.ticket_types[0], "Gus", "Gone", status=OrderStatus.REFUNDED)
    response = sign(signed_in, race, gone, signing(db, race, signature="Gus Gone"))
    assert response.status_code == 422 and "was refunded" in text(response)
    assert fresh(db, gone).waiver_signed_at is None



@pytest.mark.parametrize("change", ["refunded", "transferred"])
def test_a_ticket_refunded_or_transferred_after_the_desk_looked_it_up_is_not_signed_or_checked_in(db, race, organizer,
                                                                                                    fay, change):
    """The desk opened Fay's signing form, then her ticket was refunded (or given to someone else: a new code, the
    waiver to sign again by them): her signature is not written on it, and nobody is checked in."""
    from sqlalchemy import update

    from services.registrants import checkin, query
    from services.registrants.desk_waiver import DeskSignature, sign_and_check_in

    looked_up = query.registration_by_code(db.session, race.id, fay.ticket_code)
    db.session.expunge_all()
    db.session.execute(update(Registration).where(Registration.id == fay.id).values(
        **({"refunded_at": MORNING} if change == "refunded" else {"ticket_code": "NEWCODE3", "first_name": "Bo"})))
    recount_race(db, race)
    db.session.commit()
    waiver = waiver_of(db, race)
    with pytest.raises(checkin.CheckInRefused, match="refunded" if change == "refunded" else "transferred"):
        sign_and_check_in(db.session, race, looked_up, waiver,
                          DeskSignature(signature="Fay Friend", accepted=True, by_guardian=False, guardian_name="",
                                        waiver_version_id=waiver.id), organizer.id, MORNING, "")
    assert fresh(db, fay).waiver_signed_at is None and fresh(db, fay).checked_in_at is None

# --- who may -------------------------------------------------------------------------------------

def test_another_races_ticket_is_a_404_here(signed_in, db, race, organizer):
    other = organized_race(db, organizer)
    theirs = awaiting_runner(db, other, other.ticket_types[0], "Not", "Here")
    ours = awaiting_runner(db, race, race.ticket_types[0], "Ours", "Here")
    assert signed_in.get(sign_url(race, ours)).status_code == 200
    assert signed_in.get(sign_url(race, theirs)).status_code == 404
    assert sign(signed_in, race, theirs, signing(db, race, signature="Not Here")).status_code == 404
    assert signed_in.get(f"{desk(race)}/not-a-code!/sign").status_code == 404
    assert fresh(db, theirs).waiver_signed_at is None


@pytest.mark.parametrize("who, expected", [("stranger", 403), ("runner", 403), ("signed out", "sign-in")])
def test_only_the_races_organizers_may_have_a_runner_sign(app, db, race, fay, who, expected):
    client = app.test_client()
    if who != "signed out":
        login(client, make_profile(db, email=f"{who}@example.com"))
    get = client.get(sign_url(race, fay))
    post = client.post(sign_url(race, fay), data={"csrf_token": csrf_token(client, "/"), **signing(db, race)})
    for response in (get, post):
        if expected == "sign-in":
            assert response.status_code == 303 and response.headers["Location"].startswith("/auth/sign-in")
        else:
            assert response.status_code == expected
    assert fresh(db, fay).waiver_signed_at is None


def test_a_post_without_the_csrf_token_is_refused(signed_in, db, race, fay):
    response = signed_in.post(sign_url(race, fay), data=signing(db, race))
    assert response.status_code == 400 and fresh(db, fay).waiver_signed_at is None


# --- the ticket's QR link ---------------------------------------------------------------------

def test_the_ticket_page_warns_the_organizer_and_links_to_the_signing_form(signed_in, db, race, fay):
    page = text(signed_in.get(f"/tickets/{fay.ticket_code}"))
    assert "<strong>Waiver not signed.</strong> Fay hasn't filled in their details yet." in page
    assert f'href="{sign_url(race, fay)}?view=ticket"' in page and ">Check in</button>" not in page
    form = text(signed_in.get(sign_url(race, fay), query_string={"view": "ticket"}))
    assert 'name="view" value="ticket"' in form and f'href="/tickets/{fay.ticket_code}">Cancel' in form


# --- the waiver in the runner's language ----------------------------------------------------------

SPANISH_WAIVER = "Participo bajo mi propio riesgo."


@pytest.fixture
def spanish_waiver(db, race):
    """The race has its waiver in Spanish too (issue 19)."""
    race_texts.add_language(db.session, race, "es")
    version = race_editing.set_waiver_text(db.session, race, SPANISH_WAIVER, language="es")
    db.session.commit()
    return version


def test_the_desk_shows_the_waiver_in_the_runner_s_language_and_records_that_version(signed_in, db, race, fay,
                                                                                    spanish_waiver):
    """The organizer's phone reads English; Fay chose Spanish on her account: she reads and signs the Spanish one."""
    make_profile(db, email=fay.email, language="es")
    page = text(signed_in.get(sign_url(race, fay), headers=HX))
    assert '<html' not in page and '<div class="waiver-text" lang="es"' in page and SPANISH_WAIVER in page
    assert waiver_of(db, race).text not in page and ">Sign and check in<" in page  # the desk's own words: English
    assert re.search(r'<option value="es" lang="es" selected>Español</option>', page)
    assert f'name="waiver_version" value="{spanish_waiver.id}"' in page and 'name="language" value="es"' in page

    response = sign(signed_in, race, fay, signing(db, race, waiver_version=str(spanish_waiver.id), language="es"))

    assert response.status_code == 200
    signed = fresh(db, fay)
    assert signed.waiver_version_id == spanish_waiver.id and signed.waiver_signed_at_checkin
    assert db.session.get(WaiverVersion, signed.waiver_version_id).language == "es"


def test_the_desk_can_show_the_waiver_in_another_of_the_race_s_languages(signed_in, db, race, fay, spanish_waiver):
    """Fay has no account: the race's own language first; the desk switches to the one she reads."""
    english = waiver_of(db, race)
    page = text(signed_in.get(sign_url(race, fay)))
    assert 'lang="en"' in page and english.text in page and '<option value="es" lang="es">Español</option>' in page

    spanish = text(signed_in.get(sign_url(race, fay), query_string={"language": "es", "q": "fay"}, headers=HX))
    assert SPANISH_WAIVER in spanish and 'name="language" value="es"' in spanish

    shown_english = signing(db, race, waiver_version=str(english.id), language="es")  # the form and its text disagree
    refused = sign(signed_in, race, fay, shown_english)
    assert refused.status_code == 422 and "The waiver has changed since this page was opened" in text(refused)
    assert fresh(db, fay).waiver_signed_at is None

    assert sign(signed_in, race, fay, signing(db, race, waiver_version=str(english.id), language="en")).status_code == 200
    assert fresh(db, fay).waiver_version_id == english.id


@pytest.mark.parametrize("language", ["xx", "", "es" * 5000, "fr"])
def test_a_language_the_race_s_waiver_is_not_in_falls_back_to_the_runner_s(signed_in, db, race, fay, spanish_waiver,
                                                                          language):
    page = signed_in.get(sign_url(race, fay), query_string={"language": language})
    assert page.status_code == 200 and waiver_of(db, race).text in text(page)


def test_a_race_with_one_waiver_language_offers_no_choice(signed_in, db, race, fay):
    page = text(signed_in.get(sign_url(race, fay)))
    assert 'name="language" value="en"' in page and '<select id="sign-' not in page
