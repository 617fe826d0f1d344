"""discount codes, and the code an order uses

Revision ID: discount_codes
Revises: b38babce5224
Create Date: 2026-11-25 13:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = 'discount_codes'
down_revision = 'b38babce5224'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('discount_codes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('race_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('code_normalized', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.Enum('percent', 'amount', name='discount_kind', native_enum=False, length=20), nullable=False),
    sa.Column('percent_off', sa.Integer(), nullable=True),
    sa.Column('amount_off', sa.Integer(), nullable=True),
    sa.Column('ticket_type_id', sa.Integer(), nullable=True),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('max_uses', sa.Integer(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("(kind = 'percent' AND percent_off IS NOT NULL AND amount_off IS NULL) OR (kind = 'amount' AND amount_off IS NOT NULL AND percent_off IS NULL)", name=op.f('ck_discount_codes_one_value_matching_kind')),
    sa.CheckConstraint('percent_off IS NULL OR (percent_off >= 1 AND percent_off <= 100)', name=op.f('ck_discount_codes_percent_off_range')),
    sa.CheckConstraint('amount_off IS NULL OR amount_off >= 1', name=op.f('ck_discount_codes_amount_off_positive')),
    sa.CheckConstraint('max_uses IS NULL OR max_uses >= 0', name=op.f('ck_discount_codes_max_uses_not_negative')),
    sa.CheckConstraint('starts_at IS NULL OR ends_at IS NULL OR starts_at < ends_at', name=op.f('ck_discount_codes_window_order')),
    sa.ForeignKeyConstraint(['race_id'], ['races.id'], name=op.f('fk_discount_codes_race_id_races'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['ticket_type_id'], ['ticket_types.id'], name=op.f('fk_discount_codes_ticket_type_id_ticket_types'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_discount_codes')),
    sa.UniqueConstraint('race_id', 'code_normalized', name='uq_discount_codes_race_code')
    )
    with op.batch_alter_table('discount_codes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_discount_codes_race_id'), ['race_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_discount_codes_ticket_type_id'), ['ticket_type_id'], unique=False)

    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('discount_code_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_orders_discount_code_id'), ['discount_code_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_orders_discount_code_id_discount_codes'), 'discount_codes', ['discount_code_id'], ['id'])


def downgrade():
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_orders_discount_code_id_discount_codes'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_orders_discount_code_id'))
        batch_op.drop_column('discount_code_id')

    with op.batch_alter_table('discount_codes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_discount_codes_ticket_type_id'))
        batch_op.drop_index(batch_op.f('ix_discount_codes_race_id'))

    op.drop_table('discount_codes')
