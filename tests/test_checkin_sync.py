"""Offline check-in: the roster a phone keeps and the taps it syncs later (once each, by device time, in any order)."""
from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from models import CheckInEvent, OrderStatus, Registration, RegistrationAudit, TicketType
from services import clock
from services.registrants import checkin, checkin_sync, query
from services.registrants.checkin_sync import Event, Item, apply_batch, fold, roster
from tests.registrant_factories import awaiting_runner, organized_race, organizer, race, runner  # noqa: F401  (fixtures)

NOW = datetime.now(UTC).replace(microsecond=0)  # the factories' tickets are made "now"; taps come a little later


@pytest.fixture(autouse=True)
def _now_is_when_the_test_starts():
    """Taken again for each test: in a long run, "5 minutes after the import" may be before a ticket is made."""
    global NOW
    NOW = datetime.now(UTC).replace(microsecond=0)


def later(minutes: float) -> datetime:
    return NOW + timedelta(minutes=minutes)


def item(registration, action="check_in", minutes=5.0, client_id=None) -> Item:
    return Item(client_id or uuid.uuid4(), registration.ticket_code, action, later(minutes))


def sync(db, race, organizer, *items, now=None):
    return apply_batch(db.session, race, organizer.id, list(items), now or later(60))


def state(db, registration):
    db.session.expire_all()
    return db.session.get(Registration, registration.id).checked_in_at


def audits(db, registration):
    return db.session.scalars(select(RegistrationAudit).where(RegistrationAudit.registration_id == registration.id)
                              .order_by(RegistrationAudit.id)).all()


@pytest.fixture
def ada(db, race):
    return runner(db, race, race.ticket_types[0], "Ada", "Lovelace", bib=42)


# --- the rule, on its own -------------------------------------------------------------------------

events = st.lists(st.tuples(st.sampled_from(["check_in", "undo"]), st.integers(0, 30)), max_size=12)


@given(events, st.randoms())
def test_the_fold_is_the_same_in_any_order(spec, rnd):
    evts = [Event(uuid.uuid4(), action, later(minute)) for action, minute in spec]
    shuffled = evts[:]
    rnd.shuffle(shuffled)
    assert fold(evts) == fold(shuffled)


def test_the_first_check_in_wins_a_later_undo_wins_an_earlier_undo_does_not():
    a, b, u_early, u_late = (uuid.uuid4() for _ in range(4))
    assert fold([Event(b, "check_in", later(10)), Event(a, "check_in", later(5))])[0] == later(5)
    assert fold([Event(a, "check_in", later(5)), Event(u_late, "undo", later(6))])[0] is None
    assert fold([Event(a, "check_in", later(5)), Event(u_early, "undo", later(4))])[0] == later(5)
    state_, effects = fold([Event(a, "check_in", later(5)), Event(b, "check_in", later(10)),
                            Event(u_late, "undo", later(7))])
    assert state_ == later(10) and effects == {a: "checked_in", u_late: "undone", b: "checked_in"}


# --- applying batches ------------------------------------------------------------------------------

def test_a_synced_check_in_sets_the_device_time_with_an_audit_line_and_an_event(db, race, organizer, ada):
    result = sync(db, race, organizer, item(ada, minutes=5))
    assert [o.outcome for o in result.outcomes] == ["checked_in"]
    assert state(db, ada) == later(5)
    assert [(a.field, a.old_value, a.profile_id) for a in audits(db, ada)] == [("checked_in", "", organizer.id)]
    assert result.runners[0]["code"] == ada.ticket_code and result.runners[0]["checked_in_at"]
    event = db.session.scalars(select(CheckInEvent)).one()
    assert (event.source, event.device_at, event.received_at, event.profile_id) == ("sync", later(5), later(60),
                                                                                     organizer.id)


