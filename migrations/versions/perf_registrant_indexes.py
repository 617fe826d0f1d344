"""indexes for the registrant list: its sorts, its counts and its search

Revision ID: perf_registrant_indexes
Revises: season_change_fixes
Create Date: 2026-12-05 18:30:00

The list pages by keyset (services/registrants/query.py): each sort the list offers reads its page off an
index in order, so the last page costs what the first does. The name sort and both bib directions have
an index whose keys are exactly the sort's keys. The per-status counts read two narrow covering indexes
(Postgres: an index-only scan of each, merged on the order id). On Postgres with pg_trgm available, a
trigram index serves the search's substring LIKE on `search_key`; without the extension (and on SQLite)
an index of that name on `search_key` keeps the schema the models describe, and the search scans the
race's rows as before.
"""
import sqlalchemy as sa
from alembic import context, op

# revision identifiers, used by Alembic.
revision = 'perf_registrant_indexes'
down_revision = 'perf_description_html'
branch_labels = None
depends_on = None

COUNT_COLUMNS = ['ticket_type_id', 'refunded_at', 'runner_fills_in', 'runner_details_at', 'checked_in_at',
                 'waiver_version_id']


def upgrade():
    op.create_index('ix_registrations_race_name', 'registrations',
                    ['race_id', sa.text('lower(last_name)'), sa.text('lower(first_name)'), 'id'])
    op.create_index('ix_registrations_race_bib_up', 'registrations',
                    ['race_id', sa.text('coalesce(bib, 2147483647)'), 'id'])
    op.create_index('ix_registrations_race_bib_down', 'registrations', ['race_id', sa.text('coalesce(bib, -1)'), 'id'])
    op.create_index('ix_registrations_race_order', 'registrations', ['race_id', 'order_id'],
                    postgresql_include=COUNT_COLUMNS)
    op.create_index('ix_orders_race_listing', 'orders', ['race_id', 'id'],
                    postgresql_include=['status', 'reserved_until'])
    if _trigram_available():
        op.execute('CREATE INDEX ix_registrations_search_key_trgm ON registrations USING gin (search_key gin_trgm_ops)')
    else:
        op.create_index('ix_registrations_search_key_trgm', 'registrations', ['search_key'])


def _trigram_available() -> bool:
    """Whether pg_trgm is installed, or may be installed now (a savepoint keeps a refusal harmless)."""
    bind = op.get_bind()
    if bind.dialect.name != 'postgresql':
        return False
    if context.is_offline_mode():  # `--sql`: nothing to ask; Supabase and Debian's Postgres ship pg_trgm
        op.execute('CREATE EXTENSION IF NOT EXISTS pg_trgm')
        return True
    savepoint = bind.begin_nested()
    try:
        bind.execute(sa.text('CREATE EXTENSION IF NOT EXISTS pg_trgm'))
    except sa.exc.DBAPIError:
        savepoint.rollback()
        print('perf_registrant_indexes: pg_trgm is not available; the registrant search has no trigram index.')
        return False
    savepoint.commit()
    return True


def downgrade():
    op.drop_index('ix_registrations_search_key_trgm', table_name='registrations')
    op.drop_index('ix_orders_race_listing', table_name='orders')
    op.drop_index('ix_registrations_race_order', table_name='registrations')
    op.drop_index('ix_registrations_race_bib_down', table_name='registrations')
    op.drop_index('ix_registrations_race_bib_up', table_name='registrations')
    op.drop_index('ix_registrations_race_name', table_name='registrations')
