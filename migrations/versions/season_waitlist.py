"""a waitlist that refills itself: waitlist entries, and each race's offer hold time and pause switch

Revision ID: season_waitlist
Revises: reg_guest_carts_invites
Create Date: 2026-12-05 14:59:07

Entries are public sign-ups (no account), so the table gets row level security and no policy:
nobody reads it through the Data API.
"""
import sqlalchemy as sa
from alembic import op

from migrations.rls import enable_row_level_security


# revision identifiers, used by Alembic.
revision = 'season_waitlist'
down_revision = 'reg_guest_carts_invites'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('waitlist_entries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('race_id', sa.Integer(), nullable=False),
    sa.Column('ticket_type_id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('spots', sa.Integer(), nullable=False),
    sa.Column('status', sa.Enum('waiting', 'offered', 'accepted', 'declined', 'expired', 'removed', 'left', name='waitlist_status', native_enum=False, length=20), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('offered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('offer_expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('offered_spots', sa.Integer(), nullable=False),
    sa.Column('nonce', sa.String(length=32), nullable=False),
    sa.Column('order_id', sa.Uuid(), nullable=True),
    sa.CheckConstraint('offered_spots >= 0 AND offered_spots <= spots', name=op.f('ck_waitlist_entries_offered_spots_range')),
    sa.CheckConstraint('spots >= 1 AND spots <= 4', name=op.f('ck_waitlist_entries_spots_range')),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_waitlist_entries_order_id_orders'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['race_id'], ['races.id'], name=op.f('fk_waitlist_entries_race_id_races'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['ticket_type_id'], ['ticket_types.id'], name=op.f('fk_waitlist_entries_ticket_type_id_ticket_types'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_waitlist_entries'))
    )
    with op.batch_alter_table('waitlist_entries', schema=None) as batch_op:
        batch_op.create_index('ix_waitlist_entries_line', ['ticket_type_id', 'status', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_waitlist_entries_order_id'), ['order_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_waitlist_entries_race_id'), ['race_id'], unique=False)
    enable_row_level_security('waitlist_entries')

    with op.batch_alter_table('races', schema=None) as batch_op:
        batch_op.add_column(sa.Column('waitlist_hold_hours', sa.Integer(), server_default='24', nullable=False))
        batch_op.add_column(sa.Column('waitlist_paused', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.create_check_constraint('waitlist_hold_range', 'waitlist_hold_hours >= 1 AND waitlist_hold_hours <= 168')



def downgrade():
    with op.batch_alter_table('races', schema=None) as batch_op:
        batch_op.drop_constraint('waitlist_hold_range', type_='check')
        batch_op.drop_column('waitlist_paused')
        batch_op.drop_column('waitlist_hold_hours')

    with op.batch_alter_table('waitlist_entries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_waitlist_entries_race_id'))
        batch_op.drop_index(batch_op.f('ix_waitlist_entries_order_id'))
        batch_op.drop_index('ix_waitlist_entries_line')

    op.drop_table('waitlist_entries')
