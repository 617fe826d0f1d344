"""Signing in by an emailed link ("magic link"): the embedded provider's one-time links, /auth/link, and the
cart's *Email me a link* tab, where the runners are saved, the link comes back to the cart and the visitor's
cart joins the account. The same cart story runs against Supabase Auth (the loopback GoTrue)."""
from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from flask import current_app
from sqlalchemy import select

from models import LocalUser, Order, OutboxMessage, Profile
from services import clock
from services.auth import AuthError
from services.auth.providers import provider_for, verifier_for
from tests.doubles.gotrue import GoTrueServer
from tests.factories import make_account
from tests.http import csrf_token
from tests.test_guest_cart_http import add, guest_carts, race, runner_fields, text, tickets  # noqa: F401  (race: fixture)

PASSWORD = "correct horse battery"


def outbox_link(db, email: str) -> str:
    """The link in the newest email to `email`, as a path and query on this site."""
    db.session.expire_all()
    message = db.session.scalars(select(OutboxMessage).where(OutboxMessage.to_address == email)
                                 .order_by(OutboxMessage.id.desc())).first()
    assert message is not None, f"no email to {email}"
    link = urlsplit(re.search(r"(http\S+token_hash=\S+)", message.text_body).group(1))
    return f"{link.path}?{link.query}"


def emails_to(db, email: str) -> int:
    db.session.expire_all()
    return len(db.session.scalars(select(OutboxMessage).where(OutboxMessage.to_address == email)).all())


def ask_for_link(client, db, race, email="vic@example.com", **overrides):
    """The cart's *Email me a sign-in link*, with the runner card as typed in the cart above it."""
    [order] = guest_carts(db)
    [ticket] = tickets(db, order.id)
    return client.post("/races/lake/cart/link", data={
        "csrf_token": csrf_token(client, "/races/lake/cart?account=link"), "account_mode": "link", "email": email,
        **runner_fields(db, race, ticket, **overrides)})


# --- the embedded provider ---------------------------------------------------------------------

def local_provider(db):
    return provider_for(current_app.config, db.session)


def test_local_magic_link_signs_an_existing_account_in_once(db):
    make_account(db, "ana@example.com", PASSWORD, full_name="Ana López")
    local_provider(db).send_magic_link("Ana@Example.com", redirect_to="http://site.test/auth/confirm?next=/x")
    message = db.session.scalars(select(OutboxMessage).where(OutboxMessage.to_address == "ana@example.com")).one()
    assert message.kind == "auth_magiclink" and "sign-in link" in message.subject
    token = re.search(r"token_hash=([^&\s]+)&type=magiclink", message.text_body).group(1)
    with pytest.raises(AuthError) as refused:
        local_provider(db).verify_email_link(token, "recovery")  # a sign-in link is no password reset
    assert refused.value.code == "otp_expired"
    session = local_provider(db).verify_email_link(token, "magiclink")
    assert session.access_token and session.refresh_token
    with pytest.raises(AuthError) as again:
        local_provider(db).verify_email_link(token, "magiclink")
    assert again.value.code == "otp_expired"
    assert local_provider(db).sign_in("ana@example.com", PASSWORD).access_token  # the password is untouched


def test_local_magic_link_for_a_new_address_creates_an_account_nobody_knows_the_password_of(db):
    local_provider(db).send_magic_link("new@example.com", redirect_to="http://site.test/auth/confirm?next=/")
    user = db.session.scalars(select(LocalUser).where(LocalUser.email == "new@example.com")).one()
    assert user.email_confirmed_at is None and user.password_hash.startswith(("scrypt:", "pbkdf2:"))
    for guess in ("", "!", "new@example.com"):
        with pytest.raises(AuthError):
            local_provider(db).sign_in("new@example.com", guess)
    token = re.search(r"token_hash=([^&\s]+)", db.session.scalars(select(OutboxMessage)).one().text_body).group(1)
    local_provider(db).verify_email_link(token, "magiclink")
    db.session.refresh(user)
    assert user.email_confirmed_at is not None


def test_a_password_set_on_a_never_confirmed_account_stops_working_when_the_owner_confirms_by_link(app, db):
    app.config["LOCAL_AUTH_AUTOCONFIRM"] = False
    local_provider(db).sign_up("ana@example.com", "an impostor's password", full_name="Not Ana",
                               redirect_to="http://site.test/auth/confirm?next=/")  # someone else, her address
    local_provider(db).send_magic_link("ana@example.com", redirect_to="http://site.test/auth/confirm?next=/")
    token = re.search(r"token_hash=([^&\s]+)&type=magiclink", db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.kind == "auth_magiclink")).one().text_body).group(1)
    assert local_provider(db).verify_email_link(token, "magiclink").access_token  # Ana, from her inbox
    with pytest.raises(AuthError):
        local_provider(db).sign_in("ana@example.com", "an impostor's password")


