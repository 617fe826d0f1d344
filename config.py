"""Configuration read from the environment: Config, TestConfig and the production checks."""
from __future__ import annotations

import os
from pathlib import Path

from dotenv import load_dotenv

BASE_DIR = Path(__file__).resolve().parent
INSTANCE_DIR = BASE_DIR / "instance"

# A .env beside the code fills in what the real environment leaves unset.
load_dotenv(BASE_DIR / ".env", override=False)

DEV_SECRET_KEY = "dev-insecure-change-me"


def _env(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def _flag(name: str, default: bool = False) -> bool:
    value = _env(name)
    if not value:
        return default
    return value.lower() in {"1", "true", "yes", "on"}


def database_url_from_env() -> str:
    """DATABASE_URL as SQLAlchemy wants it (psycopg 3 for Postgres), or the SQLite default."""
    url = _env("DATABASE_URL")
    if not url:
        return f"sqlite:///{INSTANCE_DIR / 'startline.db'}"
    # Supabase and Heroku-style URLs say postgres:// or postgresql://; we drive them with psycopg 3.
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def engine_options(config) -> dict:
    """SQLALCHEMY_ENGINE_OPTIONS, with the pool's size for Postgres (SQLite's pool is SQLAlchemy's own choice)."""
    options = dict(config["SQLALCHEMY_ENGINE_OPTIONS"])
    if config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        options.setdefault("pool_size", config["DATABASE_POOL_SIZE"])
        options.setdefault("max_overflow", config["DATABASE_MAX_OVERFLOW"])
        # The connection returned last is handed out first: a connection in use stays hot (its statements
        # prepared, no ping needed: extensions.IDLE_BEFORE_PING); spare ones idle and are pinged before use.
        options.setdefault("pool_use_lifo", True)
    return options


def parse_social_links(value: str) -> list[tuple[str, str]]:
    """`instagram=https://…, strava=https://…` → [("instagram", "https://…"), …]."""
    links = []
    for part in value.split(","):
        kind, sep, url = part.partition("=")
        if sep and kind.strip() and url.strip().startswith(("https://", "http://")):
            links.append((kind.strip().lower(), url.strip()))
    return links


class Config:
    APP_ENV = _env("APP_ENV", "development")
    SECRET_KEY = _env("SECRET_KEY", DEV_SECRET_KEY)
    SITE_NAME = _env("SITE_NAME", "Startline")
    SITE_URL = _env("SITE_URL", "http://127.0.0.1:5000").rstrip("/")
    SITE_SOCIAL_LINKS = parse_social_links(_env("SITE_SOCIAL_LINKS"))

    SQLALCHEMY_DATABASE_URI = database_url_from_env()
    # Connections idle for a while are pinged before use (extensions.IDLE_BEFORE_PING), not every one at every checkout.
    SQLALCHEMY_ENGINE_OPTIONS: dict = {}
    # Postgres connections kept per process: one per gunicorn thread (the Procfile's 16) and a few for the jobs a
    # worker may run, so a busy worker never closes and reopens them (a new backend costs Postgres milliseconds of
    # CPU and loses its prepared statements; a registration opening churned a hundred). See `engine_options`.
    DATABASE_POOL_SIZE = int(_env("DATABASE_POOL_SIZE") or 16)
    DATABASE_MAX_OVERFLOW = int(_env("DATABASE_MAX_OVERFLOW") or 4)

    # Uploads are checked again by the media service; this is the hard stop.
    MAX_CONTENT_LENGTH = 12 * 1024 * 1024

    WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the session cookie
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = _flag("COOKIE_SECURE", APP_ENV == "production")

    # Auth: Supabase when SUPABASE_URL is set, else the embedded local provider.
    SUPABASE_URL = _env("SUPABASE_URL").rstrip("/")
    SUPABASE_PUBLISHABLE_KEY = _env("SUPABASE_PUBLISHABLE_KEY") or _env("SUPABASE_ANON_KEY")
    SUPABASE_SECRET_KEY = _env("SUPABASE_SECRET_KEY") or _env("SUPABASE_SERVICE_ROLE_KEY")
    SUPABASE_JWT_SECRET = _env("SUPABASE_JWT_SECRET")  # legacy HS256 projects only
    # Local provider: confirm new accounts at once (as Supabase's local stack does by default).
    LOCAL_AUTH_AUTOCONFIRM = _flag("LOCAL_AUTH_AUTOCONFIRM", True)
    AUTH_RATE_LIMIT = _env("AUTH_RATE_LIMIT", "10 per minute")

    # Media: "local" keeps images in instance/media/, "supabase" in the SUPABASE_MEDIA_BUCKET bucket.
    STORAGE = _env("STORAGE", "local").lower()
    SUPABASE_MEDIA_BUCKET = _env("SUPABASE_MEDIA_BUCKET", "race-media")

    # Mail: SMTP when SMTP_URL is set, else .eml files in instance/mail/. The in-process worker
    # (mail and scheduled jobs) is for the dev server (`make run`); deployments run
    # `flask outbox-worker` instead.
    SMTP_URL = _env("SMTP_URL")
    MAIL_FROM = _env("MAIL_FROM", "Startline <no-reply@startline.local>")
    MAIL_WORKER_IN_PROCESS = _flag("MAIL_WORKER_IN_PROCESS")

    # Jobs the worker runs on a schedule (seconds between runs; 0 turns one off). However many
    # workers run, each job runs once per interval (services/scheduler.py).
    SCHEDULE_EXPIRE_RESERVATIONS_SECONDS = float(_env("SCHEDULE_EXPIRE_RESERVATIONS_SECONDS", "300") or 0)
    SCHEDULE_STRIPE_RECONCILE_SECONDS = float(_env("SCHEDULE_STRIPE_RECONCILE_SECONDS", "3600") or 0)
    SCHEDULE_RUNNER_REMINDERS_SECONDS = float(_env("SCHEDULE_RUNNER_REMINDERS_SECONDS", "3600") or 0)
    SCHEDULE_EXPIRE_GUEST_CARTS_SECONDS = float(_env("SCHEDULE_EXPIRE_GUEST_CARTS_SECONDS", "3600") or 0)
    SCHEDULE_WAITLIST_OFFERS_SECONDS = float(_env("SCHEDULE_WAITLIST_OFFERS_SECONDS", "60") or 0)

    # Payments: Stripe Checkout when STRIPE_SECRET_KEY is set, else the embedded test gateway.
    STRIPE_SECRET_KEY = _env("STRIPE_SECRET_KEY")
    STRIPE_WEBHOOK_SECRET = _env("STRIPE_WEBHOOK_SECRET")
    STRIPE_API_BASE = _env("STRIPE_API_BASE")  # only to point the client at a local stand-in
    ALLOW_TEST_PAYMENTS = _flag("ALLOW_TEST_PAYMENTS")

    RATELIMIT_STORAGE_URI = _env("RATELIMIT_STORAGE_URI", "memory://")
    RATELIMIT_HEADERS_ENABLED = True

    # Logs: "plain" lines, or "json" (one object a line) for a log service. Both carry the request id.
    LOG_FORMAT = _env("LOG_FORMAT", "plain").lower()
    # How many proxies (load balancers) in front of the app set X-Forwarded-For/-Proto; 0 trusts none.
    # Behind one (Heroku, Render, Fly), 1: rate limits and waiver IPs then see the client's address.
    PROXY_HOPS = int(_env("PROXY_HOPS", "0") or 0)

    # Database hosts `flask prod-migrate` treats as production (besides Supabase's), comma-separated.
    PRODUCTION_DATABASE_HOSTS = _env("PRODUCTION_DATABASE_HOSTS")

    # Public pages (race list, race page) for a visitor with no cookie: how long a browser or CDN may keep
    # them (Cache-Control: public, max-age), and this process's cache of rendered race pages (how long an
    # entry may live at most, and how many races it keeps; 0 seconds turns it off).
    PUBLIC_PAGE_MAX_AGE = int(_env("PUBLIC_PAGE_MAX_AGE", "5") or 0)
    PAGE_CACHE_SECONDS = float(_env("PAGE_CACHE_SECONDS", "60") or 0)
    PAGE_CACHE_SIZE = int(_env("PAGE_CACHE_SIZE", "256") or 0)
    # The organizers' registrant lists as rendered, kept while nothing they show has changed and the newest change
    # is a minute old (services/registrants/list_cache.py): how long an entry may live at most (0 turns it off), and
    # how many lists (a race's filters, sort and page each count) this process keeps.
    REGISTRANT_CACHE_SECONDS = float(_env("REGISTRANT_CACHE_SECONDS", "300") or 0)
    REGISTRANT_CACHE_SIZE = int(_env("REGISTRANT_CACHE_SIZE", "128") or 0)

    # Page sizes are configuration so tests and benchmarks can reach a second page cheaply.
    RACES_PER_PAGE = 24


class TestConfig(Config):
    TESTING = True
    APP_ENV = "test"
    SECRET_KEY = "test-secret-key"
    SITE_URL = "http://localhost"
    SERVER_NAME = None
    WTF_CSRF_ENABLED = True
    RATELIMIT_ENABLED = True
    SMTP_URL = ""  # tests choose their transport (a loopback aiosmtpd, or files)
    MAIL_WORKER_IN_PROCESS = False
    SCHEDULE_EXPIRE_RESERVATIONS_SECONDS = 0  # tests that want a schedule set one
    SCHEDULE_STRIPE_RECONCILE_SECONDS = 0
    SCHEDULE_RUNNER_REMINDERS_SECONDS = 0
    SCHEDULE_EXPIRE_GUEST_CARTS_SECONDS = 0
    SCHEDULE_WAITLIST_OFFERS_SECONDS = 0
    SUPABASE_URL = ""
    SUPABASE_PUBLISHABLE_KEY = ""
    SUPABASE_SECRET_KEY = ""
    SUPABASE_JWT_SECRET = ""
    LOCAL_AUTH_AUTOCONFIRM = False  # tests walk the email-confirmation round trip
    STRIPE_SECRET_KEY = ""
    STRIPE_WEBHOOK_SECRET = ""
    STRIPE_API_BASE = ""
    STORAGE = "local"
    SITE_SOCIAL_LINKS = [("instagram", "https://instagram.com/startline"),
                         ("strava", "https://www.strava.com/clubs/startline")]


def production_problems(config: dict) -> list[str]:
    """What stops this configuration from serving production traffic, in plain words."""
    problems = []
    secret = config.get("SECRET_KEY") or ""
    if secret in ("", DEV_SECRET_KEY) or len(secret) < 32:
        problems.append("SECRET_KEY is missing, a development value, or shorter than 32 characters.")
    if config.get("SQLALCHEMY_DATABASE_URI", "").startswith("sqlite"):
        problems.append("DATABASE_URL is not set: production needs Postgres, not SQLite.")
    if not config.get("SESSION_COOKIE_SECURE"):
        problems.append("Cookies would not be Secure: unset COOKIE_SECURE=0.")
    if not config.get("SITE_URL", "").startswith("https://"):
        problems.append("SITE_URL must be the public https:// address.")
    problems += _payment_problems(config)
    if not config.get("SMTP_URL"):
        problems.append("SMTP_URL is not set: emails would be written to files instead of sent.")
    if config.get("STORAGE") == "supabase" and not (config.get("SUPABASE_URL") and config.get("SUPABASE_SECRET_KEY")):
        problems.append("STORAGE=supabase needs SUPABASE_URL and SUPABASE_SECRET_KEY.")
    return problems


def _payment_problems(config: dict) -> list[str]:
    # The embedded test gateway completes orders without money: never in production by accident.
    key = config.get("STRIPE_SECRET_KEY") or ""
    test_payments_allowed = config.get("ALLOW_TEST_PAYMENTS")
    problems = []
    if not key and not test_payments_allowed:
        problems.append("STRIPE_SECRET_KEY is not set, so the test gateway would take orders without payment"
                        " (set ALLOW_TEST_PAYMENTS=1 only for a staging site).")
    elif key.startswith(("sk_test_", "rk_test_")) and not test_payments_allowed:
        problems.append("STRIPE_SECRET_KEY is a test key (sk_test_…): use the live key, or ALLOW_TEST_PAYMENTS=1 for staging.")
    if key and not config.get("STRIPE_WEBHOOK_SECRET"):
        problems.append("STRIPE_WEBHOOK_SECRET is not set: Stripe's webhook could not be verified, so orders would not"
                        " be fulfilled.")
    return problems
