"""Production: the settings it refuses to start with, the guarded migration command, the Procfile."""
from __future__ import annotations

import importlib.util
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy import create_engine, inspect

from app import create_app
from config import DEV_SECRET_KEY, production_problems

ROOT = Path(__file__).resolve().parent.parent

# A configuration production accepts; each test below spoils one thing.
PRODUCTION = {
    "APP_ENV": "production",
    "SECRET_KEY": "k" * 48,
    "SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://app:hunter2@127.0.0.1:1/startline",
    "SESSION_COOKIE_SECURE": True,
    "SITE_URL": "https://startline.example",
    "STRIPE_SECRET_KEY": "sk_live_123",
    "STRIPE_WEBHOOK_SECRET": "whsec_123",
    "ALLOW_TEST_PAYMENTS": False,
    "SMTP_URL": "smtp://mailer:pw@smtp.example:587",
    "STORAGE": "local",
    "SUPABASE_URL": "",
    "SUPABASE_SECRET_KEY": "",
    "MAIL_WORKER_IN_PROCESS": False,
}


def test_a_complete_production_configuration_has_no_problems():
    assert production_problems(PRODUCTION) == []


@pytest.mark.parametrize("change, message", [
    ({"SECRET_KEY": ""}, "SECRET_KEY is missing, a development value, or shorter than 32 characters."),
    ({"SECRET_KEY": DEV_SECRET_KEY}, "SECRET_KEY is missing, a development value, or shorter than 32 characters."),
    ({"SECRET_KEY": "short"}, "SECRET_KEY is missing, a development value, or shorter than 32 characters."),
    ({"SQLALCHEMY_DATABASE_URI": "sqlite:///instance/startline.db"},
     "DATABASE_URL is not set: production needs Postgres, not SQLite."),
    ({"STRIPE_SECRET_KEY": "sk_test_123"},
     "STRIPE_SECRET_KEY is a test key (sk_test_…): use the live key, or ALLOW_TEST_PAYMENTS=1 for staging."),
    ({"STRIPE_SECRET_KEY": "", "STRIPE_WEBHOOK_SECRET": ""},
     "STRIPE_SECRET_KEY is not set, so the test gateway would take orders without payment"
     " (set ALLOW_TEST_PAYMENTS=1 only for a staging site)."),
    ({"STRIPE_WEBHOOK_SECRET": ""},
     "STRIPE_WEBHOOK_SECRET is not set: Stripe's webhook could not be verified, so orders would not be fulfilled."),
    ({"SMTP_URL": ""}, "SMTP_URL is not set: emails would be written to files instead of sent."),
    ({"STORAGE": "supabase"}, "STORAGE=supabase needs SUPABASE_URL and SUPABASE_SECRET_KEY."),
    ({"STORAGE": "supabase", "SUPABASE_URL": "https://abc.supabase.co"},
     "STORAGE=supabase needs SUPABASE_URL and SUPABASE_SECRET_KEY."),
    ({"SESSION_COOKIE_SECURE": False}, "Cookies would not be Secure: unset COOKIE_SECURE=0."),
    ({"SITE_URL": "http://startline.example"}, "SITE_URL must be the public https:// address."),
])
def test_each_unsafe_setting_is_named(change, message):
    assert production_problems({**PRODUCTION, **change}) == [message]


@pytest.mark.parametrize("change", [
    {"STRIPE_SECRET_KEY": "sk_test_123", "ALLOW_TEST_PAYMENTS": True},          # a staging site taking test cards
    {"STRIPE_SECRET_KEY": "", "STRIPE_WEBHOOK_SECRET": "", "ALLOW_TEST_PAYMENTS": True},  # staging on the test gateway
    {"STORAGE": "supabase", "SUPABASE_URL": "https://abc.supabase.co", "SUPABASE_SECRET_KEY": "sb_secret_x"},
])
def test_deliberate_staging_choices_are_accepted(change):
    assert production_problems({**PRODUCTION, **change}) == []


