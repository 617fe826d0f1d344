"""local auth provider tables

Revision ID: local_auth
Revises: b38babce5224
Create Date: 2026-11-25 12:30:00

"""
from alembic import op
import sqlalchemy as sa


revision = 'local_auth'
down_revision = 'b38babce5224'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('local_users',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('full_name', sa.String(length=200), nullable=False),
    sa.Column('email_confirmed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_local_users')),
    sa.UniqueConstraint('email', name=op.f('uq_local_users_email'))
    )
    op.create_table('local_one_time_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['local_users.id'], name=op.f('fk_local_one_time_tokens_user_id_local_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_local_one_time_tokens')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_local_one_time_tokens_token_hash'))
    )
    with op.batch_alter_table('local_one_time_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_local_one_time_tokens_user_id'), ['user_id'], unique=False)

    op.create_table('local_refresh_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('session_id', sa.Uuid(), nullable=False),
    sa.Column('revoked', sa.Boolean(), nullable=False),
    sa.Column('rotated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['local_users.id'], name=op.f('fk_local_refresh_tokens_user_id_local_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_local_refresh_tokens')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_local_refresh_tokens_token_hash'))
    )
    with op.batch_alter_table('local_refresh_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_local_refresh_tokens_session_id'), ['session_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_local_refresh_tokens_user_id'), ['user_id'], unique=False)


def downgrade():
    op.drop_table('local_refresh_tokens')
    op.drop_table('local_one_time_tokens')
    op.drop_table('local_users')
