"""races keep their description rendered: description_html

Revision ID: perf_description_html
Revises: season_change_fixes
Create Date: 2026-12-05 18:30:00

The race page showed the description by rendering its Markdown on every request (about a
millisecond). The sanitized HTML is now stored where the description is saved; this fills it
in for the races that exist, with the same renderer (services/markdown.py).
"""
import sqlalchemy as sa
from alembic import context, op

from services.markdown import refill_description_html

# revision identifiers, used by Alembic.
revision = 'perf_description_html'
down_revision = 'perf_cover_variants'
branch_labels = None
depends_on = None

def upgrade():
    with op.batch_alter_table('races', schema=None) as batch_op:
        batch_op.add_column(sa.Column('description_html', sa.Text(), server_default='', nullable=False))
    if context.is_offline_mode():
        # `--sql` writes SQL without reading the database, so the HTML is rendered afterwards.
        op.execute("-- Existing races need their description rendered: run `flask refill-descriptions` after this SQL")
    else:
        refill_description_html(op.get_bind())


def downgrade():
    with op.batch_alter_table('races', schema=None) as batch_op:
        batch_op.drop_column('description_html')
