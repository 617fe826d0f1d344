"""Payment gateways: Stripe Checkout, or the embedded test gateway when no Stripe key is set.

Both answer the same questions: open a payment page for an order, and tell what became of it.
Nothing here touches the database; services/checkout.py and services/fulfillment.py do.
"""
from __future__ import annotations

import hashlib
import logging
import re
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

import stripe
from flask import Flask, current_app, url_for
from itsdangerous import BadSignature, URLSafeSerializer

from models import DiscountCode, Order, Race, TaxMode
from services.languages import current_language
from services.pricing import Quote
from services.stripe_http import StripeRequests
from services.typed_input import is_whole_number

log = logging.getLogger(__name__)

# Stripe refuses an `expires_at` less than 30 minutes after it creates the session, counted on its
# own clock when the request arrives. A minute more covers the network, the library's retries and
# clock skew, so the request is never refused for being a moment late.
CHECKOUT_LIFETIME = timedelta(minutes=31)
# Stripe shows a coupon's name to the buyer and allows at most 40 characters; codes may be longer.
COUPON_NAME_MAX = 40


class PaymentUnavailable(Exception):
    """The payment provider could not be reached or refused; the runner may try again."""


@dataclass(frozen=True)
class CheckoutPage:
    session_id: str
    url: str
    amount_total: int | None = None   # what the provider will charge, when it says so
    amount_tax: int | None = None
    amount_discount: int | None = None
    amount_subtotal: int | None = None
    expires_at: datetime | None = None  # when the provider closes the page, when it says so


@dataclass(frozen=True)
class SessionState:
    """What a payment provider knows about one checkout session."""

    session_id: str
    status: str              # open | complete | expired
    payment_status: str      # paid | unpaid | no_payment_required
    amount_total: int
    amount_tax: int
    currency: str
    payment_intent: str | None
    order_id: str | None     # client_reference_id
    app_env: str | None      # metadata.app_env
    amount_subtotal: int | None = None   # the line items: unit amounts × quantities
    amount_discount: int = 0             # the provider's arithmetic on our coupon
    discount_code_id: int | None = None  # which of our codes the session's coupon stands for


@dataclass(frozen=True)
class ProviderRefund:
    """One refund of a payment as the provider reports it now."""

    refund_id: str
    amount: int
    status: str              # pending | requires_action | succeeded | failed | canceled
    failure_reason: str
    created: int
    our_refund_id: int | None  # metadata.refund_id: the Refund row that asked for it, if we did


@dataclass(frozen=True)
class PaymentRecord:
    """Everything the provider knows now about one payment: the checkout session it paid, and its refunds."""

    payment_intent: str
    checkout: SessionState | None
    refunds: tuple[ProviderRefund, ...]


@dataclass(frozen=True)
class CheckoutRequest:
    order: Order
    race: Race
    quote: Quote
    code: DiscountCode | None
    customer_email: str
    success_url: str
    cancel_url: str


class Gateway(Protocol):
    is_test: bool

    def open_checkout(self, request: CheckoutRequest) -> CheckoutPage: ...
    def session_state(self, session_id: str) -> SessionState | None: ...
    def paid_sessions(self, since: datetime) -> Iterator[SessionState]: ...
    def expire(self, session_id: str) -> None: ...
    def refund(self, payment_intent: str, amount: int | None = None, refund_id: int | None = None, *,
               reason: str = "requested_by_customer") -> str: ...
    def payment_record(self, payment_intent: str) -> PaymentRecord: ...


def _plain(obj) -> dict:
    """A StripeObject as a plain dict (stripe 16's objects are not dicts)."""
    return obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)


def stripe_id(value) -> str | None:
    """An expandable field's id, whether Stripe sent the id or the expanded object."""
    return value if value is None or isinstance(value, str) else value.get("id")


# Our coupon ids name the code they were made for (see StripeGateway._coupon).
_COUPON_ID = re.compile(r"^sl-.+-c(?P<code>\d+)-(?:p\d+|a\d+[a-z]{3})$")


def _discount_code_id(session: dict) -> int | None:
    for discount in session.get("discounts") or []:
        match = _COUPON_ID.match(stripe_id(discount.get("coupon")) or "")
        if match:
            return int(match["code"])
    return None


