"""race media: stored cover and gallery images

Revision ID: race_media
Revises: b38babce5224
Create Date: 2026-11-25 13:30:00

"""
from alembic import op
import sqlalchemy as sa


revision = 'race_media'
down_revision = 'b38babce5224'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('race_media',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('race_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('cover', 'gallery', name='media_kind', native_enum=False, length=20), nullable=False),
    sa.Column('storage_key', sa.String(length=300), nullable=False),
    sa.Column('content_type', sa.String(length=100), nullable=False),
    sa.Column('width', sa.Integer(), nullable=False),
    sa.Column('height', sa.Integer(), nullable=False),
    sa.Column('bytes', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['race_id'], ['races.id'], name=op.f('fk_race_media_race_id_races'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_race_media')),
    sa.UniqueConstraint('storage_key', name=op.f('uq_race_media_storage_key'))
    )
    with op.batch_alter_table('race_media', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_race_media_race_id'), ['race_id'], unique=False)

    # On Supabase the Data API would otherwise expose the table; the app's own role owns it
    # and is not affected.
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('ALTER TABLE race_media ENABLE ROW LEVEL SECURITY')


def downgrade():
    with op.batch_alter_table('race_media', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_race_media_race_id'))

    op.drop_table('race_media')
