"""A friend who fills in their own details: the invitation at payment, the link's lifecycle, what they send
(age checked, the buyer and organizers told once), reminders by the clock, the organizer's resend, the account."""
from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from itsdangerous import URLSafeSerializer
from sqlalchemy import select

from blueprints.rendering import race_time
from config import Config
from models import Order, Registration, WaiverVersion
from services import clock
from services import runner_invites as invites
from services.fulfillment import Payment, fulfill
from services.runner_invites import AgeRefused, ClaimRefused, LinkRefused, ResendRefused
from services.runners import RunnerDetails, RunnerRefused
from services.sales import signup_deadline
from services.scheduler import JOBS, Scheduler
from services.stored_sentences import worded
from tests.factories import make_profile, recount_race
from tests.runner_invite_factories import buy_for_friend, emails, make_friend_race

T0 = datetime.now(UTC).replace(microsecond=0)
BEN = RunnerDetails(first_name="Ben", last_name="Okafor", email="ben@example.com", date_of_birth=date(1992, 3, 4),
                    tshirt_size="M", emergency_name="Ife Okafor", emergency_phone="+44 20 7946 0000",
                    city="Leeds", club="Leeds Harriers", waiver_accepted=True, waiver_signature="Ben Okafor")


@pytest.fixture
def race(db):
    return make_friend_race(db, title="Lake 10K", slug="lake-10k")


@pytest.fixture
def ticket(db, race):
    return buy_for_friend(db, race, now=T0)


def _open(db, registration, now=T0):
    return invites.open_invitation(db.session, invites.link_token(registration), now)


def _signed(details: RunnerDetails, db, race) -> RunnerDetails:
    waiver = db.session.scalar(select(WaiverVersion).where(WaiverVersion.race_id == race.id))
    return replace(details, waiver_version_id=waiver.id)


# --- the invitation at payment -------------------------------------------------------------------

def test_paying_invites_the_friend_by_email_with_who_bought_it_the_race_the_deadline_and_their_link(db, race, ticket):
    assert ticket.invite_nonce and len(ticket.invite_nonce) == 32
    assert ticket.invite_sent_at.replace(tzinfo=UTC) == T0 and ticket.awaiting_runner
    [invite] = emails(db, "runner_invite")
    assert invite.to_address == "Ben Okafor <ben@example.com>"
    assert invite.subject == "Ana López got you a ticket for Lake 10K: fill in your details"
    assert "Ana López (ana@example.com) bought you a ticket for Lake 10K." in invite.text_body
    assert "Lake 10K, 10K" in invite.text_body
    assert f"http://localhost/runner-details/{invites.link_token(ticket)}" in invite.text_body
    assert invites.link_token(ticket) in invite.html_body and "Fill in my details" in invite.html_body
    assert f"sign the waiver yourself (a parent or guardian signs for a runner under 18) by " \
           f"{race_time(signup_deadline(race), race.timezone)}:" in invite.text_body


def test_the_same_payment_arriving_again_invites_nobody_twice(db, race, ticket):
    order = db.session.get(Order, ticket.order_id)
    nonce, link = ticket.invite_nonce, invites.link_token(ticket)
    for _ in range(2):  # Stripe delivers an event more than once, and late
        fulfill(db.session, order.id, Payment(order.total, order.currency, order.payment_intent_id), T0 + timedelta(hours=1))
        db.session.commit()
    db.session.expire_all()
    assert len(emails(db, "runner_invite")) == 1
    assert db.session.get(Registration, ticket.id).invite_nonce == nonce  # the emailed link still works
    assert _open(db, ticket).registration.id == ticket.id and invites.link_token(ticket) == link


def test_the_buyers_confirmation_says_who_still_has_to_fill_in_and_holds_no_qr_code_for_them(db, race, ticket):
    [confirmation] = emails(db, "order_confirmation")
    assert "Waiting for Ben's details: we emailed them a link" in confirmation.text_body
    assert "Waiting for Ben's details. We emailed them a link" in confirmation.html_body
    assert f"/tickets/{ticket.ticket_code}" not in confirmation.text_body + confirmation.html_body
    images = [a for a in confirmation.attachments if a["content_type"] == "image/png"]
    assert len(images) == 1  # the buyer's own ticket only
    assert not emails(db, "ticket", to="ben@example.com")  # no ticket before the details are in


# --- the link's lifecycle --------------------------------------------------------------------------

