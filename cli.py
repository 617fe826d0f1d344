"""Flask CLI commands: demo data and operations."""
from __future__ import annotations

import re
from datetime import timedelta

import click
from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from extensions import db
from models import Race
from models.base import utcnow
from models.search_key import refill_search_keys
from services import clock
from services.checkout import expire_reservations
from services.demo import seed_demo
from services.guest_carts import expire_guest_carts
from services.inventory import copy_order_statuses, count_drift, order_status_drift, recount
from services.mail.transports import transport_for
from services.mail.worker import send_due_for
from services.markdown import refill_description_html
from services.migrations import describe_target, migration_status, production_reason
from services.payments import gateway_for
from services.reconcile import reconcile
from services.scheduler import JOBS, Scheduler, job_rows
from services.storage import storage_for
from services.waitlist_offers import run_offers
from services.worker import Worker


def register(app: Flask) -> None:
    register_payment_commands(app)
    register_migration_commands(app)

    @app.cli.command("seed-demo")
    @click.option("--if-empty", is_flag=True, help="Only seed when there are no races at all.")
    def seed_demo_command(if_empty: bool):
        """Add realistic sample races (safe to run twice)."""
        if if_empty and db.session.scalar(select(func.count(Race.id))):
            click.echo("Races exist already; nothing seeded.")
            return
        added = seed_demo(db.session, clock.now(), storage_for(app))
        click.echo(f"Seeded {len(added)} race(s)." if added else "Demo races exist already.")

    @app.cli.command("outbox-worker")
    @click.option("--once", is_flag=True, help="Send what is due now, run the jobs that are due, print a summary and exit.")
    @click.option("--interval", default=5.0, show_default=True, help="Seconds between rounds.")
    def outbox_worker_command(once: bool, interval: float):
        """Send queued email (retrying with backoff) and run the scheduled jobs, until Ctrl-C (or once)."""
        if once:
            click.echo(f"Outbox: {send_due_for(app)}.")
            for run in Scheduler(app).run_due():
                click.echo(f"{run.name}: {run.result}" if run.succeeded else f"{run.name} failed: {run.result}")
            return
        click.echo(f"Sending due mail every {interval:g}s through {transport_for(app)}; {_schedule_text(app)}. "
                   "Ctrl-C stops.")
        try:
            Worker(app, interval).run()  # in this thread: Ctrl-C interrupts its wait
        except KeyboardInterrupt:
            click.echo("Worker stopped.")

    @app.cli.command("scheduled-jobs")
    def scheduled_jobs_command():
        """Show each scheduled job's interval, last run and result."""
        rows = job_rows(db.session)
        for job in JOBS:
            interval, row = job.interval(app), rows.get(job.name)
            every = f"every {interval.total_seconds():g}s" if interval else f"off ({job.interval_setting}=0)"
            if row is None or row.last_started_at is None:
                last = "never run"
            elif row.last_finished_at is None or row.last_finished_at < row.last_started_at:
                last = f"started {row.last_started_at:%Y-%m-%d %H:%M:%S} UTC, not finished"
            else:
                outcome = "ok" if row.last_succeeded else "FAILED"
                last = f"last run {row.last_started_at:%Y-%m-%d %H:%M:%S} UTC, {outcome}: {row.last_result}"
            click.echo(f"{job.name}: {every}; {last}")


def register_payment_commands(app: Flask) -> None:
    @app.cli.command("stripe-reconcile")
    @click.option("--since", default="48h", show_default=True, help="How far back to look: 48h, 7d, 90m.")
    def stripe_reconcile_command(since: str):
        """Fulfill paid Stripe Checkout sessions whose webhook never arrived now (the worker also does it on schedule)."""
        match = re.fullmatch(r"(\d+)([mhd])", since.strip())
        if not match:
            raise click.BadParameter("use a number and m, h or d, like 48h", param_hint="--since")
        amount, unit = int(match.group(1)), match.group(2)
        delta = {"m": timedelta(minutes=amount), "h": timedelta(hours=amount), "d": timedelta(days=amount)}[unit]
        report = reconcile(db.session, app, clock.now() - delta, clock.now())
        for line in report.lines:
            click.echo(line)
        click.echo(report.summary)

    @app.cli.command("expire-reservations")
    def expire_reservations_command():
        """Release the spots of checkouts whose 30 minutes are up, now (the worker also does it on schedule)."""
        count = expire_reservations(db.session, gateway_for(app), clock.now())
        click.echo(f"Released {count} expired reservation(s).")

    @app.cli.command("expire-guest-carts")
    def expire_guest_carts_command():
        """Delete carts of visitors without an account unchanged for a week, with their runners (the worker also does it)."""
        click.echo(f"Deleted {expire_guest_carts(db.session, clock.now())} guest cart(s).")

    _COUNT_NAMES = {"sold_count": "sold", "held_count": "held at the payment step"}

    @app.cli.command("inventory-check")
    @click.option("--fix", is_flag=True, help="Rewrite the drifting counts and statuses from the tickets and orders.")
    def inventory_check_command(fix: bool):
        """Compare every ticket type's stored counts (sold, and held at the payment step) with a recount of its
        tickets, and every ticket's copy of its order's status with the order's; exit 1 on drift."""
        drift = count_drift(db.session)
        types = sorted({each.ticket_type_id for each in drift})
        for each in drift:
            click.echo(f"{each.race_slug} / {each.ticket_type_name} (ticket type {each.ticket_type_id}): "
                       f"stored {each.stored}, actual {each.actual} ({_COUNT_NAMES[each.count]})")
        statuses = order_status_drift(db.session)
        if statuses:
            click.echo(f"{statuses} ticket(s) carry a status other than their order's.")
        if not drift and not statuses:
            click.echo("Every stored count (sold, and held at the payment step) matches its ticket type's tickets, "
                       "and every ticket has its order's status.")
            return
        if not fix:
            click.echo(f"{len(types)} ticket type(s) and {statuses} ticket(s) drift; "
                       "`flask inventory-check --fix` rewrites them.")
            raise click.exceptions.Exit(1)
        recount(db.session, types)
        copied = copy_order_statuses(db.session)
        db.session.commit()
        if drift:
            click.echo(f"Fixed {len(types)} ticket type(s).")
        if copied:
            click.echo(f"Gave {copied} ticket(s) their order's status again.")

    @app.cli.command("waitlist-offers")
    def waitlist_offers_command():
        """End lapsed waitlist offers and offer every free spot to the next in line, now (the worker also does it)."""
        click.echo(run_offers(db.session, clock.now()).summary)