def read_session(session) -> SessionState:
    """What a Stripe Checkout Session (an API answer or an event's object) says about a payment."""
    session = _plain(session)
    metadata = session.get("metadata") or {}
    details = session.get("total_details") or {}
    return SessionState(
        session_id=session["id"], status=session.get("status") or "", payment_status=session.get("payment_status") or "",
        amount_total=session.get("amount_total") or 0, amount_tax=(details.get("amount_tax") or 0),
        currency=(session.get("currency") or "").upper(), payment_intent=stripe_id(session.get("payment_intent")),
        order_id=session.get("client_reference_id"), app_env=metadata.get("app_env"),
        amount_subtotal=session.get("amount_subtotal"), amount_discount=details.get("amount_discount") or 0,
        discount_code_id=_discount_code_id(session))


# The languages Stripe Checkout's page is written in (its `locale` parameter); any other lets Stripe choose.
STRIPE_LOCALES = frozenset("bg cs da de el en es et fi fil fr hr hu id it ja ko lt lv ms mt nb nl pl pt ro ru sk sl "
                           "sv th tr vi zh".split())


def stripe_locale(language: str) -> str:
    """The `locale` of a Checkout session for a page in `language` ("es"), or "auto"."""
    return language if language in STRIPE_LOCALES else "auto"


def coupon_name(code: str) -> str:
    """The code as Stripe may show it: shortened with an ellipsis past Stripe's 40 characters."""
    return code if len(code) <= COUPON_NAME_MAX else code[:COUPON_NAME_MAX - 1] + "…"


def tax_behavior(race: Race) -> str | None:
    """Whether the prices we send contain the tax or have it added, as the race's tax setting says.

    Stripe Tax mode shows prices before tax and says "calculated at checkout" (see
    services/pricing.py), so its tax is added on top: exclusive.
    """
    if race.tax_mode == TaxMode.INCLUSIVE:
        return "inclusive"
    if race.tax_mode in (TaxMode.EXCLUSIVE, TaxMode.STRIPE):
        return "exclusive"
    return None


