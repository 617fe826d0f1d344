"""The data model: every table the app owns, importable from one place."""
from models.audit import RegistrationAudit as RegistrationAudit  # re-exported, like the names in __all__
from models.auth_local import LocalOneTimeToken, LocalRefreshToken, LocalUser
from models.auth_sessions import RevokedSession
from models.base import Base, utcnow
from models.checkin_event import CheckInEvent
from models.discount import DiscountCode, DiscountKind
from models.duplicate_payment import DuplicatePayment, DuplicatePaymentStatus
from models.media import MediaKind, RaceMedia
from models.message import MessageUnsubscribe, RaceMessage
from models.order import Order, OrderKind, OrderStatus, Registration
from models.organizer import OrganizerInvite as OrganizerInvite  # re-exported, like the names in __all__
from models.organizer import OrganizerRole, RaceOrganizer
from models.outbox import OutboxMessage, OutboxStatus
from models.payment import CheckoutSession, StripeEvent
from models.price_tier import PriceTier
from models.profile import Profile
from models.race import SOCIAL_KINDS, Race, RaceSocialLink, RaceStatus, RaceText, TaxMode, TicketType
from models.refund import Refund as Refund  # re-exported, like the names in __all__
from models.refund import RefundStatus as RefundStatus
from models.registration_change import ChangeKind, ChangeStatus, RegistrationChange
from models.scheduled_job import ScheduledJob
from models.waitlist import WaitlistEntry, WaitlistStatus
from models.waiver import WaiverVersion, waiver_digest

__all__ = [
    "CheckoutSession", "StripeEvent", "CheckInEvent",
    "OrganizerRole", "RaceOrganizer", "WaiverVersion", "waiver_digest",
    "OutboxMessage", "OutboxStatus", "ScheduledJob", "WaitlistEntry", "WaitlistStatus",
    "DiscountCode", "DiscountKind", "DuplicatePayment", "DuplicatePaymentStatus",
    "MediaKind", "RaceMedia", "MessageUnsubscribe", "RaceMessage", "PriceTier",
    "LocalOneTimeToken", "LocalRefreshToken", "LocalUser", "RevokedSession",
    "Base", "utcnow", "Order", "OrderKind", "OrderStatus",
    "ChangeKind", "ChangeStatus", "RegistrationChange", "Registration", "Profile", "Race",
    "RaceSocialLink", "RaceStatus", "RaceText", "TaxMode", "TicketType", "SOCIAL_KINDS",
]
