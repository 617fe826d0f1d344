"""duplicate payments: a second payment for an already paid order, recorded to be refunded

Revision ID: dpay_duplicates
Revises: registrants_search_key
Create Date: 2026-12-05 09:28:54.919908

"""
import sqlalchemy as sa
from alembic import op

from migrations.rls import enable_row_level_security


# revision identifiers, used by Alembic.
revision = 'dpay_duplicates'
down_revision = 'registrants_search_key'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('duplicate_payments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.Uuid(), nullable=False),
    sa.Column('race_id', sa.Integer(), nullable=False),
    sa.Column('payment_intent_id', sa.String(length=255), nullable=False),
    sa.Column('checkout_session_id', sa.String(length=255), nullable=False),
    sa.Column('amount', sa.Integer(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('status', sa.Enum('to_refund', 'pending', 'refunded', 'failed', name='duplicate_payment_status', native_enum=False, length=20), nullable=False),
    sa.Column('gateway_refund_id', sa.String(length=255), nullable=False),
    sa.Column('requested_by_id', sa.Uuid(), nullable=True),
    sa.Column('error', sa.String(length=500), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('refunded_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_duplicate_payments_order_id_orders'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['race_id'], ['races.id'], name=op.f('fk_duplicate_payments_race_id_races')),
    sa.ForeignKeyConstraint(['requested_by_id'], ['profiles.id'], name=op.f('fk_duplicate_payments_requested_by_id_profiles'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_duplicate_payments')),
    sa.UniqueConstraint('payment_intent_id', name=op.f('uq_duplicate_payments_payment_intent_id'))
    )
    with op.batch_alter_table('duplicate_payments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_duplicate_payments_order_id'), ['order_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_duplicate_payments_race_id'), ['race_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_duplicate_payments_status'), ['status'], unique=False)
    enable_row_level_security('duplicate_payments')


def downgrade():
    with op.batch_alter_table('duplicate_payments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_duplicate_payments_status'))
        batch_op.drop_index(batch_op.f('ix_duplicate_payments_race_id'))
        batch_op.drop_index(batch_op.f('ix_duplicate_payments_order_id'))

    op.drop_table('duplicate_payments')
