"""price tiers by date: a ticket type's early-bird, regular and late prices

Revision ID: season_price_tiers
Revises: reg_guest_carts_invites
Create Date: 2026-12-05 15:10:00

A ticket type may have price steps, each taking effect on a day in the race's timezone, and
optionally for the first N tickets only. A registration records the step its price came from.
Ticket types without steps keep their one price, so existing races are unchanged.
"""
import sqlalchemy as sa
from alembic import op

from migrations.rls import enable_row_level_security

# revision identifiers, used by Alembic.
revision = 'season_price_tiers'
down_revision = 'season_messages'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'price_tiers',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('ticket_type_id', sa.Integer(), nullable=False),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.Column('price', sa.Integer(), nullable=False),
        sa.Column('starts_on', sa.Date(), nullable=True),
        sa.Column('until_sold', sa.Integer(), nullable=True),
        sa.Column('label', sa.String(length=40), server_default='', nullable=False),
        sa.CheckConstraint('price >= 0', name=op.f('ck_price_tiers_price_not_negative')),
        sa.CheckConstraint('until_sold IS NULL OR until_sold > 0', name=op.f('ck_price_tiers_until_sold_positive')),
        sa.ForeignKeyConstraint(['ticket_type_id'], ['ticket_types.id'],
                                name=op.f('fk_price_tiers_ticket_type_id_ticket_types'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_price_tiers')),
    )
    with op.batch_alter_table('price_tiers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_price_tiers_ticket_type_id'), ['ticket_type_id'], unique=False)
    enable_row_level_security('price_tiers')

    with op.batch_alter_table('registrations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('price_tier_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_registrations_price_tier_id'), ['price_tier_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_registrations_price_tier_id_price_tiers'), 'price_tiers',
                                    ['price_tier_id'], ['id'], ondelete='SET NULL')


def downgrade():
    with op.batch_alter_table('registrations', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_registrations_price_tier_id_price_tiers'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_registrations_price_tier_id'))
        batch_op.drop_column('price_tier_id')
    with op.batch_alter_table('price_tiers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_price_tiers_ticket_type_id'))
    op.drop_table('price_tiers')
