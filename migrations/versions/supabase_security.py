"""row level security on every table; on Supabase, the media bucket and its policies

Revision ID: supabase_security
Revises: c30c92d397ba
Create Date: 2026-11-26 10:00:00

Supabase's Data API lets anyone with the publishable key query `public` as the role `anon`
(or `authenticated`, with a user's token), and Supabase grants those roles every table there.
So every table gets row level security, which with no policy denies them everything, and
policies open exactly this, read-only:

- published (and closed) races, their visible ticket types, social links and media: anyone;
- a buyer's own orders and those orders' registrations: that signed-in user;
- an organizer's own race_organizers rows: that signed-in user (the storage policies look
  there to decide who may upload a race's images).

The app connects as the tables' owner, which row level security does not restrict (FORCE is
never used), so the app is unaffected. Every decision (is this Supabase? do the roles exist?
does this table exist yet?) is taken by the database when the SQL runs, so this works
whichever other tables exist at the time, and `--sql` prints exactly what would run. Running
it again is harmless. On SQLite it does nothing.
"""
import logging
import os
import re

from alembic import op
from sqlalchemy import text

# revision identifiers, used by Alembic.
revision = 'supabase_security'
down_revision = 'c30c92d397ba'
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")

# Policies this migration owns all start with this, so the downgrade can find them again.
PREFIX = "startline_"

# Every table in public, alembic_version included: on Supabase the Data API could otherwise
# rewrite the migration history.
ENABLE_ROW_LEVEL_SECURITY = """
DO $$
DECLARE
  t text;
BEGIN
  FOR t IN SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
  LOOP
    EXECUTE 'ALTER TABLE public.' || quote_ident(t) || ' ENABLE ROW LEVEL SECURITY';
  END LOOP;
END
$$
"""

PUBLISHED = "('published', 'closed')"

TABLE_POLICIES = f"""
DO $$
BEGIN
  IF (SELECT count(*) FROM pg_roles WHERE rolname IN ('anon', 'authenticated')) < 2 THEN
    RAISE NOTICE 'startline: no anon and authenticated roles, so no Data API: no policies needed';
    RETURN;
  END IF;

  IF to_regclass('public.races') IS NOT NULL THEN
    DROP POLICY IF EXISTS startline_published_races_are_public ON public.races;
    CREATE POLICY startline_published_races_are_public ON public.races
      FOR SELECT TO anon, authenticated USING (status IN {PUBLISHED});

    IF to_regclass('public.ticket_types') IS NOT NULL THEN
      DROP POLICY IF EXISTS startline_published_ticket_types_are_public ON public.ticket_types;
      CREATE POLICY startline_published_ticket_types_are_public ON public.ticket_types
        FOR SELECT TO anon, authenticated USING (NOT hidden AND EXISTS (
          SELECT 1 FROM public.races r WHERE r.id = ticket_types.race_id AND r.status IN {PUBLISHED}));
    END IF;

    IF to_regclass('public.race_social_links') IS NOT NULL THEN
      DROP POLICY IF EXISTS startline_published_social_links_are_public ON public.race_social_links;
      CREATE POLICY startline_published_social_links_are_public ON public.race_social_links
        FOR SELECT TO anon, authenticated USING (EXISTS (
          SELECT 1 FROM public.races r WHERE r.id = race_social_links.race_id AND r.status IN {PUBLISHED}));
    END IF;

    IF to_regclass('public.race_media') IS NOT NULL THEN
      DROP POLICY IF EXISTS startline_published_media_is_public ON public.race_media;
      CREATE POLICY startline_published_media_is_public ON public.race_media
        FOR SELECT TO anon, authenticated USING (EXISTS (
          SELECT 1 FROM public.races r WHERE r.id = race_media.race_id AND r.status IN {PUBLISHED}));
    END IF;
  END IF;

  IF to_regprocedure('auth.uid()') IS NULL THEN
    RAISE NOTICE 'startline: no auth.uid(), so no Supabase Auth: no policies for signed-in users';
    RETURN;
  END IF;

  IF to_regclass('public.orders') IS NOT NULL THEN
    DROP POLICY IF EXISTS startline_buyers_read_their_orders ON public.orders;
    CREATE POLICY startline_buyers_read_their_orders ON public.orders
      FOR SELECT TO authenticated USING (buyer_id = (SELECT auth.uid()));

    IF to_regclass('public.registrations') IS NOT NULL THEN
      DROP POLICY IF EXISTS startline_buyers_read_their_registrations ON public.registrations;
      CREATE POLICY startline_buyers_read_their_registrations ON public.registrations
        FOR SELECT TO authenticated USING (EXISTS (
          SELECT 1 FROM public.orders o
          WHERE o.id = registrations.order_id AND o.buyer_id = (SELECT auth.uid())));
    END IF;
  END IF;

  IF to_regclass('public.race_organizers') IS NOT NULL THEN
    DROP POLICY IF EXISTS startline_organizers_read_their_races ON public.race_organizers;
    CREATE POLICY startline_organizers_read_their_races ON public.race_organizers
      FOR SELECT TO authenticated USING (profile_id = (SELECT auth.uid()));
  END IF;
END
$$
"""

