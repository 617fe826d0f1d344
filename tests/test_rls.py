"""Row level security: on a Postgres dressed up like Supabase, the Data API roles see only what is public.

Supabase's Data API runs every query as `anon` (publishable key) or `authenticated` (a user's
token, whose `sub` auth.uid() returns), and Supabase grants those roles all tables in `public`.
These tests make the same roles, grants, `auth.uid()` and a minimal `storage` schema, run the
supabase_security migration again (the session's `upgrade heads` ran before they existed), and
query as each role.
"""
from __future__ import annotations

import uuid
from contextlib import contextmanager

import pytest
import sqlalchemy as sa
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.exc import ProgrammingError

from models import DiscountCode, MediaKind, OrderStatus, OutboxMessage, RaceMedia, RaceStatus, StripeEvent
from tests.factories import make_code, make_order, make_profile, make_race

LOOKALIKE = "made by tests/test_rls.py"

# What a Supabase project has before any app migration runs, in miniature.
SUPABASE_LOOKALIKE = [
    """DO $$ BEGIN
         IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'anon') THEN CREATE ROLE anon NOLOGIN; END IF;
         IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'authenticated') THEN CREATE ROLE authenticated NOLOGIN; END IF;
       -- Roles belong to the whole server: another run or xdist worker may have made one a moment ago
       -- (duplicate_object), or be making it in this very moment (unique_violation on pg_authid).
       EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
       END $$""",
    "CREATE SCHEMA auth",
    f"COMMENT ON SCHEMA auth IS '{LOOKALIKE}'",
    # Supabase's own definition: the `sub` claim of the request's JWT.
    """CREATE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE AS $$
         SELECT coalesce(nullif(current_setting('request.jwt.claim.sub', true), ''),
                         (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub'))::uuid
       $$""",
    "GRANT USAGE ON SCHEMA auth TO anon, authenticated",
    "CREATE SCHEMA storage",
    f"COMMENT ON SCHEMA storage IS '{LOOKALIKE}'",
    "CREATE TABLE storage.buckets (id text PRIMARY KEY, name text NOT NULL, public boolean DEFAULT false)",
    """CREATE TABLE storage.objects (id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
         bucket_id text REFERENCES storage.buckets (id), name text, owner uuid)""",
    "ALTER TABLE storage.objects ENABLE ROW LEVEL SECURITY",
    "GRANT USAGE ON SCHEMA storage TO anon, authenticated",
    "GRANT ALL ON ALL TABLES IN SCHEMA storage TO anon, authenticated",
    # Supabase grants broadly and relies on row level security.
    "GRANT USAGE ON SCHEMA public TO anon, authenticated",
    "GRANT ALL ON ALL TABLES IN SCHEMA public TO anon, authenticated",
    "GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO anon, authenticated",
    # ... and tables made later (the migrations run again below) get the same grants.
    "ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON TABLES TO anon, authenticated",
    "ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON SEQUENCES TO anon, authenticated",
]

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def supabase(migrated):
    """The test database with Supabase's roles and schemas, and supabase_security applied again."""
    from alembic.script import ScriptDirectory
    from flask_migrate import downgrade, upgrade

    from app import create_app
    from config import TestConfig
    from extensions import db as _db

    engine = create_engine(migrated, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        for schema in ("auth", "storage"):
            made_by = conn.scalar(text("SELECT obj_description(to_regnamespace(:s), 'pg_namespace')"), {"s": schema})
            if conn.scalar(text("SELECT to_regnamespace(:s) IS NOT NULL"), {"s": schema}):
                if made_by != LOOKALIKE:  # a real Supabase database: hands off
                    pytest.fail(f"the test database has its own {schema} schema; give these tests a database of their own")
                conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))  # left by an interrupted run
        for statement in SUPABASE_LOOKALIKE:
            conn.execute(text(statement))

    migrator = create_app({**{k: getattr(TestConfig, k) for k in dir(TestConfig) if k.isupper()},
                           "SQLALCHEMY_DATABASE_URI": migrated})
    with migrator.app_context():
        # Back to before this revision (and anything after it), then forward again, now that
        # the roles exist and every other table does too. ("supabase_security@-1" would mean one
        # step below the current head, which is this revision only until another one lands.)
        scripts = ScriptDirectory.from_config(migrator.extensions["migrate"].migrate.get_config())
        downgrade(revision=scripts.get_revision("supabase_security").down_revision)
        upgrade(revision="heads")
        _db.engine.dispose()
    yield engine

    with engine.connect() as conn:
        conn.execute(text("DROP SCHEMA storage CASCADE"))
        conn.execute(text("DROP SCHEMA auth CASCADE"))  # with it, the policies that call auth.uid()
    engine.dispose()


