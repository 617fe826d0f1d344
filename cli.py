"""Flask CLI commands: demo data and operations."""
from __future__ import annotations

import click
from flask import Flask
from sqlalchemy import func, select

from services import clock


def register(app: Flask) -> None:
    @app.cli.command("seed-demo")
    @click.option("--if-empty", is_flag=True, help="Only seed when there are no races at all.")
    def seed_demo_command(if_empty: bool):
        """Add realistic sample races (safe to run twice)."""
        from app import db
        from models import Race
        from services.demo import seed_demo

        if if_empty and db.session.scalar(select(func.count(Race.id))):
            click.echo("Races exist already; nothing seeded.")
            return
        added = seed_demo(db.session, clock.now())
        click.echo(f"Seeded {len(added)} race(s)." if added else "Demo races exist already.")

    @app.cli.command("outbox-worker")
    @click.option("--once", is_flag=True, help="Send what is due now, print a summary and exit.")
    @click.option("--interval", default=5.0, show_default=True, help="Seconds between rounds.")
    def outbox_worker_command(once: bool, interval: float):
        """Send queued email, retrying failures with backoff, until Ctrl-C (or once)."""
        from services.mail import OutboxWorker, send_due_for, transport_for

        if once:
            click.echo(f"Outbox: {send_due_for(app)}.")
            return
        click.echo(f"Sending due mail every {interval:g}s through {transport_for(app)}; Ctrl-C stops.")
        try:
            OutboxWorker(app, interval).run()  # in this thread: Ctrl-C interrupts its wait
        except KeyboardInterrupt:
            click.echo("Outbox worker stopped.")
