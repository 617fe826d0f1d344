"""Bad input is never a 500, and a refused post changes nothing: generated junk posted to every form route.

The routes come from the app's url_map (every unsafe route of the organizer's area and the cart), so a
new form is fuzzed without anyone adding it here; a route whose URL needs an argument this file can't
fill fails loudly instead of being skipped. Each example posts junk with a valid CSRF token: fields
left out, empty, huge, of the wrong type, repeated, with control characters or stray names, as a
page or as an htmx fragment. The answer must not be a 5xx, and when it is a 4xx the database must
be exactly as it was.
"""
from __future__ import annotations

import io
import os
from datetime import UTC, datetime, timedelta

import pytest
from flask import url_for
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from app import create_app
from config import TestConfig
from models import (
    Base,
    DuplicatePayment,
    DuplicatePaymentStatus,
    OutboxMessage,
    OutboxStatus,
    PriceTier,
    RaceMedia,
    RaceOrganizer,
    Refund,
    RefundStatus,
    Registration,
    WaitlistEntry,
)
from models.organizer import OrganizerInvite, OrganizerRole
from services import race_editing, runner_invites
from services.registration_changes.links import change_link_token
from services.tokens import token_hash
from tests.factories import login, make_cart, make_code, make_paid_order, make_profile, make_race
from tests.http import csrf_token
from tests.runner_invite_factories import buy_for_friend

FUZZED_AREAS = ("manage.", "cart.", "runner_invites.", "waitlist.", "ticket_changes.", "messages_public.")
# ~45 routes × 10 examples keeps the file near 25 s of CPU on SQLite; BAD_INPUT_EXAMPLES=200 digs deeper.
EXAMPLES_PER_ROUTE = int(os.environ.get("BAD_INPUT_EXAMPLES", "10"))

# Every name a form of these areas reads (their WTForms fields and `request.form.get` names), so the
# junk often hits a real field; a few names no form reads come along too.
FIELD_NAMES = sorted({
    "title", "slug", "summary", "description", "day", "start", "timezone", "closes_day", "closes_time",
    "location_name", "address", "currency", "tax_mode", "tax_rate", "tax_label", "waiver", "tshirt_sizes",
    "ask_gender", "url", "name", "price", "capacity", "min_age", "max_age", "sales_start", "sales_end",
    "direction", "hidden", "kind", "code", "value", "ticket_type", "starts_at", "ends_at", "max_uses", "active",
    "email", "first_name", "last_name", "date_of_birth", "gender", "tshirt_size", "emergency_name",
    "emergency_phone", "waiver_guardian_name", "waiver_accepted", "waiver_signature", "waiver_version",
    "bib", "first", "last", "next", "registration", "quantity", "field", "_original", "image", "this_is_me",
    "organizer_id", "status", "id", "race_id", "csrf", "fill", "save", "same_as_first", "runner_fills_in",
    "city", "country", "club", "spots", "paused", "waitlist_hold_hours", "ticket_type_id",
    "subject", "body", "checked_in", "details", "essential", "key", "source",
    # prices by date (a ticket type's steps: step0 is the first, new- the row being added)
    "steps", "remove", "add", "step0-label", "step0-until_sold", "step1-starts_on", "step1-price", "step1-until_sold",
    "step1-label", "new-starts_on", "new-price", "new-label",
})

_control = st.text(alphabet=st.characters(codec="utf-8", categories=["Cc", "Cf", "Zl", "Zp"],
                                          exclude_characters="\x00"), min_size=1, max_size=8)
JUNK_VALUES = st.one_of(
    st.just(""), st.just(" "), st.sampled_from([
        "0", "-1", "1e400", "NaN", "Infinity", "-0.001", "999999999999999999999", "12,50", "1.005", "٣", "½",
        "2031-02-30", "0000-00-00", "9999-12-31T23:59", "25:61", "true", "null", "[]", "{}", '{"title": 1}',
        "../../etc/passwd", "<script>alert(1)</script>", "' OR 1=1 --", "%00", "y", "up", "down", "1",
        "America/New_York", "Mars/Olympus", "USD", "XXX", "percent", "amount", "https://example.com",
        "javascript:alert(1)", "S,M,L", "a@b.c", "Female", "FRIENDS"]),
    st.text(max_size=40),
    _control.map(lambda junk: f"Ann{junk}Lee"),
    st.integers(min_value=-10**30, max_value=10**30).map(str),
    st.sampled_from([5_000, 70_000]).map(lambda n: "x" * n),
)