@contextmanager
def as_role(engine, role: str, user_id: uuid.UUID | None = None):
    """A connection acting as a Data API request: `role`, and the user's id as the JWT's sub."""
    assert role in ("anon", "authenticated")
    with engine.connect() as conn:
        conn.execute(text("BEGIN"))
        conn.execute(text(f"SET LOCAL ROLE {role}"))
        conn.execute(text("SELECT set_config('request.jwt.claim.sub', :sub, true)"),
                     {"sub": str(user_id) if user_id else ""})
        try:
            yield conn
        finally:
            conn.execute(text("ROLLBACK"))


def refused(conn, statement: str, params: dict | None = None) -> bool:
    """True when Postgres refuses the statement for lack of permission (row level security)."""
    conn.execute(text("SAVEPOINT attempt"))
    try:
        conn.execute(text(statement), params or {})
    except ProgrammingError as error:
        conn.execute(text("ROLLBACK TO SAVEPOINT attempt"))
        return getattr(error.orig, "sqlstate", "") == "42501"
    conn.execute(text("RELEASE SAVEPOINT attempt"))
    return False


def _table(name: str) -> sa.TableClause:
    schema, _, table = name.rpartition(".")
    return sa.table(table, schema=schema or None)


def rows(conn, table: str, column: str = "id") -> list:
    return list(conn.execute(select(sa.column(column)).select_from(_table(table))).scalars())


def count(conn, table: str) -> int:
    return conn.scalar(select(func.count()).select_from(_table(table)))


@pytest.fixture
def world(supabase, db):
    """Two races (one published, one draft) with everything a race collects, and two buyers."""
    organizer = make_profile(db, full_name="Olga Organizer")
    published = make_race(db, organizer=organizer, slug="lake-10k", social=(("strava", "https://strava.com/x"),),
                          tickets=(("10K", 3000, 100), ("Secret VIP", 9000, 5)))
    published.ticket_types[1].hidden = True
    draft = make_race(db, organizer=organizer, slug="secret-draft", status=RaceStatus.DRAFT,
                      social=(("instagram", "https://instagram.com/x"),))
    closed = make_race(db, slug="last-year", status=RaceStatus.CLOSED, tickets=(("Last year's 5K", 2000, 50),))
    for race in (published, draft):
        db.session.add(RaceMedia(race_id=race.id, kind=MediaKind.COVER, storage_key=f"races/{race.id}/cover.webp",
                                 content_type="image/webp", width=10, height=10, bytes=100))
    ann, bob = make_profile(db, full_name="Ann Buyer"), make_profile(db, full_name="Bob Buyer")
    ann_order = make_order(db, published, published.ticket_types[0], quantity=2, buyer=ann)
    bob_order = make_order(db, published, published.ticket_types[0], quantity=1, buyer=bob)
    make_order(db, draft, draft.ticket_types[0], status=OrderStatus.PENDING, buyer=ann)
    make_code(db, published, code="FRIENDS")
    db.session.add(OutboxMessage(to_address="ann@example.com", subject="Your tickets", text_body="…", kind="ticket"))
    db.session.add(StripeEvent(id="evt_1", type="checkout.session.completed"))
    db.session.commit()
    return {"organizer": organizer, "published": published, "draft": draft, "closed": closed,
            "ann": ann, "bob": bob, "ann_order": ann_order, "bob_order": bob_order}


