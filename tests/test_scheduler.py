"""Scheduled jobs: the worker runs each job once per interval, however many workers tick, and records it."""
from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from config import Config
from models import ScheduledJob
from services import clock
from services.cart import add_tickets
from services.guest_carts import guest_owner, new_guest_key
from services.scheduler import JOBS, Job, Scheduler
from services.worker import start_worker_thread
from tests.factories import make_race

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


class CountingJob:
    """A job that notes each run (and fails when told to)."""

    def __init__(self):
        self.runs: list[datetime] = []
        self.fail_with: Exception | None = None

    def __call__(self, app, session, now):
        self.runs.append(now)
        if self.fail_with is not None:
            raise self.fail_with
        return f"Counted run {len(self.runs)}."


@pytest.fixture
def counting(app):
    app.config["SCHEDULE_COUNTING_SECONDS"] = 60
    counter = CountingJob()
    counter.job = Job("counting", "SCHEDULE_COUNTING_SECONDS", counter)
    return counter


def row(db, name="counting") -> ScheduledJob:
    db.session.expire_all()
    return db.session.scalar(select(ScheduledJob).where(ScheduledJob.name == name))


def test_a_job_runs_at_once_then_not_again_until_its_interval_has_passed(app, db, counting):
    clock.freeze(T0)
    scheduler = Scheduler(app, jobs=(counting.job,))

    first = scheduler.run_due()
    clock.advance(timedelta(seconds=59))
    too_soon = scheduler.run_due()
    clock.advance(timedelta(seconds=1))
    second = scheduler.run_due()

    assert [(run.name, run.succeeded, run.result) for run in first] == [("counting", True, "Counted run 1.")]
    assert too_soon == []
    assert [run.result for run in second] == ["Counted run 2."]
    assert counting.runs == [T0, T0 + timedelta(seconds=60)]
    recorded = row(db)
    assert recorded.last_started_at == recorded.last_finished_at == T0 + timedelta(seconds=60)
    assert recorded.last_succeeded is True and recorded.last_result == "Counted run 2."


def test_a_second_worker_does_not_run_a_job_the_first_ran_in_this_interval(app, db, counting):
    clock.freeze(T0)
    one, two = Scheduler(app, jobs=(counting.job,)), Scheduler(app, jobs=(counting.job,))

    assert len(one.run_due()) == 1
    assert two.run_due() == []
    clock.advance(timedelta(seconds=60))
    assert len(two.run_due()) == 1
    assert one.run_due() == []
    assert len(counting.runs) == 2


def test_an_interval_of_zero_turns_a_job_off(app, db, counting):
    app.config["SCHEDULE_COUNTING_SECONDS"] = 0
    clock.freeze(T0)

    assert Scheduler(app, jobs=(counting.job,)).run_due() == []
    assert counting.runs == [] and row(db) is None


def test_a_failing_job_is_logged_and_recorded_and_the_next_interval_runs_it_again(app, db, counting, caplog):
    clock.freeze(T0)
    counting.fail_with = RuntimeError("Stripe is down")
    scheduler = Scheduler(app, jobs=(counting.job,))

    with caplog.at_level(logging.INFO, logger="services.scheduler"):
        [failed] = scheduler.run_due()

    assert not failed.succeeded and failed.result == "RuntimeError: Stripe is down"
    assert "Scheduled job counting failed" in caplog.text and "Stripe is down" in caplog.text
    recorded = row(db)
    assert recorded.last_succeeded is False and recorded.last_result == "RuntimeError: Stripe is down"
    counting.fail_with = None
    assert scheduler.run_due() == []  # a failure waits for the next interval like a success
    clock.advance(timedelta(seconds=60))
    assert [run.succeeded for run in scheduler.run_due()] == [True]
    assert row(db).last_succeeded is True


def test_each_run_is_logged_with_its_result(app, db, counting, caplog):
    clock.freeze(T0)
    with caplog.at_level(logging.INFO, logger="services.scheduler"):
        Scheduler(app, jobs=(counting.job,)).run_due()
    assert "Scheduled job counting started" in caplog.text
    assert "Scheduled job counting finished in 0.0s: Counted run 1." in caplog.text


