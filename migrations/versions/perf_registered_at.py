"""registrations.registered_at, stored and indexed, and an index for the ticket sort

Revision ID: perf_registered_at
Revises: perf_registrant_counts
Create Date: 2026-12-05 21:45:00

The registrant list's "Registered" column was `coalesce(orders.paid_at, registrations.created_at)`, an
expression over two tables that no index can serve, so sorting by it read the whole race. It is now a
column of the registration (set with `paid_at` when the tickets are issued, services/fulfillment.py),
filled here from that same expression in one statement, and the list walks (race_id, registered_at, id)
in either direction. The ticket sort walks (race_id, ticket_type_id, lower(last_name), lower(first_name), id)
one ticket type after another.
"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'perf_registered_at'
down_revision = 'checkin_sync'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('registrations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('registered_at', sa.DateTime(timezone=True), nullable=True))
    op.execute("""
        UPDATE registrations SET registered_at = coalesce(
            (SELECT orders.paid_at FROM orders WHERE orders.id = registrations.order_id), registrations.created_at)
    """)
    with op.batch_alter_table('registrations', schema=None) as batch_op:
        batch_op.alter_column('registered_at', existing_type=sa.DateTime(timezone=True), nullable=False)
        batch_op.create_index('ix_registrations_race_registered', ['race_id', 'registered_at', 'id'], unique=False)
    op.create_index('ix_registrations_race_ticket_name', 'registrations',
                    ['race_id', 'ticket_type_id', sa.text('lower(last_name)'), sa.text('lower(first_name)'), 'id'])


def downgrade():
    op.drop_index('ix_registrations_race_ticket_name', table_name='registrations')
    with op.batch_alter_table('registrations', schema=None) as batch_op:
        batch_op.drop_index('ix_registrations_race_registered')
    # Not in a batch: SQLite (3.35+) drops a column in place.
    op.drop_column('registrations', 'registered_at')
