"""offline check-in: each check-in or undo a device made, by the id it gave it

Revision ID: checkin_sync
Revises: perf_registrant_counts
Create Date: 2026-12-05 21:45:00

A phone checking runners in offline sends its taps later; the client id, unique within the race, makes a resent one
count once, and the device time orders them (services/registrants/checkin_sync.py).
"""
import sqlalchemy as sa
from alembic import op

from migrations.rls import enable_row_level_security

# revision identifiers, used by Alembic.
revision = 'checkin_sync'
down_revision = 'api_v1'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('checkin_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('client_id', sa.Uuid(), nullable=False),
    sa.Column('race_id', sa.Integer(), nullable=False),
    sa.Column('registration_id', sa.Integer(), nullable=True),
    sa.Column('ticket_code', sa.String(length=100), nullable=False),
    sa.Column('action', sa.String(length=20), nullable=False),
    sa.Column('device_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('profile_id', sa.Uuid(), nullable=True),
    sa.Column('source', sa.String(length=20), nullable=False),
    sa.Column('outcome', sa.String(length=40), nullable=False),
    sa.Column('message', sa.String(length=300), nullable=False),
    sa.ForeignKeyConstraint(['profile_id'], ['profiles.id'], name=op.f('fk_checkin_events_profile_id_profiles'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['race_id'], ['races.id'], name=op.f('fk_checkin_events_race_id_races'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['registration_id'], ['registrations.id'], name=op.f('fk_checkin_events_registration_id_registrations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_checkin_events')),
    sa.UniqueConstraint('race_id', 'client_id', name='uq_checkin_events_race_client')
    )
    with op.batch_alter_table('checkin_events', schema=None) as batch_op:
        batch_op.create_index('ix_checkin_events_registration_at', ['registration_id', 'device_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_checkin_events_race_id'), ['race_id'], unique=False)
    enable_row_level_security('checkin_events')


def downgrade():
    with op.batch_alter_table('checkin_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_checkin_events_race_id'))
        batch_op.drop_index('ix_checkin_events_registration_at')
    op.drop_table('checkin_events')