class StripeGateway:
    """Hosted Stripe Checkout through one StripeClient per app (never the module globals)."""

    is_test = False

    def __init__(self, client: stripe.StripeClient, app_env: str):
        self.client, self.app_env = client, app_env

    def _call(self, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except stripe.StripeError as exc:
            log.warning("stripe refused: %s %s", type(exc).__name__, getattr(exc, "user_message", None) or exc)
            raise PaymentUnavailable(str(exc)) from exc

    # -- coupons and tax rates are made once and reused -----------------------------------
    def _coupon(self, request: CheckoutRequest) -> str | None:
        code, quote = request.code, request.quote
        if code is None or quote.discount <= 0:
            return None
        if code.ticket_type_id is None and code.percent_off:
            coupon_id = f"sl-{self.app_env}-c{code.id}-p{code.percent_off}"
            params = {"id": coupon_id, "percent_off": code.percent_off, "duration": "once", "name": coupon_name(code.code)}
        elif code.ticket_type_id is None and code.amount_off:
            coupon_id = f"sl-{self.app_env}-c{code.id}-a{code.amount_off}{request.race.currency.lower()}"
            params = {"id": coupon_id, "amount_off": code.amount_off, "currency": request.race.currency.lower(),
                      "duration": "once", "name": coupon_name(code.code)}
        else:
            # A code for one ticket type: Stripe cannot scope a coupon to ad-hoc line items, so the
            # amount we computed for this order becomes an amount-off coupon of its own.
            coupon_id = f"sl-{self.app_env}-c{code.id}-a{quote.discount}{request.race.currency.lower()}"
            params = {"id": coupon_id, "amount_off": quote.discount, "currency": request.race.currency.lower(),
                      "duration": "once", "name": coupon_name(code.code)}
        try:
            self.client.v1.coupons.create(params={**params, "metadata": {"code_id": str(code.id)}})
        except stripe.InvalidRequestError as exc:
            if getattr(exc, "code", None) != "resource_already_exists":
                raise PaymentUnavailable(str(exc)) from exc
        except stripe.StripeError as exc:
            raise PaymentUnavailable(str(exc)) from exc
        return coupon_id

    def _tax_rate(self, race: Race) -> str | None:
        if race.tax_mode not in (TaxMode.INCLUSIVE, TaxMode.EXCLUSIVE) or not race.tax_rate_bps:
            return None
        # Tax rates get Stripe's ids, so the same settings always ask with the same idempotency key
        # and we remember the id on the race (see services/checkout.py).
        signature = f"{race.tax_rate_bps}:{race.tax_mode.value}:{race.tax_label}"
        if race.stripe_tax_rate_id and race.stripe_tax_rate_key == signature:
            return race.stripe_tax_rate_id
        key = "sl-taxrate-" + hashlib.sha256(f"{self.app_env}:{race.id}:{signature}".encode()).hexdigest()[:32]
        rate = self._call(self.client.v1.tax_rates.create, params={
            "display_name": race.tax_label or "Tax", "percentage": f"{race.tax_rate_bps / 100:.2f}",
            "inclusive": race.tax_mode == TaxMode.INCLUSIVE, "metadata": {"race_id": str(race.id)}},
            options={"idempotency_key": key})
        race.stripe_tax_rate_id, race.stripe_tax_rate_key = rate.id, signature
        return rate.id

    def open_checkout(self, request: CheckoutRequest) -> CheckoutPage:
        race, order = request.race, request.order
        tax_rate = self._tax_rate(race)
        behavior = tax_behavior(race)
        line_items = []
        for line in request.quote.lines:
            price_data = {"currency": race.currency.lower(), "unit_amount": line.unit_price,
                          "product_data": {"name": f"{race.title}: {line.name}"}}
            if behavior:
                price_data["tax_behavior"] = behavior
            item = {"quantity": line.quantity, "price_data": price_data}
            if tax_rate:
                item["tax_rates"] = [tax_rate]
            line_items.append(item)
        metadata = {"order_id": str(order.id), "app_env": self.app_env}
        # Counted from now, when the request leaves, not from when the spots were reserved: Stripe
        # counts from the session's creation on its own (real) clock, never our settable one.
        expires_at = int((datetime.now(UTC) + CHECKOUT_LIFETIME).timestamp())
        params = {
            "mode": "payment", "line_items": line_items, "client_reference_id": str(order.id),
            "customer_email": request.customer_email, "metadata": metadata,
            "payment_intent_data": {"metadata": metadata},
            "expires_at": expires_at,
            "success_url": request.success_url, "cancel_url": request.cancel_url,
            # Said either way: an account may turn Stripe Tax on by default for sessions that don't.
            "automatic_tax": {"enabled": race.tax_mode == TaxMode.STRIPE},
            "locale": stripe_locale(current_language()),  # Stripe's page in the buyer's language
        }
        coupon = self._coupon(request)
        if coupon:
            params["discounts"] = [{"coupon": coupon}]
        # One key per attempt: the library's retries of this attempt get the same session back, and a
        # new attempt (a new reservation, even within the same second) gets a new session.
        key = f"sl-checkout-{order.id}-{secrets.token_hex(8)}"
        # The JSON as it came: StripeObjects made only to be turned back into dicts cost CPU a spike lacks (issue 17).
        session = self._call(self.client.raw_request, "post", "/v1/checkout/sessions", idempotency_key=key,
                             **params).data
        details = session.get("total_details") or {}
        return CheckoutPage(session["id"], session["url"], session.get("amount_total"), details.get("amount_tax"),
                            details.get("amount_discount"), session.get("amount_subtotal"),
                            datetime.fromtimestamp(session.get("expires_at") or expires_at, UTC))

    def session_state(self, session_id: str) -> SessionState | None:
        try:
            return read_session(self.client.v1.checkout.sessions.retrieve(session_id))
        except stripe.InvalidRequestError as exc:
            if getattr(exc, "http_status", None) == 404:
                return None
            raise PaymentUnavailable(str(exc)) from exc
        except stripe.StripeError as exc:
            raise PaymentUnavailable(str(exc)) from exc

    def paid_sessions(self, since: datetime) -> Iterator[SessionState]:
        listing = self._call(self.client.v1.checkout.sessions.list,
                             params={"status": "complete", "created": {"gte": int(since.timestamp())}, "limit": 100})
        for session in listing.auto_paging_iter():
            state = read_session(session)
            if state.payment_status == "paid":
                yield state

    def expire(self, session_id: str) -> None:
        try:
            self.client.v1.checkout.sessions.expire(session_id)
        except stripe.StripeError as exc:  # already complete or expired: nothing to release there
            log.info("could not expire %s: %s", session_id, exc)

    def refund(self, payment_intent: str, amount: int | None = None, refund_id: int | None = None, *,
               reason: str = "requested_by_customer") -> str:
        # `reason` is one of Stripe's: requested_by_customer, or duplicate for a payment made twice.
        params = {"payment_intent": payment_intent, "reason": reason}
        if amount is not None:
            params["amount"] = amount
        if refund_id is not None:
            # So the webhook can tell which of our refunds this is even before we record Stripe's id.
            params["metadata"] = {"refund_id": str(refund_id)}
        return self._call(self.client.v1.refunds.create, params=params).id

    def payment_record(self, payment_intent: str) -> PaymentRecord:
        """The Checkout Session that took this payment and all its refunds, as Stripe has them now.

        Stripe does not promise the order of its events, so an event only says *that* something
        changed; what the payment's state is comes from here (List Checkout Sessions and List
        Refunds, both filtered by `payment_intent`).
        """
        sessions = self._call(self.client.v1.checkout.sessions.list,
                              params={"payment_intent": payment_intent, "limit": 1})
        listing = self._call(self.client.v1.refunds.list, params={"payment_intent": payment_intent, "limit": 100})
        refunds = []
        for refund in listing.auto_paging_iter():
            refund = _plain(refund)
            ours = (refund.get("metadata") or {}).get("refund_id", "")
            refunds.append(ProviderRefund(
                refund["id"], refund.get("amount") or 0, refund.get("status") or "",
                refund.get("failure_reason") or "", refund.get("created") or 0,
                int(ours) if is_whole_number(ours, max_digits=11) else None))
        refunds.reverse()  # Stripe lists the newest first; we settle the oldest first
        return PaymentRecord(payment_intent, read_session(sessions.data[0]) if sessions.data else None, tuple(refunds))


TEST_PAGE_SALT = "test-gateway-page"


def gateway_page_token(order_id: uuid.UUID) -> str:
    """The test gateway page's part of its address, for this order only (signed with the app's key)."""
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=TEST_PAGE_SALT).dumps(str(order_id))