def test_the_default_schedule_expires_holds_every_5_minutes_waitlist_offers_every_minute_and_the_rest_hourly():
    assert [job.name for job in JOBS] == ["expire-reservations", "stripe-reconcile", "runner-reminders",
                                          "expire-guest-carts", "waitlist-offers"]
    assert Config.SCHEDULE_WAITLIST_OFFERS_SECONDS == 60
    assert Config.SCHEDULE_EXPIRE_RESERVATIONS_SECONDS == 300
    assert Config.SCHEDULE_STRIPE_RECONCILE_SECONDS == 3600
    assert Config.SCHEDULE_RUNNER_REMINDERS_SECONDS == 3600
    assert Config.SCHEDULE_EXPIRE_GUEST_CARTS_SECONDS == 3600


def test_the_scheduled_guest_cart_job_deletes_week_old_guest_carts(app, db):
    race = make_race(db, starts_at=T0 + timedelta(days=60))
    add_tickets(db.session, guest_owner(new_guest_key()), race, {race.ticket_types[0].id: 1}, T0)
    app.config["SCHEDULE_EXPIRE_GUEST_CARTS_SECONDS"] = 3600
    clock.freeze(T0 + timedelta(days=7, minutes=1))
    runs = {run.name: run.result for run in Scheduler(app).run_due()}
    assert runs["expire-guest-carts"] == "Deleted 1 guest cart(s) unchanged for a week."


@pytest.mark.postgres
def test_two_workers_ticking_at_once_run_the_job_once_in_each_of_20_intervals(app, db, counting):
    clock.freeze(T0 - timedelta(seconds=60))
    rounds = 20
    next_interval = threading.Barrier(2, action=lambda: clock.advance(timedelta(seconds=60)))
    errors: list[BaseException] = []
    ran_by: dict[str, int] = {}

    def worker(name: str) -> None:
        scheduler = Scheduler(app, jobs=(counting.job,))
        try:
            for _ in range(rounds):
                next_interval.wait(30)  # both tick at the same moment of the same interval
                ran_by[name] = ran_by.get(name, 0) + len(scheduler.run_due())
        except BaseException as error:  # surfaced in the test thread below
            next_interval.abort()
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(name,)) for name in ("one", "two")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)

    assert errors == []
    assert counting.runs == [T0 + timedelta(seconds=60 * n) for n in range(rounds)]
    assert ran_by["one"] + ran_by["two"] == rounds
    assert row(db).last_result == f"Counted run {rounds}."


def test_flask_outbox_worker_once_also_runs_the_jobs_that_are_due_and_says_what_they_did(app, runner, db):
    app.config["SCHEDULE_EXPIRE_RESERVATIONS_SECONDS"] = 300
    clock.freeze(T0)

    first = runner.invoke(args=["outbox-worker", "--once"])
    again = runner.invoke(args=["outbox-worker", "--once"])

    assert first.exit_code == 0, first.output
    assert "expire-reservations: Released 0 expired reservation(s)." in first.output
    assert "expire-reservations" not in again.output  # another run within its 5 minutes would be a second one


def test_flask_scheduled_jobs_shows_each_jobs_interval_last_run_and_result(app, runner, db):
    app.config["SCHEDULE_EXPIRE_RESERVATIONS_SECONDS"] = 300
    clock.freeze(T0)
    before = runner.invoke(args=["scheduled-jobs"]).output
    runner.invoke(args=["outbox-worker", "--once"])

    after = runner.invoke(args=["scheduled-jobs"]).output

    assert "expire-reservations: every 300s; never run" in before
    assert ("expire-reservations: every 300s; last run 2026-03-01 09:00:00 UTC, ok: Released 0 expired reservation(s)."
            in after)
    assert "stripe-reconcile: off (SCHEDULE_STRIPE_RECONCILE_SECONDS=0); never run" in after


def test_the_dev_servers_worker_thread_runs_the_scheduled_jobs_too(app, db):
    app.config["SCHEDULE_EXPIRE_RESERVATIONS_SECONDS"] = 300
    worker = start_worker_thread(app, interval=0.05)
    try:
        deadline = time.monotonic() + 10
        while (row(db, "expire-reservations") is None or row(db, "expire-reservations").last_finished_at is None) \
                and time.monotonic() < deadline:
            time.sleep(0.02)  # waiting for the thread's round to happen, not for time to pass
    finally:
        worker.stop()
    recorded = row(db, "expire-reservations")
    assert recorded.last_succeeded is True and recorded.last_result == "Released 0 expired reservation(s)."


def test_deleting_a_jobs_row_resets_it_so_the_next_round_runs_it(app, db, counting):
    clock.freeze(T0)
    scheduler = Scheduler(app, jobs=(counting.job,))
    scheduler.run_due()
    db.session.delete(row(db))
    db.session.commit()

    assert [run.result for run in scheduler.run_due()] == ["Counted run 2."]