def _schedule_text(app: Flask) -> str:
    """`expire-reservations every 300s, stripe-reconcile every 3600s`, for the worker's first line."""
    parts = []
    for job in JOBS:
        interval = job.interval(app)
        parts.append(f"{job.name} every {interval.total_seconds():g}s" if interval else f"{job.name} off")
    return ", ".join(parts)


def register_migration_commands(app: Flask) -> None:
    @app.cli.command("refill-search-keys")
    def refill_search_keys_command():
        """Compute every race's and registrant's search key again (after an offline `prod-migrate --sql`)."""
        with db.engine.begin() as connection:
            click.echo(f"Search keys computed for {refill_search_keys(connection, stamp_at=utcnow())} row(s).")

    @app.cli.command("refill-descriptions")
    def refill_descriptions_command():
        """Render every race's description HTML again from its Markdown (after an offline `prod-migrate --sql`)."""
        with db.engine.begin() as connection:
            click.echo(f"Descriptions rendered for {refill_description_html(connection)} race(s).")

    @app.cli.command("prod-migrate")
    @click.option("--yes", is_flag=True, help="Apply without asking for confirmation.")
    @click.option("--force", is_flag=True, help="Migrate a production-looking database although APP_ENV is not production.")
    @click.option("--sql", "as_sql", is_flag=True, help="Print the SQL instead of running it; the database is not changed.")
    def prod_migrate_command(yes: bool, force: bool, as_sql: bool):
        """Show the target database and its pending migrations, then apply them after confirmation."""
        say = (lambda text: click.echo(text, err=True)) if as_sql else click.echo  # --sql: stdout is the SQL only
        url = db.engine.url
        say(f"Target database: {describe_target(url)}")
        reason = production_reason(url, app.config.get("PRODUCTION_DATABASE_HOSTS", ""))
        if reason and not as_sql:
            if app.config["APP_ENV"] != "production" and not force:
                raise click.ClickException(
                    f"this looks like production ({reason}) but APP_ENV is {app.config['APP_ENV']!r}. Run it with the "
                    "production settings (APP_ENV=production), or add --force if you really mean this database.")
            say(f"This is production: {reason}.")

        try:
            status = migration_status(app, db.engine)
        except SQLAlchemyError as error:
            if not as_sql:
                raise click.ClickException(f"could not read the database: {str(error.orig or error).strip()}") from None
            say("Could not read the database, so this is the SQL for all migrations from an empty database.")
            upgrade(revision="heads", sql=True)
            return
        say(f"Current revision(s): {', '.join(status.current) or 'none (an empty database)'}")
        if not status.pending:
            say("Nothing to do: the database is up to date.")
            return
        say(f"Pending migrations ({len(status.pending)}):")
        for revision in status.pending:
            say(f"  {revision}")

        if as_sql:
            if len(status.current) > 1:
                raise click.ClickException("Alembic prints SQL from one current revision only, and this database is at "
                                           "several (unmerged branches); merge them first (`flask db merge heads`).")
            upgrade(revision=f"{status.current[0]}:heads" if status.current else "heads", sql=True)
            return
        if not yes:
            click.confirm(f"Apply {len(status.pending)} migration(s) to {url.database} on {url.host or 'this machine'}?",
                          abort=True)
        upgrade(revision="heads")
        after = migration_status(app, db.engine)
        click.echo(f"Done. Current revision(s): {', '.join(after.current)}")
