"""every pending order has an end to its hold, on SQLite too

Revision ID: perf_pending_end_sqlite
Revises: perf_held_counts
Create Date: 2026-12-07 10:30:00

The capacity rule counts a pending order's tickets in `ticket_types.held_count` and takes them off again only once
its hold has run out (`models.order.hold_ran_out`: `reserved_until` passed). A pending order without an end would
hold its spots for ever. Postgres refuses one with the check `ck_orders_pending_until_an_end` (perf_held_counts);
SQLite cannot add a check to a table (a batch would copy `orders`, which every ticket references), so two triggers
refuse the same rows here, with the check's own error (an IntegrityError). perf_held_counts already gave every
pending order an end. A later batch migration that recreates `orders` on SQLite drops these triggers: it must create
them again.
"""
from alembic import op

# revision identifiers, used by Alembic.
revision = 'perf_pending_end_sqlite'
down_revision = 'perf_held_counts'
branch_labels = None
depends_on = None

_REFUSE = ("WHEN NEW.status = 'pending' AND NEW.reserved_until IS NULL "
           "BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: ck_orders_pending_until_an_end'); END")


def upgrade():
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute(f"CREATE TRIGGER tr_orders_pending_until_an_end_insert BEFORE INSERT ON orders {_REFUSE}")
    op.execute("CREATE TRIGGER tr_orders_pending_until_an_end_update BEFORE UPDATE OF status, reserved_until "
               f"ON orders {_REFUSE}")


def downgrade():
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute("DROP TRIGGER tr_orders_pending_until_an_end_update")
    op.execute("DROP TRIGGER tr_orders_pending_until_an_end_insert")
