"""scheduled jobs: the worker's recurring jobs, their claim and last result

Revision ID: ops_scheduled_jobs
Revises: dpay_duplicates
Create Date: 2026-12-05 09:01:13

Rows are made by the worker the first time it meets a job, so a new job needs no migration.
"""
import sqlalchemy as sa
from alembic import op

from migrations.rls import enable_row_level_security

# revision identifiers, used by Alembic.
revision = 'ops_scheduled_jobs'
down_revision = 'dpay_duplicates'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'scheduled_jobs',
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('last_started_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('last_finished_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('last_succeeded', sa.Boolean(), nullable=True),
        sa.Column('last_result', sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint('name', name=op.f('pk_scheduled_jobs')),
    )
    enable_row_level_security('scheduled_jobs')


def downgrade():
    op.drop_table('scheduled_jobs')