def test_the_same_item_sent_twice_counts_once(db, race, organizer, ada):
    tap = item(ada, minutes=5)
    first = sync(db, race, organizer, tap, tap)  # twice in one batch ...
    again = sync(db, race, organizer, tap)       # ... and again in the next one (the answer got lost)
    assert [(o.outcome, o.duplicate) for o in first.outcomes] == [("checked_in", False), ("checked_in", True)]
    assert [(o.outcome, o.duplicate) for o in again.outcomes] == [("checked_in", True)]
    assert db.session.scalar(select(func.count()).select_from(CheckInEvent)) == 1
    assert len(audits(db, ada)) == 1 and state(db, ada) == later(5)


def test_an_earlier_check_in_arriving_later_wins_and_the_later_one_is_told(db, race, organizer, ada):
    sync(db, race, organizer, item(ada, minutes=10))
    result = sync(db, race, organizer, item(ada, minutes=5))
    assert result.outcomes[0].outcome == "checked_in" and state(db, ada) == later(5)
    late = sync(db, race, organizer, item(ada, minutes=12)).outcomes[0]
    assert late.outcome == "already_checked_in" and late.message.startswith("Already checked in at ")
    assert state(db, ada) == later(5)
    assert len(audits(db, ada)) == 2  # set, then moved earlier; the late one changed nothing


def test_an_undo_later_than_the_check_in_wins_and_an_earlier_one_does_not(db, race, organizer, ada):
    sync(db, race, organizer, item(ada, "undo", minutes=4))
    assert state(db, ada) is None
    result = sync(db, race, organizer, item(ada, minutes=5))
    assert result.outcomes[0].outcome == "checked_in" and state(db, ada) == later(5)
    undo = sync(db, race, organizer, item(ada, "undo", minutes=6)).outcomes[0]
    assert undo.outcome == "undone" and state(db, ada) is None
    assert [a.new_value == "" for a in audits(db, ada)] == [False, True]


def test_a_desk_tap_is_an_event_folded_with_the_phones(db, race, organizer, ada):
    registrant = query.registration_by_code(db.session, race.id, ada.ticket_code)
    checkin.check_in(db.session, registrant, organizer.id, later(10))
    sync(db, race, organizer, item(ada, minutes=5))  # a phone offline saw them first
    assert state(db, ada) == later(5)
    checkin.undo_check_in(db.session, query.registration_by_code(db.session, race.id, ada.ticket_code),
                          organizer.id, later(20))
    sync(db, race, organizer, item(ada, minutes=7))  # another phone's older tap doesn't bring them back
    assert state(db, ada) is None
    assert db.session.scalar(select(func.count()).where(CheckInEvent.source == "desk")) == 2


def test_a_check_in_made_before_events_were_kept_takes_part(db, race, organizer):
    old = runner(db, race, race.ticket_types[0], "Old", "Timer", checked_in_at=later(8))
    assert sync(db, race, organizer, item(old, minutes=9)).outcomes[0].outcome == "already_checked_in"
    assert state(db, old) == later(8)
    sync(db, race, organizer, item(old, minutes=7))
    assert state(db, old) == later(7)


def test_device_times_are_clamped_to_a_sane_window(db, race, organizer, ada):
    bob = runner(db, race, race.ticket_types[0], "Bob", "Early")
    sync(db, race, organizer, item(ada, minutes=500), now=later(60))  # a clock hours ahead: the server's time
    assert state(db, ada) == later(60)
    sync(db, race, organizer, Item(uuid.uuid4(), bob.ticket_code, "check_in", NOW - timedelta(days=400)))
    assert state(db, bob) == db.session.get(Registration, bob.id).created_at  # not before the ticket existed


def test_a_clock_a_little_ahead_is_believed(db, race, organizer, ada):
    sync(db, race, organizer, item(ada, minutes=61), now=later(60))
    assert state(db, ada) == later(61)


