"""Sentences a row keeps for later readers (why an order needs a refund, why a change couldn't be made, why a refund
failed, why a runner's age doesn't fit their ticket): kept as a code and its parameters, worded when read, in the
reader's language.

Such a sentence is written in one language (a webhook's, a runner's page's) and read in others (the organizer's
pages, the buyer's emails), so the row keeps `{"code": "sold_out", "name": "10K"}` and `worded` says it for whoever
reads it. Money is kept as [amount, currency] and formatted for the reader; a sentence inside another (the reason
in "Paid for a ticket change that couldn't be made: …") is kept as its own code. A value that isn't a kept code
(free text written before the codes, a provider's own words) is said as it is.
"""
from __future__ import annotations

import json
from collections.abc import Callable

from flask_babel import force_locale, ngettext
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from services.languages import DEFAULT_LANGUAGE
from services.money import format_money

KEPT_SIZE = 500  # the columns that keep sentences: orders.problem, registrations.details_problem, …

# Stripe's refund failure codes (a refund's failure_reason), in the organizer's words.
FAILURE_REASONS = {
    "lost_or_stolen_card": _l("the card was reported lost or stolen"),
    "expired_or_canceled_card": _l("the card has expired or was cancelled"),
    "charge_for_pending_refund_disputed": _l("the buyer disputed the payment"),
    "insufficient_funds": _l("your Stripe balance was too low"),
    "declined": _l("the card's bank declined it"),
    "merchant_request": _l("it was cancelled"),
}


def _money(kept: list) -> str:
    amount, currency = kept
    return format_money(amount, currency)


# Each code's wording, given the parameters it was kept with. A code, once kept on rows, stays: reword it here,
# never rename or remove it.
WORDINGS: dict[str, Callable[..., str]] = {
    # A payment that doesn't pay for its order (services.fulfillment.payment_problem).
    "paid_other_currency": lambda paid, currency: _(
        "Paid %(paid)s, but the order is in %(currency)s.", paid=_money(paid), currency=currency),
    "paid_other_total": lambda paid, total: _(
        "Paid %(paid)s, but the order was for %(total)s.", paid=_money(paid), total=_money(total)),
    "paid_other_tickets": lambda paid, worth, ours: _(
        "Paid %(paid)s for tickets worth %(worth)s, but the order's tickets come to %(ours)s.",
        paid=_money(paid), worth=_money(worth), ours=_money(ours)),
    "paid_other_discount": lambda paid, total: _(
        "Paid %(paid)s with a different discount than the order's, which was for %(total)s.",
        paid=_money(paid), total=_money(total)),
    "filled_up": lambda problems: _(
        "Payment arrived after the reservation ran out, and the race had filled up: %(problems)s",
        problems=" ".join(problems)),
    "change_not_made": lambda problem: _(
        "Paid for a ticket change that couldn't be made: %(problem)s", problem=problem),
    # Spots and sales (services.inventory, services.sales).
    "sold_out": lambda name: _("The %(name)s is sold out.", name=name),
    "spots_left": lambda name, num: ngettext(
        "Only %(num)d spot left in the %(name)s.", "Only %(num)d spots left in the %(name)s.", num, name=name),
    "type_hidden": lambda name: _("The %(name)s isn't available any more.", name=name),
    "type_not_on_sale_yet": lambda name: _("The %(name)s isn't on sale yet.", name=name),
    "type_sales_ended": lambda name: _("Sales for the %(name)s have ended.", name=name),
    # A runner's age on race day (services.ages.age_limit_problem).
    "age_between": lambda name, low, high, age: _(
        "Runners in the %(name)s must be %(low)d to %(high)d years old on race day (this runner will be %(age)d).",
        name=name, low=low, high=high, age=age),
    "age_at_least": lambda name, low, age, high=None: _(
        "Runners in the %(name)s must be %(low)d or older on race day (this runner will be %(age)d).",
        name=name, low=low, age=age),
    "age_at_most": lambda name, high, age, low=None: _(
        "Runners in the %(name)s must be %(high)d or younger on race day (this runner will be %(age)d).",
        name=name, high=high, age=age),
    # Why a ticket can't change (services.registration_changes).
    "change_cancelled": lambda: _("The change was cancelled before its payment arrived."),
    "no_transfers": lambda: _("This race doesn't allow transfers to another runner."),
    "transfers_closed": lambda: _("Transfers for this race have closed."),
    "no_distance_changes": lambda: _("This race doesn't allow changing distance."),
    "distance_changes_closed": lambda: _("Distance changes for this race have closed."),
    "ticket_not_paid": lambda: _("This ticket isn't paid, or was refunded, so it can't be changed."),
    "ticket_checked_in": lambda: _("This runner has checked in already, so the ticket can't be changed."),
    "change_waiting": lambda: _("A change to this ticket is waiting for its payment. Finish or cancel it first."),
    "change_refund_pending": lambda: _("A refund for an earlier change of this ticket is on its way. Try again once "
                                       "it has gone through."),
    "runner_link": lambda: _("the runner, by their emailed link"),  # who made a change (audits.actor)
    "same_distance": lambda ticket_type: _("This ticket is already for the %(ticket_type)s.", ticket_type=ticket_type),
    # Refunds (services.refunds, services.duplicate_payments): `error` is the provider's own words.
    "refund_refused": lambda error: _(
        "The payment provider didn't accept the refund, so nothing was sent back: %(error)s", error=error),
    "refund_failed": lambda amount, reason: _(
        "Stripe couldn't send %(amount)s back: %(reason)s. The money is still in your Stripe balance.",
        amount=_money(amount), reason=FAILURE_REASONS.get(reason, _l("no reason given"))),
}