def opens_gateway_page(order_id: uuid.UUID, token: str) -> bool:
    try:
        return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=TEST_PAGE_SALT).loads(token) == str(order_id)
    except BadSignature:
        return False


class TestGateway:
    """`make run` with no Stripe account: a page of our own, clearly marked, that completes the
    order through the same fulfillment the Stripe webhook uses. No money moves."""

    is_test = True

    def __init__(self, site_url: str):
        self.site_url = site_url

    def open_checkout(self, request: CheckoutRequest) -> CheckoutPage:
        session_id = f"test_{uuid.uuid4().hex}"
        # Like Stripe's own page address, the link is what lets its holder pay: someone changing a ticket
        # by an emailed link may have no account to sign in with.
        page = self.site_url + url_for("checkout.test_gateway", order_id=request.order.id,
                                       page=gateway_page_token(request.order.id))
        return CheckoutPage(session_id, page, request.quote.total, request.quote.tax, request.quote.discount,
                            request.quote.subtotal)

    def session_state(self, session_id: str) -> SessionState | None:
        return None  # the test gateway's page reports its own outcome directly

    def paid_sessions(self, since: datetime) -> Iterator[SessionState]:
        return iter(())

    def expire(self, session_id: str) -> None:
        return None

    def refund(self, payment_intent: str, amount: int | None = None, refund_id: int | None = None, *,
               reason: str = "requested_by_customer") -> str:
        return f"test_refund_{uuid.uuid4().hex[:12]}"

    def payment_record(self, payment_intent: str) -> PaymentRecord:
        return PaymentRecord(payment_intent, None, ())  # no events come from the test gateway


def gateway_for(app: Flask) -> Gateway:
    """The app's gateway: one StripeClient per app, made on first use."""
    gateway = app.extensions.get("startline_gateway")
    if gateway is None:
        key = app.config.get("STRIPE_SECRET_KEY")
        if key:
            base = app.config.get("STRIPE_API_BASE")
            options = {"max_network_retries": 2, "http_client": StripeRequests(base)}
            if base:
                options["base_addresses"] = {"api": base}
            gateway = StripeGateway(stripe.StripeClient(key, **options), app.config["APP_ENV"])
        else:
            gateway = TestGateway(app.config["SITE_URL"])
        app.extensions["startline_gateway"] = gateway
    return gateway