def test_local_magic_link_expires_after_an_hour_and_refuses_a_bad_address(db):
    clock.freeze(clock.now())
    local_provider(db).send_magic_link("late@example.com", redirect_to="http://site.test/auth/confirm?next=/")
    token = re.search(r"token_hash=([^&\s]+)", db.session.scalars(select(OutboxMessage)).one().text_body).group(1)
    clock.advance(timedelta(hours=1, seconds=1))
    with pytest.raises(AuthError) as expired:
        local_provider(db).verify_email_link(token, "magiclink")
    assert expired.value.code == "otp_expired"
    with pytest.raises(AuthError) as bad:
        local_provider(db).send_magic_link("not an address", redirect_to="http://site.test/auth/confirm?next=/")
    assert bad.value.code == "email_address_invalid"


# --- the cart's "Email me a link" tab ----------------------------------------------------------

def test_the_cart_s_link_tab_saves_the_runner_and_the_link_signs_in_merges_and_lands_on_the_cart(client, db, race):
    add(client, race, **{"10K": 1})
    [order] = guest_carts(db)
    tab = text(client.get("/races/lake/cart?account=link"))
    assert 'aria-current="page">Email me a link' in tab and 'formaction="/races/lake/cart/link"' in tab

    response = ask_for_link(client, db, race, first_name="Vera", waiver_signature="Vera Visitor")
    assert response.status_code == 200 and "Check your email" in text(response)
    assert "sign-in link to <strong>vic@example.com</strong>" in text(response)
    [ticket] = tickets(db, order.id)
    assert ticket.runner_name.startswith("Vera")  # saved by the same click
    assert db.session.get(Order, order.id).buyer_id is None  # still the visitor's, in its cookie

    link = outbox_link(db, "vic@example.com")
    assert "type=magiclink" in link and "next=/races/lake/cart" in link
    landed = client.get(link)
    assert landed.status_code == 303 and landed.headers["Location"].startswith("/races/lake/cart?cart=")
    page = client.get(landed.headers["Location"])
    assert page.status_code == 200 and "Continue to payment" in text(page)
    profile = db.session.scalars(select(Profile).where(Profile.email == "vic@example.com")).one()
    db.session.expire_all()
    assert db.session.get(Order, order.id).buyer_id == profile.id and guest_carts(db) == []


def test_the_link_brings_the_cart_into_an_existing_account(client, db, race):
    ana = make_account(db, "ana@example.com", PASSWORD, full_name="Ana López")
    add(client, race, **{"5K": 1})
    [order] = guest_carts(db)
    assert ask_for_link(client, db, race, email="ana@example.com").status_code == 200
    assert client.get(outbox_link(db, "ana@example.com")).status_code == 303
    assert client.get("/races/lake/cart").status_code == 200
    db.session.expire_all()
    assert db.session.get(Order, order.id).buyer_id == ana.id


def test_a_runner_s_error_or_a_bad_address_sends_nothing_and_says_why_in_place(client, db, race):
    add(client, race, **{"10K": 1})
    typo = ask_for_link(client, db, race, emergency_phone="call my mum")
    assert typo.status_code == 422 and 'aria-current="page">Email me a link' in text(typo)
    bad = ask_for_link(client, db, race, email="vic@")
    assert bad.status_code == 422 and "doesn&#39;t look like an email" in bad.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.scalars(select(OutboxMessage)).all() == []


@pytest.mark.parametrize("spoil", ["used", "expired", "forged"])
def test_a_used_expired_or_forged_cart_link_is_a_clear_400(client, db, race, spoil):
    clock.freeze(clock.now())
    add(client, race, **{"10K": 1})
    ask_for_link(client, db, race)
    link = outbox_link(db, "vic@example.com")
    if spoil == "used":
        assert client.get(link).status_code == 303
        client.delete_cookie("sl_access")
        client.delete_cookie("sl_refresh")
    elif spoil == "expired":
        clock.advance(timedelta(hours=2))
    else:
        link = re.sub(r"token_hash=[^&]+", "token_hash=" + "f" * 43, link)
    response = client.get(link)
    assert response.status_code == 400 and "expired or was already used" in text(response)


def test_asking_for_a_link_needs_csrf(client, db, race):
    add(client, race, **{"10K": 1})
    [order] = guest_carts(db)
    [ticket] = tickets(db, order.id)
    response = client.post("/races/lake/cart/link", data={"email": "vic@example.com",
                                                          **runner_fields(db, race, ticket)})
    assert response.status_code == 400 and emails_to(db, "vic@example.com") == 0


