"""The registrant list's results (counts, rows, pages) as rendered, kept in-process while nothing they show changed.

An organizer's list is read far more often than it changes in race week, and reading a page of it costs its
counts, its rows and their HTML (issue 17). `list_version` reads, in one statement on every request, what says
whether any of that changed:

- the newest `updated_at` of the race's registrations. Every UPDATE of a registration through SQLAlchemy stamps
  it (`onupdate`: ORM flushes and Core update() statements alike, the bib range's executemany too), a change of
  an order's status stamps its tickets (models.order.tickets_touched), and a new ticket is born stamped. No
  listed registration is ever deleted (a cart's tickets are not listed; a race with sales can't be deleted);
- the race's pending orders whose hold is live at `now`: how many, and when the first of them runs out. A
  pending ticket is listed only while its hold lasts, and a hold ends (or is renewed) without its tickets'
  rows changing.

The caller adds what the rest of the results show: the race's `version` (bumped by every edit of the race, its
ticket types and waiver) and zone, its local date (a check-in time says the day unless it is today), the ticket
types and waiver versions as the list reads them (names, positions, stored paid counts), the language, and the
filters, sort and cursor.

A stamp is the app's clock when the row was written, not when its transaction committed: a transaction stamped
before the newest stamp may commit after it, and would move nothing in the key. So the results are kept only
when the newest stamp is older than SETTLED (the window services/registrants/feed.py trusts a transaction to
finish in): a write that commits later yet stamped earlier would have held its transaction open longer than
that. A list that changed in the last minute is read afresh (the registration rush: what it costs without the
cache); a settled one (race week, a night's check) costs the key and the page around it. Entries also live at
most REGISTRANT_CACHE_SECONDS, a safety net for a change made behind the app's back (a manual UPDATE, a data
migration run while the old release still serves); `flask refill-search-keys` stamps the registrations whose search
key it rewrites, so a cached search sees what it now finds.
"""
from __future__ import annotations

import functools
import secrets
from datetime import UTC, datetime

from sqlalchemy import DateTime, Integer, bindparam, func, select
from sqlalchemy.orm import Session

from models import Order, Registration
from models.base import utcnow
from models.order import holding_at
from services.registrants.feed import CHANGE_WINDOW

SETTLED = CHANGE_WINDOW
# Stands for the visitor's CSRF token in a stored rendering (the rows' bib forms carry it): each response puts the
# visitor's own in its place. Random per process, so no runner's name can spell it.
CSRF_STAND_IN = f"csrf-{secrets.token_hex(16)}"

_RACE = bindparam("race_id", type_=Integer)
_NOW = bindparam("now", type_=DateTime(timezone=True))


@functools.cache
def _version_statement():
    """Built once, run with {"race_id", "now"}: the newest stamp off ix_registrations_race_updated, the live holds
    off ix_orders_race_pending_until."""
    holds = (select(func.count(), func.min(Order.reserved_until))
             .where(Order.race_id == _RACE, holding_at(_NOW)).subquery())
    newest = select(func.max(Registration.updated_at)).where(Registration.race_id == _RACE).scalar_subquery()
    return select(newest.label("newest"), *holds.c)


def list_version(session: Session, race_id: int, now: datetime) -> tuple | None:
    """What says the race's listed registrations changed, as a hashable value; None while the newest change is
    younger than SETTLED (see the module's text), when nothing may be kept."""
    newest, holds, first_hold_ends = session.execute(_version_statement(), {"race_id": race_id, "now": now}).one()
    if newest is not None:
        newest = newest if newest.tzinfo else newest.replace(tzinfo=UTC)
        if utcnow() - newest < SETTLED:
            return None
    return newest, holds, first_hold_ends
