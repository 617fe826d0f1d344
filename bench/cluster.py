"""Past one machine: two gunicorn instances on two ports, one Postgres, Redis for the rate limits.

What it shows: throughput with wrk spread over both instances (two wrk processes at once, half the
connections each) against one instance alone; the opening spike spread over both (bench/spike.py);
the outbox sent once by two `flask outbox-worker` processes into a loopback SMTP server that counts
every Message-ID; and each scheduled job run once per interval while both workers tick (their logs
say "Scheduled job … started"; services/scheduler.py claims each run with a conditional UPDATE of
its scheduled_jobs row, so the second worker finds it not due).
"""
from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

from bench import servers, wrk

ROOT = Path(__file__).resolve().parent.parent
JOB_INTERVAL = 2  # seconds, every scheduled job but the reconcile, while the two workers run
RECONCILE_INTERVAL = 20  # the reconcile reads every paid session of the last 48 h from Stripe: seconds, not ms
WINDOW = 30  # seconds the two workers run (less if the outbox empties first)


class Redis:
    """A throwaway redis-server on a free port (no persistence), stopped by its pid."""

    def __init__(self, log_path: Path):
        self.port = servers.free_port()
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> Redis:
        log = self.log_path.open("w")
        self.process = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                                         "--save", "", "--appendonly", "no"], stdout=log, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        log.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if subprocess.run(["redis-cli", "-p", str(self.port), "ping"], capture_output=True,
                              text=True).stdout.strip() == "PONG":
                return self
            time.sleep(0.1)
        raise RuntimeError(f"redis-server did not answer on {self.port}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


def spread_wrk(urls: list[str], *, duration: str, connections: int, headers: dict | None = None) -> dict:
    """One wrk process per URL at the same time, the connections shared out; summed req/s, worst p99."""
    results: list = [None] * len(urls)

    def one(i: int) -> None:
        results[i] = wrk.run(urls[i], duration=duration, threads=1, connections=max(1, connections // len(urls)),
                             headers=headers)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(urls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"req_per_s": round(sum(r.req_per_s for r in results), 1), "p99_ms": max(r.p99_ms for r in results),
            "errors": sum(r.errors for r in results), "per_instance": [round(r.req_per_s, 1) for r in results]}


class Workers:
    """Two `flask outbox-worker` processes, sending into `smtp_url`, every scheduled job every JOB_INTERVAL s."""

    def __init__(self, env: dict[str, str], smtp_url: str, workdir: Path, count: int = 2):
        schedule = {name: str(JOB_INTERVAL) for name in (
            "SCHEDULE_EXPIRE_RESERVATIONS_SECONDS", "SCHEDULE_RUNNER_REMINDERS_SECONDS",
            "SCHEDULE_EXPIRE_GUEST_CARTS_SECONDS", "SCHEDULE_WAITLIST_OFFERS_SECONDS")}
        schedule["SCHEDULE_STRIPE_RECONCILE_SECONDS"] = str(RECONCILE_INTERVAL)
        self.env = {**env, **schedule, "SMTP_URL": smtp_url, "FLASK_APP": "app:create_app"}
        self.logs = [workdir / f"outbox-worker-{n + 1}.log" for n in range(count)]
        self.processes: list[subprocess.Popen] = []
        self.started = self.stopped = 0.0

    def start(self) -> None:
        self.started = time.monotonic()
        for log_path in self.logs:
            log = log_path.open("w")
            self.processes.append(subprocess.Popen(
                [sys.executable, "-m", "flask", "outbox-worker", "--interval", "0.5"], cwd=ROOT, env=self.env,
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
            log.close()

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(2)  # SIGINT: the worker says "Worker stopped." and exits
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        self.stopped = time.monotonic()

    def job_starts(self) -> dict[str, list[list[datetime]]]:
        """{job: [when worker 1 started it, when worker 2 did]} from the logs' "Scheduled job … started" lines."""
        starts: dict[str, list[list[datetime]]] = {}
        for n, log_path in enumerate(self.logs):
            for stamp, job in _STARTED.findall(log_path.read_text()):
                starts.setdefault(job, [[] for _ in self.logs])[n].append(datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f"))
        return starts


_STARTED = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+) .*Scheduled job (\S+) started", re.M)
CLAIM_SLACK = 0.5  # seconds between a claim's clock reading and its log line


def _job_summary(job: str, per_worker: list[list[datetime]], window: float) -> dict:
    """How often a job started, and the shortest gap between two starts by either worker: a job claimed
    once per interval never starts twice within one interval."""
    interval = INTERVALS.get(job, JOB_INTERVAL)
    times = sorted(t for starts in per_worker for t in starts)
    gaps = [(b - a).total_seconds() for a, b in zip(times, times[1:], strict=False)]
    shortest = min(gaps) if gaps else None
    return {"per_worker": [len(s) for s in per_worker], "total": len(times), "interval_s": interval,
            "allowed": int(window // interval) + 1, "shortest_gap_s": None if shortest is None else round(shortest, 2),
            "once": len(times) <= int(window // interval) + 1 and (shortest is None or shortest >= interval - CLAIM_SLACK)}


def outbox_state(app) -> dict[str, int]:
    from sqlalchemy import func, select

    from extensions import db
    from models import OutboxMessage

    with app.app_context():
        rows = db.session.execute(select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)).all()
        db.session.remove()
    return {str(status): n for status, n in rows}


INTERVALS = {"stripe-reconcile": RECONCILE_INTERVAL}


def drain_outbox(app, workers: Workers, smtp) -> dict:
    """Run the two workers for WINDOW seconds (or until nothing is due); what was sent, how often each message
    arrived, and how often each job started."""
    before = outbox_state(app)
    workers.start()
    try:
        deadline = time.monotonic() + WINDOW
        while time.monotonic() < deadline:
            time.sleep(1)
            state = outbox_state(app)
            if not state.get("queued") and not state.get("sending") and time.monotonic() - workers.started > 3 * JOB_INTERVAL:
                break
    finally:
        workers.stop()
    after = outbox_state(app)
    ids = Counter(str(m["Message-ID"]) for m in smtp.messages)
    window = workers.stopped - workers.started
    jobs = workers.job_starts()
    return {
        "outbox_before": before, "outbox_after": after, "seconds": round(window, 1),
        "smtp_received": sum(ids.values()), "distinct_message_ids": len(ids),
        "duplicates": sum(n - 1 for n in ids.values() if n > 1),
        "sent_rows": after.get("sent", 0) - before.get("sent", 0),
        "jobs": {job: _job_summary(job, starts, window) for job, starts in jobs.items()},
        "job_interval_s": JOB_INTERVAL, "still_sending": after.get("sending", 0),
    }
