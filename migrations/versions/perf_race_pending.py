"""an index of each race's pending orders, for its live holds

Revision ID: perf_race_pending
Revises: languages
Create Date: 2026-12-06 16:20:00

The capacity rule counts a ticket type's unexpired reservations live (services/inventory.py). Through
`ix_orders_pending_until` that walked every race's orders at the payment step: a race opening elsewhere, with
hundreds of buyers paying, made every other race's page, cart and checkout pay for them. This index keeps the
walk to the type's own race.
"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'perf_race_pending'
down_revision = 'languages'
branch_labels = None
depends_on = None

PENDING = sa.text("status = 'pending'")


def upgrade():
    op.create_index('ix_orders_race_pending_until', 'orders', ['race_id', 'reserved_until'],
                    postgresql_where=PENDING, sqlite_where=PENDING)


def downgrade():
    op.drop_index('ix_orders_race_pending_until', table_name='orders')