JUNK_FORMS = st.lists(st.tuples(st.one_of(st.sampled_from(FIELD_NAMES), st.text(min_size=1, max_size=12)),
                                JUNK_VALUES), max_size=14)


def _unsafe_rules(app):
    return sorted((rule for rule in app.url_map.iter_rules()
                   if rule.endpoint.startswith(FUZZED_AREAS) and rule.methods & {"POST", "PUT", "PATCH", "DELETE"}),
                  key=lambda rule: rule.rule)


def _rule_ids() -> list[str]:
    """The routes, read at collection time from an app that never touches a database."""
    config = {k: getattr(TestConfig, k) for k in dir(TestConfig) if k.isupper()}
    return [rule.endpoint for rule in _unsafe_rules(create_app({**config, "SQLALCHEMY_DATABASE_URI": "sqlite://"}))]


class World:
    """One organizer signed in, their published race with everything a form can change, and a cart of theirs."""

    def __init__(self, db, client):
        self.organizer = make_profile(db, full_name="Olga Organizer", email="olga@example.com")
        race = make_race(db, organizer=self.organizer, slug="lake-10k", title="Lake 10K",
                         tickets=[("10K", 4500, 50), ("Kids 1K", 500, 40)],
                         social=[("instagram", "https://instagram.com/lake10k")],
                         summary="By the lake.", description="## Course", tshirt_sizes="S,M,L", ask_gender=True)
        race.ticket_types[1].min_age, race.ticket_types[1].max_age = 6, 12
        race.registration_closes_at = race.starts_at - timedelta(days=1)
        race_editing.set_waiver_text(db.session, race, "I run at my own risk.")
        db.session.commit()
        self.race, self.ten_k = race, race.ticket_types[0]
        db.session.add_all([PriceTier(ticket_type_id=self.ten_k.id, position=0, price=4500, label="Early bird"),
                            PriceTier(ticket_type_id=self.ten_k.id, position=1, price=5500,
                                      starts_on=race.starts_at.date() - timedelta(days=7))])
        self.paid = make_paid_order(db, race, {self.ten_k: 2})
        self.registration = db.session.scalar(select(Registration).where(Registration.order_id == self.paid.id))
        self.code = make_code(db, race, code="FRIENDS")
        helper = make_profile(db, email="helper@example.com")
        self.member = RaceOrganizer(race_id=race.id, profile_id=helper.id, role=OrganizerRole.CO_ORGANIZER)
        self.invite = OrganizerInvite(race_id=race.id, email="new@example.com", token_hash=token_hash("tok" * 12),
                                      invited_by_id=self.organizer.id)
        self.failed_email = OutboxMessage(to_address="ann@example.com", subject="Your ticket", text_body="…",
                                          kind="ticket", race_id=race.id, status=OutboxStatus.FAILED, attempts=8)
        # Paid twice, and Stripe refused to send the second payment back: the organizer's one-click refund.
        self.duplicate = DuplicatePayment(order_id=self.paid.id, race_id=race.id, payment_intent_id="pi_second",
                                          checkout_session_id="cs_second", amount=self.paid.total, currency=race.currency,
                                          status=DuplicatePaymentStatus.FAILED, error="Stripe was unreachable.")
        self.waiting = WaitlistEntry(race_id=race.id, ticket_type_id=self.ten_k.id, email="wait@example.com",
                                     name="Walt Waiting", spots=2, nonce="n" * 16)
        # A refund the provider refused (not a distance change's difference: nothing to send again from here).
        self.failed_refund = Refund(order_id=self.paid.id, race_id=race.id, status=RefundStatus.FAILED, amount=100,
                                    error="Declined.")
        db.session.add_all([self.member, self.invite, self.failed_email, self.duplicate, self.waiting,
                            self.failed_refund])
        db.session.commit()
        self.cart = make_cart(db, race, {self.ten_k: 1}, buyer=self.organizer, complete=False)
        self.cart_registration = db.session.scalar(select(Registration).where(Registration.order_id == self.cart.id))
        # A friend's ticket waiting for their own details, and its personal link.
        self.friend_link = runner_invites.link_token(buy_for_friend(db, race))
        # The runner's one-hour link to transfer their ticket or change its distance.
        self.change_link = change_link_token(self.registration, datetime.now(UTC))
        login(client, self.organizer)
        self.media_id = self._upload_a_cover(db, client)

    def _upload_a_cover(self, db, client) -> int:
        png = io.BytesIO()
        Image.new("RGB", (64, 48), "green").save(png, "PNG")
        response = client.post(f"/manage/races/{self.race.id}/media", data={
            "csrf_token": csrf_token(client, f"/manage/races/{self.race.id}"), "kind": "cover",
            "image": (io.BytesIO(png.getvalue()), "cover.png")})
        assert response.status_code in (200, 303)
        return db.session.scalar(select(RaceMedia.id).where(RaceMedia.race_id == self.race.id))

    def url_values(self, rule) -> dict:
        """What this route's URL needs, from the world; a new kind of argument has to be added here."""
        in_cart = rule.endpoint.startswith("cart.")
        known = {
            "race_id": self.race.id, "slug": self.race.slug, "ticket_type_id": self.ten_k.id,
            "registration_id": (self.cart_registration if in_cart else self.registration).id,
            "code": self.registration.ticket_code, "code_id": self.code.id, "invite_id": self.invite.id,
            "member_id": self.member.id, "message_id": self.failed_email.id, "order_id": self.paid.id,
            "media_id": self.media_id,
            "token": {"runner_invites": self.friend_link, "ticket_changes": self.change_link}.get(
                rule.endpoint.split(".")[0], "tok" * 12),
            "group_name": "title", "duplicate_id": self.duplicate.id, "entry_id": self.waiting.id,
            "refund_id": self.failed_refund.id,
        }
        missing = rule.arguments - known.keys()
        assert not missing, f"{rule.rule}: teach tests/test_bad_input.py what to put in {sorted(missing)}"
        return {name: known[name] for name in rule.arguments}