def test_links_sent_count_against_the_auth_forms_rate_limit(client, app, db, race):
    app.config["AUTH_RATE_LIMIT"] = "2 per minute"
    add(client, race, **{"10K": 1})
    statuses = [ask_for_link(client, db, race).status_code for _ in range(3)]
    assert statuses == [200, 200, 429] and emails_to(db, "vic@example.com") == 2
    page = client.post("/auth/link", data={"csrf_token": csrf_token(client, "/auth/link"), "email": "a@example.com"})
    assert page.status_code == 429  # the same limit as the sign-in pages'


def test_a_runner_s_typo_in_the_link_click_does_not_count_against_the_rate_limit(client, app, db, race):
    app.config["AUTH_RATE_LIMIT"] = "2 per minute"
    add(client, race, **{"10K": 1})
    assert [ask_for_link(client, db, race, emergency_phone="call my mum").status_code for _ in range(3)] == [422] * 3
    assert ask_for_link(client, db, race).status_code == 200


# --- /auth/link, from the sign-in page ---------------------------------------------------------

def test_the_sign_in_page_offers_a_link_and_it_keeps_next(client, db):
    sign_in = text(client.get("/auth/sign-in?next=/races/lake"))
    assert 'href="/auth/link?next=/races/lake">Email me a sign-in link' in sign_in
    page = client.get("/auth/link?next=/races/lake")
    assert page.status_code == 200 and 'name="next" type="hidden" value="/races/lake"' in page.get_data(as_text=True)
    sent = client.post("/auth/link", data={"csrf_token": csrf_token(client, "/auth/link?next=/races/lake"),
                                           "email": "ron@example.com", "next": "/races/lake"})
    assert sent.status_code == 200 and "Check your email" in text(sent)
    landed = client.get(outbox_link(db, "ron@example.com"))
    assert landed.status_code == 303 and landed.headers["Location"] == "/races/lake"
    refused = client.post("/auth/link", data={"csrf_token": csrf_token(client, "/auth/link"), "email": "nope"})
    assert refused.status_code == 422


# --- the same cart story against Supabase Auth -------------------------------------------------

@pytest.fixture
def gotrue(app):
    with GoTrueServer() as server:
        app.config.update(SUPABASE_URL=server.url, SUPABASE_PUBLISHABLE_KEY=server.anon_key)
        app.extensions["startline_token_verifier"] = verifier_for(app.config)
        yield server


def supabase_link(mail: dict) -> str:
    """What our Supabase email templates send (README): {{ .RedirectTo }}&token_hash=…&type=…"""
    link_type = "email" if mail["type"] == "signup" else mail["type"]
    link = urlsplit(f"{mail['redirect_to']}&token_hash={mail['token_hash']}&type={link_type}")
    return f"{link.path}?{link.query}"


@pytest.mark.parametrize("existing", [True, False])
def test_on_supabase_the_cart_link_signs_in_and_brings_the_cart(client, db, race, gotrue, existing):
    if existing:
        gotrue.create_user("sam@example.com", PASSWORD, user_metadata={"full_name": "Sam Supa"})
    add(client, race, **{"10K": 1})
    [order] = guest_carts(db)
    response = ask_for_link(client, db, race, email="Sam@Example.com")
    assert response.status_code == 200 and "Check your email" in text(response)
    mail = gotrue.last_mail("sam@example.com")
    assert mail["type"] == ("magiclink" if existing else "signup")  # a new address gets its confirmation
    sent = next(r for r in gotrue.requests if r["path"].endswith("/otp"))
    assert sent["json"]["email"] == "sam@example.com" and sent["json"]["create_user"] is True

    landed = client.get(supabase_link(mail))
    assert landed.status_code == 303 and landed.headers["Location"].startswith("/races/lake/cart?cart=")
    assert client.get(landed.headers["Location"]).status_code == 200
    db.session.expire_all()
    buyer = db.session.get(Order, order.id).buyer_id
    assert buyer is not None and db.session.get(Profile, buyer).email == "sam@example.com"
    assert client.get(supabase_link(mail)).status_code == 400  # once only


def test_on_supabase_a_refused_link_is_said_beside_the_email(client, db, race, gotrue):
    gotrue.authorized_addresses = {"team@example.com"}
    add(client, race, **{"10K": 1})
    response = ask_for_link(client, db, race, email="vic@example.com")
    assert response.status_code == 422 and "can&#39;t send email to this address" in response.get_data(as_text=True)