def test_anyone_reads_published_and_closed_races_but_not_drafts(supabase, world):
    for role in ("anon", "authenticated"):
        with as_role(supabase, role) as conn:
            assert sorted(rows(conn, "races", "slug")) == ["lake-10k", "last-year"]


def test_anyone_reads_what_a_published_race_shows_and_nothing_of_a_draft(supabase, world):
    published = world["published"]
    with as_role(supabase, "anon") as conn:
        # Not the hidden type, nor the draft's; a closed race still shows its page.
        assert sorted(rows(conn, "ticket_types", "name")) == ["10K", "Last year's 5K"]
        assert rows(conn, "race_social_links", "url") == ["https://strava.com/x"]
        assert rows(conn, "race_media", "storage_key") == [f"races/{published.id}/cover.webp"]


@pytest.mark.parametrize("table", ["registrations", "orders", "discount_codes", "outbox_messages", "stripe_events",
                                   "profiles", "race_organizers", "waiver_versions", "checkout_sessions",
                                   "local_users", "local_refresh_tokens", "local_one_time_tokens", "revoked_sessions",
                                   "alembic_version"])
def test_anon_reads_nothing_private(supabase, world, db, table):
    with as_role(supabase, "anon") as conn:
        assert count(conn, table) == 0
    if table in ("registrations", "orders", "discount_codes", "outbox_messages", "stripe_events", "profiles"):
        with db.engine.connect() as owner:
            assert count(owner, table) > 0  # the rows are there; the role just can't see them


def test_a_signed_in_user_reads_their_own_orders_and_registrations_only(supabase, world):
    ann, ann_order = world["ann"], world["ann_order"]
    with as_role(supabase, "authenticated", ann.id) as conn:
        orders = conn.execute(text("SELECT id, buyer_id FROM orders")).all()
        assert len(orders) == 2 and {buyer for _, buyer in orders} == {ann.id}
        registrations = conn.execute(text("SELECT order_id, last_name FROM registrations")).all()
        assert {order for order, _ in registrations} <= {o for o, _ in orders}
        assert sorted(name for order, name in registrations if order == ann_order.id) == ["Runner 0", "Runner 1"]
        assert count(conn, "discount_codes") == count(conn, "outbox_messages") == count(conn, "profiles") == 0
    with as_role(supabase, "authenticated", world["bob"].id) as conn:
        assert rows(conn, "orders") == [world["bob_order"].id]
    with as_role(supabase, "authenticated") as conn:  # a token without a user
        assert count(conn, "orders") == count(conn, "registrations") == 0


def test_an_organizer_reads_only_their_own_organizer_rows(supabase, world):
    with as_role(supabase, "authenticated", world["organizer"].id) as conn:
        assert sorted(rows(conn, "race_organizers", "race_id")) == sorted([world["published"].id, world["draft"].id])
        assert count(conn, "registrations") == 0  # organizing is done in the app, not the Data API