def test_a_fresh_link_opens_the_friends_ticket_only(db, race, ticket):
    invitation = _open(db, ticket)
    assert invitation.registration.id == ticket.id
    assert invitation.buyer.full_name == "Ana López" and invitation.ticket_type.name == "10K"


@pytest.mark.parametrize("tamper", [
    lambda token: token[:-2] + ("AA" if not token.endswith("AA") else "BB"),
    lambda token: "x" + token,
    lambda token: "",
    lambda token: "not-a-token",
    lambda token: token.split(".")[0] + ".forged",
])
def test_a_forged_link_is_not_found(db, race, ticket, tamper):
    with pytest.raises(LinkRefused) as refused:
        invites.open_invitation(db.session, tamper(invites.link_token(ticket)), T0)
    assert refused.value.status == 404


def test_a_link_signed_for_another_purpose_or_another_ticket_is_not_found(db, race, ticket, app):
    claim = invites.claim_token(ticket)
    with pytest.raises(LinkRefused) as refused:
        invites.open_invitation(db.session, claim, T0)
    assert refused.value.status == 404
    for payload in ([ticket.id + 1000, ticket.invite_nonce], [str(ticket.id), ticket.invite_nonce], [ticket.id, ""],
                    {"id": ticket.id}, [ticket.id]):
        token = URLSafeSerializer(app.config["SECRET_KEY"], salt="runner-details").dumps(payload)
        with pytest.raises(LinkRefused) as refused:
            invites.open_invitation(db.session, token, T0)
        assert refused.value.status == 404


def test_the_buyers_own_ticket_has_no_link(db, race, ticket, app):
    own = db.session.scalar(select(Registration).where(Registration.order_id == ticket.order_id,
                                                       Registration.id != ticket.id))
    own.invite_nonce = "0" * 32
    db.session.commit()
    with pytest.raises(LinkRefused) as refused:
        _open(db, own)
    assert refused.value.status == 404


def test_a_link_expires_when_sign_up_closes(db, race, ticket):
    deadline = signup_deadline(race)
    assert _open(db, ticket, deadline - timedelta(seconds=1))
    with pytest.raises(LinkRefused) as refused:
        _open(db, ticket, deadline)
    assert refused.value.status == 410 and "closed" in refused.value.message


def test_a_new_nonce_revokes_every_earlier_link(db, race, ticket):
    old = invites.link_token(ticket)
    ticket.invite_nonce = "f" * 32
    db.session.commit()
    with pytest.raises(LinkRefused) as refused:
        invites.open_invitation(db.session, old, T0)
    assert refused.value.status == 410 and "newer link" in refused.value.message
    assert _open(db, ticket)


def test_a_refunded_ticket_opens_nothing(db, race, ticket):
    ticket.refunded_at = T0
    recount_race(db, race)
    db.session.commit()
    with pytest.raises(LinkRefused) as refused:
        _open(db, ticket)
    assert refused.value.status == 410


def test_sending_the_details_saves_them_with_the_signature_and_uses_the_link(db, race, ticket):
    invites.submit_details(db.session, _open(db, ticket), _signed(BEN, db, race), T0 + timedelta(hours=2), "203.0.113.9")
    db.session.expire_all()
    saved = db.session.get(Registration, ticket.id)
    assert saved.runner_details_at.replace(tzinfo=UTC) == T0 + timedelta(hours=2) and not saved.awaiting_runner
    assert saved.runner_fills_in  # kept: the runner filled in their own
    assert (saved.date_of_birth, saved.emergency_name, saved.city, saved.club) == \
        (date(1992, 3, 4), "Ife Okafor", "Leeds", "Leeds Harriers")
    assert saved.waiver_signature == "Ben Okafor" and saved.waiver_ip == "203.0.113.9" and saved.waiver_version_id
    assert saved.waiver_signed_at.replace(tzinfo=UTC) == T0 + timedelta(hours=2)
    [ticket_email] = emails(db, "ticket", to="ben@example.com")
    assert f"/tickets/{saved.ticket_code}" in ticket_email.text_body
    with pytest.raises(LinkRefused) as refused:
        _open(db, saved)
    assert refused.value.status == 410 and "has been used" in refused.value.message
    assert invites.open_ticket(db.session, invites.claim_token(saved)).registration.id == ticket.id


