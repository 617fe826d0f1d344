"""search keys for registrants and races: names, email and places folded for case- and accent-blind search

Revision ID: registrants_search_key
Revises: auth_revoked_sessions
Create Date: 2026-12-05 09:01:25.289507

The keys are computed in Python (models/search_key.py), so the same search matches on SQLite and
Postgres; existing rows are filled here in batches. Should the folding rule ever change, a new
migration refills them the same way.
"""
from alembic import op
import sqlalchemy as sa

from models.search_key import search_key


# revision identifiers, used by Alembic.
revision = 'registrants_search_key'
down_revision = 'auth_revoked_sessions'
branch_labels = None
depends_on = None

BATCH = 1000
SEARCHED = {
    "registrations": ("first_name", "last_name", "email"),
    "races": ("title", "location_name", "address", "summary"),
}


def _fill(table_name: str, fields: tuple[str, ...]) -> None:
    """Compute every existing row's key, BATCH rows at a time."""
    bind = op.get_bind()
    table = sa.table(table_name, sa.column("id", sa.Integer), sa.column("search_key", sa.Text),
                     *(sa.column(name, sa.String) for name in fields))
    last_id = 0
    while True:
        rows = bind.execute(sa.select(table.c.id, *(table.c[name] for name in fields))
                            .where(table.c.id > last_id).order_by(table.c.id).limit(BATCH)).all()
        if not rows:
            return
        bind.execute(table.update().where(table.c.id == sa.bindparam("row_id")).values(search_key=sa.bindparam("key")),
                     [{"row_id": row[0], "key": search_key(*row[1:])} for row in rows])
        last_id = rows[-1][0]


def upgrade():
    with op.batch_alter_table('races', schema=None) as batch_op:
        batch_op.add_column(sa.Column('search_key', sa.Text(), server_default='', nullable=False))

    with op.batch_alter_table('registrations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('search_key', sa.Text(), server_default='', nullable=False))

    for table_name, fields in SEARCHED.items():
        _fill(table_name, fields)


def downgrade():
    with op.batch_alter_table('registrations', schema=None) as batch_op:
        batch_op.drop_column('search_key')

    with op.batch_alter_table('races', schema=None) as batch_op:
        batch_op.drop_column('search_key')
