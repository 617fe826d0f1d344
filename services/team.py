"""A race's team: its owner and co-organizers, inviting people by email, and who may remove whom.

Someone with an account is added at once. Anyone else gets an invitation email whose link, once
they have signed in with that address, makes them a co-organizer. The link's token is stored
only as its SHA-256, like every other token here. Inviting, accepting, removing and withdrawing
are use cases: each commits, or rolls back and raises TeamRefused.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import OrganizerInvite, OrganizerRole, Profile, Race, RaceOrganizer
from services.auth import normalize_email
from services.notifications import queue_organizer_added, queue_organizer_invite
from services.permissions import role_of
from services.race_editing import add_organizer
from services.tokens import new_token, token_hash

INVITE_VALID_FOR = timedelta(days=30)


class TeamRefused(Exception):
    """Why a team change can't happen, written for the organizer (or the invitee)."""

    def __init__(self, message: str, status: int = 422):
        super().__init__(message)
        self.message, self.status = message, status


@dataclass(frozen=True)
class Member:
    link: RaceOrganizer
    profile: Profile

    @property
    def is_owner(self) -> bool:
        return self.link.role == OrganizerRole.OWNER


@dataclass(frozen=True)
class InviteOutcome:
    added: Profile | None = None           # had an account: a co-organizer now
    invite: OrganizerInvite | None = None  # no account yet: an invitation is on its way
    resent: bool = False


def _use_case(change):
    """Run a team change as one transaction: commit what it did, or roll back and pass its refusal on."""
    @functools.wraps(change)
    def run(session: Session, *args, **kwargs):
        try:
            result = change(session, *args, **kwargs)
        except TeamRefused:
            session.rollback()
            raise
        session.commit()
        return result
    return run


def members(session: Session, race: Race) -> list[Member]:
    """The owner first, then co-organizers in the order they joined."""
    rows = session.execute(select(RaceOrganizer, Profile).join(Profile, Profile.id == RaceOrganizer.profile_id)
                           .where(RaceOrganizer.race_id == race.id)
                           .order_by(RaceOrganizer.role != OrganizerRole.OWNER, RaceOrganizer.created_at,
                                     RaceOrganizer.id))
    return [Member(link, profile) for link, profile in rows]


def pending_invites(session: Session, race: Race, now: datetime) -> list[OrganizerInvite]:
    return list(session.scalars(select(OrganizerInvite).where(
        OrganizerInvite.race_id == race.id, OrganizerInvite.accepted_at.is_(None),
        OrganizerInvite.created_at > now - INVITE_VALID_FOR).order_by(OrganizerInvite.created_at)))


@_use_case
def invite(session: Session, race: Race, email: str, invited_by: Profile, now: datetime) -> InviteOutcome:
    """Add the person with this address as a co-organizer, or email them an invitation."""
    address = normalize_email(email)
    profile = session.scalar(select(Profile).where(func.lower(Profile.email) == address).limit(1))
    if profile is not None and role_of(session, race, profile.id) is not None:
        raise TeamRefused(_("%(email)s already organizes this race.", email=address))
    existing = session.scalar(select(OrganizerInvite).where(OrganizerInvite.race_id == race.id,
                                                            OrganizerInvite.email == address))
    if profile is not None:
        if existing is not None:
            session.delete(existing)
        add_organizer(session, race, profile, OrganizerRole.CO_ORGANIZER, invited_by=invited_by)
        queue_organizer_added(session, race, address, invited_by)
        return InviteOutcome(added=profile)

    token = new_token()
    resent = existing is not None
    if existing is None:
        existing = OrganizerInvite(race_id=race.id, email=address)
        session.add(existing)
    # A new link each time: an older email's link stops working once a fresh one is sent.
    existing.token_hash, existing.invited_by_id = token_hash(token), invited_by.id
    existing.created_at, existing.accepted_at = now, None
    queue_organizer_invite(session, race, address, invited_by, token, INVITE_VALID_FOR.days)
    return InviteOutcome(invite=existing, resent=resent)


def find_invite(session: Session, token: str) -> OrganizerInvite | None:
    if not token or len(token) > 200:
        return None
    return session.scalar(select(OrganizerInvite).where(OrganizerInvite.token_hash == token_hash(token)))


def check_invite(invite: OrganizerInvite | None, profile: Profile, now: datetime) -> OrganizerInvite:
    """The invite, if `profile` may accept it now; else TeamRefused with a status for the page."""
    if invite is None:
        raise TeamRefused(_("This invite link isn't valid. Ask the organizer to send you a new one."), status=404)
    if invite.accepted_at is not None:
        raise TeamRefused(_("This invite has been used already."), status=410)
    if invite.created_at <= now - INVITE_VALID_FOR:
        raise TeamRefused(_("This invite has expired. Ask the organizer to send you a new one."), status=410)
    if normalize_email(profile.email) != invite.email:
        raise TeamRefused(_("This invite was sent to %(invited)s, but you're signed in as %(email)s. "
                            "Sign in with the invited address to accept it.", invited=mask(invite.email), email=profile.email),
                          status=403)
    return invite


@_use_case
def accept(session: Session, token: str, profile: Profile, now: datetime) -> OrganizerInvite:
    """Make the invited person a co-organizer, if check_invite lets them."""
    invite = check_invite(find_invite(session, token), profile, now)
    race = session.get(Race, invite.race_id)
    if role_of(session, race, profile.id) is None:
        add_organizer(session, race, profile, OrganizerRole.CO_ORGANIZER,
                      invited_by=session.get(Profile, invite.invited_by_id) if invite.invited_by_id else None)
    invite.accepted_at = now
    return invite


def mask(email: str) -> str:
    """"ann@example.com" → "a••@example.com": enough to recognise, not enough to harvest."""
    local, _, domain = email.partition("@")
    return f"{local[:1]}{'•' * max(len(local) - 1, 2)}@{domain}"


@_use_case
def remove(session: Session, race: Race, link_id: int, actor: Profile) -> RaceOrganizer:
    """Take someone off the race's team. The owner may remove co-organizers; a co-organizer may
    leave, but never remove the owner or each other."""
    link = session.get(RaceOrganizer, link_id)
    if link is None or link.race_id != race.id:
        raise TeamRefused(_("That person isn't on this race's team."), status=404)
    if link.role == OrganizerRole.OWNER:
        raise TeamRefused(_("The race's owner can't be removed."), status=403)
    if link.profile_id != actor.id and role_of(session, race, actor.id) != OrganizerRole.OWNER:
        raise TeamRefused(_("Only the race's owner can remove co-organizers."), status=403)
    session.delete(link)
    return link


@_use_case
def cancel_invite(session: Session, race: Race, invite_id: int) -> None:
    """Withdraw an invitation nobody has accepted; its link stops working."""
    invite = session.get(OrganizerInvite, invite_id)
    if invite is None or invite.race_id != race.id or invite.accepted_at is not None:
        raise TeamRefused(_("That invite isn't waiting any more."), status=404)
    session.delete(invite)
