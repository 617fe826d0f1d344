"""The background worker: every round it sends due mail and runs the scheduled jobs that are due.

Production runs it as its own process (`flask outbox-worker`, the Procfile's `worker`), as many
as wanted: outbox claims and job claims keep each email to one send and each job to one run per
interval. `make run` starts it as a thread inside the dev server instead.
"""
from __future__ import annotations

import logging
import os
import threading

from flask import Flask

from services.mail.worker import SendReport, send_due_for
from services.scheduler import JobRun, Scheduler

log = logging.getLogger(__name__)


class Worker(threading.Thread):
    """Sends due mail and runs due jobs every `interval` seconds until stopped."""

    def __init__(self, app: Flask, interval: float = 2.0):
        super().__init__(name="startline-worker", daemon=True)
        self.app, self.interval = app, interval
        self.scheduler = Scheduler(app)
        self._stopping = threading.Event()

    def run(self) -> None:
        while not self._stopping.is_set():
            self.run_round()
            self._stopping.wait(self.interval)

    def run_round(self) -> tuple[SendReport | None, list[JobRun]]:
        """One round; a failure (the database down for a moment) is logged and the next round tries again."""
        report = None
        try:
            report = send_due_for(self.app)
        except Exception:
            log.exception("Outbox round failed")
        else:
            if report.total:
                log.info("Outbox: %s", report)
        try:
            runs = self.scheduler.run_due()
        except Exception:
            log.exception("Scheduled jobs round failed")
            runs = []
        return report, runs

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        if self.is_alive():
            self.join(timeout)


def start_worker_thread(app: Flask, interval: float = 2.0) -> Worker | None:
    """Run the worker inside this process (for `make run`), once per app, never in the reloader's watcher."""
    # `flask run --debug` loads the app twice: in a watcher process that only restarts the
    # server, and in the child that serves (WERKZEUG_RUN_MAIN=true). Only the child works.
    # Were both to run, the claims would still keep each email and each job run to one.
    if app.debug and os.environ.get("WERKZEUG_RUN_MAIN") != "true":
        return None
    worker = app.extensions.get("worker")
    if worker is None:
        worker = app.extensions["worker"] = Worker(app, interval)
        worker.start()
    return worker
