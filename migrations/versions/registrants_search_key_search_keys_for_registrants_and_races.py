"""search keys for registrants and races: names, email and places folded for case- and accent-blind search

Revision ID: registrants_search_key
Revises: auth_revoked_sessions
Create Date: 2026-12-05 09:01:25.289507

The keys are computed in Python (models/search_key.py), so the same search matches on SQLite and
Postgres; existing rows are filled here in batches. Should the folding rule ever change, a new
migration refills them the same way.
"""
from alembic import context, op
import sqlalchemy as sa

from models.search_key import refill_search_keys


# revision identifiers, used by Alembic.
revision = 'registrants_search_key'
down_revision = 'auth_revoked_sessions'
branch_labels = None
depends_on = None

def upgrade():
    with op.batch_alter_table('races', schema=None) as batch_op:
        batch_op.add_column(sa.Column('search_key', sa.Text(), server_default='', nullable=False))

    with op.batch_alter_table('registrations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('search_key', sa.Text(), server_default='', nullable=False))

    if context.is_offline_mode():
        # `--sql` writes SQL without reading the database, so the keys are computed afterwards.
        op.execute("-- Existing rows need their search keys: run `flask refill-search-keys` after this SQL")
    else:
        refill_search_keys(op.get_bind())


def downgrade():
    with op.batch_alter_table('registrations', schema=None) as batch_op:
        batch_op.drop_column('search_key')

    with op.batch_alter_table('races', schema=None) as batch_op:
        batch_op.drop_column('search_key')