def database_rows(db) -> dict:
    """Every row of every table, to prove a refused request wrote nothing anywhere."""
    db.session.rollback()
    db.session.expire_all()
    return {table.name: db.session.execute(select(table).order_by(*table.primary_key.columns)).all()
            for table in Base.metadata.sorted_tables}


@pytest.mark.parametrize("endpoint", _rule_ids())
def test_junk_posted_to_a_form_route_is_never_a_500_and_a_refusal_changes_nothing(app, db, client, endpoint):
    world = World(db, client)
    rule = next(rule for rule in _unsafe_rules(app) if rule.endpoint == endpoint)
    url_values = world.url_values(rule)  # plain ids: a successful delete must not break the next example
    card_prefix = f"r{world.cart_registration.id}-"  # the cart's runner card, as its fields are named
    token = csrf_token(client, f"/manage/races/{world.race.id}")
    group_names = st.sampled_from(["title", "slug", "summary", "description", "when", "closes", "where", "currency",
                                   "tax", "waiver", "runner-questions", "social-instagram", "organizer_id"])
    uploads = st.lists(st.tuples(st.binary(max_size=300), st.sampled_from(["x.png", "x.jpg", "", "../x.webp"])),
                       max_size=2)

    @settings(max_examples=EXAMPLES_PER_ROUTE, deadline=None, database=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(junk=JUNK_FORMS, htmx=st.booleans(), group=group_names, files=uploads)
    def post_junk(junk, htmx, group, files):
        values = dict(url_values)
        if "group_name" in values:
            values["group_name"] = group
        with app.test_request_context():
            path = url_for(rule.endpoint, **values)
        if rule.endpoint.startswith("cart."):  # the runner cards' fields carry their ticket's prefix too
            junk = [*junk, *((f"{card_prefix}{name}", value) for name, value in junk)]
        form = MultiDict([("csrf_token", token), *junk])
        for content, filename in files if rule.endpoint == "manage.upload_media" else []:
            form.add("image", (io.BytesIO(content), filename))
        before = database_rows(db)

        response = client.post(path, data=form, headers={"HX-Request": "true"} if htmx else {})

        assert response.status_code < 500, (path, list(form.items(multi=True))[:6], response.status_code)
        if 400 <= response.status_code < 500:
            assert database_rows(db) == before, (path, response.status_code, list(form.items(multi=True))[:6])

    post_junk()


def test_every_organizer_and_cart_form_route_is_fuzzed(app):
    endpoints = {rule.endpoint for rule in _unsafe_rules(app)}
    assert {"manage.save_field", "manage.save_ticket_type", "manage.edit_registrant", "manage.save_code",
            "cart.save", "cart.add"} <= endpoints
    assert set(_rule_ids()) == endpoints

