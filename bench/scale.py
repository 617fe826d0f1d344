"""Flat in the data: what one request costs at 500, 5,000 and 50,000 registrations.

The growth race (bench/seed.py) starts with 500 paid runners and is grown in place to 5,000 and
50,000 (bulk multi-row INSERTs, then VACUUM and ANALYZE as autovacuum would, and, once the stored sold count exists, the app's own
recount). At each size every page is asked in-process (Flask's test client, one request at a time, no network) a
few times after a warm-up (WARM_UP: until its statements are planned as a live server's are); the median is its
cost. The registrant list is asked with its cache off (`uncached_registrants`): each request reads and renders it,
as one that changed within the last minute is. The registrants pages'
middle and last page are found by following the page's own links (rel="last" when it has one,
else its "Page X of Y" with the rel="next" link's page number), so a cursor works as well as ?page=N.
"""
from __future__ import annotations

import re
import statistics
import time
from dataclasses import dataclass
from html import unescape
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from sqlalchemy import select, text

from bench import seed as seed_module
from models import TicketType
from services.inventory import recount

PAGE_GOAL = 1.2         # race page, race list, cart fragment: 50,000 costs at most this × 500
REGISTRANTS_GOAL = 1.5  # registrants pages
SAMPLES = 15
REGISTRANT_SAMPLES = 7
# Runs of a page before it is timed: enough for its statements to be planned as a live server has them. psycopg
# prepares a statement on its 6th run, and Postgres plans a prepared statement for its values at each of its first
# 5 runs before it weighs a plan for any values, so a page's 11th run is the first in that steady state (and a
# page's second statement of a kind, one run later); with 2 runs of warm-up, the samples timed the planning, which
# the data's size changes too (issue 17).
WARM_UP = 12

_LINK = re.compile(r"<a\b[^>]*>", re.I)
_PAGES = re.compile(r"Page\s+[\d,]+\s+of\s+([\d,]+)")


@dataclass
class Case:
    name: str
    path: str
    account: object | None = None
    fragment: bool = False
    registrants: bool = False  # find the middle and last page by following links


def _link(html: str, rel: str) -> str | None:
    for tag in _LINK.findall(html):
        if re.search(rf'\brel="{rel}"', tag):
            href = re.search(r'\bhref="([^"]+)"', tag)
            if href:
                return unescape(href[1])
    return None