@pytest.mark.parametrize("role", ["anon", "authenticated"])
def test_nobody_writes_anything_through_the_data_api(supabase, world, db, role):
    ann, race, order = world["ann"], world["published"], world["ann_order"]
    user_id = ann.id if role == "authenticated" else None
    with as_role(supabase, role, user_id) as conn:
        assert refused(conn, "INSERT INTO races (slug, organizer_id, title, summary, description, starts_at, timezone,"
                             " location_name, address, status, currency, tax_mode, tax_rate_bps, tax_label, tshirt_sizes,"
                             " ask_gender, cover_image, stripe_tax_rate_id, stripe_tax_rate_key, is_sample, version,"
                             " created_at, updated_at) VALUES ('mine', :who, 'Mine', '', '', now(), 'UTC', '', '',"
                             " 'published', 'USD', 'none', 0, '', '', true, '', '', '', false, 1, now(), now())",
                       {"who": ann.id})
        assert refused(conn, "INSERT INTO orders (id, race_id, buyer_id, status, currency, subtotal, discount, tax, total,"
                             " checkout_url, problem, created_at, updated_at) VALUES (gen_random_uuid(), :race, :who,"
                             " 'paid', 'USD', 0, 0, 0, 0, '', '', now(), now())", {"race": race.id, "who": ann.id})
        assert refused(conn, "INSERT INTO profiles (id, email, full_name, created_at) VALUES (gen_random_uuid(),"
                             " 'eve@example.com', 'Eve', now())")
        # UPDATE and DELETE see no row they may change, so they change none, own order included.
        assert conn.execute(text("UPDATE races SET title = 'Hacked'")).rowcount == 0
        assert conn.execute(text("UPDATE orders SET status = 'paid', total = 0")).rowcount == 0
        assert conn.execute(text("UPDATE registrations SET first_name = 'Eve'")).rowcount == 0
        assert conn.execute(text("DELETE FROM ticket_types")).rowcount == 0
        assert conn.execute(text("DELETE FROM orders WHERE id = :id"), {"id": order.id}).rowcount == 0
        assert conn.execute(text("DELETE FROM discount_codes")).rowcount == 0
        assert conn.execute(text("DELETE FROM alembic_version")).rowcount == 0
    with db.engine.connect() as owner:
        assert owner.scalar(text("SELECT title FROM races WHERE id = :id"), {"id": race.id}) != "Hacked"
        assert owner.scalar(select(func.count()).select_from(DiscountCode.__table__)) == 1
        assert owner.scalar(text("SELECT count(*) FROM alembic_version")) > 0


