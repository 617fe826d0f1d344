"""Who may do what: the one place that answers "may this person manage this race?".

Every organizer page (through `race_if_managed`), the API and the draft preview ask `can_manage`; nothing else
decides.
"""
from __future__ import annotations

import uuid
from functools import cache

from sqlalchemy import bindparam, exists, select
from sqlalchemy.orm import Session, selectinload

from models import Order, OrganizerRole, Race, RaceOrganizer, Registration


def manages(race_id, profile_id: uuid.UUID):
    """SQL for `can_manage`: the race's owner or a co-organizer. `race_id` may be a column (Race.id), so that a
    page loads its race and this answer in one statement (blueprints/manage's organizer_required)."""
    return exists().where(RaceOrganizer.race_id == race_id, RaceOrganizer.profile_id == profile_id)


def can_manage(session: Session, race_id: int, profile_id: uuid.UUID | None) -> bool:
    """The race's owner or a co-organizer; nobody else, and never someone signed out."""
    if profile_id is None:
        return False
    return bool(session.scalar(select(manages(race_id, profile_id))))


def race_if_managed(session: Session, race_id: int, profile_id: uuid.UUID | None) -> tuple[Race | None, bool]:
    """The race with that id (None if there is none) and whether this person may manage it (`can_manage`),
    read in one statement."""
    if profile_id is None:
        return session.get(Race, race_id), False
    row = session.execute(_race_if_managed_statement(), {"race_id": race_id, "profile_id": profile_id}).first()
    return (row[0], bool(row[1])) if row else (None, False)


@cache
def _race_if_managed_statement():
    """`race_if_managed`'s statement, built once (`race_id` and `profile_id` bound at each run): every organizer
    page runs it, and building it anew cost a third of running it (issue 17)."""
    return select(Race, manages(Race.id, bindparam("profile_id"))).where(Race.id == bindparam("race_id"))


def may_change_ticket(session: Session, registration: Registration, profile_id: uuid.UUID | None) -> bool:
    """May this person transfer the ticket or change its distance themselves: its buyer, or its runner's
    own account; never someone signed out (the ticket code alone only emails the runner a link)."""
    if profile_id is None:
        return False
    buyer_id = session.scalar(select(Order.buyer_id).where(Order.id == registration.order_id))
    return profile_id in (buyer_id, registration.runner_profile_id)


def role_of(session: Session, race: Race, profile_id: uuid.UUID) -> OrganizerRole | None:
    """Owner, co-organizer, or None for someone not on the race's team."""
    return session.scalar(select(RaceOrganizer.role).where(RaceOrganizer.race_id == race.id,
                                                           RaceOrganizer.profile_id == profile_id))


def managed_races(session: Session, profile_id: uuid.UUID) -> list[Race]:
    """The races this person organizes, latest first, with their ticket types loaded."""
    return list(session.scalars(
        select(Race).join(RaceOrganizer, RaceOrganizer.race_id == Race.id)
        .where(RaceOrganizer.profile_id == profile_id)
        .options(selectinload(Race.ticket_types))
        .order_by(Race.starts_at.desc())))
