"""a race's cover has smaller WebP copies for srcset

Revision ID: perf_cover_variants
Revises: season_change_fixes
Create Date: 2026-12-05 18:30:00

The widths of the copies made at upload, then the cover's own ("480,960,1600,2000"); empty for
a cover uploaded before them, which pages then show at its one size.
"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'perf_cover_variants'
down_revision = 'season_change_fixes'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('races', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cover_widths', sa.String(length=40), server_default='', nullable=False))


def downgrade():
    with op.batch_alter_table('races', schema=None) as batch_op:
        batch_op.drop_column('cover_widths')
