"""The text a search box compares: case and accents set aside in Python, so every database matches alike.

SQLite's LIKE folds ASCII only and Postgres' lower() depends on the database's locale, and neither
drops accents without an extension. So each searchable row stores its searchable fields folded here
(a `search_key` column), the typed words are folded the same way, and a plain LIKE compares them:
"ZOË", "zoë" and "zoe" all find Zoë Ångström, on SQLite and on Postgres.
"""
from __future__ import annotations

import unicodedata

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
