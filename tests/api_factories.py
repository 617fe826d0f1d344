"""Test data for the JSON API: access tokens as the local provider issues them, and a seeded organizer and runner."""
from __future__ import annotations

from dataclasses import dataclass

from models import Profile, Race
from tests.factories import make_paid_order, make_profile, tokens_for
from tests.registrant_factories import organized_race, runner


def bearer(app, profile: Profile) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens_for(app, profile).access_token}"}


@dataclass
class Seeded:
    """An organizer's race with three runners, and a runner with a paid order of their own."""

    race: Race
    organizer: Profile
    buyer: Profile
    organizer_headers: dict[str, str]
    buyer_headers: dict[str, str]


def seed(app, db) -> Seeded:
    organizer = make_profile(db, full_name="Olga Organizer")
    race = organized_race(db, organizer, title="Harbour Run", slug="harbour-run")
    ten_k, five_k = race.ticket_types
    runner(db, race, ten_k, "Ada", "Lovelace", bib=42)
    runner(db, race, five_k, "Bob", "Bolt")
    runner(db, race, ten_k, "Cy", "Clay", bib=7)
    buyer = make_profile(db, full_name="Bea Buyer")
    make_paid_order(db, race, {five_k: 2}, buyer=buyer)
    return Seeded(race, organizer, buyer, bearer(app, organizer), bearer(app, buyer))
