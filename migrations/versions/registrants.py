"""registrant audit lines: who changed which field of a registration, and when

Revision ID: registrants
Revises: b38babce5224
Create Date: 2026-11-27 09:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = 'registrants'
down_revision = 'b38babce5224'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('registration_audits',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('registration_id', sa.Integer(), nullable=False),
    sa.Column('profile_id', sa.Uuid(), nullable=False),
    sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('field', sa.String(length=40), nullable=False),
    sa.Column('old_value', sa.Text(), nullable=False),
    sa.Column('new_value', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['profile_id'], ['profiles.id'], name=op.f('fk_registration_audits_profile_id_profiles')),
    sa.ForeignKeyConstraint(['registration_id'], ['registrations.id'], name=op.f('fk_registration_audits_registration_id_registrations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_registration_audits'))
    )
    with op.batch_alter_table('registration_audits', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_registration_audits_profile_id'), ['profile_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_registration_audits_registration_id'), ['registration_id'], unique=False)

    # On Supabase the Data API would otherwise expose the table; the app's own role owns it
    # and is not affected.
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('ALTER TABLE registration_audits ENABLE ROW LEVEL SECURITY')


def downgrade():
    with op.batch_alter_table('registration_audits', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_registration_audits_registration_id'))
        batch_op.drop_index(batch_op.f('ix_registration_audits_profile_id'))

    op.drop_table('registration_audits')
