"""An order's money as its organizer reads it on the order page: what was paid, each refund and the tickets it
covers, what is kept (the refunds themselves: services/refunds.py)."""
from __future__ import annotations

from dataclasses import dataclass

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Order, OrderStatus, Refund, RefundStatus, RegistrationChange
from services.refunds import REFUNDABLE, order_refunds, order_registrations


@dataclass(frozen=True)
class RefundLine:
    refund: Refund
    tickets: tuple[str, ...]   # the tickets it covers, e.g. "Ada Runner1 (10K)"
    difference: bool = False   # a cheaper distance's difference (its latest try), which no ticket refund covers

    @property
    def failed_at_provider(self) -> bool:
        """Stripe accepted it, then could not send the money back: the organizer must know."""
        return self.refund.status == RefundStatus.FAILED and bool(self.refund.gateway_refund_id)

    @property
    def may_send_again(self) -> bool:
        """A difference refund the provider refused (then or later): only the organizer's button sends it again."""
        return self.difference and self.refund.status == RefundStatus.FAILED


# An order's status as its organizer reads it.
ORDER_STATUS_LABELS = {"cart": _l("Cart"), "pending": _l("Pending"), "paid": _l("Paid"), "expired": _l("Expired"),
                       "canceled": _l("Canceled"), "refunded": _l("Refunded"), "needs_refund": _l("Needs refund")}


@dataclass(frozen=True)
class OrderAccount:
    """An order's money as its organizer reads it: what was paid, what went back, what is kept."""

    order: Order
    paid: int
    refunded: int                    # completed refunds
    lines: tuple[RefundLine, ...]    # every refund, oldest first

    @property
    def net(self) -> int:
        return self.paid - self.refunded

    @property
    def status_label(self) -> str:
        if self.order.status == OrderStatus.PAID and self.refunded:
            return _("Partly refunded")
        return str(ORDER_STATUS_LABELS.get(self.order.status.value, self.order.status.value))

    @property
    def failed(self) -> list[RefundLine]:
        return [line for line in self.lines if line.failed_at_provider or line.may_send_again]


def order_account(session: Session, order: Order) -> OrderAccount:
    """The order's payment, its refunds and which tickets each covers, for the order page."""
    refunds = order_refunds(session, order.id)
    covered: dict[int, list[str]] = {}
    for registration, type_name in order_registrations(session, order.id):
        if registration.refund_id is not None:
            covered.setdefault(registration.refund_id, []).append(
                _("%(name)s (%(ticket_type)s)", name=registration.runner_name or _("Unnamed runner"),
                  ticket_type=type_name))
    differences = set(session.scalars(select(RegistrationChange.refund_id).where(
        RegistrationChange.refund_id.in_([r.id for r in refunds])))) if refunds else set()
    paid = order.total if order.status in (*REFUNDABLE, OrderStatus.REFUNDED) else 0
    return OrderAccount(order, paid, sum(r.amount for r in refunds if r.status == RefundStatus.COMPLETED),
                        tuple(RefundLine(r, tuple(covered.get(r.id, ())), r.id in differences) for r in refunds))
