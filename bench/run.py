"""`make bench`: Startline under gunicorn on Postgres, against two baselines, and every goal of issue 17.

One run, 10–15 minutes on two vCPUs (most of it the spikes and the growth to 50,000):
1. a fresh database `startline_bench` (dropped and created), migrated and seeded (bench/seed.py);
2. SQL statements per request for each page, counted in-process;
3. two gunicorn servers with the same settings (two sync workers): the baselines (bench/hello.py: a bare
   Flask page, and one doing ONE SELECT and a small Jinja template) and Startline;
4. wrk against each page (race list and race page as a cookieless visitor, the race page again with
   If-None-Match when it sends an ETag, cart fragment, registrants, webhook), each right after a run
   against both baselines, so each ratio compares neighbours in time;
5. the race page's weight, compressed; a message to the big race's 5,000 runners (bench/messages.py);
6. the registration-opening spike (bench/spike.py) under each worker model: 1,000 buyers within 10 s
   for 500 spots, the Stripe double answering Checkout Session creation in 300 ms;
7. past one machine (bench/cluster.py): two instances, Redis for the rate limits, wrk and the spike
   spread over both; two outbox workers send every email once and run each scheduled job once;
8. flat in the data (bench/scale.py): a race grown to 500, 5,000 and 50,000 registrations, each page's
   cost in-process at each size;
9. the goals table (goal, figure, met) and the pages table on the terminal, bench/results.json and
   bench/RESULTS.md. The exit status is 1 only for correctness (an oversold spike, errors under load,
   a webhook or an email handled twice, a job run twice), never for a missed speed goal.

Knobs (environment): BENCH_DATABASE_URL (its database name must contain "bench": it is dropped),
BENCH_DURATION (10s), BENCH_WARMUP (2s), BENCH_CEILING_DURATION (5s), BENCH_CONNECTIONS (16),
BENCH_THREADS (2), BENCH_SPIKE_MODELS (the Procfile's model and sync; e.g. "sync,gthread:4,gthread:8,
gthread:16,gthread:3x8,gevent"), BENCH_SPIKE_CLIENT (asyncio, or threads: a thread and `requests` per buyer),
BENCH_STRIPE_LATENCY_MS (300), BENCH_ONLY=spike (seed, then only the spike under each
of BENCH_SPIKE_MODELS, with the CPU milliseconds per checkout of the app, the Stripe double, the load generator
and the whole machine; about a minute a model; no report written).
"""
from __future__ import annotations

import contextlib
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

from bench import cluster, lighthouse, messages, report, scale, servers, spike, stripe_events, weight, wrk  # noqa: E402
from bench.ledger import ledger  # noqa: E402

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
    headers: dict = field(default_factory=dict)  # sent as they are (If-None-Match)
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


def lighthouse_pages(data, tokens) -> list[tuple[str, str, str | None]]:
    """The five pages issue 17 asks Lighthouse about, and issue 18's check-in page: (name, path, the Cookie header
    of who asks)."""
    def cookie(account) -> str:
        access, refresh = tokens[account]
        return f"sl_access={access}; sl_refresh={refresh}"

    return [("race list", "/", None),
            ("race page", f"/races/{data.big_race_slug}", None),
            ("cart", "/cart", cookie(data.cart_buyer_id)),
            ("editor", f"/manage/races/{data.big_race_id}", cookie(data.organizer_id)),
            ("dashboard", f"/manage/races/{data.big_race_id}/dashboard", cookie(data.organizer_id)),
            # Issue 18 asks the check-in page for accessibility (lighthouse.ACCESSIBILITY_GOALS), not speed.
            ("check-in page", f"/manage/races/{data.big_race_id}/checkin", cookie(data.organizer_id))]


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

