"""invitations to co-organize a race

Revision ID: team
Revises: b38babce5224
Create Date: 2026-11-25 14:10:00

"""
from alembic import op
import sqlalchemy as sa


revision = 'team'
down_revision = 'b38babce5224'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('organizer_invites',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('race_id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('invited_by_id', sa.Uuid(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('accepted_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['invited_by_id'], ['profiles.id'], name=op.f('fk_organizer_invites_invited_by_id_profiles'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['race_id'], ['races.id'], name=op.f('fk_organizer_invites_race_id_races'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_organizer_invites')),
    sa.UniqueConstraint('race_id', 'email', name='uq_organizer_invites_race_email'),
    sa.UniqueConstraint('token_hash', name=op.f('uq_organizer_invites_token_hash'))
    )
    with op.batch_alter_table('organizer_invites', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_organizer_invites_race_id'), ['race_id'], unique=False)


def downgrade():
    with op.batch_alter_table('organizer_invites', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_organizer_invites_race_id'))

    op.drop_table('organizer_invites')