def test_details_that_break_a_rule_change_nothing(db, race, ticket):
    with pytest.raises(RunnerRefused) as refused:
        invites.submit_details(db.session, _open(db, ticket), replace(_signed(BEN, db, race), waiver_signature="Ana López"),
                               T0, "203.0.113.9")
    assert set(refused.value.problems) == {"waiver_signature"}
    db.session.expire_all()
    saved = db.session.get(Registration, ticket.id)
    assert saved.awaiting_runner and saved.date_of_birth is None and saved.waiver_signed_at is None


def test_details_posted_as_buyer_only_still_ask_everything(db, race, ticket):
    """A runner can't skip their own details by claiming to be a buyer leaving them to someone else."""
    with pytest.raises(RunnerRefused):
        invites.submit_details(db.session, _open(db, ticket), RunnerDetails(first_name="Ben", last_name="Okafor",
                                                                             email="ben@example.com", runner_fills_in=True),
                               T0, "")
    assert db.session.get(Registration, ticket.id).awaiting_runner


def test_a_minor_signs_through_their_guardian(db, race):
    ticket = buy_for_friend(db, race, ticket_type=race.ticket_types[1], friend=("Mia", "Okafor", "parent@example.com"),
                            now=T0)
    kid = replace(BEN, first_name="Mia", email="parent@example.com", date_of_birth=date(T0.year - 9, 1, 15),
                  waiver_signature="Mia Okafor")
    with pytest.raises(RunnerRefused) as refused:
        invites.submit_details(db.session, _open(db, ticket), _signed(kid, db, race), T0, "")
    assert "parent or guardian" in refused.value.problems["waiver_signature"]
    invites.submit_details(db.session, _open(db, ticket),
                           _signed(replace(kid, waiver_guardian_name="Ife Okafor", waiver_signature="ife okafor"), db, race),
                           T0, "198.51.100.4")
    saved = db.session.get(Registration, ticket.id)
    assert saved.waiver_guardian_name == "Ife Okafor" and saved.runner_details_at is not None


# --- age that doesn't fit ------------------------------------------------------------------------------

def test_an_age_outside_the_ticket_type_is_refused_and_the_buyer_and_organizers_are_told_once(db, race, ticket):
    teen = _signed(replace(BEN, date_of_birth=date(T0.year - 15, 1, 1), waiver_guardian_name="Ife Okafor",
                           waiver_signature="Ife Okafor"), db, race)
    for _ in range(3):  # the same problem again and again: one email each
        with pytest.raises(AgeRefused) as refused:
            invites.submit_details(db.session, _open(db, ticket), teen, T0, "")
        assert "must be 18 or older on race day" in refused.value.problems["date_of_birth"]
    db.session.expire_all()
    saved = db.session.get(Registration, ticket.id)
    assert saved.awaiting_runner and saved.date_of_birth is None and saved.waiver_signed_at is None
    assert "must be 18 or older on race day (this runner will be 1" in worded(saved.details_problem)
    notices = emails(db, "runner_age_problem")
    assert sorted(n.to_address for n in notices) == ["Ana López <ana@example.com>", "Olga Organizer <olga@example.com>"]
    to_organizer = next(n for n in notices if "olga" in n.to_address)
    assert "switch them to a distance that fits, or refund" in to_organizer.text_body
    assert f"/registrants/{ticket.id}" in to_organizer.text_body

    for years in (14, 13, 12):  # other birth dates, other problems: the organizer sees the latest, nobody is
        younger = replace(teen, date_of_birth=date(T0.year - years, 1, 1))  # emailed again (no mail bomb)
        with pytest.raises(AgeRefused):
            invites.submit_details(db.session, _open(db, ticket), younger, T0, "")
    assert len(emails(db, "runner_age_problem")) == 2
    assert "(this runner will be 1" in worded(db.session.get(Registration, ticket.id).details_problem)

    invites.submit_details(db.session, _open(db, ticket), _signed(BEN, db, race), T0, "")  # a mistyped year, fixed
    assert db.session.get(Registration, ticket.id).details_problem == ""


def test_the_same_link_sent_twice_saves_once(db, race, ticket):
    first, second = _open(db, ticket), _open(db, ticket)  # two tabs, or a double click, both opened the form
    invites.submit_details(db.session, first, _signed(BEN, db, race), T0, "")
    with pytest.raises(invites.LinkRefused) as refused:
        invites.submit_details(db.session, second, _signed(replace(BEN, first_name="Benjamin"), db, race), T0, "")
    assert refused.value.status == 410
    db.session.expire_all()
    assert db.session.get(Registration, ticket.id).first_name == BEN.first_name
    assert len(emails(db, "ticket")) == 1



