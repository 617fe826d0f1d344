"""signed-out auth sessions, refused by every app server until their access tokens expire

Revision ID: auth_revoked_sessions
Revises: supabase_security
Create Date: 2026-12-05 09:09:14.090619

"""
import sqlalchemy as sa
from alembic import op

from migrations.rls import enable_row_level_security

# revision identifiers, used by Alembic.
revision = 'auth_revoked_sessions'
down_revision = 'supabase_security'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'revoked_sessions',
        sa.Column('session_id', sa.Uuid(), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('session_id', name=op.f('pk_revoked_sessions')),
    )
    with op.batch_alter_table('revoked_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_revoked_sessions_expires_at'), ['expires_at'], unique=False)
    # Nothing here is for the Supabase Data API.
    enable_row_level_security('revoked_sessions')


def downgrade():
    with op.batch_alter_table('revoked_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_revoked_sessions_expires_at'))
    op.drop_table('revoked_sessions')
