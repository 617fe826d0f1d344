"""transfers and distance changes

Revision ID: season_changes
Revises: reg_guest_carts_invites
Create Date: 2026-12-05 14:58:51

A race says whether (and until when) a ticket may move to another runner or another distance, the
fee and what happens to the bib and to a cheaper distance's difference. Each change is a
registration_changes row, paid (when there is something to pay) by an order of kind "change". The
audit trail may name a runner who acted by their emailed link, who has no profile.
"""
import sqlalchemy as sa
from alembic import op

from migrations.rls import enable_row_level_security


# revision identifiers, used by Alembic.
revision = 'season_changes'
down_revision = 'season_waitlist'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('registration_changes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('registration_id', sa.Integer(), nullable=False),
    sa.Column('race_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('transfer', 'distance', name='change_kind', native_enum=False, length=20), nullable=False),
    sa.Column('status', sa.Enum('pending', 'applied', 'canceled', 'needs_refund', name='change_status', native_enum=False, length=20), nullable=False),
    sa.Column('new_first_name', sa.String(length=100), nullable=False),
    sa.Column('new_last_name', sa.String(length=100), nullable=False),
    sa.Column('new_email', sa.String(length=320), nullable=False),
    sa.Column('old_ticket_type_id', sa.Integer(), nullable=True),
    sa.Column('new_ticket_type_id', sa.Integer(), nullable=True),
    sa.Column('amount', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.Uuid(), nullable=True),
    sa.Column('requested_by_id', sa.Uuid(), nullable=True),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('old_ticket_code', sa.String(length=40), nullable=True),
    sa.Column('problem', sa.String(length=500), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('applied_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['new_ticket_type_id'], ['ticket_types.id'], name=op.f('fk_registration_changes_new_ticket_type_id_ticket_types')),
    sa.ForeignKeyConstraint(['old_ticket_type_id'], ['ticket_types.id'], name=op.f('fk_registration_changes_old_ticket_type_id_ticket_types')),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_registration_changes_order_id_orders'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['race_id'], ['races.id'], name=op.f('fk_registration_changes_race_id_races')),
    sa.ForeignKeyConstraint(['registration_id'], ['registrations.id'], name=op.f('fk_registration_changes_registration_id_registrations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['requested_by_id'], ['profiles.id'], name=op.f('fk_registration_changes_requested_by_id_profiles'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_registration_changes'))
    )
    with op.batch_alter_table('registration_changes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_registration_changes_old_ticket_code'), ['old_ticket_code'], unique=False)
        batch_op.create_index(batch_op.f('ix_registration_changes_order_id'), ['order_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_registration_changes_race_id'), ['race_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_registration_changes_registration_id'), ['registration_id'], unique=False)
        batch_op.create_index('uq_registration_changes_one_pending', ['registration_id'], unique=True, postgresql_where=sa.text("status = 'pending'"), sqlite_where=sa.text("status = 'pending'"))
    enable_row_level_security('registration_changes')

    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kind', sa.Enum('tickets', 'change', name='order_kind', native_enum=False, length=20), server_default='tickets', nullable=False))

    with op.batch_alter_table('races', schema=None) as batch_op:
        batch_op.add_column(sa.Column('transfers_enabled', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('transfers_until', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('transfer_fee', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('transfer_keeps_bib', sa.Boolean(), server_default=sa.true(), nullable=False))
        batch_op.add_column(sa.Column('distance_changes_enabled', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('distance_changes_until', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('distance_refund_difference', sa.Boolean(), server_default=sa.true(), nullable=False))
        batch_op.create_check_constraint('transfer_fee_not_negative', 'transfer_fee >= 0')

    with op.batch_alter_table('registration_audits', schema=None) as batch_op:
        batch_op.add_column(sa.Column('actor', sa.String(length=200), server_default='', nullable=False))
        batch_op.alter_column('profile_id',
               existing_type=sa.Uuid(),
               nullable=True)



def downgrade():
    # Lines written by a runner through their link have nobody to belong to in the old schema.
    op.execute("DELETE FROM registration_audits WHERE profile_id IS NULL")
    with op.batch_alter_table('registration_audits', schema=None) as batch_op:
        batch_op.alter_column('profile_id',
               existing_type=sa.Uuid(),
               nullable=False)
        batch_op.drop_column('actor')

    with op.batch_alter_table('races', schema=None) as batch_op:
        batch_op.drop_constraint('transfer_fee_not_negative', type_='check')
        batch_op.drop_column('distance_refund_difference')
        batch_op.drop_column('distance_changes_until')
        batch_op.drop_column('distance_changes_enabled')
        batch_op.drop_column('transfer_keeps_bib')
        batch_op.drop_column('transfer_fee')
        batch_op.drop_column('transfers_until')
        batch_op.drop_column('transfers_enabled')

    op.execute("DELETE FROM orders WHERE kind = 'change'")
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_column('kind')

    with op.batch_alter_table('registration_changes', schema=None) as batch_op:
        batch_op.drop_index('uq_registration_changes_one_pending', postgresql_where=sa.text("status = 'pending'"), sqlite_where=sa.text("status = 'pending'"))
        batch_op.drop_index(batch_op.f('ix_registration_changes_registration_id'))
        batch_op.drop_index(batch_op.f('ix_registration_changes_race_id'))
        batch_op.drop_index(batch_op.f('ix_registration_changes_order_id'))
        batch_op.drop_index(batch_op.f('ix_registration_changes_old_ticket_code'))

    op.drop_table('registration_changes')