# Object keys look like races/<race_id>/<uuid>.webp; anything else belongs to no race. The
# CASE keeps a key that is not a number there from failing the cast.
RACE_OF_OBJECT = "(CASE WHEN objects.name ~ '^races/[0-9]{1,9}/' THEN split_part(objects.name, '/', 2)::int END)"


def storage_sql(bucket: str) -> str:
    """The media bucket, and who may read and write its objects (only on Supabase)."""
    in_bucket = f"objects.bucket_id = '{bucket}'"
    organizer = (f"EXISTS (SELECT 1 FROM public.race_organizers ro WHERE ro.race_id = {RACE_OF_OBJECT}"
                 " AND ro.profile_id = (SELECT auth.uid()))")
    published = f"EXISTS (SELECT 1 FROM public.races r WHERE r.id = {RACE_OF_OBJECT} AND r.status IN {PUBLISHED})"
    return f"""
DO $$
BEGIN
  IF to_regnamespace('auth') IS NULL OR to_regclass('storage.buckets') IS NULL
     OR to_regclass('storage.objects') IS NULL THEN
    RAISE NOTICE 'startline: no auth and storage schemas, so not Supabase: no bucket';
    RETURN;
  END IF;

  INSERT INTO storage.buckets (id, name, public) VALUES ('{bucket}', '{bucket}', true)
    ON CONFLICT (id) DO NOTHING;

  IF (SELECT count(*) FROM pg_roles WHERE rolname IN ('anon', 'authenticated')) < 2
     OR to_regprocedure('auth.uid()') IS NULL
     OR to_regclass('public.races') IS NULL OR to_regclass('public.race_organizers') IS NULL THEN
    RAISE NOTICE 'startline: roles, auth.uid() or app tables missing: no storage policies yet';
    RETURN;
  END IF;

  -- Supabase has been moving storage.objects to its own admin role; where the migration may
  -- not create policies there, it says so instead of failing the deploy (see migrations/README).
  BEGIN
    DROP POLICY IF EXISTS startline_race_media_read ON storage.objects;
    CREATE POLICY startline_race_media_read ON storage.objects
      FOR SELECT TO anon, authenticated USING ({in_bucket} AND {published});
    DROP POLICY IF EXISTS startline_race_media_insert ON storage.objects;
    CREATE POLICY startline_race_media_insert ON storage.objects
      FOR INSERT TO authenticated WITH CHECK ({in_bucket} AND {organizer});
    DROP POLICY IF EXISTS startline_race_media_update ON storage.objects;
    CREATE POLICY startline_race_media_update ON storage.objects
      FOR UPDATE TO authenticated USING ({in_bucket} AND {organizer}) WITH CHECK ({in_bucket} AND {organizer});
    DROP POLICY IF EXISTS startline_race_media_delete ON storage.objects;
    CREATE POLICY startline_race_media_delete ON storage.objects
      FOR DELETE TO authenticated USING ({in_bucket} AND {organizer});
  EXCEPTION WHEN insufficient_privilege THEN
    RAISE WARNING USING MESSAGE = 'startline: storage policies not created: ' || SQLERRM
      || '. Create them in the dashboard, see migrations/README.';
  END;
END
$$
"""


