"""The cart fragment's cost in-process, beside the one-SELECT baseline (issue 17's goal: ≥ 0.3×): not part of `make bench`.

    PROFILE_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/startline_test_me .venv/bin/python bench/profile_cart.py
    ... --reuse                      # the database as an earlier run left it (no drop, no seeding)
    ... --instructions               # and instructions per request, counted by valgrind's callgrind (--reuse implied)
    ... --profile                    # and cProfile's top 50 of the cart fragment

The database (its name must contain "bench" or "test": it is dropped and created) is migrated and seeded as
`make bench` does (bench/seed.py), and the bench's buyer's cart for the 5,000-runner race (two runners filled in,
one blank) is given a blank 10K ticket more: four tickets (--tickets). Then, in one process, the cart fragment
(htmx, signed in, the Flask test client) and bench/hello.py's one-SELECT page are asked in turns, ROUNDS batches
of N each, so a machine that gets busier or quieter moves both alike. Per side: the app's CPU per request
(time.process_time: Python only, Postgres not counted) and the median wall time (Postgres included); the ratio
is the baseline's cost ÷ the cart's, as `make bench` compares requests per second.

--instructions runs this script again under `valgrind --tool=callgrind` on the same database: each side's
requests are bracketed by os.getppid() (callgrind zeroes its counters) and os.getpgrp() (it writes them out), so
start-up, seeding and warm-up are not counted; a machine's load does not change the count.
"""
from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[0] = str(ROOT)

from bench.profiling import seeded_app  # noqa: E402
from bench.run import mint_sessions  # noqa: E402

HTMX = {"HX-Request": "true"}
ROUNDS = 5


def _cart(session, tickets: int):
    """The bench buyer's cart for the big race, topped up with blank 10K tickets to `tickets`; (slug, buyer)."""
    from sqlalchemy import select
    from sqlalchemy.orm import selectinload

    from bench.seed import BIG_RACE_SLUG
    from models import Order, OrderStatus, Race, TicketType
    from services import cart as cart_service
    from services import clock

    race = session.scalars(select(Race).where(Race.slug == BIG_RACE_SLUG)).one()
    order = session.scalars(select(Order).where(Order.race_id == race.id, Order.status == OrderStatus.CART)
                            .options(selectinload(Order.registrations)).order_by(Order.id)).first()
    have = len(order.registrations)
    if tickets > have:
        ten_k = session.scalars(select(TicketType).where(TicketType.race_id == race.id, TicketType.name == "10K")).one()
        held = sum(1 for r in order.registrations if r.ticket_type_id == ten_k.id)
        cart_service.set_quantity(session, order, race, ten_k.id, held + tickets - have, clock.now())
        session.commit()
    return race.slug, order.buyer_id


def _statements(engine, client, path: str, headers: dict) -> int:
    from sqlalchemy import event

    counted = []

    def count(*_):
        counted.append(1)

    event.listen(engine, "before_cursor_execute", count)
    try:
        client.get(path, headers=headers)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return len(counted)


def _batch(client, path: str, headers: dict, n: int) -> tuple[float, list[float]]:
    walls = []
    cpu = time.process_time()
    for _ in range(n):
        started = time.perf_counter_ns()
        client.get(path, headers=headers)
        walls.append((time.perf_counter_ns() - started) / 1e6)
    return (time.process_time() - cpu) / n * 1000, walls


def _counted(client, path: str, headers: dict, n: int) -> None:
    """N requests between callgrind's zero (getppid) and dump (getpgrp)."""
    os.getppid()
    for _ in range(n):
        client.get(path, headers=headers)
    os.getpgrp()


def _instructions(args) -> None:
    """This script again under callgrind, on the database as it is: instructions per request of each side."""
    with tempfile.TemporaryDirectory() as out:
        command = ["valgrind", "--tool=callgrind", "--zero-before=getppid", "--dump-before=getpgrp",
                   f"--callgrind-out-file={out}/cg", sys.executable, __file__, "--reuse", "--under-callgrind",
                   "--n", str(args.callgrind_n), "--tickets", str(args.tickets)]
        subprocess.run(command, check=True, stderr=subprocess.DEVNULL)
        totals = [int(re.search(r"^totals: (\d+)", Path(out, f"cg.{part}").read_text(), re.M).group(1))
                  for part in (1, 2)]
    base, cart = (total / args.callgrind_n for total in totals)
    print(f"== instructions per request (callgrind, {args.callgrind_n} requests each)")
    print(f"   one-SELECT baseline {base / 1e6:7.2f} M")
    print(f"   cart fragment       {cart / 1e6:7.2f} M")
    print(f"   ratio               {base / cart:.3f}×")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100, help="requests per batch (ROUNDS batches a side)")
    parser.add_argument("--tickets", type=int, default=4)
    parser.add_argument("--reuse", action="store_true")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--instructions", action="store_true")
    parser.add_argument("--callgrind-n", type=int, default=20)
    parser.add_argument("--under-callgrind", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    app, _ = seeded_app(reuse=args.reuse)

    from bench import hello
    from extensions import db

    with app.app_context():
        slug, buyer = _cart(db.session, args.tickets)
        tokens = mint_sessions(app, [buyer])
        engine = db.engine
        db.session.remove()
    client = app.test_client()
    client.set_cookie("sl_access", tokens[buyer][0])
    client.set_cookie("sl_refresh", tokens[buyer][1])
    baseline = hello.app.test_client()
    sides = {"one-SELECT baseline": (baseline, "/one-select", {}),
             "cart fragment": (client, f"/races/{slug}/cart", HTMX)}
    for side, (c, path, headers) in sides.items():
        for _ in range(10):
            response = c.get(path, headers=headers)
        assert response.status_code == 200, (side, response.status_code)
    if args.under_callgrind:
        for c, path, headers in sides.values():
            _counted(c, path, headers, args.n)
        return

    html = client.get(sides["cart fragment"][1], headers=HTMX).get_data(as_text=True)
    cards = html.count('<details class="runner-card')
    print(f"== cart fragment: {cards} runner cards, {len(html):,} characters, "
          f"{_statements(engine, client, sides['cart fragment'][1], HTMX)} SQL statements")
    cpu, walls = {side: [] for side in sides}, {side: [] for side in sides}
    for _ in range(ROUNDS):
        for side, (c, path, headers) in sides.items():
            batch_cpu, batch_walls = _batch(c, path, headers, args.n)
            cpu[side].append(batch_cpu)
            walls[side].extend(batch_walls)
    figures = {side: (statistics.median(cpu[side]), statistics.median(walls[side])) for side in sides}
    for side, (side_cpu, side_wall) in figures.items():
        print(f"   {side:22} cpu {side_cpu:6.2f} ms  wall (median) {side_wall:6.2f} ms")
    (base_cpu, base_wall), (cart_cpu, cart_wall) = figures.values()
    print(f"   ratio (baseline ÷ cart): cpu {base_cpu / cart_cpu:.3f}×  wall {base_wall / cart_wall:.3f}×", flush=True)
    if args.profile:
        c, path, headers = sides["cart fragment"]
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(args.n):
            c.get(path, headers=headers)
        profiler.disable()
        if os.environ.get("PROFILE_OUT"):
            profiler.dump_stats(os.environ["PROFILE_OUT"])
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(50)
    if args.instructions:
        _instructions(args)


if __name__ == "__main__":
    main()
