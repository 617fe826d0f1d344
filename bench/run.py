"""`make bench`: Startline under gunicorn on Postgres, side by side with a bare Flask page.

One run, about three minutes:
1. a fresh database `startline_bench` (dropped and created), migrated and seeded (bench/seed.py);
2. SQL statements per request for each page, counted in-process;
3. two gunicorn servers with the same settings, the bare "hello" app (the ceiling) and Startline;
4. wrk against each page (race list, race page, cart fragment, registrants, webhook), each
   right after a run against the ceiling, so each ratio compares neighbours in time;
5. the race page's weight, compressed; 6. the burst (bench/burst.py);
7. a message to the big race's 5,000 runners, sent through the page (bench/messages.py);
8. a table on the terminal, bench/results.json and bench/RESULTS.md.

Knobs (environment): BENCH_DATABASE_URL (its database name must contain "bench": it is dropped),
BENCH_DURATION (10s), BENCH_WARMUP (2s), BENCH_CEILING_DURATION (5s), BENCH_CONNECTIONS (16),
BENCH_THREADS (2).
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path[0] = str(ROOT)  # import the app and `bench.*` from the repository root, not from bench/

from bench import messages, report, servers, stripe_events, weight, wrk  # noqa: E402
from bench.burst import Shopper, ledger, percentile, run_burst  # noqa: E402

BENCH_DIR = ROOT / "bench"
WEBHOOK_SECRET = "whsec_bench"
APP_ENV = "bench"


@dataclass(frozen=True)
class Settings:
    database_url: str = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/startline_bench")
    duration: str = os.environ.get("BENCH_DURATION", "10s")
    warmup: str = os.environ.get("BENCH_WARMUP", "2s")
    ceiling_duration: str = os.environ.get("BENCH_CEILING_DURATION", "5s")
    connections: int = int(os.environ.get("BENCH_CONNECTIONS", "16"))
    threads: int = int(os.environ.get("BENCH_THREADS", "2"))

    @property
    def duration_seconds(self) -> float:
        return _seconds(self.duration)

    @property
    def wrk_flags(self) -> str:
        return f"-t{self.threads} -c{self.connections} -d{self.duration} --latency"


def _seconds(value: str) -> float:
    value = value.strip().lower()
    scale = {"s": 1, "m": 60, "h": 3600}.get(value[-1:], None)
    return float(value[:-1]) * scale if scale else float(value)


@dataclass
class Page:
    """One URL to measure, and who asks for it."""

    name: str
    path: str
    method: str = "GET"
    account: uuid.UUID | None = None   # signed in as this profile (cookies minted for the run)
    fragment: bool = False             # an htmx request for a fragment
    webhook: bool = False
    cookie: str = ""                   # filled in once the account's session exists
    status: str = "ok"
    sql_statements: int | None = None
    result: dict = field(default_factory=dict)


# --- the database ----------------------------------------------------------------------------

def recreate_database(url: str) -> None:
    """DROP and CREATE the benchmark database (only a database whose name says "bench")."""
    import psycopg
    from psycopg import sql

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if "bench" not in name:
        raise SystemExit(f"Refusing to drop {name!r}: the benchmark database's name must contain 'bench'.")
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def app_environment(database_url: str, site_url: str) -> dict[str, str]:
    """The environment gunicorn's Startline (and this process's copy of the app) runs with."""
    return {
        **os.environ,
        "APP_ENV": APP_ENV,  # not production: the test gateway is allowed, cookies not Secure on http
        "SECRET_KEY": secrets.token_urlsafe(48),
        "SITE_URL": site_url,
        "DATABASE_URL": database_url,
        "STRIPE_SECRET_KEY": "",  # the embedded test gateway
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "STRIPE_API_BASE": "",
        "SUPABASE_URL": "",  # the embedded auth provider
        "SMTP_URL": "",
        "STORAGE": "local",
        "MAIL_WORKER_IN_PROCESS": "0",
        "COOKIE_SECURE": "0",
        "RATELIMIT_STORAGE_URI": "memory://",
        "PYTHONDONTWRITEBYTECODE": "1",
    }


def mint_sessions(app, profile_ids: list[uuid.UUID]) -> dict[uuid.UUID, tuple[str, str]]:
    """Access and refresh tokens from the embedded provider, as after a sign-in (valid for an hour)."""
    from extensions import db
    from models import LocalUser
    from services.auth.local import LocalAuth, local_jwt_secret
    from services.auth.providers import token_issuer

    provider = LocalAuth(db.session, jwt_secret=local_jwt_secret(app.config["SECRET_KEY"]),
                         issuer=token_issuer(app.config), autoconfirm=True, send_email=lambda *a: None)
    tokens = {}
    for profile_id in profile_ids:
        session = provider._start_session(db.session.get(LocalUser, profile_id))
        tokens[profile_id] = (session.access_token, session.refresh_token)
    return tokens


# --- SQL statements per request ----------------------------------------------------------------

def count_statements(app, pages: list[Page], tokens: dict, comparisons: dict[str, list[tuple]]) -> dict:
    """One request per page after a warm-up, counting statements with a before_cursor_execute listener.

    Also sets each signed-in page's Cookie header for wrk (the auth cookies plus the Flask session
    cookie the warm-up request earned), and marks pages whose route does not exist yet.
    `comparisons` are the budgets' "constant number of queries": {what: [(label, path, account), …]},
    each counted the same way; returns {what: {label: statements}}.
    """
    from sqlalchemy import event
    from werkzeug.exceptions import MethodNotAllowed, NotFound

    from extensions import db

    with app.app_context():
        engine = db.engine
    statements = []

    def count(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    adapter = app.url_map.bind("127.0.0.1")
    event.listen(engine, "before_cursor_execute", count)
    try:
        for page in pages:
            try:
                adapter.match(page.path, method=page.method)
            except (NotFound, MethodNotAllowed):
                page.status = "not available"
                continue
            client = app.test_client()
            headers = {"HX-Request": "true"} if page.fragment else {}
            if page.account is not None:
                access, refresh = tokens[page.account]
                client.set_cookie("sl_access", access)
                client.set_cookie("sl_refresh", refresh)
            for attempt in ("warm-up", "counted"):
                data = None
                if page.webhook:
                    payload = stripe_events.foreign_event(APP_ENV)
                    headers = {"Content-Type": "application/json",
                               "Stripe-Signature": stripe_events.sign(payload, WEBHOOK_SECRET)}
                    data = payload
                statements.clear()
                response = client.open(page.path, method=page.method, headers=headers, data=data)
                if response.status_code != 200:
                    page.status = f"error: HTTP {response.status_code} ({attempt})"
                    break
            else:
                page.sql_statements = len(statements)
            if page.account is not None:
                cookies = {"sl_access": access, "sl_refresh": refresh}
                session_cookie = client.get_cookie(app.config["SESSION_COOKIE_NAME"])
                if session_cookie is not None:
                    cookies[session_cookie.key] = session_cookie.value
                page.cookie = "; ".join(f"{k}={v}" for k, v in cookies.items())

        constancy = {}
        for what, cases in comparisons.items():
            counts = {}
            for label, path, account in cases:
                try:
                    adapter.match(path.split("?")[0], method="GET")
                except (NotFound, MethodNotAllowed):
                    break
                client = app.test_client()
                if account is not None:
                    client.set_cookie("sl_access", tokens[account][0])
                    client.set_cookie("sl_refresh", tokens[account][1])
                client.get(path)
                statements.clear()
                if client.get(path).status_code != 200:
                    break
                counts[label] = len(statements)
            else:
                constancy[what] = counts
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return constancy


# --- the load ---------------------------------------------------------------------------------

def measure(page: Page, base_url: str, settings: Settings, workdir: Path, pending, ceiling: float, app) -> None:
    """Warm up, then the measured wrk run; the figures go into page.result."""
    headers = {}
    if page.cookie:
        headers["Cookie"] = page.cookie
    if page.fragment:
        headers["HX-Request"] = "true"
    url = base_url + page.path
    common = {"threads": settings.threads, "connections": settings.connections}
    if not page.webhook:
        wrk.run(url, duration=settings.warmup, headers=headers, **common)
        result = wrk.run(url, duration=settings.duration, headers=headers, **common)
        extra = {}
    else:
        script = str(BENCH_DIR / "webhook.lua")
        warm_events = workdir / "webhook-warmup.tsv"
        stripe_events.write_events(warm_events, 4000, [], WEBHOOK_SECRET, APP_ENV)
        warm = wrk.run(base_url, duration=settings.warmup, script=script,
                       script_args=(str(warm_events), str(settings.threads)), **common)
        # Enough events for the measured run at 3 × the warm-up's pace (a warm app is faster than a
        # warming one), signed just before it starts.
        count = max(10_000, int(warm.req_per_s * settings.duration_seconds * 3))
        events = workdir / "webhook.tsv"
        before = webhook_outcomes(app)
        real = stripe_events.write_events(events, count, pending, WEBHOOK_SECRET, APP_ENV)
        result = wrk.run(base_url, duration=settings.duration, script=script,
                         script_args=(str(events), str(settings.threads)), **common)
        after = webhook_outcomes(app)
        extra = {"events_prepared": count, "events_for_real_orders": real, "events_repeated": max(0, result.requests - count),
                 "outcomes": {k: after.get(k, 0) - before.get(k, 0) for k in after if after.get(k, 0) != before.get(k, 0)},
                 "pending_orders_paid": pending_paid(app, pending)}
    page.result = {
        "url": url, "method": page.method, "requests": result.requests, "req_per_s": result.req_per_s,
        "p50_ms": result.p50_ms, "p99_ms": result.p99_ms, "non_2xx_3xx": result.non_2xx_3xx,
        "socket_errors": result.socket_errors, "errors": result.errors,
        "ratio": round(result.req_per_s / ceiling, 3), "ceiling_req_per_s": ceiling, "wrk_output": result.output,
        **extra,
    }


def ceiling_page(runs: list[wrk.WrkResult], url: str) -> Page:
    """The hello row: the median of the ceiling runs, with the spread (a measure of the machine's noise)."""
    ordered = sorted(runs, key=lambda r: r.req_per_s)
    middle = ordered[len(ordered) // 2]
    page = Page("hello (ceiling)", "/", sql_statements=0)
    page.result = {
        "url": url, "method": "GET", "requests": middle.requests, "req_per_s": middle.req_per_s,
        "p50_ms": middle.p50_ms, "p99_ms": middle.p99_ms, "non_2xx_3xx": sum(r.non_2xx_3xx for r in runs),
        "socket_errors": {k: sum(r.socket_errors.get(k, 0) for r in runs) for r in runs for k in r.socket_errors},
        "errors": sum(r.errors for r in runs), "ratio": 1.0, "runs_req_per_s": [r.req_per_s for r in runs],
        "wrk_output": middle.output,
    }
    return page


def webhook_outcomes(app) -> dict[str, int]:
    from sqlalchemy import func, select

    from extensions import db
    from models import StripeEvent

    with app.app_context():
        rows = db.session.execute(select(StripeEvent.outcome, func.count()).group_by(StripeEvent.outcome)).all()
        db.session.remove()
    return {outcome: n for outcome, n in rows}


def pending_paid(app, pending) -> int:
    """How many of the orders waiting at the payment step are paid now."""
    from sqlalchemy import func, select

    from extensions import db
    from models import Order, OrderStatus

    with app.app_context():
        paid = db.session.scalar(select(func.count()).where(Order.id.in_([p.order_id for p in pending]),
                                                            Order.status == OrderStatus.PAID))
        db.session.remove()
    return paid


# --- the run ----------------------------------------------------------------------------------

def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def main() -> int:
    started = time.monotonic()
    load_before = os.getloadavg()[0]
    settings = Settings()
    hello_port, app_port = servers.free_port(), servers.free_port()
    while app_port == hello_port:
        app_port = servers.free_port()
    app_url = f"http://127.0.0.1:{app_port}"
    env = app_environment(settings.database_url, app_url)
    # Config reads the environment when it is imported: set it first, so this process's app is gunicorn's twin.
    os.environ.update(env)

    print(f"== Database {urlsplit(settings.database_url).path.lstrip('/')}: drop, create, migrate, seed", flush=True)
    recreate_database(settings.database_url)
    import flask_migrate
    from sqlalchemy import text

    from app import create_app
    from bench.seed import seed
    from extensions import db
    from services import clock

    app = create_app()
    with app.app_context():
        flask_migrate.upgrade(revision="heads")
        t0 = time.monotonic()
        data = seed(db.session)
        seed_seconds = time.monotonic() - t0
        db.session.execute(text("ANALYZE"))  # fresh statistics, as autovacuum would have them by now
        db.session.commit()
        postgres_version = db.session.execute(text("SHOW server_version")).scalar()
        tokens = mint_sessions(app, [data.organizer_id, data.cart_buyer_id] + [b.profile_id for b in data.buyers])
        db.session.remove()
    print(f"   {data.races} races; {data.registrations:,} paid registrations in {data.big_race_slug}; "
          f"{len(data.buyers)} buyers ready for {data.burst_race_slug} ({seed_seconds:.1f} s)", flush=True)

    pages = [
        Page("race list", "/"),
        Page("race page", f"/races/{data.big_race_slug}"),
        Page("cart fragment", f"/races/{data.big_race_slug}/cart", account=data.cart_buyer_id, fragment=True),
        Page("registrants", f"/manage/races/{data.big_race_id}/registrants", account=data.organizer_id),
        Page("webhook", "/webhooks/stripe", method="POST", webhook=True),
    ]
    print("== SQL statements per request (in-process)", flush=True)
    registrants = f"/manage/races/{data.big_race_id}/registrants"
    comparisons = {
        "race page": [(f"{data.registrations:,} registrations, 3 ticket types", f"/races/{data.big_race_slug}", None),
                      ("no registrations, 1 ticket type", f"/races/{data.small_race_slug}", None)],
        "registrants": [("page 1", registrants, data.organizer_id),
                        ("page 100, the last", registrants + "?page=100", data.organizer_id)],
    }
    constancy = count_statements(app, pages, tokens, comparisons)
    for page in pages:
        print(f"   {page.name}: {page.sql_statements if page.status == 'ok' else page.status}", flush=True)

    workdir = Path(tempfile.mkdtemp(prefix="startline-bench-"))
    hello = servers.Gunicorn("bench.hello:app", hello_port, env, workdir / "gunicorn-hello.log")
    startline = servers.Gunicorn("app:create_app()", app_port, env, workdir / "gunicorn-startline.log")
    results_pages = []
    try:
        print(f"== gunicorn: {servers.WORKERS} {servers.WORKER_CLASS} workers each, logs in {workdir}", flush=True)
        hello.start()
        startline.start()
        hello.wait_ready("/")
        startline.wait_ready("/healthz")

        print(f"== wrk {settings.wrk_flags} (after a {settings.warmup} warm-up each); the ceiling, "
              f"{settings.ceiling_duration}, right before each page", flush=True)
        wrk.run(hello.url + "/", duration=settings.warmup, threads=settings.threads, connections=settings.connections)
        ceiling_runs = []
        for page in pages:
            if page.status != "ok":
                print(f"   {page.name}: {page.status}, skipped", flush=True)
                continue
            # The ceiling is measured next to each page, so a machine that gets busier or quieter
            # during the run moves both figures of a ratio alike.
            ceiling_runs.append(wrk.run(hello.url + "/", duration=settings.ceiling_duration, threads=settings.threads,
                                        connections=settings.connections))
            measure(page, app_url, settings, workdir, data.pending, ceiling_runs[-1].req_per_s, app)
            print(f"   {page.name}: {page.result['req_per_s']:,.0f} req/s, ceiling {ceiling_runs[-1].req_per_s:,.0f}"
                  + (f", {page.result['errors']} errors" if page.result["errors"] else ""), flush=True)
        if not ceiling_runs:  # nothing of Startline answered: still say what the ceiling is
            ceiling_runs.append(wrk.run(hello.url + "/", duration=settings.ceiling_duration, threads=settings.threads,
                                        connections=settings.connections))
        ceiling = ceiling_page(ceiling_runs, hello.url + "/")
        results_pages = [ceiling, *pages]

        print("== Page weight of the race page", flush=True)
        page_weight = weight.measure(f"{app_url}/races/{data.big_race_slug}")

        print(f"== Burst: {len(data.buyers)} buyers, {data.burst_capacity} spots of which 100 left", flush=True)
        shoppers = [Shopper(str(b.order_id), *tokens[b.profile_id]) for b in data.buyers]
        burst = run_burst(app_url, data.burst_race_slug, shoppers, spots=100)
        with app.app_context():
            books = ledger(db.session, data.burst_ticket_type_id, [s.order_id for s in shoppers], clock.now())
            db.session.remove()

        print(f"== A message to every runner of {data.big_race_slug}, through the page", flush=True)
        message_send = messages.send_to_everyone(app, app_url, data.big_race_id, *tokens[data.organizer_id])
        print(f"   {message_send.recipients:,} recipients queued in {message_send.seconds:.2f} s "
              f"(HTTP {message_send.status}, {message_send.outbox_rows:,} outbox rows)", flush=True)
    finally:
        hello.stop()
        startline.stop()

    latencies = burst.checkout_latencies()
    pay = sorted(a.pay_ms for a in burst.attempts if a.pay_ms is not None)
    burst_result = {
        "buyers": burst.buyers, "spots": burst.spots, "paid": burst.count("paid"), "sold_out": burst.count("sold out"),
        "errors": len(burst.errors()), "error_samples": [e.detail for e in burst.errors()[:5]],
        "checkout_p50_ms": _round(percentile(latencies, 50)), "checkout_p99_ms": _round(percentile(latencies, 99)),
        "checkout_max_ms": _round(latencies[-1] if latencies else None),
        "pay_p50_ms": _round(percentile(pay, 50)), "pay_p99_ms": _round(percentile(pay, 99)),
        "wall_s": round(burst.wall_s, 2),
        "ledger": books.__dict__,
    }
    webhook = next((p for p in pages if p.webhook and p.status == "ok"), None)
    checks = [
        {"name": f"{p.name}: no errors under load", "ok": p.result["errors"] == 0,
         "detail": f"{p.result['non_2xx_3xx']} non-2xx/3xx, socket errors {p.result['socket_errors'] or 'none'}"}
        for p in results_pages if p.status == "ok"
    ] + [
        {"name": f"{p.name}: answers 200", "ok": False, "detail": p.status}
        for p in pages if p.status.startswith("error")
    ] + [
        {"name": "burst: exactly the spots left were sold", "ok": books.paid_orders == burst.spots == books.tickets,
         "detail": f"{books.paid_orders} paid orders, {books.tickets} tickets for {burst.spots} spots"},
        {"name": "burst: no errors other than sold out", "ok": not burst.errors() and
         burst.count("sold out") == burst.buyers - burst.spots,
         "detail": f"{len(burst.errors())} errors, {burst.count('sold out')} sold out"},
        {"name": f"message: {message_send.recipients:,} recipients queued in under {messages.BUDGET_SECONDS:.0f} s",
         "ok": message_send.within_budget,
         "detail": f"{message_send.seconds:.2f} s for HTTP {message_send.status}, {message_send.outbox_rows:,} outbox rows"},
        {"name": "burst: the race is full, not oversold", "ok": books.spots_left == 0 and books.sold_in_race == books.capacity
         and books.pending_orders == 0, "detail": f"{books.sold_in_race}/{books.capacity} sold, {books.pending_orders} pending"},
    ]
    if webhook is not None:
        # Each real order is paid by the first event that names it, once; every other event is ignored
        # or finds the order paid already. (How many real orders get an event depends on the pace.)
        outcomes, paid = webhook.result["outcomes"], webhook.result["pending_orders_paid"]
        expected = {"ignored: session not created here", "paid", "already_done"}
        checks.append({"name": "webhook: real orders paid exactly once, nothing else done", "ok":
                       outcomes.get("paid", 0) == paid and set(outcomes) <= expected,
                       "detail": f"{paid} of {len(data.pending)} pending orders paid; outcomes {outcomes}"})

    results = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {**report.machine(postgres_version, wrk.version()),
                    "load_average": {"before": round(load_before, 2), "after": round(os.getloadavg()[0], 2)}},
        "settings": {
            "gunicorn": f"{servers.WORKERS} {servers.WORKER_CLASS} workers, no access log, 127.0.0.1",
            "wrk": settings.wrk_flags, "warmup": settings.warmup,
            "seed": (f"{data.races} published races; {data.big_race_slug}: 3 ticket types, "
                     f"{data.registrations:,} paid registrations"),
        },
        "pages": [{"name": p.name, "path": p.path, "method": p.method, "status": p.status,
                   "sql_statements": p.sql_statements, **({k: v for k, v in p.result.items()} if p.result else
                                                          {"req_per_s": None, "p50_ms": None, "p99_ms": None,
                                                           "ratio": None})}
                  for p in results_pages],
        "webhook": ({k: webhook.result[k] for k in ("events_prepared", "events_for_real_orders", "events_repeated",
                                                     "outcomes", "pending_orders_paid")} if webhook else None),
        "burst": burst_result,
        "message_send": message_send.__dict__,
        "page_weight": {"url": page_weight.url, "gzip_total": page_weight.gzip_total, "raw_total": page_weight.raw_total,
                        "budget": weight.BUDGET_BYTES, "within_budget": page_weight.within_budget,
                        "scripts": page_weight.scripts, "inline_scripts": page_weight.inline_scripts,
                        "only_script_is_htmx": page_weight.only_script_is_htmx,
                        "other_origin": page_weight.other_origin,
                        "compressed_by": ("server" if all(r.compressed_by == "server" for r in page_weight.resources)
                                          else "bench"),
                        "resources": [r.__dict__ for r in page_weight.resources]},
        "sql_constancy": constancy,
        "skipped": [f"{p.name} ({p.path}): {p.status}" for p in pages if p.status == "not available"],
        "checks": checks,
        "elapsed_s": round(time.monotonic() - started, 1),
    }
    report.write_json(results, BENCH_DIR / "results.json")
    report.write_markdown(results, BENCH_DIR / "RESULTS.md")

    print()
    print(report.text_table(results))
    print()
    for line in report.summary_lines(results):
        print(line)
    for skipped in results["skipped"]:
        print(f"Not available: {skipped}")
    failed = [c for c in checks if not c["ok"]]
    for check in failed:
        print(f"FAILED: {check['name']}: {check['detail']}")
        if check["name"].startswith("burst") and burst_result["error_samples"]:
            print("   e.g. " + json.dumps(burst_result["error_samples"][:3]))
    print(f"\nbench/results.json and bench/RESULTS.md written in {results['elapsed_s']:.0f} s"
          + ("" if not failed else f"; {len(failed)} check(s) failed, gunicorn logs in {workdir}"))
    if not failed:
        shutil.rmtree(workdir, ignore_errors=True)  # logs and signed events; kept only to debug a failure
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
