"""stripe events, checkout url and problem on orders

Revision ID: payments
Revises: b38babce5224
Create Date: 2026-11-25 12:40:00

"""
from alembic import op
import sqlalchemy as sa


revision = 'payments'
down_revision = 'b38babce5224'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('stripe_events',
    sa.Column('id', sa.String(length=255), nullable=False),
    sa.Column('type', sa.String(length=100), nullable=False),
    sa.Column('order_id', sa.Uuid(), nullable=True),
    sa.Column('outcome', sa.String(length=200), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stripe_events'))
    )
    with op.batch_alter_table('stripe_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_stripe_events_order_id'), ['order_id'], unique=False)
    op.create_table('checkout_sessions',
    sa.Column('id', sa.String(length=255), nullable=False),
    sa.Column('order_id', sa.Uuid(), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_checkout_sessions_order_id_orders'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_checkout_sessions'))
    )
    with op.batch_alter_table('checkout_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_checkout_sessions_order_id'), ['order_id'], unique=False)
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('checkout_url', sa.String(length=1000), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('problem', sa.String(length=500), nullable=False, server_default=''))
    with op.batch_alter_table('races', schema=None) as batch_op:
        batch_op.add_column(sa.Column('stripe_tax_rate_id', sa.String(length=255), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('stripe_tax_rate_key', sa.String(length=200), nullable=False, server_default=''))


def downgrade():
    with op.batch_alter_table('races', schema=None) as batch_op:
        batch_op.drop_column('stripe_tax_rate_key')
        batch_op.drop_column('stripe_tax_rate_id')
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_column('problem')
        batch_op.drop_column('checkout_url')
    op.drop_table('checkout_sessions')
    op.drop_table('stripe_events')
