"""a stored count of the tickets at the payment step, per ticket type

Revision ID: perf_held_counts
Revises: perf_name_key
Create Date: 2026-12-07 08:00:00

`ticket_types.held_count` is the number of the type's registrations that are not refunded and whose order is
pending (at the payment step), whether or not its hold has run out: kept by services.inventory in every
transaction that moves an order into or out of the payment step. The capacity rule reads it beside `sold_count`
and takes off only the holds that ran out and were not released yet (the few pending orders past their
`reserved_until`), where it walked all of a race's pending orders under the ticket type's lock at a registration
opening (issue 17). The count is filled from the data here, in one statement.

A pending order always has an end to its hold (`ck_orders_pending_until_an_end`), so the holds that ran out are
a range of the pending orders' index. One with none (there should be none: a release clears the end as it ends the
pending status) is given its last change as its end first: its hold ran out then. On SQLite the check is not added:
ALTER TABLE cannot add one, and a batch would copy the orders table, which the tickets reference (triggers refuse the
same rows there: perf_pending_end_sqlite).
"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'perf_held_counts'
down_revision = 'perf_name_key'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('ticket_types', schema=None) as batch_op:
        batch_op.add_column(sa.Column('held_count', sa.Integer(), server_default='0', nullable=False))
    op.execute("""
        UPDATE ticket_types SET held_count = (
            SELECT count(registrations.id)
            FROM registrations JOIN orders ON orders.id = registrations.order_id
            WHERE registrations.ticket_type_id = ticket_types.id
              AND registrations.refunded_at IS NULL AND orders.status = 'pending')
    """)
    op.execute("UPDATE orders SET reserved_until = updated_at WHERE status = 'pending' AND reserved_until IS NULL")
    if op.get_bind().dialect.name == "postgresql":
        # Added NOT VALID (a moment's lock), then validated (a scan that lets the orders be read and written).
        op.execute("ALTER TABLE orders ADD CONSTRAINT ck_orders_pending_until_an_end "
                   "CHECK (status != 'pending' OR reserved_until IS NOT NULL) NOT VALID")
        op.execute("ALTER TABLE orders VALIDATE CONSTRAINT ck_orders_pending_until_an_end")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint(op.f('ck_orders_pending_until_an_end'), 'orders', type_='check')
    # Not in a batch: SQLite (3.35+) drops a column in place, where a batch would copy the table that
    # every ticket references.
    op.drop_column('ticket_types', 'held_count')
