"""A checkout's cost in-process (issue 17, the opening spike): not part of `make bench`.

    PROFILE_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/startline_bench_me .venv/bin/python bench/profile_checkout.py
    ... --profile 40     # and cProfile's top 40 (CPU time, by own and by cumulative) for each outcome
    ... --buyers 600     # fewer buyers (the race has 500 spots: the rest are told sold out)

The database (its name must contain "bench" or "test": it is dropped and created) is migrated and seeded as
`make bench` does (bench/seed.py, one spike race, then VACUUM and ANALYZE); the Stripe double (bench/spike.py's, in a process
of its own, answering at once) stands in for Stripe. Then each buyer presses "Continue to payment" in turn, with the
Flask test client and the cookies bench/spike.py gives its buyers. Per outcome (a payment page opened, or told
sold out): the app's CPU per checkout (time.process_time: this process only, so neither Postgres nor the Stripe
double), the median wall time, and the SQL statements one checkout runs. No concurrency: what a checkout costs,
not how checkouts queue (bench/spike.py measures that).
"""
from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[0] = str(ROOT)

from bench import scale, spike  # noqa: E402
from bench.profiling import reset  # noqa: E402
from bench.run import app_environment, mint_sessions, stripe_env  # noqa: E402

OUTCOMES = {303: "payment page", 409: "sold out"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--buyers", type=int, default=1000)
    parser.add_argument("--profile", type=int, default=0, help="cProfile's top N per outcome (0: none)")
    parser.add_argument("--statements", action="store_true", help="print the SQL of one checkout per outcome")
    args = parser.parse_args()
    url = os.environ.get("PROFILE_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/startline_bench_profile")
    stripe = spike.StripeProcess(0.0, Path(f"/tmp/startline-profile-checkout-{os.getpid()}.log")).start()
    try:
        return _run(url, stripe, args)
    finally:
        stripe.stop()


def _run(url: str, stripe, args) -> int:
    os.environ.update(stripe_env(app_environment(url, "http://127.0.0.1:5000"), stripe))
    reset(url)
    import flask_migrate
    from sqlalchemy import event

    from app import create_app
    from bench.seed import seed
    from extensions import db

    app = create_app()
    with app.app_context():
        flask_migrate.upgrade(revision="heads")
        data = seed(db.session, spike_races=1)
        scale.refresh_counts(db.session)  # VACUUM and ANALYZE, as make bench does: the planner's choices depend on it
        buyers_data = data.buyers[:args.buyers]
        tokens = mint_sessions(app, [b.profile_id for b in buyers_data])
        db.session.remove()
    buyers = spike.spike_buyers(app, [b.order_ids[0] for b in buyers_data], [tokens[b.profile_id] for b in buyers_data])

    statements = [0]
    texts: list[str] = []

    def count(conn, cursor, statement, *rest):
        statements[0] += 1
        texts.append(statement)

    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", count)
    shown: set[str] = set()
    costs: dict[str, list[tuple[float, float, int, float]]] = {}
    profiles: dict[str, pstats.Stats] = {}
    backends = _Backends(url)
    for i, buyer in enumerate(buyers):
        client = app.test_client()
        for name, value in buyer.cookies.items():
            client.set_cookie(name, value)
        # One checkout in ten is profiled (when asked) and not timed; the first tenth of the timed ones warms up.
        profiling = args.profile and i % 10 == 5
        profiler = cProfile.Profile(time.process_time) if profiling else None  # CPU, not waits
        statements[0] = 0
        texts.clear()
        postgres = backends.cpu_ms()
        cpu, wall = time.process_time(), time.perf_counter()
        if profiler:
            profiler.enable()
        response = client.post(f"/orders/{buyer.order_id}/checkout", headers={"X-CSRFToken": buyer.csrf_token})
        if profiler:
            profiler.disable()
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        postgres = backends.cpu_ms() - postgres
        outcome = OUTCOMES.get(response.status_code)
        if outcome is None:
            print(f"buyer {i}: HTTP {response.status_code} {response.headers.get('Location') or response.text[:300]}")
            return 1
        if args.statements and outcome not in shown and i > 20:
            shown.add(outcome)
            print(f"== {outcome}: {len(texts)} statements\n" + "\n".join(f"{n + 1}. {' '.join(t.split())[:400]}"
                                                                      for n, t in enumerate(texts)))
        if profiler:
            _merge(profiles, outcome, profiler)
            continue
        costs.setdefault(outcome, []).append((cpu * 1000, wall * 1000, statements[0], postgres))
    backends.close()

    for outcome, rows in costs.items():
        rows = rows[len(rows) // 10:]
        print(f"{outcome}: {len(rows)} checkouts timed; CPU median {statistics.median(r[0] for r in rows):.2f} ms "
              f"(mean {statistics.fmean(r[0] for r in rows):.2f}), wall median {statistics.median(r[1] for r in rows):.2f} ms, "
              f"SQL statements {statistics.median(r[2] for r in rows):.0f}; Postgres CPU mean "
              f"{statistics.fmean(r[3] for r in rows):.2f} ms")
    for outcome, stats in profiles.items():
        print(f"\n== cProfile, {outcome}: top {args.profile} by own time")
        stats.sort_stats("tottime").print_stats(args.profile)
        print(f"\n== cProfile, {outcome}: top {args.profile} by cumulative time")
        stats.sort_stats("cumulative").print_stats(args.profile)
    return 0


class _Backends:
    """CPU time of the Postgres backends serving this database (from /proc: Postgres on this machine), but for
    the one that asks which they are."""

    def __init__(self, url: str):
        import psycopg

        self.conn = psycopg.connect(url, autocommit=True)
        self.pids: list[int] = []
        self.asked = 0

    def cpu_ms(self) -> float:
        self.asked += 1
        if self.asked % 50 == 1:  # the pool may have opened a connection since
            self.pids = [row[0] for row in self.conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")]
        return sum(spike._tree_cpu_ms(pid) for pid in self.pids)

    def close(self) -> None:
        self.conn.close()


def _merge(profiles: dict, outcome: str, profiler: cProfile.Profile) -> None:
    if outcome in profiles:
        profiles[outcome].add(profiler)
    else:
        profiles[outcome] = pstats.Stats(profiler)


if __name__ == "__main__":
    sys.exit(main())
