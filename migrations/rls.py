"""Row level security for migrations: one line turns it on for a new table.

    from migrations.rls import enable_row_level_security
    ...
    op.create_table("new_table", ...)
    enable_row_level_security("new_table")

On Supabase the Data API answers for the `anon` and `authenticated` roles, which Supabase grants
every table in `public`; a table with row level security on and no policy gives them nothing.
The app connects as the tables' owner, which row level security does not restrict (we never
FORCE it), so nothing changes for the app. On SQLite this does nothing.
"""
from __future__ import annotations

import re

from alembic import op

_TABLE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def enable_row_level_security(table: str) -> None:
    """Deny the Supabase Data API the table `table` in `public` until a policy says otherwise."""
    if not _TABLE_NAME.fullmatch(table):
        raise ValueError(f"not a plain table name: {table!r}")
    if op.get_context().dialect.name == "postgresql":
        op.execute(f'ALTER TABLE public."{table}" ENABLE ROW LEVEL SECURITY')
