"""The text a search box compares: case and accents set aside in Python, so every database matches alike.

SQLite's LIKE folds ASCII only and Postgres' lower() depends on the database's locale, and neither
drops accents without an extension. So each searchable row stores its searchable fields folded here
(a `search_key` column), the typed words are folded the same way, and a plain LIKE compares them:
"ZOË", "zoë" and "zoe" all find Zoë Ångström, on SQLite and on Postgres.
"""
from __future__ import annotations

import unicodedata

import sqlalchemy as sa

# Latin letters that are not a base letter plus an accent, so decomposing them keeps them whole.
_SEPARATE_LETTERS = str.maketrans({"ø": "o", "đ": "d", "ð": "d", "ł": "l", "ħ": "h", "ŧ": "t", "ı": "i",
                                   "æ": "ae", "œ": "oe", "þ": "th"})
# Between fields, so a typed word never matches across the end of one field and the start of the next.
FIELD_SEPARATOR = "\n"


def folded(text: str | None) -> str:
    """`text` in lower case without accents: "Zoë ÅNGSTRÖM" → "zoe angstrom", "Straße" → "strasse"."""
    # Canonical decomposition only (NFD): "²" stays "²" rather than turning into a "2" that matches digits.
    decomposed = unicodedata.normalize("NFD", unicodedata.normalize("NFD", text or "").casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).translate(_SEPARATE_LETTERS)


def search_key(*fields: str | None) -> str:
    """The stored key for a row's searchable fields, each folded."""
    return FIELD_SEPARATOR.join(folded(field) for field in fields)


def key_default(*names: str):
    """A column default computing the key from the row's own values, for ORM and bulk INSERTs alike."""
    def default(context) -> str:
        values = context.get_current_parameters()
        return search_key(*(values.get(name) for name in names))
    return default


# The searchable tables and their fields, in the order their keys join them.
SEARCHED_TABLES = {
    "registrations": ("first_name", "last_name", "email"),
    "races": ("title", "location_name", "address", "summary"),
}


def refill_search_keys(connection, batch: int = 1000, *, stamp_at=None) -> int:
    """Compute every row's key again, `batch` rows at a time (the migration that added the keys, and
    `flask refill-search-keys` after an offline `--sql` upgrade); returns how many rows were read. Only a key that
    differs is written; with `stamp_at`, a registration whose key is written is stamped changed then (its
    `updated_at`: what it matches changed, for the registrant list's cache, services/registrants/list_cache.py)."""
    count = 0
    for table_name, fields in SEARCHED_TABLES.items():
        stamped = stamp_at is not None and table_name == "registrations"
        table = sa.table(table_name, sa.column("id", sa.Integer), sa.column("search_key", sa.Text),
                         *(sa.column(name, sa.String) for name in fields),
                         *([sa.column("updated_at", sa.DateTime(timezone=True))] if stamped else []))
        values = {"search_key": sa.bindparam("key"), **({"updated_at": stamp_at} if stamped else {})}
        last_id = 0
        while rows := connection.execute(sa.select(table.c.id, table.c.search_key, *(table.c[name] for name in fields))
                                         .where(table.c.id > last_id).order_by(table.c.id).limit(batch)).all():
            changed = [{"row_id": row[0], "key": key} for row in rows
                       for key in [search_key(*row[2:])] if key != row[1]]
            if changed:
                connection.execute(table.update().where(table.c.id == sa.bindparam("row_id")).values(values), changed)
            last_id = rows[-1][0]
            count += len(rows)
    return count
