"""messages to runners: the organizer's messages, who unsubscribed, and the outbox rows that carry them

Revision ID: season_messages
Revises: reg_guest_carts_invites
Create Date: 2026-12-05 14:58:52.592326

An outbox row may belong to a message (its counts are a GROUP BY), carry extra headers
(Reply-To, List-Unsubscribe) and a sender's name for its From.
"""
import sqlalchemy as sa
from alembic import op

from migrations.rls import enable_row_level_security


# revision identifiers, used by Alembic.
revision = 'season_messages'
down_revision = 'season_changes'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('message_unsubscribes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('race_id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['race_id'], ['races.id'], name=op.f('fk_message_unsubscribes_race_id_races'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_message_unsubscribes')),
    sa.UniqueConstraint('race_id', 'email', name=op.f('uq_message_unsubscribes_race_id'))
    )
    op.create_table('race_messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('race_id', sa.Integer(), nullable=False),
    sa.Column('sender_id', sa.Uuid(), nullable=True),
    sa.Column('subject', sa.String(length=200), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('audience', sa.JSON(), nullable=False),
    sa.Column('essential', sa.Boolean(), nullable=False),
    sa.Column('recipient_count', sa.Integer(), nullable=False),
    sa.Column('idempotency_key', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['race_id'], ['races.id'], name=op.f('fk_race_messages_race_id_races'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['sender_id'], ['profiles.id'], name=op.f('fk_race_messages_sender_id_profiles'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_race_messages')),
    sa.UniqueConstraint('race_id', 'idempotency_key', name=op.f('uq_race_messages_race_id'))
    )
    with op.batch_alter_table('race_messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_race_messages_race_id'), ['race_id'], unique=False)
    enable_row_level_security('race_messages')
    enable_row_level_security('message_unsubscribes')

    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('message_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('headers', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('sender_name', sa.String(length=200), nullable=True))
        batch_op.create_index(batch_op.f('ix_outbox_messages_message_id'), ['message_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_outbox_messages_message_id_race_messages'), 'race_messages', ['message_id'], ['id'], ondelete='CASCADE')


def downgrade():
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_outbox_messages_message_id_race_messages'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_outbox_messages_message_id'))
        batch_op.drop_column('sender_name')
        batch_op.drop_column('headers')
        batch_op.drop_column('message_id')

    with op.batch_alter_table('race_messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_race_messages_race_id'))

    op.drop_table('race_messages')
    op.drop_table('message_unsubscribes')
