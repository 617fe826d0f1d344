"""registrations.updated_at, indexed per race, for the API's delta sync

Revision ID: api_v1
Revises: perf_registrant_counts
Create Date: 2026-12-05 21:45:00

A native app or the check-in page asks for "this race's registrants changed since T": every change of a
registration (and of its order's status) sets `updated_at` (models/order.py), and the index reads a race's
changes in the order they happened. Existing rows start at the moment of the upgrade.
"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'api_v1'
down_revision = 'perf_registrant_counts'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('registrations') as batch:
        batch.add_column(sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.func.now(),
                                   nullable=False))
    op.create_index('ix_registrations_race_updated', 'registrations', ['race_id', 'updated_at', 'id'])


def downgrade():
    op.drop_index('ix_registrations_race_updated', table_name='registrations')
    with op.batch_alter_table('registrations') as batch:
        batch.drop_column('updated_at')
