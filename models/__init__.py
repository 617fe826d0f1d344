"""The data model: every table the app owns, importable from one place."""
from models.base import Base, utcnow
from models.order import Order, OrderStatus, Registration
from models.profile import Profile
from models.race import SOCIAL_KINDS, Race, RaceSocialLink, RaceStatus, TaxMode, TicketType

__all__ = [
    "Base", "utcnow", "Order", "OrderStatus", "Registration", "Profile", "Race",
    "RaceSocialLink", "RaceStatus", "TaxMode", "TicketType", "SOCIAL_KINDS",
]
