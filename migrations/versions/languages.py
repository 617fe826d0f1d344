"""languages: a profile's chosen language, a race's own language and its description in more, a waiver
version's language, and the language an email was written in

Revision ID: languages
Revises: perf_registered_at
Create Date: 2026-12-06 01:10:00

Every existing row was written in English, which the server defaults say.
"""
import sqlalchemy as sa
from alembic import op

from migrations.rls import enable_row_level_security

# revision identifiers, used by Alembic.
revision = 'languages'
down_revision = 'perf_registered_at'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('profiles', schema=None) as batch_op:
        batch_op.add_column(sa.Column('language', sa.String(length=8), nullable=True))
    with op.batch_alter_table('races', schema=None) as batch_op:
        batch_op.add_column(sa.Column('language', sa.String(length=8), server_default='en', nullable=False))
    with op.batch_alter_table('waiver_versions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('language', sa.String(length=8), server_default='en', nullable=False))
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('language', sa.String(length=8), server_default='en', nullable=False))
    op.create_table('race_texts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('race_id', sa.Integer(), nullable=False),
    sa.Column('language', sa.String(length=8), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('description_html', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['race_id'], ['races.id'], name=op.f('fk_race_texts_race_id_races'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_race_texts')),
    sa.UniqueConstraint('race_id', 'language', name='uq_race_texts_race_language')
    )
    with op.batch_alter_table('race_texts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_race_texts_race_id'), ['race_id'], unique=False)
    enable_row_level_security('race_texts')


def downgrade():
    with op.batch_alter_table('race_texts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_race_texts_race_id'))
    op.drop_table('race_texts')
    # Not in a batch: SQLite (3.35+) drops a column in place, where a batch would re-create tables that other
    # tables' foreign keys point at.
    for table in ('outbox_messages', 'waiver_versions', 'races', 'profiles'):
        op.drop_column(table, 'language')
