"""a cheaper distance's refund is linked to its change

Revision ID: season_change_fixes
Revises: season_price_tiers
Create Date: 2026-12-05 16:20:00

A distance change that sends a difference back points at that refund (its latest try), so the
change's page says whether the money went back and a failed one can be sent again.
"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'season_change_fixes'
down_revision = 'season_price_tiers'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('registration_changes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('refund_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_registration_changes_refund_id'), ['refund_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_registration_changes_refund_id_refunds'), 'refunds',
                                    ['refund_id'], ['id'], ondelete='SET NULL')


def downgrade():
    with op.batch_alter_table('registration_changes', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_registration_changes_refund_id_refunds'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_registration_changes_refund_id'))
        batch_op.drop_column('refund_id')