class Sentence(str):
    """A sentence worded in the language being written now, which also knows its code and parameters: shown
    as it is, or kept on a row (`kept`) to be worded again for each reader (`worded`)."""

    code: str
    params: dict

    def __new__(cls, code: str, **params) -> Sentence:
        text = WORDINGS[code](**{name: _said(value) for name, value in params.items()})
        sentence = super().__new__(cls, text)
        sentence.code, sentence.params = code, params
        return sentence

    @property
    def kept(self) -> str:
        """What a row keeps: '{"code": …, parameters…}'."""
        plain = _plain(self)
        return kept(plain.pop("code"), **plain)


def say(code: str, **params) -> Sentence:
    """The sentence `code` (a key of WORDINGS) with its parameters, worded now; keep it on a row with `keep`."""
    return Sentence(code, **params)


def kept(code: str, **params) -> str:
    """What a row keeps for `code` with plain parameters, worded by nobody yet (a constant set at import)."""
    return json.dumps({"code": code, **params}, ensure_ascii=False, separators=(",", ":"))


def keep(text: str, size: int = KEPT_SIZE) -> str:
    """What a column of `size` characters keeps of `text`: a Sentence's code and parameters, else the text itself.
    A sentence whose parameters don't fit (many long ticket type names) is kept worded in English, as before codes."""
    if isinstance(text, Sentence):
        kept = text.kept
        if len(kept) <= size:
            return kept
        with force_locale(DEFAULT_LANGUAGE):
            text = str(Sentence(text.code, **text.params))
    return str(text)[:size]


def worded(kept: str | None) -> str:
    """A kept value in the language being written now (a page's, an email's under force_locale). A value that
    isn't a kept code, free text from before the codes or a provider's words, is said as it is."""
    if not kept or not kept.startswith("{"):
        return kept or ""
    try:
        found = json.loads(kept)
        code = found.pop("code") if isinstance(found, dict) else None
        if code not in WORDINGS:
            return kept
        return str(Sentence(code, **{name: _read(value) for name, value in found.items()}))
    except (ValueError, TypeError, KeyError):
        return kept


def _said(value):
    """A parameter as its wording reads it: a sentence inside as text, in the language being written now."""
    if isinstance(value, list | tuple) and value and all(isinstance(item, Sentence) for item in value):
        return [str(item) for item in value]
    return str(value) if isinstance(value, Sentence) else value


def _plain(sentence: Sentence) -> dict:
    def plain(value):
        if isinstance(value, Sentence):
            return _plain(value)
        if isinstance(value, list | tuple):
            return [plain(item) for item in value]
        return value
    return {"code": sentence.code, **{name: plain(value) for name, value in sentence.params.items()}}


def _read(value):
    """A kept parameter back as the wording takes it: a kept sentence inside is worded again."""
    if isinstance(value, dict):
        code = value.get("code")
        if code not in WORDINGS:
            raise KeyError(code)
        return Sentence(code, **{name: _read(item) for name, item in value.items() if name != "code"})
    if isinstance(value, list):
        return [_read(item) for item in value]
    return value
