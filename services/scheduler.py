"""Recurring jobs the worker runs on a schedule (no cron): which jobs, how often, and who runs each one.

Every worker round calls `Scheduler.run_due`. A job whose interval is up is claimed with one
conditional upsert of its `scheduled_jobs` row ("set last_started_at to now where it is at least
an interval old"), committed before the job starts. On Postgres, when two workers claim at once,
the second statement waits for the first to commit and then finds the row no longer due; SQLite
serializes writers. So however many workers tick, one of them runs each job once per interval,
and no lock is held while the job works (it commits in its own transactions, and may call Stripe).
A worker that dies mid-job leaves the claim in place: the job runs again one interval later.

The same row records when the job last finished and what it did, for an operator
(`flask scheduled-jobs`), and every run is logged.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import Flask
from sqlalchemy import or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from models import ScheduledJob
from services import clock
from services.checkout import expire_reservations
from services.guest_carts import expire_guest_carts
from services.payments import gateway_for
from services.reconcile import reconcile
from services.runner_invites import send_reminders
from services.waitlist_offers import run_offers

log = logging.getLogger(__name__)

# How far back the scheduled reconcile asks Stripe for paid sessions: a missed webhook is caught
# on the next hourly run, and a worker that was down for a day still catches up.
RECONCILE_LOOKBACK = timedelta(hours=48)


@dataclass(frozen=True)
class Job:
    """A named piece of recurring work: `run(app, session, now)` does it (committing as it goes)
    and returns a one-line summary; `interval_setting` names the config value holding its period
    in seconds, 0 turning it off."""

    name: str
    interval_setting: str
    run: Callable[[Flask, Session, datetime], str]

    def interval(self, app: Flask) -> timedelta | None:
        seconds = float(app.config.get(self.interval_setting) or 0)
        return timedelta(seconds=seconds) if seconds > 0 else None


def _expire_reservations(app: Flask, session: Session, now: datetime) -> str:
    count = expire_reservations(session, gateway_for(app), now)
    return f"Released {count} expired reservation(s)."


def _expire_guest_carts(app: Flask, session: Session, now: datetime) -> str:
    return f"Deleted {expire_guest_carts(session, now)} guest cart(s) unchanged for a week."


def _stripe_reconcile(app: Flask, session: Session, now: datetime) -> str:
    report = reconcile(session, app, now - RECONCILE_LOOKBACK, now)
    return " ".join([*report.lines, report.summary])


def _runner_reminders(app: Flask, session: Session, now: datetime) -> str:
    return f"Queued {send_reminders(session, now)} reminder(s) to runners who haven't filled in their details."


def _waitlist_offers(app: Flask, session: Session, now: datetime) -> str:
    return run_offers(session, now).summary


JOBS = (
    Job("expire-reservations", "SCHEDULE_EXPIRE_RESERVATIONS_SECONDS", _expire_reservations),
    Job("stripe-reconcile", "SCHEDULE_STRIPE_RECONCILE_SECONDS", _stripe_reconcile),
    Job("runner-reminders", "SCHEDULE_RUNNER_REMINDERS_SECONDS", _runner_reminders),
    Job("expire-guest-carts", "SCHEDULE_EXPIRE_GUEST_CARTS_SECONDS", _expire_guest_carts),
    Job("waitlist-offers", "SCHEDULE_WAITLIST_OFFERS_SECONDS", _waitlist_offers),
)


@dataclass(frozen=True)
class JobRun:
    """One run this worker did: the job, whether it worked, and its summary (or the error)."""

    name: str
    succeeded: bool
    result: str


class Scheduler:
    """Runs an app's due jobs (one Scheduler per worker)."""

    def __init__(self, app: Flask, jobs: tuple[Job, ...] = JOBS):
        self.app, self.jobs = app, jobs

    def run_due(self) -> list[JobRun]:
        """Claim and run every job whose interval is up; returns what ran here (nothing when
        another worker got there first)."""
        runs = []
        with self.app.app_context():
            session = self.app.extensions["sqlalchemy"].session
            try:
                for job in self.jobs:
                    interval, now = job.interval(self.app), clock.now()
                    if interval is not None and _claim(session, job.name, interval, now):
                        runs.append(self._run(session, job, now))
            finally:
                session.remove()
        return runs

    def _run(self, session: Session, job: Job, started: datetime) -> JobRun:
        log.info("Scheduled job %s started", job.name)
        try:
            result, succeeded = job.run(self.app, session, started), True
        except Exception as error:  # a failing job must not stop the worker; the next interval tries again
            session.rollback()
            log.exception("Scheduled job %s failed", job.name)
            result, succeeded = f"{type(error).__name__}: {error}", False
        finished = clock.now()
        if succeeded:
            log.info("Scheduled job %s finished in %.1fs: %s", job.name, (finished - started).total_seconds(), result)
        session.execute(
            update(ScheduledJob)
            .where(ScheduledJob.name == job.name, ScheduledJob.last_started_at == started)
            .values(last_finished_at=finished, last_succeeded=succeeded, last_result=result[:2000]),
            execution_options={"synchronize_session": False})
        session.commit()
        return JobRun(job.name, succeeded, result)


def _claim(session: Session, name: str, interval: timedelta, now: datetime) -> bool:
    """Start the job's interval at `now` if the last one is over; True when this worker won it.

    One statement: it makes the job's row the first time (so a new job needs no migration, and a
    deleted row only resets the job), or moves last_started_at when it is an interval old.
    """
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    statement = insert(ScheduledJob).values(name=name, last_started_at=now)
    due = or_(ScheduledJob.last_started_at.is_(None), ScheduledJob.last_started_at <= now - interval)
    claimed = session.execute(
        statement.on_conflict_do_update(index_elements=[ScheduledJob.name],
                                        set_={"last_started_at": statement.excluded.last_started_at}, where=due)
        .returning(ScheduledJob.name)).first()
    session.commit()
    return claimed is not None


def job_rows(session: Session) -> dict[str, ScheduledJob]:
    """Every job's last run, by name, for an operator."""
    return {row.name: row for row in session.scalars(select(ScheduledJob))}