def page_links(html: str, path: str) -> dict[str, str]:
    """The middle and last page of a registrant list, found from its first page's own links."""
    last = _link(html, "last")
    nxt = _link(html, "next")
    pages = _PAGES.search(html)
    found = {}
    if nxt is None:
        return found  # one page only
    total = int(pages[1].replace(",", "")) if pages else None
    query = dict(parse_qsl(urlsplit(nxt).query))
    if "page" in query and total:
        parts = urlsplit(nxt)
        found["middle"] = urlunsplit(parts._replace(query=urlencode({**query, "page": max(1, (total + 1) // 2)})))
        found["last"] = last or urlunsplit(parts._replace(query=urlencode({**query, "page": total})))
    elif last:
        found["last"] = last
    return found


def _timed(client, path: str, headers: dict, samples: int) -> tuple[float, int]:
    for _ in range(WARM_UP):
        response = client.get(path, headers=headers)
    costs = []
    for _ in range(samples):
        started = time.perf_counter()
        response = client.get(path, headers=headers)
        costs.append((time.perf_counter() - started) * 1000)
    return statistics.median(costs), response.status_code


def measure(app, cases: list[Case], tokens: dict) -> dict[str, dict]:
    """{case label: {"ms": median, "status": HTTP status, "path": path}} at the current size."""
    out = {}
    for case in cases:
        client = app.test_client()
        if case.account is not None:
            access, refresh = tokens[case.account]
            client.set_cookie("sl_access", access)
            client.set_cookie("sl_refresh", refresh)
        headers = {"HX-Request": "true"} if case.fragment else {}
        samples = REGISTRANT_SAMPLES if case.registrants else SAMPLES
        ms, status = _timed(client, case.path, headers, samples)
        out[case.name] = {"ms": round(ms, 2), "status": status, "path": case.path}
        if case.registrants and status == 200:
            html = client.get(case.path).get_data(as_text=True)
            for where, path in page_links(html, case.path).items():
                ms, status = _timed(client, path, headers, samples)
                out[f"{case.name}, {where} page"] = {"ms": round(ms, 2), "status": status, "path": path}
    return out


def vacuum_and_analyze(session) -> None:
    """What autovacuum would have done by now after bulk inserts, on a server that runs it (Supabase does; this
    machine's Postgres has it switched off): VACUUM, so the visibility map lets index-only scans skip the table, and
    ANALYZE, so the planner knows the data's size. SQLite: ANALYZE."""
    engine = session.get_bind()
    if engine.dialect.name != "postgresql":
        session.execute(text("ANALYZE"))
        session.commit()
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql("VACUUM (ANALYZE)")


def refresh_counts(session) -> str:
    """After bulk inserts: the stored counts (sold, held) recounted (as `flask inventory-check --fix` does), fresh statistics."""
    recount(session, session.scalars(select(TicketType.id)))
    session.commit()
    vacuum_and_analyze(session)
    return "stored sold and held counts recounted by services.inventory.recount"


def uncached_registrants(app) -> None:
    """The registrant list read and rendered at every request: what it costs, not what its cache (which keeps a list
    once its newest change is a minute old, services/registrants/list_cache.py) saves on a list that holds still."""
    app.config["REGISTRANT_CACHE_SECONDS"] = 0
    app.extensions.pop("registrant_list_cache", None)


def run(app, db, data, tokens: dict) -> dict:
    """Grow the growth race step by step and measure every case at each size (the registrant list uncached)."""
    uncached_registrants(app)
    race, slug = data.growth_race_id, data.growth_race_slug
    registrants = f"/manage/races/{race}/registrants"
    cases = [
        Case("race page", f"/races/{slug}"),
        Case("race list", "/"),
        Case("cart fragment", f"/races/{slug}/cart", account=data.cart_buyer_id, fragment=True),
        Case("registrants", registrants, account=data.organizer_id, registrants=True),
        Case("registrants sorted by registration, newest first", registrants + "?sort=registered&dir=desc",
             account=data.organizer_id, registrants=True),
        Case('registrants searched for "smith"', registrants + "?q=smith", account=data.organizer_id,
             registrants=True),
    ]
    steps, have = {}, 0
    for size in seed_module.GROWTH_STEPS:
        with app.app_context():
            started = time.monotonic()
            if have:
                seed_module.grow(db.session, race, have, size)
            seeded = time.monotonic() - started
            counts = refresh_counts(db.session)
            db.session.remove()
        have = size
        steps[size] = {"seed_s": round(seeded, 1), "counts": counts, "pages": measure(app, cases, tokens)}
        print(f"   {size:,} registrations (seeded in {seeded:.1f} s): " + ", ".join(
            f"{name} {r['ms']:.1f} ms" for name, r in steps[size]["pages"].items()), flush=True)
    first, last = steps[seed_module.GROWTH_STEPS[0]]["pages"], steps[seed_module.GROWTH_STEPS[-1]]["pages"]
    growth = []
    for name, row in first.items():
        if name not in last or row["status"] != 200 or last[name]["status"] != 200:
            continue
        goal = REGISTRANTS_GOAL if name.startswith("registrants") else PAGE_GOAL
        ratio = last[name]["ms"] / row["ms"]
        growth.append({"page": name, "ms_small": row["ms"], "ms_large": last[name]["ms"], "growth": round(ratio, 2),
                       "goal": goal, "met": ratio <= goal})
    return {"steps": {str(k): v for k, v in steps.items()}, "growth": growth,
            "sizes": list(seed_module.GROWTH_STEPS)}
