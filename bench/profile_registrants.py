"""The registrants page's cost in-process, beside the one-SELECT baseline (issue 17): not part of `make bench`.

    PROFILE_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/startline_test_me .venv/bin/python bench/profile_registrants.py
    ... --profile "registrants"     # and cProfile's top 50 for that case at the first size
    ... --sizes 500,50000 --n 100   # fewer sizes or requests
    ... --reuse --cached            # a list settled a minute ago, from its cache (services/registrants/list_cache.py)

The database (its name must contain "bench" or "test": it is dropped and created) is migrated and seeded as
`make bench` does (bench/seed.py); then at each size of the growth race (500, 5,000, 50,000 paid registrations)
each case is asked N times, one request at a time, with the Flask test client signed in as the organizer (the
list read and rendered each time, its cache off unless --cached). Per
case: the app's CPU per request (time.process_time: Python only, Postgres not counted), the median wall time
(Postgres included, noisy on a shared machine), and the SQL statements one request runs. The baseline is
bench/hello.py's one-SELECT page asked the same way. Writes bench/profile_registrants.json (not committed).
"""
from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[0] = str(ROOT)

from bench import scale  # noqa: E402
from bench.profiling import seeded_app  # noqa: E402
from bench.run import mint_sessions  # noqa: E402


def _seeded(session):
    """The growth race and its organizer in a database an earlier run seeded, and how many it holds now."""
    from types import SimpleNamespace

    from sqlalchemy import func, select

    from models import Race, RaceOrganizer, Registration

    race = session.scalars(select(Race).where(Race.slug == scale.seed_module.GROWTH_RACE_SLUG)).one()
    organizer = session.scalars(select(RaceOrganizer.profile_id).where(RaceOrganizer.race_id == race.id)).first()
    have = session.scalar(select(func.count()).where(Registration.race_id == race.id))
    return SimpleNamespace(growth_race_id=race.id, organizer_id=organizer, growth_registrations=have)


def _statements(app, engine, client, path: str) -> int:
    from sqlalchemy import event

    counted = []

    def count(*_):
        counted.append(1)

    event.listen(engine, "before_cursor_execute", count)
    try:
        client.get(path)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return len(counted)


def _cost(client, path: str, n: int) -> dict:
    for _ in range(5):
        response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    walls = []
    cpu_started = time.process_time()
    for _ in range(n):
        started = time.perf_counter()
        client.get(path)
        walls.append((time.perf_counter() - started) * 1000)
    cpu = (time.process_time() - cpu_started) / n * 1000
    return {"cpu_ms": round(cpu, 2), "wall_ms": round(statistics.median(walls), 2), "path": path}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="500,5000,50000")
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--profile", default="")
    parser.add_argument("--out", default=str(ROOT / "bench" / "profile_registrants.json"))
    parser.add_argument("--cached", action="store_true",
                        help="keep the list's cache on (it serves a list whose newest change is a minute old)")
    parser.add_argument("--reuse", action="store_true",
                        help="measure the database as it is (seeded and grown by an earlier run): one size")
    args = parser.parse_args()
    app, data = seeded_app(reuse=args.reuse)
    if not args.cached:
        scale.uncached_registrants(app)

    from bench import hello
    from extensions import db

    with app.app_context():
        if args.reuse:
            data = _seeded(db.session)
        tokens = mint_sessions(app, [data.organizer_id])
        engine = db.engine
        db.session.remove()
    client = app.test_client()
    client.set_cookie("sl_access", tokens[data.organizer_id][0])
    client.set_cookie("sl_refresh", tokens[data.organizer_id][1])
    baseline_client = hello.app.test_client()
    sizes = [data.growth_registrations] if args.reuse else [int(s) for s in args.sizes.split(",")]
    base = f"/manage/races/{data.growth_race_id}/registrants"
    cases = {"registrants": base, "registrants sorted by registration, newest first": base + "?sort=registered&dir=desc",
             'registrants searched for "smith"': base + "?q=smith"}
    results, have = {}, data.growth_registrations
    for size in sizes:
        with app.app_context():
            if size > have:
                scale.seed_module.grow(db.session, data.growth_race_id, have, size)
                scale.refresh_counts(db.session)
                have = size
            db.session.remove()
        row = {"one-SELECT baseline": _cost(baseline_client, "/one-select", args.n)}
        for name, path in cases.items():
            html = client.get(path).get_data(as_text=True)
            for where, page in [("first", path), *scale.page_links(html, path).items()]:
                label = f"{name}, {where} page"
                row[label] = {**_cost(client, page, args.n), "sql": _statements(app, engine, client, page)}
                if args.profile and label.startswith(args.profile) and size == sizes[0]:
                    profiler = cProfile.Profile()
                    profiler.enable()
                    for _ in range(args.n):
                        client.get(page)
                    profiler.disable()
                    pstats.Stats(profiler).sort_stats("cumulative").print_stats(50)
        results[size] = row
        print(f"== {size:,} registrations")
        for label, r in row.items():
            print(f"   {label:70} cpu {r['cpu_ms']:6.2f} ms  wall {r['wall_ms']:6.2f} ms  sql {r.get('sql', 1)}",
                  flush=True)
    if len(sizes) > 1:
        print("== growth, wall (cpu), largest ÷ smallest")
        for label in results[sizes[0]]:
            small, large = results[sizes[0]][label], results[sizes[-1]].get(label)
            if large:
                print(f"   {label:70} {large['wall_ms'] / small['wall_ms']:.2f}× "
                      f"({large['cpu_ms'] / small['cpu_ms']:.2f}×)")
    Path(args.out).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