def test_the_app_refuses_to_start_and_lists_every_problem():
    with pytest.raises(RuntimeError) as refused:
        create_app({**PRODUCTION, "SECRET_KEY": DEV_SECRET_KEY, "STRIPE_SECRET_KEY": "sk_test_1", "SMTP_URL": ""})
    message = str(refused.value)
    assert message.startswith("Startline refuses to start in production:")
    assert "SECRET_KEY is missing" in message and "test key" in message and "SMTP_URL is not set" in message


def test_production_cookies_are_secure_by_default():
    """COOKIE_SECURE defaults on when APP_ENV=production (read when config.py is imported)."""
    env = {k: v for k, v in os.environ.items() if k not in ("COOKIE_SECURE",)} | {"APP_ENV": "production"}
    out = subprocess.run([sys.executable, "-c", "from config import Config; print(Config.SESSION_COOKIE_SECURE)"],
                         cwd=ROOT, env=env, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "True"


def test_production_answers_with_hsts():
    app = create_app(PRODUCTION)
    response = app.test_client().get("/manifest.webmanifest")
    assert response.status_code == 200
    assert response.headers["Strict-Transport-Security"] == "max-age=63072000; includeSubDomains"


# --- flask prod-migrate --------------------------------------------------------------------

def _runner(app, **config):
    return create_app({**app.config, **config}).test_cli_runner()


def test_prod_migrate_shows_the_plan_asks_and_applies(app, tmp_path):
    target = tmp_path / "fresh.db"
    runner = _runner(app, SQLALCHEMY_DATABASE_URI=f"sqlite:///{target}")

    result = runner.invoke(args=["prod-migrate"], input="y\n")

    assert result.exit_code == 0, result.output
    assert f"Target database: SQLite file {target}" in result.output
    assert "Current revision(s): none (an empty database)" in result.output
    assert re.search(r"Pending migrations \(\d+\):", result.output)
    assert "c30c92d397ba  initial schema" in result.output
    assert "supabase_security  row level security" in result.output
    assert "Apply " in result.output and "Done. Current revision(s): " in result.output
    assert "races" in inspect(create_engine(f"sqlite:///{target}")).get_table_names()

    again = runner.invoke(args=["prod-migrate"])
    assert again.exit_code == 0
    assert "Nothing to do: the database is up to date." in again.output


def test_prod_migrate_changes_nothing_when_the_answer_is_no(app, tmp_path):
    target = tmp_path / "fresh.db"
    result = _runner(app, SQLALCHEMY_DATABASE_URI=f"sqlite:///{target}").invoke(args=["prod-migrate"], input="n\n")
    assert result.exit_code == 1
    assert "Aborted" in result.output
    assert "alembic_version" not in inspect(create_engine(f"sqlite:///{target}")).get_table_names()


@pytest.mark.parametrize("url, reason", [
    ("postgresql+psycopg://postgres.abcd:hunter2@aws-0-eu-west-1.pooler.supabase.com:5432/postgres",
     "aws-0-eu-west-1.pooler.supabase.com is a hosted Supabase database"),
    ("postgresql+psycopg://postgres:hunter2@db.abcd.supabase.co:5432/postgres", "db.abcd.supabase.co is a hosted Supabase"),
    ("postgresql+psycopg://app:hunter2@DB.internal.example:5432/startline",
     "db.internal.example is listed in PRODUCTION_DATABASE_HOSTS"),
])
def test_prod_migrate_refuses_a_production_database_outside_production(app, url, reason):
    runner = _runner(app, SQLALCHEMY_DATABASE_URI=url, PRODUCTION_DATABASE_HOSTS="other.example, db.internal.example")

    result = runner.invoke(args=["prod-migrate", "--yes"])

    assert result.exit_code == 1
    assert f"this looks like production ({reason}" in result.output
    assert "APP_ENV is 'test'" in result.output and "--force" in result.output
    assert "hunter2" not in result.output
    assert "(password hidden)" in result.output


def test_prod_migrate_force_goes_past_the_guard(app):
    runner = _runner(app, SQLALCHEMY_DATABASE_URI="postgresql+psycopg://app:hunter2@127.0.0.1:1/startline",
                     PRODUCTION_DATABASE_HOSTS="127.0.0.1")
    result = runner.invoke(args=["prod-migrate", "--yes", "--force"])
    assert "This is production: 127.0.0.1 is listed in PRODUCTION_DATABASE_HOSTS." in result.output
    assert "Error: could not read the database" in result.output  # nothing listens on port 1
    assert result.exit_code == 1 and "hunter2" not in result.output


def test_prod_migrate_with_production_settings_needs_no_force(app):
    runner = create_app({**PRODUCTION, "PRODUCTION_DATABASE_HOSTS": "127.0.0.1"}).test_cli_runner()
    result = runner.invoke(args=["prod-migrate", "--yes"])
    assert "This is production" in result.output and "could not read the database" in result.output


def test_prod_migrate_sql_prints_the_sql_and_touches_nothing(app):
    """--sql: Alembic's offline mode. Here the database can't be read, so it is the SQL from empty."""
    runner = _runner(app, SQLALCHEMY_DATABASE_URI="postgresql+psycopg://app:hunter2@127.0.0.1:1/startline",
                     PRODUCTION_DATABASE_HOSTS="127.0.0.1")

    result = runner.invoke(args=["prod-migrate", "--sql"])

    assert result.exit_code == 0, result.output
    sql = result.stdout
    assert "CREATE TABLE races" in sql
    assert "ALTER TABLE public.' || quote_ident(t) || ' ENABLE ROW LEVEL SECURITY'" in sql
    assert "CREATE POLICY startline_published_races_are_public ON public.races" in sql
    assert "INSERT INTO storage.buckets (id, name, public) VALUES ('race-media', 'race-media', true)" in sql
    assert "%%" not in sql
    assert "Target database" not in sql and "Target database" in result.stderr  # stdout is only SQL


def test_prod_migrate_sql_on_an_up_to_date_database_has_nothing_to_print(runner):
    result = runner.invoke(args=["prod-migrate", "--sql"])
    assert result.exit_code == 0
    assert "Nothing to do" in result.stderr and result.stdout == ""


# --- the migration on SQLite, and the Procfile ---------------------------------------------

def test_on_sqlite_the_supabase_migration_does_nothing_and_says_so(tmp_path, caplog):
    path = ROOT / "migrations" / "versions" / "supabase_security.py"
    spec = importlib.util.spec_from_file_location("supabase_security_migration", path)
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    engine = create_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    with engine.connect() as conn, Operations.context(MigrationContext.configure(conn)):
        with caplog.at_level(logging.INFO, logger="alembic.runtime.migration"):
            migration.upgrade()
    assert "supabase_security: nothing to do on sqlite" in caplog.text


def test_procfile_serves_with_gunicorn_and_migrates_on_release():
    processes = dict(line.split(": ", 1) for line in (ROOT / "Procfile").read_text().splitlines()
                     if line.strip() and not line.startswith("#"))  # platforms read only "name: command" lines
    web = processes["web"]
    assert web.startswith("gunicorn 'app:create_app()'")
    assert "--bind 0.0.0.0:${PORT" in web and "--access-logfile -" in web
    workers = re.search(r"--workers \$\{WEB_CONCURRENCY:-(\d+)\}", web)
    assert workers and int(workers.group(1)) >= 2
    assert re.fullmatch(r"flask --app app:create_app db upgrade( heads)?", processes["release"])


def test_a_postgres_pool_keeps_a_connection_for_each_of_the_procfile_s_threads(tmp_path):
    """A worker busy on every thread (a registration opening) never closes and reopens connections."""
    threads = int(re.search(r"--threads (\d+)", (ROOT / "Procfile").read_text()).group(1))
    app = create_app({"SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://app@127.0.0.1:1/startline", "TESTING": True})
    with app.app_context():
        from extensions import db
        pool = db.engine.pool
        assert pool.size() >= threads and pool._max_overflow >= 1
        assert pool._pool.use_lifo  # the connections in use stay hot: no ping before each (extensions.IDLE_BEFORE_PING)

    sqlite = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'pool.db'}", "TESTING": True})
    assert "pool_size" not in sqlite.config["SQLALCHEMY_ENGINE_OPTIONS"]  # SQLAlchemy's own choice there