def test_every_table_in_public_has_row_level_security(supabase, db):
    """A new table must call enable_row_level_security() in its migration (see migrations/README)."""
    with db.engine.connect() as conn:
        unprotected = conn.execute(text(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relrowsecurity ORDER BY 1")).scalars().all()
        tables = conn.scalar(text("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"))
    assert unprotected == []
    assert tables >= 15


def test_the_app_itself_is_not_restricted(supabase, world, client):
    """The app connects as the tables' owner: row level security (never FORCEd) does not apply to it."""
    assert client.get("/races/lake-10k").status_code == 200
    with supabase.connect() as conn:
        forced = conn.scalar(text("SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                                  " WHERE n.nspname = 'public' AND c.relforcerowsecurity"))
    assert forced == 0


# --- storage ------------------------------------------------------------------------------

def test_the_media_bucket_is_created_public(supabase):
    with supabase.connect() as conn:
        assert conn.execute(text("SELECT name, public FROM storage.buckets WHERE id = 'race-media'")).one() == \
            ("race-media", True)


def test_anyone_reads_the_images_of_published_races_only(supabase, world):
    published, draft = world["published"], world["draft"]
    with supabase.connect() as conn:
        for key in (f"races/{published.id}/a.webp", f"races/{draft.id}/b.webp", "not-a-race.txt", "races/x/y.webp"):
            conn.execute(text("INSERT INTO storage.objects (bucket_id, name) VALUES ('race-media', :k)"), {"k": key})
    try:
        for role in ("anon", "authenticated"):
            with as_role(supabase, role, world["ann"].id if role == "authenticated" else None) as conn:
                assert rows(conn, "storage.objects", "name") == [f"races/{published.id}/a.webp"]
    finally:
        with supabase.connect() as conn:
            conn.execute(text("DELETE FROM storage.objects"))


def test_only_a_races_organizers_upload_change_or_delete_its_images(supabase, world):
    organizer, published, closed = world["organizer"], world["published"], world["closed"]
    insert = "INSERT INTO storage.objects (bucket_id, name) VALUES ('race-media', :key)"
    try:
        with as_role(supabase, "authenticated", organizer.id) as conn:
            assert not refused(conn, insert, {"key": f"races/{published.id}/new.webp"})
            assert refused(conn, insert, {"key": f"races/{closed.id}/not-mine.webp"})
            assert refused(conn, insert, {"key": "races/nope/x.webp"})
            assert conn.execute(text("UPDATE storage.objects SET owner = :o"), {"o": organizer.id}).rowcount == 1
            assert conn.execute(text("DELETE FROM storage.objects")).rowcount == 1
        with as_role(supabase, "authenticated", world["ann"].id) as conn:
            assert refused(conn, insert, {"key": f"races/{published.id}/by-a-runner.webp"})
        with as_role(supabase, "anon") as conn:
            assert refused(conn, insert, {"key": f"races/{published.id}/anonymous.webp"})
        with supabase.connect() as conn:
            conn.execute(text(insert), {"key": f"races/{published.id}/kept.webp"})
        for role, user in (("anon", None), ("authenticated", world["ann"].id)):
            with as_role(supabase, role, user) as conn:
                assert conn.execute(text("DELETE FROM storage.objects")).rowcount == 0
                assert conn.execute(text("UPDATE storage.objects SET name = 'x'")).rowcount == 0
    finally:
        with supabase.connect() as conn:
            conn.execute(text("DELETE FROM storage.objects"))


# --- the helper for future migrations -------------------------------------------

def test_enable_row_level_security_helper_covers_a_new_table(supabase):
    from alembic.migration import MigrationContext
    from alembic.operations import Operations

    from migrations.rls import enable_row_level_security

    with supabase.connect() as conn:
        conn.execute(text("CREATE TABLE public.scratch_rls (id int)"))
        try:
            with Operations.context(MigrationContext.configure(conn)):
                enable_row_level_security("scratch_rls")
            assert conn.scalar(text("SELECT relrowsecurity FROM pg_class WHERE oid = 'public.scratch_rls'::regclass"))
        finally:
            conn.execute(text("DROP TABLE public.scratch_rls"))
    with pytest.raises(ValueError):
        enable_row_level_security("races; DROP TABLE races")


def test_without_rights_on_storage_objects_the_migration_warns_instead_of_failing(supabase):
    """Supabase now owns storage.objects itself; a deploy must not fail over the storage policies."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "migrations" / "versions" / "supabase_security.py"
    spec = importlib.util.spec_from_file_location("supabase_security_migration", path)
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)

    # A role is the whole server's: each test database (each xdist worker's, each person's) gets its own.
    migrator = f'"{supabase.url.database}_migrator"'
    warnings = []
    with supabase.connect() as conn:
        conn.execute(text(f"DO $$ BEGIN CREATE ROLE {migrator} NOLOGIN;"
                          " EXCEPTION WHEN duplicate_object THEN NULL; END $$"))
        conn.execute(text(f"GRANT USAGE ON SCHEMA storage, auth, public TO {migrator}"))
        conn.execute(text(f"GRANT ALL ON storage.buckets TO {migrator}"))
        conn.connection.driver_connection.add_notice_handler(lambda notice: warnings.append(notice.message_primary))
        try:
            conn.execute(text("BEGIN"))
            conn.execute(text(f"SET LOCAL ROLE {migrator}"))
            conn.execute(text(migration.storage_sql("race-media")))  # no exception
            conn.execute(text("ROLLBACK"))
        finally:
            conn.execute(text(f"DROP OWNED BY {migrator}"))
            conn.execute(text(f"DROP ROLE {migrator}"))
        still_there = conn.scalar(text("SELECT count(*) FROM pg_policies WHERE schemaname = 'storage'"))
    assert any("storage policies not created: must be owner" in w for w in warnings), warnings
    assert still_there == 4
