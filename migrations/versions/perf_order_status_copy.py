"""each ticket carries its order's status, for the registrant search

Revision ID: perf_order_status_copy
Revises: perf_race_pending
Create Date: 2026-12-06 18:50:00

The registrant search counts its matches per status: through each match's order that was a lookup in the
orders' index per match, the largest part of a search's cost that grew with the race (issue 17). Each ticket
now carries its order's status (`registrations.order_status`), copied from the order when the ticket is added
and by every change of the order's status (models/order.py). Filled here from the orders.
"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'perf_order_status_copy'
down_revision = 'perf_race_pending'
branch_labels = None
depends_on = None


def upgrade():
    # Added with its default (a ticket is born in a cart), so no row is ever without one, then filled in.
    op.add_column('registrations', sa.Column('order_status', sa.String(length=20), server_default='cart',
                                             nullable=False))
    op.execute("UPDATE registrations SET order_status = "
               "(SELECT orders.status FROM orders WHERE orders.id = registrations.order_id)")


def downgrade():
    # Not in a batch: on SQLite that copies the table, and the copy would lose the indexes on expressions.
    op.drop_column('registrations', 'order_status')
