"""partial indexes for the registrant list's small counts: refunded tickets, tickets waiting for their runner,
orders needing or given a refund

Revision ID: perf_registrant_counts
Revises: perf_sold_counts
Create Date: 2026-12-05 19:30:00

The unfiltered registrant list reads its paid count from `ticket_types.sold_count`; the other statuses
and the tickets waiting for their runner's details are few, and each is counted through one of these
(pending orders have `ix_orders_pending_until`), so the counts cost the same at 500 as at 50,000.
"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'perf_registrant_counts'
down_revision = 'perf_sold_counts'
branch_labels = None
depends_on = None

REFUNDED = sa.text('refunded_at IS NOT NULL')
# Exactly as services.registrants.query.awaiting_runner_condition() renders on each (the planner matches the text).
AWAITING = sa.text('runner_fills_in IS true AND runner_details_at IS NULL')
AWAITING_SQLITE = sa.text('runner_fills_in IS 1 AND runner_details_at IS NULL')
REFUNDS = sa.text("status IN ('needs_refund', 'refunded')")


def upgrade():
    op.create_index('ix_registrations_race_refunded', 'registrations', ['race_id'],
                    postgresql_where=REFUNDED, sqlite_where=REFUNDED)
    op.create_index('ix_registrations_race_awaiting', 'registrations', ['race_id'],
                    postgresql_where=AWAITING, sqlite_where=AWAITING_SQLITE)
    op.create_index('ix_orders_race_refunds', 'orders', ['race_id'], postgresql_where=REFUNDS, sqlite_where=REFUNDS)


def downgrade():
    op.drop_index('ix_orders_race_refunds', table_name='orders')
    op.drop_index('ix_registrations_race_awaiting', table_name='registrations')
    op.drop_index('ix_registrations_race_refunded', table_name='registrations')
