"""What an organizer reads when the payment provider accepted a refund and then could not send the money back.

It comes from a webhook, in nobody's language, and is kept on the refund (or the duplicate payment): written in
English, as the stored problems of an order are.
"""
from __future__ import annotations

from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from services.languages import DEFAULT_LANGUAGE
from services.money import format_money

FAILURE_REASONS = {
    "lost_or_stolen_card": _l("the card was reported lost or stolen"),
    "expired_or_canceled_card": _l("the card has expired or was cancelled"),
    "charge_for_pending_refund_disputed": _l("the buyer disputed the payment"),
    "insufficient_funds": _l("your Stripe balance was too low"),
    "declined": _l("the card's bank declined it"),
    "merchant_request": _l("it was cancelled"),
}


def provider_failure_message(amount: int, currency: str, reason: str) -> str:
    """Stripe's failure `reason` (a code) for `amount`, as the organizer reads it, in English."""
    with force_locale(DEFAULT_LANGUAGE):
        return _("Stripe couldn't send %(amount)s back: %(reason)s. The money is still in your Stripe balance.",
                 amount=format_money(amount, currency),
                 reason=FAILURE_REASONS.get(reason, _l("no reason given")))[:500]
