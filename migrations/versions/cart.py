"""one cart per buyer and race

Revision ID: cart
Revises: b38babce5224
Create Date: 2026-11-25 14:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = 'cart'
down_revision = 'b38babce5224'
branch_labels = None
depends_on = None


def upgrade():
    # Should a database already hold two carts for the same buyer and race, keep the newest.
    op.execute(
        "UPDATE orders SET status = 'canceled' WHERE status = 'cart' AND EXISTS ("
        " SELECT 1 FROM orders AS newer WHERE newer.status = 'cart'"
        " AND newer.buyer_id = orders.buyer_id AND newer.race_id = orders.race_id"
        " AND (newer.created_at > orders.created_at"
        " OR (newer.created_at = orders.created_at AND newer.id > orders.id)))"
    )
    op.create_index('uq_orders_one_cart_per_buyer_race', 'orders', ['buyer_id', 'race_id'], unique=True,
                    postgresql_where=sa.text("status = 'cart'"), sqlite_where=sa.text("status = 'cart'"))


def downgrade():
    op.drop_index('uq_orders_one_cart_per_buyer_race', table_name='orders',
                  postgresql_where=sa.text("status = 'cart'"), sqlite_where=sa.text("status = 'cart'"))