def test_refusals_use_the_desks_words_and_change_nothing(db, race, organizer, ada):
    refunded = runner(db, race, race.ticket_types[0], "Ray", "Refund", status=OrderStatus.REFUNDED)
    unsigned = awaiting_runner(db, race, race.ticket_types[0], "Fay", "Friend")
    other = runner(db, organized_race(db, organizer), race.ticket_types[0], "Oth", "Er")
    result = sync(db, race, organizer, item(refunded), item(unsigned), item(other),
                  Item(uuid.uuid4(), "nonsense-code-1", "check_in", later(5)))
    assert [(o.outcome, o.message) for o in result.outcomes] == [
        ("refused", checkin.REFUNDED), ("refused", "Fay Friend hasn't signed the waiver: have them sign it on this "
                                                   "phone first."),
        ("refused", checkin.NO_SUCH_TICKET), ("refused", checkin.NO_SUCH_TICKET)]
    assert all(state(db, r) is None for r in (refunded, unsigned, other))
    assert db.session.scalar(select(func.count()).select_from(RegistrationAudit)) == 0
    assert {r["code"] for r in result.runners} == {refunded.ticket_code, unsigned.ticket_code}


def test_the_roster_has_every_ticket_to_check_in_or_turn_away_and_nothing_else(db, race, organizer, ada):
    runner(db, race, race.ticket_types[1], "Ray", "Refund", status=OrderStatus.REFUNDED)
    awaiting_runner(db, race, race.ticket_types[0], "Fay", "Friend")
    runner(db, race, race.ticket_types[0], "Pat", "Pending", status=OrderStatus.PENDING,
           reserved_until=later(30))
    runner(db, organized_race(db, organizer), race.ticket_types[0], "Oth", "Er")
    data = roster(db.session, race)
    by_name = {r["name"]: r for r in data["runners"]}
    assert set(by_name) == {"Ada Lovelace", "Ray Refund", "Fay Friend"}
    assert by_name["Ada Lovelace"] == {"id": ada.id, "code": ada.ticket_code, "name": "Ada Lovelace", "bib": 42,
                                       "ticket": "10K", "status": "paid", "waiver": "ok", "checked_in_at": None}
    assert by_name["Ray Refund"]["status"] == "refunded" and by_name["Fay Friend"]["waiver"] == "missing"
    assert data["messages"]["refunded"] == checkin.REFUNDED
    assert data["race"]["keep_until"] > data["race"]["race_day"]
    sync(db, race, organizer, item(ada))
    assert roster(db.session, race)["etag"] != data["etag"]


# --- two phones converge ----------------------------------------------------------------------------

_phones = itertools.count()


def race_ticket_type_ids(db, race) -> list[int]:
    return db.session.scalars(select(TicketType.id).where(TicketType.race_id == race.id).order_by(TicketType.position,
                                                                                                  TicketType.id)).all()
taps = st.lists(st.tuples(st.integers(0, 2), st.sampled_from(["check_in", "undo"]), st.integers(0, 40)),
                min_size=1, max_size=10)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(phone_a=taps, phone_b=taps)
def test_two_phones_batches_applied_in_either_order_converge(db, race, organizer, phone_a, phone_b):
    """Each order gets its own three runners; the same taps (by runner) leave both trios in the same state."""
    n = next(_phones)
    ten_k = db.session.get(TicketType, race_ticket_type_ids(db, race)[0])
    trios = [[runner(db, race, ten_k, f"P{n}{side}{i}", "Runner") for i in range(3)] for side in "xy"]

    start = datetime.now(UTC) + timedelta(minutes=1)  # after the tickets were made: no clamping

    def at(minute):
        return start + timedelta(minutes=minute)

    def batch(trio, spec):
        return [Item(uuid.uuid4(), trio[who].ticket_code, action, at(minute)) for who, action, minute in spec]

    def send(items):
        return apply_batch(db.session, race, organizer.id, items, at(60))

    x, y = trios
    send(batch(x, phone_a))
    send(batch(x, phone_b))
    resent = batch(y, phone_b)
    send(resent)
    send(batch(y, phone_a))
    send(resent)  # and phone B, not sure its batch arrived, sends it again
    assert [state(db, r) for r in x] == [state(db, r) for r in y]
    expected = [fold(Event(uuid.uuid4(), action, at(minute)) for who, action, minute in phone_a + phone_b
                     if who == i)[0] for i in range(3)]
    assert [state(db, r) for r in x] == expected


