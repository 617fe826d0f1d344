"""guest carts and runners who fill in their own details

Revision ID: reg_guest_carts_invites
Revises: ops_scheduled_jobs
Create Date: 2026-12-05 12:09:03

A cart may belong to a visitor without an account (a hashed key from their cart cookie) until
they sign in at payment; every other order keeps its buyer. Registrations get the address and
club fields, and what a runner who fills in their own details through a link needs.
"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = 'reg_guest_carts_invites'
down_revision = 'ops_scheduled_jobs'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('guest_key', sa.String(length=64), nullable=True))
        batch_op.alter_column('buyer_id',
               existing_type=sa.Uuid(),
               nullable=True)
        batch_op.create_index(batch_op.f('ix_orders_guest_key'), ['guest_key'], unique=False)
        batch_op.create_index('uq_orders_one_cart_per_guest_race', ['guest_key', 'race_id'], unique=True, postgresql_where=sa.text("status = 'cart'"), sqlite_where=sa.text("status = 'cart'"))
        batch_op.create_check_constraint(
            'buyer_unless_guest_cart', "buyer_id IS NOT NULL OR (status = 'cart' AND guest_key IS NOT NULL)")

    with op.batch_alter_table('registrations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('address', sa.String(length=200), server_default='', nullable=False))
        batch_op.add_column(sa.Column('city', sa.String(length=100), server_default='', nullable=False))
        batch_op.add_column(sa.Column('country', sa.String(length=100), server_default='', nullable=False))
        batch_op.add_column(sa.Column('club', sa.String(length=100), server_default='', nullable=False))
        batch_op.add_column(sa.Column('runner_fills_in', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('runner_details_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('invite_nonce', sa.String(length=32), server_default='', nullable=False))
        batch_op.add_column(sa.Column('invite_sent_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('invite_reminded_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('invite_reminders', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('details_problem', sa.String(length=500), server_default='', nullable=False))
        batch_op.add_column(sa.Column('runner_profile_id', sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column('waiver_signed_at_checkin', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.create_index(batch_op.f('ix_registrations_runner_profile_id'), ['runner_profile_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_registrations_runner_profile_id_profiles'), 'profiles', ['runner_profile_id'], ['id'])



def downgrade():
    with op.batch_alter_table('registrations', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_registrations_runner_profile_id_profiles'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_registrations_runner_profile_id'))
        batch_op.drop_column('waiver_signed_at_checkin')
        batch_op.drop_column('runner_profile_id')
        batch_op.drop_column('details_problem')
        batch_op.drop_column('invite_reminders')
        batch_op.drop_column('invite_reminded_at')
        batch_op.drop_column('invite_sent_at')
        batch_op.drop_column('invite_nonce')
        batch_op.drop_column('runner_details_at')
        batch_op.drop_column('runner_fills_in')
        batch_op.drop_column('club')
        batch_op.drop_column('country')
        batch_op.drop_column('city')
        batch_op.drop_column('address')

    # Guests' carts have nobody to belong to in the old schema.
    op.execute("DELETE FROM orders WHERE buyer_id IS NULL")
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_constraint('buyer_unless_guest_cart', type_='check')
        batch_op.drop_index('uq_orders_one_cart_per_guest_race', postgresql_where=sa.text("status = 'cart'"), sqlite_where=sa.text("status = 'cart'"))
        batch_op.drop_index(batch_op.f('ix_orders_guest_key'))
        batch_op.alter_column('buyer_id',
               existing_type=sa.Uuid(),
               nullable=False)
        batch_op.drop_column('guest_key')

