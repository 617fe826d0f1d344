"""Who may do what: the one place that answers "may this person manage this race?".

Every organizer page, the API and the draft preview ask `can_manage`; nothing else decides.
"""
from __future__ import annotations

import uuid

from sqlalchemy import exists, select
from sqlalchemy.orm import Session, selectinload

from models import OrganizerRole, Race, RaceOrganizer


def can_manage(session: Session, race_id: int, profile_id: uuid.UUID | None) -> bool:
    """The race's owner or a co-organizer; nobody else, and never someone signed out."""
    if profile_id is None:
        return False
    return bool(session.scalar(select(exists().where(RaceOrganizer.race_id == race_id,
                                                     RaceOrganizer.profile_id == profile_id))))


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
