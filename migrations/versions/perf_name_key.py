"""registrations.name_key: the name sort's one key, kept by the database, in byte order on Postgres

Revision ID: perf_name_key
Revises: perf_order_status_copy
Create Date: 2026-12-06 20:40:00

The registrant list sorted by two expressions, lower(last_name) then lower(first_name), each compared in the
database's collation. A search sorts all its matches (up to a thousand), so at 50,000 registrations "smith"
spent ~0.9 ms of Postgres on those comparisons (issue 17). The key is now one column the database computes:
lower(last_name), a tab (which no name holds: names refuse control characters), lower(first_name). On Postgres it
is stored and compared in the "C" collation, byte by byte, which is the order hosted Supabase's C.UTF-8 gave the
two expressions (code point order) and which Postgres sorts with abbreviated keys. On SQLite, whose ALTER TABLE
cannot add a stored generated column, it is a virtual one, computed when read, and indexed. The name sort's two
indexes are rebuilt on it.

On SQLite, perf_registered_at's batch copied the table and the copy lost its indexes on expressions: the name
sort's and both bib sorts' (SQLAlchemy cannot reflect them to copy them). The name sort's is made anew here on
the column; the bib sorts' are made again where they are missing.
"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'perf_name_key'
down_revision = 'perf_order_status_copy'
branch_labels = None
depends_on = None

NAME_KEY = "lower(last_name) || '\t' || lower(first_name)"


def upgrade():
    postgres = op.get_bind().dialect.name == 'postgresql'
    # Not in a batch: on SQLite that copies the table, and the copy would lose the indexes on expressions.
    op.add_column('registrations', sa.Column(
        'name_key', sa.Text(collation='C') if postgres else sa.Text(), sa.Computed(NAME_KEY, persisted=postgres)))
    op.drop_index('ix_registrations_race_name', table_name='registrations', if_exists=True)
    op.drop_index('ix_registrations_race_ticket_name', table_name='registrations')
    op.create_index('ix_registrations_race_name', 'registrations', ['race_id', 'name_key', 'id'])
    op.create_index('ix_registrations_race_ticket_name', 'registrations', ['race_id', 'ticket_type_id', 'name_key', 'id'])
    op.create_index('ix_registrations_race_bib_up', 'registrations', ['race_id', sa.text('coalesce(bib, 2147483647)'), 'id'],
                    if_not_exists=True)
    op.create_index('ix_registrations_race_bib_down', 'registrations', ['race_id', sa.text('coalesce(bib, -1)'), 'id'],
                    if_not_exists=True)


def downgrade():
    op.drop_index('ix_registrations_race_ticket_name', table_name='registrations')
    op.drop_index('ix_registrations_race_name', table_name='registrations')
    op.drop_column('registrations', 'name_key')
    op.create_index('ix_registrations_race_name', 'registrations',
                    ['race_id', sa.text('lower(last_name)'), sa.text('lower(first_name)'), 'id'])
    op.create_index('ix_registrations_race_ticket_name', 'registrations',
                    ['race_id', 'ticket_type_id', sa.text('lower(last_name)'), sa.text('lower(first_name)'), 'id'])
