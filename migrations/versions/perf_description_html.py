"""races keep their description rendered: description_html

Revision ID: perf_description_html
Revises: season_change_fixes
Create Date: 2026-12-05 18:30:00

The race page showed the description by rendering its Markdown on every request (about a
millisecond). The sanitized HTML is now stored where the description is saved; this fills it
in for the races that exist, with the same renderer (services/markdown.py).
"""
import sqlalchemy as sa
from alembic import op

from services.markdown import render_markdown

# revision identifiers, used by Alembic.
revision = 'perf_description_html'
down_revision = 'perf_cover_variants'
branch_labels = None
depends_on = None

races = sa.table('races', sa.column('id', sa.Integer), sa.column('description', sa.Text),
                 sa.column('description_html', sa.Text))


def upgrade():
    with op.batch_alter_table('races', schema=None) as batch_op:
        batch_op.add_column(sa.Column('description_html', sa.Text(), server_default='', nullable=False))
    connection = op.get_bind()
    rows = connection.execute(sa.select(races.c.id, races.c.description).where(races.c.description != ''))
    for race_id, description in rows.all():
        connection.execute(races.update().where(races.c.id == race_id)
                           .values(description_html=str(render_markdown(description))))


def downgrade():
    with op.batch_alter_table('races', schema=None) as batch_op:
        batch_op.drop_column('description_html')