def test_a_form_opened_before_the_ticket_was_transferred_saves_nothing(db, app, race, ticket):
    """The friend's form was open when the buyer gave the ticket to someone else: the new runner's name, email and
    link stand; the old link's details are refused, and the new ticket code is not emailed to the old runner."""
    from flask import current_app

    from services.payments import gateway_for
    from services.registration_changes.start import NewRunner, start_transfer
    from tests.change_factories import buyer_actor, urls

    stale = _open(db, ticket)  # opened, then the transfer below commits before the form is sent
    race.transfers_enabled, race.registration_closes_at = True, T0 + timedelta(days=20)
    db.session.commit()
    with current_app.test_request_context():
        start_transfer(db.session, gateway_for(app), db.session.get(Registration, ticket.id),
                       NewRunner("Bo", "Lee", "bo@example.com"), buyer_actor(db, ticket), T0, urls)
    tickets_before = len(emails(db, "ticket"))
    with pytest.raises(invites.LinkRefused) as refused:
        invites.submit_details(db.session, stale, _signed(BEN, db, race), T0, "")
    assert refused.value.status == 410 and "replaced" in str(refused.value.title)
    db.session.expire_all()
    assert (db.session.get(Registration, ticket.id).first_name, db.session.get(Registration, ticket.id).email) == (
        "Bo", "bo@example.com")
    assert len(emails(db, "ticket")) == tickets_before

def test_an_age_problem_with_other_mistakes_tells_nobody_yet(db, race, ticket):
    with pytest.raises(RunnerRefused) as refused:
        invites.submit_details(db.session, _open(db, ticket),
                               replace(BEN, date_of_birth=date(T0.year - 15, 1, 1), emergency_phone=""), T0, "")
    assert not isinstance(refused.value, AgeRefused)
    assert not emails(db, "runner_age_problem")


# --- reminders ----------------------------------------------------------------------------------

def _reminders_at(db, at: datetime) -> int:
    clock.freeze(at)
    return invites.send_reminders(db.session, clock.now())


def test_reminders_go_out_after_three_days_and_in_the_last_day_at_most_once_a_day(db, race, ticket):
    deadline = signup_deadline(race)  # 20 days after T0
    assert _reminders_at(db, T0 + timedelta(days=2, hours=23)) == 0
    assert _reminders_at(db, T0 + timedelta(days=3)) == 1
    assert _reminders_at(db, T0 + timedelta(days=3, hours=5)) == 0
    assert _reminders_at(db, T0 + timedelta(days=10)) == 0  # nothing between the two
    assert _reminders_at(db, deadline - timedelta(days=1, hours=1)) == 0
    assert _reminders_at(db, deadline - timedelta(hours=23)) == 1
    assert _reminders_at(db, deadline - timedelta(minutes=1)) == 0
    assert _reminders_at(db, deadline + timedelta(days=2)) == 0
    db.session.expire_all()
    saved = db.session.get(Registration, ticket.id)
    assert saved.invite_reminders == 2
    assert saved.invite_reminded_at.replace(tzinfo=UTC) == deadline - timedelta(hours=23)
    reminders = emails(db, "runner_reminder")
    assert [r.subject for r in reminders] == ["Reminder: fill in your details for Lake 10K"] * 2
    assert invites.link_token(saved) in reminders[0].text_body


def test_a_late_invitation_gets_one_reminder_never_two_in_a_day(db):
    race = make_friend_race(db, closes_in=timedelta(days=3, hours=12))
    ticket = buy_for_friend(db, race, now=T0)
    deadline = signup_deadline(race)
    assert _reminders_at(db, deadline - timedelta(hours=23)) == 1  # the last day: one reminder
    assert _reminders_at(db, T0 + timedelta(days=3)) == 0  # three days after the invitation, but 1 hour later
    assert db.session.get(Registration, ticket.id).invite_reminders == 1


def test_invitations_sent_within_a_day_of_the_deadline_get_no_reminder(db):
    race = make_friend_race(db, closes_in=timedelta(hours=20))
    buy_for_friend(db, race, now=T0)
    assert _reminders_at(db, T0 + timedelta(hours=19)) == 0