# --- parsing a posted batch ----------------------------------------------------------------------

GOOD = {"id": str(uuid.uuid4()), "ticket_code": "code000001xyz", "action": "check_in", "at": "2030-05-04T07:12:00Z"}


@pytest.mark.parametrize(("payload", "words"), [
    ([], '"items"'), ({"items": "x"}, '"items"'), ({"items": [1]}, "Item 1 is not an object"),
    ({"items": [{**GOOD, "id": "nope"}]}, '"id"'), ({"items": [{**GOOD, "ticket_code": ""}]}, '"ticket_code"'),
    ({"items": [{**GOOD, "ticket_code": 5}]}, '"ticket_code"'), ({"items": [{**GOOD, "action": "eat"}]}, '"action"'),
    ({"items": [{**GOOD, "at": "yesterday"}]}, '"at"'), ({"items": [{**GOOD, "at": "2030-05-04T07:12:00"}]}, "offset"),
    ({"items": [GOOD, {**GOOD, "id": None}]}, "Item 2"),
])
def test_a_bad_batch_says_what_is_wrong(payload, words):
    with pytest.raises(checkin_sync.BadBatch) as bad:
        checkin_sync.parse_items(payload)
    assert words in str(bad.value) and bad.value.status == 422


def test_a_huge_batch_is_413():
    with pytest.raises(checkin_sync.BadBatch) as bad:
        checkin_sync.parse_items({"items": [GOOD] * (checkin_sync.MAX_ITEMS + 1)})
    assert bad.value.status == 413


def test_device_times_with_any_offset_are_read_as_utc():
    parsed = checkin_sync.parse_items({"items": [{**GOOD, "at": "2030-05-04T07:12:00-04:00"}]})[0]
    assert parsed.at == datetime(2030, 5, 4, 11, 12, tzinfo=UTC)


@pytest.fixture(autouse=True)
def real_clock():
    clock.reset()
    yield
    clock.reset()


@pytest.mark.postgres
def test_phones_syncing_the_same_runners_at_the_same_moment_converge(app, db, race, organizer):
    """Eight phones, each its own connection, released together: the row locks make them take turns."""
    import threading

    from sqlalchemy.orm import Session

    from extensions import db as database

    ten_k = db.session.get(TicketType, race_ticket_type_ids(db, race)[0])
    people = [runner(db, race, ten_k, f"Same{i}", "Moment") for i in range(3)]
    start = datetime.now(UTC) + timedelta(minutes=1)
    batches = [[Item(uuid.uuid4(), r.ticket_code, "check_in", start + timedelta(seconds=phone * 7 + i))
                for i, r in enumerate(people)] for phone in range(8)]
    batches[5].append(Item(uuid.uuid4(), people[0].ticket_code, "undo", start + timedelta(minutes=5)))
    engine = database.engine
    barrier = threading.Barrier(len(batches))
    failures = []

    def phone(items):
        with app.app_context(), Session(engine) as session:
            barrier.wait()
            try:
                apply_batch(session, session.get(type(race), race.id), organizer.id, items, start + timedelta(hours=1))
            except Exception as error:  # noqa: BLE001  (reported below)
                failures.append(error)

    threads = [threading.Thread(target=phone, args=(b,)) for b in batches]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not failures
    assert [state(db, r) for r in people] == [None, start + timedelta(seconds=1), start + timedelta(seconds=2)]
    assert db.session.scalar(select(func.count()).where(CheckInEvent.source == "sync")) == 25
