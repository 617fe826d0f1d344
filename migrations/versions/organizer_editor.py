"""waivers, race organizers, waiver signatures on registrations

Revision ID: organizer_editor
Revises: b38babce5224
Create Date: 2026-11-25 12:30:00

"""
from alembic import op
import sqlalchemy as sa


revision = 'organizer_editor'
down_revision = 'b38babce5224'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('waiver_versions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('race_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['race_id'], ['races.id'], name=op.f('fk_waiver_versions_race_id_races'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_waiver_versions')),
    sa.UniqueConstraint('race_id', 'number', name='uq_waiver_versions_race_number')
    )
    with op.batch_alter_table('waiver_versions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_waiver_versions_race_id'), ['race_id'], unique=False)

    op.create_table('race_organizers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('race_id', sa.Integer(), nullable=False),
    sa.Column('profile_id', sa.Uuid(), nullable=False),
    sa.Column('role', sa.Enum('owner', 'co_organizer', name='organizer_role', native_enum=False, length=20), nullable=False),
    sa.Column('invited_by_id', sa.Uuid(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['invited_by_id'], ['profiles.id'], name=op.f('fk_race_organizers_invited_by_id_profiles')),
    sa.ForeignKeyConstraint(['profile_id'], ['profiles.id'], name=op.f('fk_race_organizers_profile_id_profiles'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['race_id'], ['races.id'], name=op.f('fk_race_organizers_race_id_races'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_race_organizers')),
    sa.UniqueConstraint('race_id', 'profile_id', name='uq_race_organizers_race_profile')
    )
    with op.batch_alter_table('race_organizers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_race_organizers_profile_id'), ['profile_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_race_organizers_race_id'), ['race_id'], unique=False)

    with op.batch_alter_table('registrations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('waiver_version_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('waiver_signature', sa.String(length=200), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('waiver_guardian_name', sa.String(length=200), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('waiver_signed_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('waiver_ip', sa.String(length=45), nullable=False, server_default=''))
        batch_op.create_index(batch_op.f('ix_registrations_waiver_version_id'), ['waiver_version_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_registrations_waiver_version_id_waiver_versions'),
                                    'waiver_versions', ['waiver_version_id'], ['id'])


def downgrade():
    with op.batch_alter_table('registrations', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_registrations_waiver_version_id_waiver_versions'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_registrations_waiver_version_id'))
        for column in ('waiver_ip', 'waiver_signed_at', 'waiver_guardian_name', 'waiver_signature', 'waiver_version_id'):
            batch_op.drop_column(column)
    op.drop_table('race_organizers')
    op.drop_table('waiver_versions')