def measure(page: Page, base_url: str, settings: Settings, workdir: Path, pending, baselines: dict, app) -> None:
    """Warm up, then the measured wrk run; the figures, and the ratios to the baselines measured just
    before it, go into page.result."""
    headers = dict(page.headers)
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
    bare, one_select = baselines["bare"], baselines["one-select"]
    page.result = {
        "url": url, "method": page.method, "requests": result.requests, "req_per_s": result.req_per_s,
        "p50_ms": result.p50_ms, "p99_ms": result.p99_ms, "non_2xx_3xx": result.non_2xx_3xx,
        "socket_errors": result.socket_errors, "errors": result.errors,
        "ratio": round(result.req_per_s / bare.req_per_s, 3), "ceiling_req_per_s": bare.req_per_s,
        "ratio_one_select": round(result.req_per_s / one_select.req_per_s, 3),
        "one_select_req_per_s": one_select.req_per_s, "one_select_p99_ms": one_select.p99_ms,
        "p99_vs_one_select": round(result.p99_ms / one_select.p99_ms, 2) if one_select.p99_ms else None,
        "wrk_output": result.output, **extra,
    }


def baseline_page(name: str, path: str, runs: list[wrk.WrkResult], url: str) -> Page:
    """A baseline row: the median of its runs, with the spread (a measure of the machine's noise)."""
    ordered = sorted(runs, key=lambda r: r.req_per_s)
    middle = ordered[len(ordered) // 2]
    page = Page(name, path, sql_statements=0 if path == "/" else 1)
    page.result = {
        "url": url, "method": "GET", "requests": middle.requests, "req_per_s": middle.req_per_s,
        "p50_ms": middle.p50_ms, "p99_ms": middle.p99_ms, "non_2xx_3xx": sum(r.non_2xx_3xx for r in runs),
        "socket_errors": {k: sum(r.socket_errors.get(k, 0) for r in runs) for r in runs for k in r.socket_errors},
        "errors": sum(r.errors for r in runs), "ratio": None, "ratio_one_select": None,
        "runs_req_per_s": [r.req_per_s for r in runs], "wrk_output": middle.output,
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


def anonymous_headers(url: str) -> dict[str, str]:
    """What a cookieless visitor's GET answers: Set-Cookie, ETag, Cache-Control (for the report, and the 304 run)."""
    import urllib.request

    with urllib.request.urlopen(url, timeout=10) as response:
        return {"status": response.status, "set_cookie": response.headers.get_all("Set-Cookie") or [],
                "etag": response.headers.get("ETag") or "", "cache_control": response.headers.get("Cache-Control") or ""}


def spike_models() -> list[servers.Model]:
    """BENCH_SPIKE_MODELS ("sync,gthread:4,gthread:8,gthread:16,gevent"), by default the Procfile's model and sync."""
    chosen = os.environ.get("BENCH_SPIKE_MODELS", "").strip()
    models = [servers.Model.parse(m) for m in chosen.split(",") if m.strip()] if chosen else [
        servers.procfile_model(), servers.Model("sync")]
    unique = list(dict.fromkeys(models))
    for model in unique:
        if model.worker_class == "gevent":
            try:
                import gevent  # noqa: F401
            except ImportError:
                raise SystemExit("BENCH_SPIKE_MODELS asks for gevent, which is not installed "
                                 "(.venv/bin/pip install gevent; see the README's Performance section)") from None
    return unique


def stripe_env(env: dict[str, str], stripe) -> dict[str, str]:
    return {**env, "STRIPE_SECRET_KEY": stripe.api_key, "STRIPE_API_BASE": stripe.url}


def one_spike(app, data, race, tokens, base_urls: list[str], stripe, model_name: str,
              cpu_of: dict[str, int] | None = None) -> dict:
    """One opening spike on `race` (a bench/seed.py SpikeRace), its ledger afterwards. `cpu_of`: {name: pid}
    of processes whose CPU time (with their children's) during the buyers' part is reported, per checkout;
    the load generator (this process) and the whole machine are always reported."""
    index = data.spike_races.index(race)
    order_ids = [b.order_ids[index] for b in data.buyers]
    buyers = spike.spike_buyers(app, order_ids, [tokens[b.profile_id] for b in data.buyers])
    result = spike.run_spike(base_urls, buyers, race.capacity, stripe, model=model_name, webhook_secret=WEBHOOK_SECRET,
                             cpu_of=cpu_of)
    from extensions import db
    from services import clock

    with app.app_context():
        books = ledger(db.session, race.ticket_type_id, [str(o) for o in order_ids], clock.now())
        db.session.remove()
    summary = {**result.summary(), "ledger": books.__dict__}
    print(f"   {model_name}: {books.paid_orders} sold, {summary['sold_out']} told sold out, {summary['errors']} errors; "
          f"checkout p50 {summary['checkout_p50_ms']} ms, p99 {summary['checkout_p99_ms']} ms; median of each "
          f"second's buyers: {' '.join(report.seconds(ms) for ms in summary['checkout_p50_ms_by_second'])} s", flush=True)
    return summary


def main() -> int:
    started = time.monotonic()
    load_before = os.getloadavg()[0]
    settings = Settings()
    models = spike_models()
    procfile = servers.procfile_model()
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

    app = create_app()
    with app.app_context():
        flask_migrate.upgrade(revision="heads")
        t0 = time.monotonic()
        data = seed(db.session, spike_races=len(models) + 1)  # one race per model, one for two instances
        seed_seconds = time.monotonic() - t0
        counts_note = scale.refresh_counts(db.session)  # VACUUM and ANALYZE, as autovacuum would have by now
        postgres_version = db.session.execute(text("SHOW server_version")).scalar()
        tokens = mint_sessions(app, [data.organizer_id, data.cart_buyer_id] + [b.profile_id for b in data.buyers])
        db.session.remove()
    print(f"   {data.races} races; {data.registrations:,} paid registrations in {data.big_race_slug}; "
          f"{len(data.buyers):,} buyers with carts in {len(data.spike_races)} spike races ({seed_seconds:.1f} s; "
          f"{counts_note})", flush=True)

    if ONLY == "spike":
        return spike_alone(app, data, tokens, env, models, procfile)

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
    results_pages, anonymous = [], {}
    try:
        print(f"== gunicorn: {servers.WORKERS} {servers.WORKER_CLASS} workers each, logs in {workdir}", flush=True)
        hello.start()
        startline.start()
        hello.wait_ready("/one-select")
        startline.wait_ready("/healthz")

        # The anonymous pages as a cookieless visitor sees them (wrk sends no cookie), and the race
        # page again with the ETag it answered, when it has one: a conditional GET (304).
        for page in pages[:2]:
            anonymous[page.name] = anonymous_headers(app_url + page.path)
        etag = anonymous["race page"]["etag"]
        if etag:
            pages.insert(2, Page("race page, If-None-Match (304)", pages[1].path, headers={"If-None-Match": etag}))

        print(f"== wrk {settings.wrk_flags} (after a {settings.warmup} warm-up each); both baselines, "
              f"{settings.ceiling_duration} each, right before each page", flush=True)
        for path in ("/", "/one-select"):
            wrk.run(hello.url + path, duration=settings.warmup, threads=settings.threads,
                    connections=settings.connections)
        runs = {"bare": [], "one-select": []}

        def baselines() -> dict:
            # Measured next to each page, so a machine that gets busier or quieter during the run
            # moves both figures of a ratio alike.
            latest = {}
            for name, path in (("bare", "/"), ("one-select", "/one-select")):
                latest[name] = wrk.run(hello.url + path, duration=settings.ceiling_duration,
                                       threads=settings.threads, connections=settings.connections)
                runs[name].append(latest[name])
            return latest

        for page in pages:
            if page.status != "ok":
                print(f"   {page.name}: {page.status}, skipped", flush=True)
                continue
            latest = baselines()
            measure(page, app_url, settings, workdir, data.pending, latest, app)
            print(f"   {page.name}: {page.result['req_per_s']:,.0f} req/s ({page.result['ratio_one_select']:.3f}× "
                  f"one-SELECT {latest['one-select'].req_per_s:,.0f}, {page.result['ratio']:.3f}× bare "
                  f"{latest['bare'].req_per_s:,.0f})"
                  + (f", {page.result['errors']} errors" if page.result["errors"] else ""), flush=True)
        if not runs["bare"]:  # nothing of Startline answered: still say what the baselines are
            baselines()
        results_pages = [baseline_page("hello (bare Flask)", "/", runs["bare"], hello.url + "/"),
                         baseline_page("one SELECT + Jinja", "/one-select", runs["one-select"], hello.url + "/one-select"),
                         *pages]

        print("== Page weight of the race page", flush=True)
        page_weight = weight.measure(f"{app_url}/races/{data.big_race_slug}")

        print(f"== Lighthouse {lighthouse.VERSION} (mobile, simulated throttling): performance and accessibility, "
              f"the median of {lighthouse.RUNS} runs a page", flush=True)
        lighthouse_scores = lighthouse.run(app_url, lighthouse_pages(data, tokens))
        for score in lighthouse_scores:
            print(f"   {score.name}: " + (score.problem or f"performance {score.performance * 100:.0f}, "
                                          f"accessibility {score.accessibility * 100:.0f}"), flush=True)

        print(f"== A message to every runner of {data.big_race_slug}, through the page", flush=True)
        message_send = messages.send_to_everyone(app, app_url, data.big_race_id, *tokens[data.organizer_id])
        print(f"   {message_send.recipients:,} recipients queued in {message_send.seconds:.2f} s "
              f"(HTTP {message_send.status}, {message_send.outbox_rows:,} outbox rows)", flush=True)
    finally:
        hello.stop()
        startline.stop()

    stripe = spike.StripeProcess(SPIKE_STRIPE_LATENCY, workdir / "stripe-double.log").start()
    spikes, cluster_result = [], {}
    try:
        print(f"== Opening spike: {len(data.buyers):,} buyers within {spike.WINDOW_SECONDS:.0f} s for "
              f"{data.spike_races[0].capacity} spots, Stripe answering in {SPIKE_STRIPE_LATENCY * 1000:.0f} ms", flush=True)
        for model, race in zip(models, data.spike_races, strict=False):
            port = servers.free_port()
            server = servers.Gunicorn("app:create_app()", port, stripe_env(env, stripe),
                                      workdir / f"gunicorn-spike-{model.name.replace(' ', '-')}.log", model)
            with server:
                server.wait_ready("/healthz")
                spikes.append({**one_spike(app, data, race, tokens, [server.url], stripe, model.name),
                               "procfile": model == procfile})

        print(f"== Two instances ({procfile.name} each), one Postgres, Redis for the rate limits", flush=True)
        cluster_result = run_cluster(app, data, tokens, env, stripe, procfile, settings, workdir)
    finally:
        stripe.stop()

    print("== Flat in the data: the growth race at " + " / ".join(f"{n:,}" for n in seed_growth_steps())
          + " registrations, each page in-process (median ms)", flush=True)
    growth = scale.run(app, db, data, tokens)

    results = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {**report.machine(postgres_version, wrk.version()),
                    "load_average": {"before": round(load_before, 2), "after": round(os.getloadavg()[0], 2)}},
        "settings": {
            "gunicorn": f"{servers.WORKERS} {servers.WORKER_CLASS} workers, no access log, 127.0.0.1",
            "wrk": settings.wrk_flags, "warmup": settings.warmup,
            "seed": (f"{data.races} published races; {data.big_race_slug}: 3 ticket types, "
                     f"{data.registrations:,} paid registrations"),
            "procfile_model": procfile.name, "spike_models": [m.name for m in models],
        },
        "pages": [{"name": p.name, "path": p.path, "method": p.method, "status": p.status,
                   "sql_statements": p.sql_statements, **({k: v for k, v in p.result.items()} if p.result else
                                                          {"req_per_s": None, "p50_ms": None, "p99_ms": None,
                                                           "ratio": None, "ratio_one_select": None})}
                  for p in results_pages],
        "anonymous": anonymous,
        "webhook": None,
        "spikes": spikes,
        "cluster": cluster_result,
        "scale": growth,
        "message_send": message_send.__dict__,
        "lighthouse": [{"name": s.name, "path": s.path, "performance": s.performance, "accessibility": s.accessibility,
                        "metrics": s.metrics, "problem": s.problem, "runs": s.runs, **lighthouse.goal_of(s.name)}
                       for s in lighthouse_scores],
        "page_weight": {"url": page_weight.url, "gzip_total": page_weight.gzip_total, "raw_total": page_weight.raw_total,
                        "budget": weight.BUDGET_BYTES, "within_budget": page_weight.within_budget,
                        "scripts": page_weight.scripts, "inline_scripts": page_weight.inline_scripts,
                        "only_allowed_scripts": page_weight.only_allowed_scripts,
                        "other_origin": page_weight.other_origin,
                        "compressed_by": ("server" if all(r.compressed_by == "server" for r in page_weight.resources)
                                          else "bench"),
                        "resources": [r.__dict__ for r in page_weight.resources]},
        "sql_constancy": constancy,
        "skipped": [f"{p.name} ({p.path}): {p.status}" for p in pages if p.status == "not available"],
    }
    webhook = next((p for p in pages if p.webhook and p.status == "ok"), None)
    if webhook is not None:
        results["webhook"] = {k: webhook.result[k] for k in ("events_prepared", "events_for_real_orders",
                                                               "events_repeated", "outcomes", "pending_orders_paid")}
    results["checks"] = report.checks(results, pages, len(data.pending))
    results["goals"] = report.goals(results)
    results["elapsed_s"] = round(time.monotonic() - started, 1)
    report.write_json(results, BENCH_DIR / "results.json")
    report.write_markdown(results, BENCH_DIR / "RESULTS.md")

    print()
    print(report.text_table(results))
    print()
    print(report.goals_text(results))
    print()
    for line in report.summary_lines(results):
        print(line)
    for skipped in results["skipped"]:
        print(f"Not available: {skipped}")
    failed = [c for c in results["checks"] if not c["ok"]]
    for check in failed:
        print(f"FAILED: {check['name']}: {check['detail']}")
    print(f"\nbench/results.json and bench/RESULTS.md written in {results['elapsed_s']:.0f} s"
          + ("" if not failed else f"; {len(failed)} check(s) failed, gunicorn logs in {workdir}"))
    if not failed:
        shutil.rmtree(workdir, ignore_errors=True)  # logs and signed events; kept only to debug a failure
    return 1 if failed else 0


def seed_growth_steps() -> tuple[int, ...]:
    from bench.seed import GROWTH_STEPS

    return GROWTH_STEPS


def run_cluster(app, data, tokens, env, stripe, model: servers.Model, settings: Settings, workdir: Path) -> dict:
    """Two instances: throughput alone and spread, the spike over both, the outbox and the jobs with two workers."""
    from tests.smtp import SmtpServer

    redis = cluster.Redis(workdir / "redis.log").start()
    smtp = SmtpServer().start()
    ports = [servers.free_port() for _ in range(2)]
    while ports[0] == ports[1]:
        ports[1] = servers.free_port()
    shared = {**stripe_env(env, stripe), "RATELIMIT_STORAGE_URI": redis.url}
    path = f"/races/{data.big_race_slug}"
    out = {"model": model.name, "redis": redis.url}
    try:
        cpus = servers.own_cpus(2)
        if cpus:  # each instance on a CPU of its own, as on two machines: what the second instance adds
            with contextlib.ExitStack() as running:
                pinned = [running.enter_context(i) for i in _instances(shared, ports, model, workdir, cpus)]
                out["throughput_own_cpus"] = {**_scaling(pinned, path, settings), "cpus": cpus}
            _print_scaling(out["throughput_own_cpus"], f"each on a CPU of its own ({', '.join(map(str, cpus))})")
        with contextlib.ExitStack() as running:
            instances = [running.enter_context(i) for i in _instances(shared, ports, model, workdir)]
            out["throughput"] = _scaling(instances, path, settings)
            _print_scaling(out["throughput"], "on the same CPUs")
            out["spike"] = one_spike(app, data, data.spike_races[-1], tokens, [i.url for i in instances], stripe,
                                     f"two instances, {model.name} each")
        workers = cluster.Workers(shared, smtp.url, workdir)
        out["workers"] = cluster.drain_outbox(app, workers, smtp)
        w = out["workers"]
        print(f"   outbox: {w['smtp_received']:,} messages received by SMTP in {w['seconds']} s, {w['duplicates']} "
              f"twice; {w['sent_rows']:,} rows marked sent; scheduled jobs started: "
              + ", ".join(f"{job} {v['total']} ({'once' if v['once'] else 'TWICE'} per {v['interval_s']} s)"
                           for job, v in w["jobs"].items()), flush=True)
    finally:
        smtp.stop()
        redis.stop()
    return out


def _instances(shared: dict[str, str], ports: list[int], model: servers.Model, workdir: Path,
               cpus: list[int] | None = None) -> list[servers.Gunicorn]:
    """Two instances of the app on `ports`, pinned one to each of `cpus` when given."""
    pinned = "-pinned" if cpus else ""
    return [servers.Gunicorn("app:create_app()", port, {**shared, "SITE_URL": f"http://127.0.0.1:{port}"},
                             workdir / f"gunicorn-instance-{n + 1}{pinned}.log", model, cpu=cpus[n] if cpus else None)
            for n, port in enumerate(ports)]


def _scaling(instances: list[servers.Gunicorn], path: str, settings: Settings) -> dict:
    """`path`'s throughput on the first instance alone, then with wrk spread over both (each warmed first)."""
    for instance in instances:
        instance.wait_ready("/healthz")
    for instance in instances:
        wrk.run(instance.url + path, duration=settings.warmup, threads=settings.threads,
                connections=settings.connections)
    common = {"duration": settings.duration, "connections": settings.connections}
    alone = cluster.spread_wrk([instances[0].url + path], **common)
    both = cluster.spread_wrk([i.url + path for i in instances], **common)
    return {"page": "race page", "one_instance": alone, "two_instances": both,
            "scaling": round(both["req_per_s"] / alone["req_per_s"], 2) if alone["req_per_s"] else None}


def _print_scaling(t: dict, how: str) -> None:
    print(f"   race page, two instances {how}: {t['one_instance']['req_per_s']:,.0f} req/s on one, "
          f"{t['two_instances']['req_per_s']:,.0f} on two ({t['scaling']}×)", flush=True)


SPIKE_STRIPE_LATENCY = float(os.environ.get("BENCH_STRIPE_LATENCY_MS", "300")) / 1000
ONLY = os.environ.get("BENCH_ONLY", "").strip()


def spike_alone(app, data, tokens, env, models: list[servers.Model], procfile: servers.Model) -> int:
    """BENCH_ONLY=spike: the opening spike under each of BENCH_SPIKE_MODELS and nothing else (about a minute
    a model), with the CPU each part took; prints the figures, writes no report. Fails only for correctness."""
    import json

    workdir = Path(tempfile.mkdtemp(prefix="startline-spike-"))
    stripe = spike.StripeProcess(SPIKE_STRIPE_LATENCY, workdir / "stripe-double.log").start()
    spikes = []
    try:
        for model, race in zip(models, data.spike_races, strict=False):
            server = servers.Gunicorn("app:create_app()", servers.free_port(), stripe_env(env, stripe),
                                      workdir / f"gunicorn-spike-{model.name.replace(' ', '-')}.log", model)
            with server:
                server.wait_ready("/healthz")
                spikes.append({**one_spike(app, data, race, tokens, [server.url], stripe, model.name,
                                           cpu_of={"app": server.process.pid, "stripe double": stripe.process.pid}),
                               "procfile": model == procfile})
    finally:
        stripe.stop()
    print(json.dumps(spikes, indent=1, default=str))
    wrong = [s["model"] for s in spikes if (s["ledger"]["paid_orders"], s["sold_out"], s["errors"]) != (
        data.spike_races[0].capacity, len(data.buyers) - data.spike_races[0].capacity, 0)]
    if wrong:
        print(f"FAILED: not exactly {data.spike_races[0].capacity} sold with 0 errors: {', '.join(wrong)}; logs in {workdir}")
        return 1
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
