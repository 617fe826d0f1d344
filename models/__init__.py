"""The data model: every table the app owns, importable from one place."""
from models.auth_local import LocalOneTimeToken, LocalRefreshToken, LocalUser
from models.base import Base, utcnow
from models.discount import DiscountCode, DiscountKind
from models.media import MediaKind, RaceMedia
from models.order import Order, OrderStatus, Registration
from models.organizer import OrganizerRole, RaceOrganizer
from models.outbox import OutboxMessage, OutboxStatus
from models.profile import Profile
from models.race import SOCIAL_KINDS, Race, RaceSocialLink, RaceStatus, TaxMode, TicketType
from models.waiver import WaiverVersion, waiver_digest

__all__ = [
    "OrganizerRole", "RaceOrganizer", "WaiverVersion", "waiver_digest",
    "OutboxMessage", "OutboxStatus",
    "DiscountCode", "DiscountKind",
    "MediaKind", "RaceMedia",
    "LocalOneTimeToken", "LocalRefreshToken", "LocalUser",
    "Base", "utcnow", "Order", "OrderStatus", "Registration", "Profile", "Race",
    "RaceSocialLink", "RaceStatus", "TaxMode", "TicketType", "SOCIAL_KINDS",
]