DROP_POLICIES_AND_DISABLE = f"""
DO $$
DECLARE
  p record;
  t text;
BEGIN
  FOR p IN SELECT schemaname, tablename, policyname FROM pg_policies
           WHERE left(policyname, {len(PREFIX)}) = '{PREFIX}'
             AND (schemaname = 'public' OR (schemaname = 'storage' AND tablename = 'objects'))
  LOOP
    BEGIN
      EXECUTE 'DROP POLICY ' || quote_ident(p.policyname) || ' ON '
              || quote_ident(p.schemaname) || '.' || quote_ident(p.tablename);
    EXCEPTION WHEN insufficient_privilege THEN
      RAISE WARNING USING MESSAGE = 'startline: could not drop ' || p.policyname || ': ' || SQLERRM;
    END;
  END LOOP;
  FOR t IN SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
  LOOP
    EXECUTE 'ALTER TABLE public.' || quote_ident(t) || ' DISABLE ROW LEVEL SECURITY';
  END LOOP;
END
$$
"""


def media_bucket() -> str:
    """The bucket named by SUPABASE_MEDIA_BUCKET when the migration runs (Supabase's id rules)."""
    bucket = os.environ.get("SUPABASE_MEDIA_BUCKET", "").strip() or "race-media"
    if not re.fullmatch(r"[a-z0-9][a-z0-9._-]{0,62}", bucket):
        raise ValueError(f"SUPABASE_MEDIA_BUCKET {bucket!r} is not a valid bucket id")
    return bucket


def upgrade():
    dialect = op.get_context().dialect.name
    if dialect != "postgresql":
        log.info("supabase_security: nothing to do on %s (row level security is a Postgres feature).", dialect)
        return
    bucket = media_bucket()
    op.execute(ENABLE_ROW_LEVEL_SECURITY)
    op.execute(TABLE_POLICIES)
    op.execute(storage_sql(bucket))
    if not op.get_context().as_sql:
        _report(op.get_bind(), bucket)


def downgrade():
    # The bucket stays: it may hold images, and deleting it is a decision for a person.
    if op.get_context().dialect.name == "postgresql":
        op.execute(DROP_POLICIES_AND_DISABLE)


def _report(bind, bucket: str) -> None:
    """Say in the deploy log what the database let us do."""
    tables, protected = bind.execute(text(
        "SELECT count(*), count(*) FILTER (WHERE c.relrowsecurity) FROM pg_class c"
        " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')")).one()
    policies = bind.scalar(text("SELECT count(*) FROM pg_policies WHERE schemaname = 'public'"
                                " AND left(policyname, :n) = :prefix"), {"n": len(PREFIX), "prefix": PREFIX})
    log.info("supabase_security: row level security on %s of %s tables in public; %s policies for the Data API.",
             protected, tables, policies)
    supabase = bind.scalar(text("SELECT to_regnamespace('auth') IS NOT NULL AND to_regclass('storage.buckets') IS NOT NULL"))
    if not supabase:
        log.info("supabase_security: not a Supabase database (no auth and storage schemas): no bucket.")
        return
    storage_policies = bind.scalar(text("SELECT count(*) FROM pg_policies WHERE schemaname = 'storage'"
                                        " AND tablename = 'objects' AND left(policyname, :n) = :prefix"),
                                   {"n": len(PREFIX), "prefix": PREFIX})
    log.info("supabase_security: Supabase: bucket %s; %s policies on storage.objects.", bucket, storage_policies)
    if storage_policies < 4:
        log.warning("supabase_security: the storage policies for bucket %s are missing; see migrations/README.", bucket)
