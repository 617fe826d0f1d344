"""a stored count of the tickets holding a spot for good, per ticket type

Revision ID: perf_sold_counts
Revises: season_change_fixes
Create Date: 2026-12-05 18:30:00

`ticket_types.sold_count` is the number of the type's registrations that are paid and not refunded,
kept by services.inventory.count_sold in every transaction that changes it; the capacity rule adds only
the live holds (pending orders whose reservation has not run out, found through a partial index on the
few pending orders, and waitlist offers). The count is filled from the data here, in one statement.
"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'perf_sold_counts'
down_revision = 'perf_registrant_indexes'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('ticket_types', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sold_count', sa.Integer(), server_default='0', nullable=False))
    op.execute("""
        UPDATE ticket_types SET sold_count = sold.n
        FROM (SELECT registrations.ticket_type_id AS ticket_type_id, count(registrations.id) AS n
              FROM registrations JOIN orders ON orders.id = registrations.order_id
              WHERE registrations.refunded_at IS NULL AND orders.status = 'paid'
              GROUP BY registrations.ticket_type_id) AS sold
        WHERE ticket_types.id = sold.ticket_type_id
    """)
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.create_index('ix_orders_pending_until', ['reserved_until'], unique=False,
                              postgresql_where=sa.text("status = 'pending'"),
                              sqlite_where=sa.text("status = 'pending'"))


def downgrade():
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_index('ix_orders_pending_until', postgresql_where=sa.text("status = 'pending'"),
                            sqlite_where=sa.text("status = 'pending'"))
    # Not in a batch: SQLite (3.35+) drops a column in place, where a batch would copy the table that
    # every ticket references.
    op.drop_column('ticket_types', 'sold_count')