def test_no_reminders_for_details_given_tickets_refunded_or_unpaid_orders(db, race, ticket):
    done = buy_for_friend(db, race, buyer=make_profile(db), friend=("Cy", "Done", "cy@example.com"), now=T0)
    invites.submit_details(db.session, _open(db, done), _signed(replace(BEN, first_name="Cy", last_name="Done",
                                                                        waiver_signature="Cy Done"), db, race), T0, "")
    refunded = buy_for_friend(db, race, buyer=make_profile(db), friend=("Di", "Back", "di@example.com"), now=T0)
    refunded.refunded_at = T0
    recount_race(db, race)
    db.session.commit()
    assert _reminders_at(db, T0 + timedelta(days=3)) == 1  # Ben's only
    assert [r.to_address for r in emails(db, "runner_reminder")] == ["Ben Okafor <ben@example.com>"]


def test_the_scheduled_job_sends_reminders_on_its_interval(app, db, race, ticket):
    assert "runner-reminders" in {job.name for job in JOBS}
    assert app.config["SCHEDULE_RUNNER_REMINDERS_SECONDS"] == 0  # tests turn schedules off; the default is 3600
    assert Config.SCHEDULE_RUNNER_REMINDERS_SECONDS == 3600
    app.config["SCHEDULE_RUNNER_REMINDERS_SECONDS"] = 3600
    clock.freeze(T0 + timedelta(days=3, minutes=1))
    [run] = [r for r in Scheduler(app).run_due() if r.name == "runner-reminders"]
    assert run.succeeded and run.result.startswith("Queued 1 reminder")
    assert len(emails(db, "runner_reminder")) == 1


# --- the organizer's Resend -------------------------------------------------------------------------

def test_resend_sends_a_new_link_that_replaces_the_old_one_at_most_once_an_hour(db, race, ticket):
    old = invites.link_token(ticket)
    with pytest.raises(ResendRefused) as refused:
        invites.resend_invite(db.session, ticket, T0 + timedelta(minutes=20))
    assert "less than an hour ago" in refused.value.message and "40 minutes" in refused.value.message

    invites.resend_invite(db.session, ticket, T0 + timedelta(hours=1))
    db.session.expire_all()
    saved = db.session.get(Registration, ticket.id)
    assert saved.invite_reminded_at.replace(tzinfo=UTC) == T0 + timedelta(hours=1) and saved.invite_reminders == 1
    [resent] = emails(db, "runner_reminder")
    assert invites.link_token(saved) in resent.text_body and old not in resent.text_body
    with pytest.raises(LinkRefused):
        invites.open_invitation(db.session, old, T0 + timedelta(hours=1))
    with pytest.raises(ResendRefused):
        invites.resend_invite(db.session, saved, T0 + timedelta(hours=1, minutes=59))


@pytest.mark.parametrize("change, message", [
    (lambda r, race: setattr(r, "runner_details_at", T0), "already filled in"),
    (lambda r, race: setattr(r, "refunded_at", T0), "refunded"),
    (lambda r, race: setattr(r, "runner_fills_in", False), "buyer filled in"),
    (lambda r, race: setattr(race, "registration_closes_at", T0 + timedelta(hours=2)), "Sign-up has closed"),
])
def test_resend_is_refused_when_there_is_nothing_to_send(db, race, ticket, change, message):
    change(ticket, race)
    recount_race(db, race)  # a refund keeps the stored counts
    db.session.commit()
    with pytest.raises(ResendRefused) as refused:
        invites.resend_invite(db.session, ticket, T0 + timedelta(hours=3))
    assert message in refused.value.message
    assert not emails(db, "runner_reminder")


# --- the runner's own account -----------------------------------------------------------------

def test_the_ticket_moves_into_the_runners_account_and_no_one_elses(db, race, ticket):
    invites.submit_details(db.session, _open(db, ticket), _signed(BEN, db, race), T0, "")
    ben = make_profile(db, email="ben@example.com", full_name="Ben Okafor")
    invitation = invites.open_ticket(db.session, invites.claim_token(ticket))
    invites.claim_ticket(db.session, invitation, ben)
    invites.claim_ticket(db.session, invitation, ben)  # again: nothing changes
    assert db.session.get(Registration, ticket.id).runner_profile_id == ben.id
    with pytest.raises(ClaimRefused):
        invites.claim_ticket(db.session, invitation, make_profile(db))


def test_the_claim_token_opens_nothing_before_the_details_are_in(db, race, ticket):
    with pytest.raises(LinkRefused) as refused:
        invites.open_ticket(db.session, invites.claim_token(ticket))
    assert refused.value.status == 404

