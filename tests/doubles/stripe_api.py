"""Loopback fake of the Stripe HTTP API (StripeServer) plus Stripe's webhook signing (sign_payload).

The real ``stripe`` library talks to this server over HTTP, so tests exercise the
library's own form encoding, header handling, error mapping and pagination:

    with StripeServer() as server:
        client = stripe.StripeClient(server.api_key, base_addresses={"api": server.url})
        session = client.v1.checkout.sessions.create(params={...})
        event = server.pay_session(session.id)          # what Stripe does when the buyer pays
        payload = json.dumps(event)
        header = sign_payload(payload, "whsec_test")     # what Stripe puts in Stripe-Signature

What is modelled (documented v1 wire format: form-encoded requests, JSON responses):

* POST/GET /v1/checkout/sessions, GET /v1/checkout/sessions/{id},
  GET /v1/checkout/sessions/{id}/line_items, POST /v1/checkout/sessions/{id}/expire
* POST/GET /v1/coupons, GET /v1/coupons/{id}
* POST/GET /v1/tax_rates, GET /v1/tax_rates/{id}
* POST/GET /v1/refunds, GET /v1/refunds/{id}
* GET /v1/payment_intents/{id}, GET /v1/charges/{id}, GET /v1/events[/{id}]
* GET /c/pay/{id}: a stub HTML page for a session's ``url`` (no auth, not JSON)
* ``expand[]`` of id fields (e.g. ``payment_intent``, ``latest_charge``) and of a
  session's ``line_items``; idempotency keys; Bearer (or Basic) auth with any
  ``sk_test_…`` key; injected failures (``fail_next``).

Documented rules enforced exactly (section of the API reference, https://docs.stripe.com/api):

* Unknown parameters of the create calls (Checkout Sessions, Coupons, Tax Rates, Refunds,
  down to line items, price_data and product_data): 400 ``parameter_unknown``,
  "Received unknown parameter: line_items[0][foo]" ("Errors"; each "Create a …" section).
* Metadata: at most 50 keys, keys up to 40 characters, values up to 500 ("Metadata").
* ``expires_at``: from 30 minutes to 24 hours after the session's creation, measured on
  this server's clock with no slack ("Checkout Sessions > Create", expires_at; "Manage limited
  inventory"). A request computed 30 minutes ahead a second before it arrives is refused.
* An idempotency key reused with different parameters: 400 of type ``idempotency_error``
  ("Idempotent requests").
* Coupon ``name``: at most 40 characters ("Coupons > Create", name, maxLength 40).
* ``automatic_tax[enabled]=true`` needs every price's ``tax_behavior`` (``inclusive`` or
  ``exclusive``) unless the account has a default tax behavior, which tests set with
  ``default_tax_behavior`` ("Checkout Sessions > Create", line_items.price_data.tax_behavior:
  "Only required if a default tax behavior was not provided in the Stripe Tax settings").
* Coupons apply to every line item. An amount-off coupon is spread across the lines in
  proportion to their amounts ("Coupons": amount_off is taken off the subtotal), and tax is
  rounded per line on the discounted amount. ``percent_off_rounding`` chooses whether a
  percent-off coupon is rounded per line ("per_line", the default) or once on the subtotal
  and then spread ("on_subtotal"), so tests can meet a Stripe that rounds unlike our own
  pricing.

Deliberate simplifications (so nobody is surprised):

* Sessions never expire on their own when the server clock passes ``expires_at``;
  call ``expire_session()`` (or POST .../expire) to expire one.
* Parameters of list and retrieve calls are not checked for unknown names.
* Only successful POST responses are saved for idempotent replay. Stripe also saves
  failures that happen after validation; the fake's endpoints fail only in validation,
  and injected failures (``fail_next``) stand for infrastructure errors, which must not
  be saved so that a library retry can succeed.
* Tax: only the ``tax_rates`` given per line item are applied; automatic tax
  reports status but computes no tax.

Events, as the API reference documents them (and enforced here exactly):

* Delivery order and duplicates (Webhooks › "Event ordering", "Handle duplicate events"):
  Stripe does not promise that events arrive in the order they were created, and may
  deliver one event more than once. ``payment_events()`` gives every event of one
  payment in the order it was created; ``every_delivery_order()`` lists each distinct
  order of them, with chosen events delivered twice, for tests that must not care.
* Refund events (API reference › Refunds › Events; Charges › Events): every refund,
  through the API or the Dashboard (``refund_payment()``), records ``refund.created``
  (data.object: the Refund) and ``charge.refunded`` (data.object: the Charge, whose
  ``amount_refunded`` is cumulative and ``refunded`` true once all of it is back; since
  API version 2022-11-15 the charge does not list its refunds). ``fail_refund()`` is a
  refund failing later (Refunds › "Failed refunds"): the Refund's ``status`` becomes
  ``failed`` with a ``failure_reason`` (lost_or_stolen_card, expired_or_canceled_card,
  unknown, …), the amount goes back to the balance (the charge's ``amount_refunded``
  drops again), and ``refund.failed``, ``refund.updated`` and ``charge.refund.updated``
  (each with the Refund as data.object) are recorded.
* A Refund's ``status`` is one of pending, requires_action, succeeded, failed, canceled
  (Refunds › The Refund object); card refunds here succeed at once.

Only the standard library is used, so the fake can't drift with whatever HTTP stack
the project pins.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import itertools
import json
import re
import secrets
import string
import threading
import time
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

# The API version pinned by stripe-python 16.1.0; events report it as their
# api_version, like an account whose default version matches the library.
API_VERSION = "2026-10-28.endive"

_ID_ALPHABET = string.ascii_letters + string.digits

# Smallest amount Stripe lets a payment-mode session charge, per currency (minor units).
# Real Stripe rejects smaller non-zero totals; only common currencies are listed.
_MINIMUM_CHARGE = {"usd": 50, "eur": 50, "gbp": 30, "cad": 50, "aud": 50, "chf": 50, "jpy": 50}

_HOSTED_UI_MODES = {"hosted", "hosted_page"}
_ALL_UI_MODES = _HOSTED_UI_MODES | {"embedded", "embedded_page", "custom", "elements", "form"}


def sign_payload(payload: bytes | str, secret: str, timestamp: int | None = None) -> str:
    """Return the Stripe-Signature header value Stripe would send for ``payload``.

    Stripe signs ``f"{t}.{payload}"`` with HMAC-SHA256 keyed by the endpoint secret and
    sends ``t=<unix time>,v1=<hex digest>``. The default timestamp is the real clock
    (not a server's ``now_offset``) because ``stripe.Webhook`` checks tolerance against
    ``time.time()``.
    """
    if isinstance(payload, (bytes, bytearray)):
        payload = payload.decode("utf-8")
    t = int(time.time()) if timestamp is None else int(timestamp)
    digest = hmac.new(secret.encode("utf-8"), f"{t}.{payload}".encode(), hashlib.sha256)
    return f"t={t},v1={digest.hexdigest()}"


# --------------------------------------------------------------------------- helpers


class _ApiError(Exception):
    """An error response; endpoints raise it and the dispatcher serialises it."""

    def __init__(self, status: int, message: str, *, code: str | None = None,
                 param: str | None = None, type: str = "invalid_request_error"):
        super().__init__(message)
        self.status, self.message, self.code, self.param, self.type = status, message, code, param, type

    def body(self) -> dict:
        error = {"type": self.type, "code": self.code, "message": self.message, "param": self.param}
        if self.code:
            error["doc_url"] = "https://stripe.com/docs/error-codes/" + self.code.replace("_", "-")
        return {"error": error}


class _Headers(dict):
    """Request headers as a plain dict whose lookups ignore case, as HTTP does.

    Keys are stored in canonical Title-Case ("Idempotency-Key") so printing the
    dict reads naturally, while ``h["idempotency-key"]`` still works.
    """

    @staticmethod
    def _canon(key: str) -> str:
        return "-".join(part.capitalize() for part in key.split("-"))

    def __init__(self, items=()):
        super().__init__((self._canon(k), v) for k, v in items)

    def __getitem__(self, key):
        return super().__getitem__(self._canon(key))

    def __contains__(self, key):
        return super().__contains__(self._canon(key))

    def get(self, key, default=None):
        return super().get(self._canon(key), default)


_KEY_PARTS = re.compile(r"\[([^\[\]]*)\]")


def decode_form(pairs: list[tuple[str, str]]) -> dict:
    """Turn Stripe's bracketed form keys into nested dicts and lists.

    ``line_items[0][price_data][unit_amount]=5`` -> ``{"line_items": [{"price_data": {"unit_amount": "5"}}]}``;
    ``expand[]=a&expand[]=b`` and ``expand[0]=a`` both give lists. Values stay strings,
    as on the wire; endpoints coerce them.
    """
    root: dict = {}
    for raw_key, value in pairs:
        bracket = raw_key.find("[")
        if bracket > 0 and raw_key.endswith("]"):
            parts = [raw_key[:bracket]] + _KEY_PARTS.findall(raw_key[bracket:])
        else:
            parts = [raw_key]
        node = root
        for i, part in enumerate(parts):
            if part == "":  # "key[]" appends: use the next free index
                part = str(len(node))
            if i == len(parts) - 1:
                node[part] = value
            else:
                child = node.get(part)
                if not isinstance(child, dict):  # e.g. "metadata=" then "metadata[a]=1"
                    child = node[part] = {}
                node = child
    return _listify(root)


def _listify(value: Any, key: str | None = None) -> Any:
    """Convert dicts keyed "0","1",… into lists (metadata keys are user data, left alone)."""
    if not isinstance(value, dict):
        return value
    value = {k: _listify(v, k) for k, v in value.items()}
    if key != "metadata" and value and all(k.isdigit() for k in value):
        return [value[k] for k in sorted(value, key=int)]
    return value


def _half_up(amount: Decimal) -> int:
    """Round to a whole minor unit, halves away from zero (Stripe's rounding, not banker's)."""
    return int(amount.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _missing(param: str) -> _ApiError:
    return _ApiError(400, f"Missing required param: {param}.", code="parameter_missing", param=param)


def _required(params: dict, name: str, path: str | None = None) -> Any:
    value = params.get(name)
    if value is None or value == "":
        raise _missing(path or name)
    return value


def _int(value: Any, param: str, *, minimum: int | None = None) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise _ApiError(400, f"Invalid integer: {value}", code="parameter_invalid_integer", param=param) from None
    if minimum is not None and number < minimum:
        raise _ApiError(400, f"This value must be greater than or equal to {minimum}.",
                        code="parameter_invalid_integer", param=param)
    return number


def _decimal(value: Any, param: str) -> Decimal:
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise _ApiError(400, f"Invalid decimal: {value}", param=param) from None
    if not number.is_finite():
        raise _ApiError(400, f"Invalid decimal: {value}", param=param)
    return number


def _bool(value: Any, param: str) -> bool:
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return value == "true"
    raise _ApiError(400, f"Invalid boolean: {value}", param=param)


def _enum(value: str, allowed: tuple[str, ...], param: str) -> str:
    if value not in allowed:
        choices = ", ".join(allowed[:-1]) + f", or {allowed[-1]}"
        raise _ApiError(400, f"Invalid {param}: must be one of {choices}", param=param)
    return value


def _currency(value: Any, param: str) -> str:
    currency = str(value).lower()
    if not re.fullmatch(r"[a-z]{3}", currency):
        raise _ApiError(400, f"Invalid currency: {value}.", param=param)
    return currency


def _metadata(value: Any, param: str = "metadata") -> dict:
    """Validate metadata with Stripe's limits; an empty value unsets a key."""
    if value is None or value == "":
        return {}
    if not isinstance(value, dict):
        raise _ApiError(400, "Invalid object", param=param)
    if len(value) > 50:
        raise _ApiError(400, "You can specify up to 50 keys in metadata.", param=param)
    for key, item in value.items():
        if len(key) > 40:
            raise _ApiError(400, "Metadata keys can have up to 40 characters.", param=f"{param}[{key}]")
        if not isinstance(item, str):
            raise _ApiError(400, "Invalid metadata value: must be a string.", param=f"{param}[{key}]")
        if len(item) > 500:
            raise _ApiError(400, "Metadata values can have up to 500 characters, but you passed in a "
                            f"value that is {len(item)} characters.", param=f"{param}[{key}]")
    return {k: v for k, v in value.items() if v != ""}


# The documented parameters of the create calls the double serves ("Create a …" sections of the
# API reference). A nested dict is an object's own parameters, a one-item list the parameters
# of each element of an array; None accepts any value (metadata, or objects not modelled here).
_PRODUCT_DATA = dict.fromkeys(("description", "images", "metadata", "name", "tax_code", "tax_details",
                               "unit_label"))
_PRICE_DATA = {**dict.fromkeys(("currency", "product", "recurring", "tax_behavior", "unit_amount",
                                "unit_amount_decimal")), "product_data": _PRODUCT_DATA}
_LINE_ITEM = {**dict.fromkeys(("adjustable_quantity", "metadata", "price", "quantity", "tax_rates")),
              "price_data": _PRICE_DATA}
_SESSION_CREATE = {
    **dict.fromkeys((
        "adaptive_pricing", "after_expiration", "allow_promotion_codes", "billing_address_collection",
        "branding_settings", "cancel_url", "client_reference_id", "consent_collection", "currency",
        "custom_fields", "custom_text", "customer", "customer_account", "customer_creation", "customer_email",
        "customer_update", "excluded_payment_method_types", "expand", "expires_at", "invoice_creation",
        "locale", "metadata", "mode", "name_collection", "optional_items", "origin_context",
        "payment_method_collection", "payment_method_configuration", "payment_method_data",
        "payment_method_options", "payment_method_types", "permissions", "phone_number_collection",
        "redirect_on_completion", "return_url", "saved_payment_method_options", "setup_intent_data",
        "shipping_address_collection", "shipping_options", "submit_type", "subscription_data", "success_url",
        "tax_id_collection", "ui_mode", "wallet_options")),
    "line_items": [_LINE_ITEM],
    "discounts": [dict.fromkeys(("coupon", "promotion_code"))],
    "automatic_tax": dict.fromkeys(("enabled", "liability")),
    "payment_intent_data": dict.fromkeys((
        "application_fee_amount", "capture_method", "description", "metadata", "on_behalf_of", "receipt_email",
        "setup_future_usage", "shipping", "statement_descriptor", "statement_descriptor_suffix", "transfer_data",
        "transfer_group")),
}
_COUPON_CREATE = dict.fromkeys(("amount_off", "applies_to", "currency", "currency_options", "duration",
                                "duration_in_months", "expand", "id", "max_redemptions", "metadata", "name",
                                "percent_off", "redeem_by"))
_TAX_RATE_CREATE = dict.fromkeys(("active", "country", "description", "display_name", "expand", "inclusive",
                                  "jurisdiction", "metadata", "percentage", "state", "tax_type"))
_REFUND_CREATE = dict.fromkeys(("amount", "charge", "currency", "customer", "expand", "instructions_email",
                                "metadata", "origin", "payment_intent", "reason", "refund_application_fee",
                                "reverse_transfer"))

COUPON_NAME_MAX = 40
_TAX_BEHAVIORS = ("exclusive", "inclusive", "unspecified")


def _refuse_unknown(params: dict, schema: dict, prefix: str = "") -> None:
    """400 parameter_unknown for the first parameter the schema does not document."""
    for key, value in params.items():
        path = f"{prefix}[{key}]" if prefix else key
        if key not in schema:
            raise _ApiError(400, f"Received unknown parameter: {path}", code="parameter_unknown", param=path)
        inner = schema[key]
        if isinstance(inner, list) and isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, dict):
                    _refuse_unknown(item, inner[0], f"{path}[{i}]")
        elif isinstance(inner, dict) and isinstance(value, dict):
            _refuse_unknown(value, inner, path)


def _expand_list(params: dict) -> list[str]:
    expand = params.get("expand") or []
    return [expand] if isinstance(expand, str) else [e for e in expand if isinstance(e, str)]


# --------------------------------------------------------------------------- server


class StripeServer:
    """In-memory Stripe on 127.0.0.1; see the module docstring for the surface."""

    api_key = "sk_test_loopback"
    api_version = API_VERSION

    def __init__(self) -> None:
        # One re-entrant lock guards all state: HTTP handler threads and the test
        # thread (pay_session & co.) mutate the same dicts.
        self._lock = threading.RLock()
        self.url: str = ""
        self.now_offset: int = 0
        self.requests: list[dict] = []
        self.sessions: dict[str, dict] = {}
        self.session_params: dict[str, dict] = {}   # raw decoded create params, by session id
        self.session_line_items: dict[str, list[dict]] = {}
        self.coupons: dict[str, dict] = {}
        self.tax_rates: dict[str, dict] = {}
        self.refunds: dict[str, dict] = {}
        self.payment_intents: dict[str, dict] = {}
        self.charges: dict[str, dict] = {}
        self.events: dict[str, dict] = {}
        # Prices aren't creatable over HTTP here; tests may seed
        # {"price_x": {"id": "price_x", "object": "price", "currency": "usd", "unit_amount": 500, ...}}.
        self.prices: dict[str, dict] = {}
        # The account's Stripe Tax settings and how coupons are rounded (see the module docstring).
        self.default_tax_behavior: str | None = None
        self.percent_off_rounding: str = "per_line"
        self._idempotency: dict[str, dict] = {}
        self._failures: list[dict] = []
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._routes: list[tuple[str, re.Pattern, Callable[..., dict]]] = [
            ("POST", re.compile(r"/v1/checkout/sessions"), self._create_session),
            ("GET", re.compile(r"/v1/checkout/sessions"), self._list_sessions),
            ("GET", re.compile(r"/v1/checkout/sessions/(?P<session>[^/]+)"), self._get_session),
            ("GET", re.compile(r"/v1/checkout/sessions/(?P<session>[^/]+)/line_items"), self._list_line_items),
            ("POST", re.compile(r"/v1/checkout/sessions/(?P<session>[^/]+)/expire"), self._expire_session),
            ("POST", re.compile(r"/v1/coupons"), self._create_coupon),
            ("GET", re.compile(r"/v1/coupons"), self._list_coupons),
            ("GET", re.compile(r"/v1/coupons/(?P<coupon>[^/]+)"), self._get_coupon),
            ("POST", re.compile(r"/v1/tax_rates"), self._create_tax_rate),
            ("GET", re.compile(r"/v1/tax_rates"), self._list_tax_rates),
            ("GET", re.compile(r"/v1/tax_rates/(?P<tax_rate>[^/]+)"), self._get_tax_rate),
            ("POST", re.compile(r"/v1/refunds"), self._create_refund),
            ("GET", re.compile(r"/v1/refunds"), self._list_refunds),
            ("GET", re.compile(r"/v1/refunds/(?P<refund>[^/]+)"), self._get_refund),
            ("GET", re.compile(r"/v1/payment_intents/(?P<intent>[^/]+)"), self._get_payment_intent),
            ("GET", re.compile(r"/v1/charges/(?P<charge>[^/]+)"), self._get_charge),
            ("GET", re.compile(r"/v1/events"), self._list_events),
            ("GET", re.compile(r"/v1/events/(?P<id>[^/]+)"), self._get_event),
        ]

    # ----------------------------------------------------------------- lifecycle

    def start(self) -> StripeServer:
        if self._httpd is not None:
            return self
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        httpd.daemon_threads = True  # a hung client must not block stop()
        httpd.stripe = self  # type: ignore[attr-defined]
        self._httpd = httpd
        self.url = f"http://127.0.0.1:{httpd.server_address[1]}"
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="stripe-loopback", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = self._thread = None

    def __enter__(self) -> StripeServer:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    # ----------------------------------------------------------------- test helpers

    def now(self) -> int:
        """The server clock: real time shifted by ``now_offset`` seconds."""
        return int(time.time() + self.now_offset)

    def requests_to(self, method: str, path_prefix: str) -> list[dict]:
        with self._lock:
            return [r for r in self.requests
                    if r["method"] == method.upper() and r["path"].startswith(path_prefix)]

    def fail_next(self, method: str, path_prefix: str, *, status: int = 500, type: str = "api_error",
                  message: str = "Simulated failure injected by StripeServer.fail_next.",
                  code: str | None = None, times: int = 1) -> None:
        """Make the next ``times`` matching requests fail with this error, before auth,
        idempotency or any state change (like an outage in front of the API)."""
        with self._lock:
            self._failures.append({"method": method.upper(), "prefix": path_prefix, "remaining": times,
                                   "error": _ApiError(status, message, code=code, type=type)})

    def pay_session(self, session_id: str, *, amount_total: int | None = None,
                    currency: str | None = None, async_pending: bool = False) -> dict:
        """The buyer completes Checkout: returns checkout.session.completed.

        ``amount_total``/``currency`` override what was charged (to test mismatch
        handling). ``async_pending`` models a delayed payment method (e.g. ACH): the
        session completes with payment_status "unpaid" and the PaymentIntent is
        "processing" until ``async_result()``.
        """
        with self._lock:
            session = self._session_or_value_error(session_id)
            if session["status"] != "open":
                raise ValueError(f"session {session_id} is {session['status']}, not open")
            now = self.now()
            if amount_total is not None:
                session["amount_total"] = amount_total
            if currency is not None:
                session["currency"] = currency.lower()
            session["status"] = "complete"
            session["customer_details"] = {
                "address": None, "email": session["customer_email"] or "buyer@example.com",
                "name": "Jenny Rosen", "phone": None, "tax_exempt": "none", "tax_ids": [],
            }
            if session["automatic_tax"]["enabled"]:
                session["automatic_tax"]["status"] = "complete"
            params = self.session_params[session_id]
            if session["mode"] == "payment":
                self._create_payment(session, params, now, pending=async_pending)
                session["payment_status"] = "unpaid" if async_pending else "paid"
            elif session["mode"] == "subscription":
                session["subscription"] = self._new_id("sub_test_")
                session["invoice"] = self._new_id("in_test_")
                session["payment_status"] = "unpaid" if async_pending else "paid"
            else:  # setup mode collects a payment method, nothing is charged
                session["setup_intent"] = self._new_id("seti_test_")
            for discount in session["discounts"] or []:  # a coupon counts as redeemed on completion
                coupon = self.coupons.get(discount["coupon"])
                if coupon:
                    coupon["times_redeemed"] += 1
                    if coupon["max_redemptions"] and coupon["times_redeemed"] >= coupon["max_redemptions"]:
                        coupon["valid"] = False
            return self.event("checkout.session.completed", session)

    def async_result(self, session_id: str, succeeded: bool) -> dict:
        """A delayed payment settles: checkout.session.async_payment_succeeded/failed."""
        with self._lock:
            session = self._session_or_value_error(session_id)
            intent = self.payment_intents.get(session["payment_intent"] or "")
            if session["status"] != "complete" or intent is None or intent["status"] != "processing":
                raise ValueError(f"session {session_id} has no pending asynchronous payment "
                                 "(use pay_session(..., async_pending=True) first)")
            charge = self.charges[intent["latest_charge"]]
            if succeeded:
                session["payment_status"] = "paid"
                intent.update(status="succeeded", amount_received=intent["amount"])
                charge.update(status="succeeded", paid=True, captured=True, amount_captured=charge["amount"],
                              balance_transaction=self._new_id("txn_"))
                kind = "checkout.session.async_payment_succeeded"
            else:
                error = {"type": "card_error", "code": "payment_intent_payment_attempt_failed",
                         "message": "The payment failed.", "payment_method": {"id": intent["payment_method"]}}
                intent.update(status="requires_payment_method", last_payment_error=error)
                charge.update(status="failed", failure_code="generic_decline",
                              failure_message="The payment failed.")
                kind = "checkout.session.async_payment_failed"
            return self.event(kind, session)

    def expire_session(self, session_id: str) -> dict:
        """Stripe expires an open session (its expires_at passed): checkout.session.expired."""
        with self._lock:
            session = self._session_or_value_error(session_id)
            if session["status"] != "open":
                raise ValueError(f"session {session_id} is {session['status']}, not open")
            session["status"] = "expired"
            session["url"] = None
            return self.event("checkout.session.expired", session)

    def refund_event(self, payment_intent_id: str) -> dict:
        """The latest charge.refunded event of the PaymentIntent's charge.

        If nothing was refunded yet, this first refunds the charge in full, as a refund
        issued from the Dashboard would, so the event is coherent.
        """
        with self._lock:
            intent = self.payment_intents.get(payment_intent_id)
            if intent is None:
                raise ValueError(f"unknown payment intent {payment_intent_id}")
            charge = self.charges[intent["latest_charge"]]
            if charge["amount_refunded"] == 0:
                self._refund_charge(charge, charge["amount"], reason=None, metadata={})
            latest = [e for e in self.events.values()
                      if e["type"] == "charge.refunded" and e["data"]["object"]["id"] == charge["id"]][-1]
            return copy.deepcopy(latest)

    def refund_payment(self, payment_intent_id: str, amount: int | None = None, *,
                       metadata: dict | None = None) -> dict:
        """A refund made outside the app (in the Dashboard): returns the Refund. Its events are
        recorded as for an API refund (see ``payment_events``)."""
        with self._lock:
            intent = self.payment_intents.get(payment_intent_id)
            if intent is None:
                raise ValueError(f"unknown payment intent {payment_intent_id}")
            charge = self.charges[intent["latest_charge"]]
            left = charge["amount"] - charge["amount_refunded"]
            amount = left if amount is None else amount
            if not 0 < amount <= left:
                raise ValueError(f"cannot refund {amount} of {left} left on {charge['id']}")
            return copy.deepcopy(self._refund_charge(charge, amount, reason=None, metadata=metadata or {}))

    def fail_refund(self, refund_id: str, reason: str = "expired_or_canceled_card") -> list[dict]:
        """A refund fails after Stripe accepted it: returns refund.failed, refund.updated and
        charge.refund.updated, in that order."""
        with self._lock:
            refund = self.refunds.get(refund_id)
            if refund is None or refund["status"] not in ("pending", "succeeded", "requires_action"):
                raise ValueError(f"refund {refund_id} cannot fail now")
            charge = self.charges[refund["charge"]]
            refund.update(status="failed", failure_reason=reason,
                          failure_balance_transaction=self._new_id("txn_"))
            charge["amount_refunded"] -= refund["amount"]  # the money went back to the balance
            charge["refunded"] = charge["amount_refunded"] >= charge["amount"]
            return [self.event(kind, refund) for kind in ("refund.failed", "refund.updated", "charge.refund.updated")]

    def payment_events(self, payment_intent_id: str) -> list[dict]:
        """Every event recorded about one payment (its Checkout Session, Charge and Refunds),
        in the order they were created: the order Stripe would *like* to deliver them in."""
        with self._lock:
            def about_payment(event: dict) -> bool:
                obj = event["data"]["object"]
                return obj.get("payment_intent") == payment_intent_id or (
                    obj.get("object") == "checkout.session"
                    and self.sessions.get(obj["id"], {}).get("payment_intent") == payment_intent_id)
            return [copy.deepcopy(e) for e in self.events.values() if about_payment(e)]

    @staticmethod
    def every_delivery_order(count: int, *, twice: tuple[int, ...] = ()) -> list[tuple[int, ...]]:
        """Each distinct order in which ``count`` events could arrive, as positions into their
        list; the events at positions ``twice`` arrive a second time (Stripe may redeliver)."""
        return sorted(set(itertools.permutations(list(range(count)) + list(twice))))

    def event(self, type: str, obj: dict) -> dict:
        """Build and record an event wrapping a snapshot of ``obj``."""
        with self._lock:
            event = {
                "id": self._new_id("evt_"),
                "object": "event",
                "api_version": self.api_version,
                "created": self.now(),
                "data": {"object": copy.deepcopy(obj)},
                "livemode": False,
                "pending_webhooks": 1,
                "request": {"id": None, "idempotency_key": None},
                "type": type,
            }
            self.events[event["id"]] = event
            return copy.deepcopy(event)

    # ----------------------------------------------------------------- HTTP plumbing

    def _dispatch(self, method: str, raw_path: str, headers: _Headers, body: bytes) -> tuple[int, dict, bytes]:
        """Handle one request; returns (status, response headers, body)."""
        split = urlsplit(raw_path)
        path = split.path.rstrip("/") or "/"
        pairs = parse_qsl(split.query, keep_blank_values=True)
        if method == "POST":
            pairs += parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
        params = decode_form(pairs)
        request_id = self._new_id("req_")
        out_headers = {"Request-Id": request_id,
                       "Stripe-Version": headers.get("Stripe-Version") or self.api_version}
        idempotency_key = headers.get("Idempotency-Key") if method == "POST" else None
        if idempotency_key:
            out_headers["Idempotency-Key"] = idempotency_key

        with self._lock:
            self.requests.append({"method": method, "path": path, "params": params, "headers": headers})
            try:
                self._raise_injected_failure(method, path)
                self._authenticate(headers)
                if idempotency_key:
                    fingerprint = json.dumps([method, path, params], sort_keys=True)
                    saved = self._idempotency.get(idempotency_key)
                    if saved is not None:
                        if saved["fingerprint"] != fingerprint:
                            raise _ApiError(
                                400, "Keys for idempotent requests can only be used with the same parameters "
                                f"they were first used with. Try using a key other than '{idempotency_key}' "
                                "if you meant to execute a different request.", type="idempotency_error")
                        out_headers.update({"Idempotent-Replayed": "true",
                                            "Original-Request": saved["request_id"]})
                        return saved["status"], out_headers, saved["body"]
                status, obj = 200, self._route(method, path, params)
            except _ApiError as error:
                status, obj = error.status, error.body()
            payload = json.dumps(obj, indent=2).encode("utf-8")
            if idempotency_key and status == 200:
                self._idempotency[idempotency_key] = {"fingerprint": fingerprint, "status": status,
                                                      "body": payload, "request_id": request_id}
            return status, out_headers, payload

    def _raise_injected_failure(self, method: str, path: str) -> None:
        for rule in self._failures:
            if rule["method"] == method and path.startswith(rule["prefix"]):
                rule["remaining"] -= 1
                if rule["remaining"] <= 0:
                    self._failures.remove(rule)
                raise rule["error"]

    def _authenticate(self, headers: _Headers) -> None:
        auth = headers.get("Authorization") or ""
        key = ""
        if auth.startswith("Bearer "):
            key = auth[len("Bearer "):].strip()
        elif auth.startswith("Basic "):  # curl -u sk_test_…: sends the key as the user name
            try:
                key = base64.b64decode(auth[len("Basic "):]).decode("utf-8").split(":", 1)[0]
            except ValueError:
                key = ""
        if not key:
            raise _ApiError(401, "You did not provide an API key. You need to provide your API key in the "
                            "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
                            "YOUR_SECRET_KEY').")
        if not key.startswith("sk_test"):
            raise _ApiError(401, f"Invalid API Key provided: {key[:8]}{'*' * 4}{key[-4:]}")

    def _route(self, method: str, path: str, params: dict) -> dict:
        for route_method, pattern, handler in self._routes:
            match = pattern.fullmatch(path)
            if match and route_method == method:
                args = {k: unquote(v) for k, v in match.groupdict().items()}
                obj = handler(params, **args)
                for expand_path in _expand_list(params):
                    self._expand(obj, expand_path.split("."))
                return obj
        raise _ApiError(404, f"Unrecognized request URL ({method}: {path}). Please see "
                        "https://stripe.com/docs or we can help at https://support.stripe.com/.")

    def _expand(self, obj: Any, parts: list[str]) -> None:
        """Replace an id at ``parts`` by the object it names (lists via "data.")."""
        if not parts:
            return
        if isinstance(obj, list):
            for item in obj:
                self._expand(item, parts)
            return
        if not isinstance(obj, dict):
            return
        head, rest = parts[0], parts[1:]
        if head == "line_items" and obj.get("object") == "checkout.session":
            obj["line_items"] = self._paginate(self.session_line_items.get(obj["id"], []), {},
                                               f"/v1/checkout/sessions/{obj['id']}/line_items", newest_first=False)
        value = obj.get(head)
        if isinstance(value, str):
            found = self._lookup_any(value)
            if found is None:
                return
            value = obj[head] = copy.deepcopy(found)
        self._expand(value, rest)

    def _lookup_any(self, object_id: str) -> dict | None:
        for store in (self.sessions, self.payment_intents, self.charges, self.refunds,
                      self.tax_rates, self.coupons, self.events, self.prices):
            if object_id in store:
                return store[object_id]
        return None

    @staticmethod
    def _new_id(prefix: str, length: int = 24) -> str:
        return prefix + "".join(secrets.choice(_ID_ALPHABET) for _ in range(length))

    def _session_or_value_error(self, session_id: str) -> dict:
        if session_id not in self.sessions:
            raise ValueError(f"unknown checkout session {session_id}")
        return self.sessions[session_id]

    @staticmethod
    def _fetch(store: dict, object_id: str, noun: str, param: str, status: int = 404) -> dict:
        """Look up an object; unknown ids in the URL are 404, in the body 400 (as Stripe does)."""
        if object_id not in store:
            raise _ApiError(status, f"No such {noun}: '{object_id}'", code="resource_missing", param=param)
        return store[object_id]

    def _paginate(self, items: list[dict], params: dict, url: str, *, newest_first: bool = True) -> dict:
        """A Stripe list object over ``items`` honouring limit/starting_after/ending_before."""
        if newest_first:
            # Stable sort: among equal `created` seconds the later insert comes first.
            items = sorted(reversed(items), key=lambda o: o.get("created", 0), reverse=True)
        limit = _int(params.get("limit", 10), "limit")
        if not 1 <= limit <= 100:
            raise _ApiError(400, "Invalid limit: must be between 1 and 100", param="limit")
        ids = [item["id"] for item in items]
        if params.get("starting_after"):
            cursor = params["starting_after"]
            if cursor not in ids:
                raise _ApiError(400, f"No such object: '{cursor}'", code="resource_missing", param="starting_after")
            remaining = items[ids.index(cursor) + 1:]
            page, has_more = remaining[:limit], len(remaining) > limit
        elif params.get("ending_before"):
            cursor = params["ending_before"]
            if cursor not in ids:
                raise _ApiError(400, f"No such object: '{cursor}'", code="resource_missing", param="ending_before")
            before = items[:ids.index(cursor)]
            page, has_more = before[-limit:], len(before) > limit
        else:
            page, has_more = items[:limit], len(items) > limit
        return {"object": "list", "data": copy.deepcopy(page), "has_more": has_more, "url": url}

    @staticmethod
    def _created_matches(obj: dict, created: Any) -> bool:
        """Filter like Stripe's `created` list param: an exact int or a gt/gte/lt/lte dict."""
        if created is None or created == "":
            return True
        if not isinstance(created, dict):
            return obj["created"] == _int(created, "created")
        checks = {"gt": lambda a, b: a > b, "gte": lambda a, b: a >= b,
                  "lt": lambda a, b: a < b, "lte": lambda a, b: a <= b}
        for op, bound in created.items():
            if op not in checks:
                raise _ApiError(400, f"Received unknown parameter: created[{op}]",
                                code="parameter_unknown", param=f"created[{op}]")
            if not checks[op](obj["created"], _int(bound, f"created[{op}]")):
                return False
        return True

    # ----------------------------------------------------------------- checkout sessions

    def _create_session(self, p: dict) -> dict:
        _refuse_unknown(p, _SESSION_CREATE)
        now = self.now()
        mode = _enum(_required(p, "mode"), ("payment", "setup", "subscription"), "mode")
        ui_mode = p.get("ui_mode") or "hosted"
        if ui_mode not in _ALL_UI_MODES:
            raise _ApiError(400, f"Invalid ui_mode: {ui_mode}", param="ui_mode")
        hosted = ui_mode in _HOSTED_UI_MODES
        if hosted:
            _required(p, "success_url")
        elif p.get("success_url"):
            raise _ApiError(400, f"success_url is not allowed when ui_mode is {ui_mode}; use return_url.",
                            param="success_url")

        if p.get("customer") and p.get("customer_email"):
            raise _ApiError(400, "You may only specify one of these parameters: customer, customer_email.",
                            code="parameters_exclusive", param="customer_email")
        email = p.get("customer_email") or None
        if email is not None and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
            raise _ApiError(400, f"Invalid email address: {email}", code="email_invalid", param="customer_email")
        reference = p.get("client_reference_id") or None
        if reference is not None and len(reference) > 200:
            raise _ApiError(400, "client_reference_id must be at most 200 characters.", param="client_reference_id")
        metadata = _metadata(p.get("metadata"))
        if isinstance(p.get("payment_intent_data"), dict):  # checked now, though used when paid
            _metadata(p["payment_intent_data"].get("metadata"), "payment_intent_data[metadata]")

        expires_at = now + 24 * 3600
        if p.get("expires_at") not in (None, ""):
            expires_at = _int(p["expires_at"], "expires_at")
            # No slack: 30 minutes counted from the moment the session is created, so a caller
            # that computed "now + 30 min" before the request arrived is refused, as by Stripe.
            if expires_at < now + 30 * 60:
                raise _ApiError(400, "The `expires_at` timestamp must be at least 30 minutes from Checkout "
                                "Session creation.", code="parameter_invalid_integer", param="expires_at")
            if expires_at > now + 24 * 3600:
                raise _ApiError(400, "The `expires_at` timestamp must be less than 24 hours from Checkout "
                                "Session creation.", code="parameter_invalid_integer", param="expires_at")

        automatic_tax_enabled = _bool((p.get("automatic_tax") or {}).get("enabled", "false"),
                                      "automatic_tax[enabled]")
        raw_items = p.get("line_items") or []
        if mode in ("payment", "subscription") and not raw_items:
            raise _missing("line_items")
        if not isinstance(raw_items, list):
            raise _ApiError(400, "Invalid array", param="line_items")
        if len(raw_items) > 100:
            raise _ApiError(400, "You can have at most 100 line items.", param="line_items")
        lines = [self._parse_line_item(item, i, mode, automatic_tax_enabled, now) for i, item in enumerate(raw_items)]

        currencies = {line["currency"] for line in lines}
        if len(currencies) > 1:
            raise _ApiError(400, "All line items must use the same currency.", param="line_items")
        currency = currencies.pop() if currencies else None
        if p.get("currency"):
            requested = _currency(p["currency"], "currency")
            if currency and requested != currency:
                raise _ApiError(400, "currency must match the currency of the line items.", param="currency")
            currency = requested
        if mode == "setup" and currency is None and not p.get("payment_method_types"):
            raise _missing("currency")

        coupon = self._session_coupon(p, currency)
        items = self._price_lines(lines, coupon)

        session_id = self._new_id("cs_test_", 58)
        if items:
            subtotal = sum(item["amount_subtotal"] for item in items)
            discount = sum(item["amount_discount"] for item in items)
            tax = sum(item["amount_tax"] for item in items)
            total = sum(item["amount_total"] for item in items)
        else:
            subtotal = discount = tax = total = None
        minimum = _MINIMUM_CHARGE.get(currency or "")
        if mode == "payment" and total and minimum and total < minimum:
            raise _ApiError(400, f"The Checkout Session's total amount due must add up to at least "
                            f"{minimum} ({currency}, minor units).", code="amount_too_small", param="line_items")

        session = {
            "id": session_id,
            "object": "checkout.session",
            "after_expiration": None,
            "allow_promotion_codes": _bool(p["allow_promotion_codes"], "allow_promotion_codes")
            if p.get("allow_promotion_codes") else None,
            "amount_subtotal": subtotal,
            "amount_total": total,
            "automatic_tax": {"enabled": automatic_tax_enabled, "liability": {"type": "self"}
                              if automatic_tax_enabled else None,
                              "status": "requires_location_inputs" if automatic_tax_enabled else None},
            "billing_address_collection": p.get("billing_address_collection") or None,
            "cancel_url": p.get("cancel_url") or None,
            "client_reference_id": reference,
            "client_secret": None if hosted else f"{session_id}_secret_{self._new_id('')}",
            "consent": None,
            "consent_collection": None,
            "created": now,
            "currency": currency,
            "custom_fields": [],
            "custom_text": {"after_submit": None, "shipping_address": None, "submit": None,
                            "terms_of_service_acceptance": None},
            "customer": p.get("customer") or None,
            "customer_creation": p.get("customer_creation") or ("if_required" if mode == "payment" else None),
            "customer_details": None,
            "customer_email": email,
            "discounts": [{"coupon": coupon["id"], "promotion_code": None}] if coupon else [],
            "expires_at": expires_at,
            "invoice": None,
            "livemode": False,
            "locale": p.get("locale") or None,
            "metadata": metadata,
            "mode": mode,
            "payment_intent": None,
            "payment_link": None,
            "payment_method_collection": "if_required" if mode != "payment" else None,
            "payment_method_types": p.get("payment_method_types") or ["card"],
            "payment_status": "no_payment_required" if mode == "setup" else "unpaid",
            "phone_number_collection": {"enabled": False},
            "recovered_from": None,
            "return_url": p.get("return_url") or None,
            "setup_intent": None,
            "shipping_address_collection": p.get("shipping_address_collection") or None,
            "shipping_cost": None,
            "shipping_details": None,
            "shipping_options": [],
            "status": "open",
            "submit_type": p.get("submit_type") or None,
            "subscription": None,
            "success_url": p.get("success_url") or None,
            "total_details": {"amount_discount": discount or 0, "amount_shipping": 0, "amount_tax": tax or 0}
            if items else None,
            "ui_mode": ui_mode,
            "url": f"{self.url}/c/pay/{session_id}" if hosted else None,
        }
        self.sessions[session_id] = session
        self.session_params[session_id] = p
        self.session_line_items[session_id] = items
        return copy.deepcopy(session)

    def _parse_line_item(self, item: Any, i: int, mode: str, automatic_tax: bool, now: int) -> dict:
        """Validate one line item; returns its price, quantity and tax rates."""
        base = f"line_items[{i}]"
        if not isinstance(item, dict):
            raise _ApiError(400, "Invalid object", param=base)
        quantity = _int(_required(item, "quantity", f"{base}[quantity]"), f"{base}[quantity]", minimum=1)
        if item.get("price") and item.get("price_data"):
            raise _ApiError(400, "You may only specify one of these parameters: price, price_data.",
                            code="parameters_exclusive", param=f"{base}[price]")
        if item.get("price"):
            price = copy.deepcopy(self._fetch(self.prices, item["price"], "price", f"{base}[price]", 400))
            unit = Decimal(price.get("unit_amount_decimal") or price["unit_amount"])
            name = price.get("nickname") or price.get("product")
        elif isinstance(item.get("price_data"), dict):
            data = item["price_data"]
            currency = _currency(_required(data, "currency", f"{base}[price_data][currency]"),
                                 f"{base}[price_data][currency]")
            if data.get("unit_amount") not in (None, ""):
                unit = Decimal(_int(data["unit_amount"], f"{base}[price_data][unit_amount]", minimum=0))
            elif data.get("unit_amount_decimal") not in (None, ""):
                unit = _decimal(data["unit_amount_decimal"], f"{base}[price_data][unit_amount_decimal]")
            else:
                raise _missing(f"{base}[price_data][unit_amount]")
            product_data = data.get("product_data") or {}
            if data.get("product"):
                product, name = data["product"], data["product"]
            else:
                name = _required(product_data, "name", f"{base}[price_data][product_data][name]")
                product = self._new_id("prod_test_", 14)
            recurring = data.get("recurring") or None
            if mode == "subscription" and recurring:
                _enum(_required(recurring, "interval", f"{base}[price_data][recurring][interval]"),
                      ("day", "week", "month", "year"), f"{base}[price_data][recurring][interval]")
            if data.get("tax_behavior") not in (None, ""):
                _enum(data["tax_behavior"], _TAX_BEHAVIORS, f"{base}[price_data][tax_behavior]")
            price = {
                "id": self._new_id("price_test_", 14), "object": "price", "active": False,
                "billing_scheme": "per_unit", "created": now, "currency": currency,
                "livemode": False, "lookup_key": None, "metadata": {}, "nickname": None,
                "product": product, "recurring": recurring,
                "tax_behavior": data.get("tax_behavior") or "unspecified",
                "type": "recurring" if recurring else "one_time",
                "unit_amount": int(unit) if unit == unit.to_integral_value() else None,
                "unit_amount_decimal": str(unit),
            }
        else:
            raise _missing(f"{base}[price]")
        if mode == "payment" and price.get("recurring"):
            raise _ApiError(400, "You must use mode=subscription for recurring prices.", param=f"{base}[price]")

        behavior = price.get("tax_behavior") or "unspecified"
        if automatic_tax and behavior == "unspecified" and self.default_tax_behavior is None:
            where = f"{base}[price_data][tax_behavior]" if item.get("price_data") else f"{base}[price]"
            raise _ApiError(400, "Automatic tax requires a tax_behavior of `inclusive` or `exclusive` on every "
                            "price, because no default tax behavior is set in your Stripe Tax settings.",
                            param=where)
        rate_ids = item.get("tax_rates") or []
        if isinstance(rate_ids, str):
            rate_ids = [rate_ids]
        if rate_ids and automatic_tax:
            raise _ApiError(400, "You cannot use tax_rates when automatic_tax is enabled.",
                            param=f"{base}[tax_rates]")
        rates = []
        for j, rate_id in enumerate(rate_ids):
            rate = self._fetch(self.tax_rates, rate_id, "tax rate", f"{base}[tax_rates][{j}]", 400)
            if not rate["active"]:
                raise _ApiError(400, f"Tax rate {rate_id} is inactive.", param=f"{base}[tax_rates][{j}]")
            rates.append(rate)
        return {"price": price, "currency": price["currency"], "unit": unit, "quantity": quantity,
                "rates": rates, "description": item.get("description") or name}

    def _session_coupon(self, p: dict, currency: str | None) -> dict | None:
        discounts = p.get("discounts") or []
        if not discounts:
            return None
        if p.get("allow_promotion_codes"):
            raise _ApiError(400, "You may only specify one of these parameters: allow_promotion_codes, discounts.",
                            code="parameters_exclusive", param="discounts")
        if not isinstance(discounts, list) or len(discounts) > 1:
            raise _ApiError(400, "You may only specify one discount.", param="discounts")
        entry = discounts[0] if isinstance(discounts[0], dict) else {}
        if entry.get("promotion_code"):
            raise _ApiError(400, f"No such promotion code: '{entry['promotion_code']}'", code="resource_missing",
                            param="discounts[0][promotion_code]")
        coupon = self._fetch(self.coupons, _required(entry, "coupon", "discounts[0][coupon]"), "coupon",
                             "discounts[0][coupon]", 400)
        if not coupon["valid"]:
            raise _ApiError(400, f"Coupon {coupon['id']} is no longer valid.", code="coupon_expired",
                            param="discounts[0][coupon]")
        if coupon["amount_off"] is not None and coupon["currency"] != currency:
            raise _ApiError(400, f"The coupon's currency ({coupon['currency']}) must match the session's "
                            f"currency ({currency}).", param="discounts[0][coupon]")
        return coupon

    def _price_lines(self, lines: list[dict], coupon: dict | None) -> list[dict]:
        """Build line-item objects: subtotal, then discount, then tax on the discounted amount.

        A coupon applies to every line. Percent coupons discount each line (rounded half up),
        or with percent_off_rounding="on_subtotal" are rounded once on the subtotal; the amount
        off is split across lines in proportion to their subtotals (remainder on the last line).
        Each exclusive tax rate adds round_half_up(discounted * pct / 100) per line;
        inclusive rates report the tax already inside the price and add nothing.
        """
        subtotals = [_half_up(line["unit"] * line["quantity"]) for line in lines]
        discounts = [0] * len(lines)
        if coupon and lines:
            whole = sum(subtotals)
            if coupon["percent_off"] is not None and self.percent_off_rounding == "per_line":
                pct = Decimal(str(coupon["percent_off"]))
                discounts = [_half_up(s * pct / 100) for s in subtotals]
            else:
                if coupon["percent_off"] is not None:  # rounded once, on the subtotal
                    total_off = _half_up(whole * Decimal(str(coupon["percent_off"])) / 100)
                else:
                    total_off = min(coupon["amount_off"], whole)
                for k, s in enumerate(subtotals[:-1]):
                    discounts[k] = (total_off * s) // whole if whole else 0
                discounts[-1] = total_off - sum(discounts[:-1])
        items = []
        for line, subtotal, discount in zip(lines, subtotals, discounts, strict=True):
            taxable = subtotal - discount
            taxes, exclusive_tax, all_tax = [], 0, 0
            for rate in line["rates"]:
                pct = Decimal(str(rate["percentage"]))
                if rate["inclusive"]:
                    amount = _half_up(taxable * pct / (100 + pct))
                else:
                    amount = _half_up(taxable * pct / 100)
                    exclusive_tax += amount
                all_tax += amount
                taxes.append({"amount": amount, "rate": copy.deepcopy(rate),
                              "taxability_reason": None, "taxable_amount": taxable})
            items.append({
                "id": self._new_id("li_test_"),
                "object": "item",
                "amount_discount": discount,
                "amount_subtotal": subtotal,
                "amount_tax": all_tax,
                "amount_total": taxable + exclusive_tax,
                "currency": line["currency"],
                "description": line["description"],
                "discounts": [{"amount": discount, "discount": {"coupon": copy.deepcopy(coupon)}}]
                if coupon and discount else [],
                "price": line["price"],
                "quantity": line["quantity"],
                "taxes": taxes,
            })
        return items

    def _get_session(self, p: dict, session: str) -> dict:
        return copy.deepcopy(self._fetch(self.sessions, session, "checkout.session", "session"))

    def _list_line_items(self, p: dict, session: str) -> dict:
        self._fetch(self.sessions, session, "checkout.session", "session")
        return self._paginate(self.session_line_items[session], p,
                              f"/v1/checkout/sessions/{session}/line_items", newest_first=False)

    def _list_sessions(self, p: dict) -> dict:
        if p.get("status"):
            _enum(p["status"], ("complete", "expired", "open"), "status")
        email = (p.get("customer_details") or {}).get("email") if isinstance(p.get("customer_details"), dict) else None
        matches = [
            s for s in self.sessions.values()
            if self._created_matches(s, p.get("created"))
            and (not p.get("status") or s["status"] == p["status"])
            and (not p.get("payment_intent") or s["payment_intent"] == p["payment_intent"])
            and (not p.get("customer") or s["customer"] == p["customer"])
            and (not p.get("subscription") or s["subscription"] == p["subscription"])
            and (not email or (s["customer_details"] or {}).get("email") == email)
        ]
        return self._paginate(matches, p, "/v1/checkout/sessions")

    def _expire_session(self, p: dict, session: str) -> dict:
        obj = self._fetch(self.sessions, session, "checkout.session", "session")
        if obj["status"] != "open":
            raise _ApiError(400, 'Only Checkout Sessions with a status in ["open"] can be expired.',
                            param="session")
        obj["status"] = "expired"
        obj["url"] = None
        return copy.deepcopy(obj)

    # ----------------------------------------------------------------- coupons and tax rates

    def _create_coupon(self, p: dict) -> dict:
        _refuse_unknown(p, _COUPON_CREATE)
        if len(p.get("name") or "") > COUPON_NAME_MAX:
            raise _ApiError(400, f"Invalid string: {p['name']}; must be at most {COUPON_NAME_MAX} characters",
                            param="name")
        coupon_id = p.get("id") or "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(8))
        if coupon_id in self.coupons:
            raise _ApiError(400, "Coupon already exists.", code="resource_already_exists", param="id")
        has_percent = p.get("percent_off") not in (None, "")
        has_amount = p.get("amount_off") not in (None, "")
        if has_percent and has_amount:
            raise _ApiError(400, "You may only specify one of these parameters: amount_off, percent_off.",
                            code="parameters_exclusive", param="percent_off")
        if not (has_percent or has_amount):
            raise _ApiError(400, "You must pass either percent_off or amount_off.", code="parameter_missing",
                            param="percent_off")
        percent_off = amount_off = currency = None
        if has_percent:
            percent_off = float(_decimal(p["percent_off"], "percent_off"))
            if not 0 < percent_off <= 100:
                raise _ApiError(400, "Invalid percent_off: must be greater than 0 and at most 100.",
                                param="percent_off")
        else:
            amount_off = _int(p["amount_off"], "amount_off", minimum=1)
            currency = _currency(_required(p, "currency"), "currency")
        duration = _enum(p.get("duration") or "once", ("forever", "once", "repeating"), "duration")
        months = None
        if duration == "repeating":
            months = _int(_required(p, "duration_in_months"), "duration_in_months", minimum=1)
        coupon = {
            "id": coupon_id, "object": "coupon", "amount_off": amount_off, "created": self.now(),
            "currency": currency, "duration": duration, "duration_in_months": months, "livemode": False,
            "max_redemptions": _int(p["max_redemptions"], "max_redemptions", minimum=1)
            if p.get("max_redemptions") else None,
            "metadata": _metadata(p.get("metadata")), "name": p.get("name") or None,
            "percent_off": percent_off,
            "redeem_by": _int(p["redeem_by"], "redeem_by") if p.get("redeem_by") else None,
            "times_redeemed": 0, "valid": True,
        }
        self.coupons[coupon_id] = coupon
        return copy.deepcopy(coupon)

    def _get_coupon(self, p: dict, coupon: str) -> dict:
        obj = self._fetch(self.coupons, coupon, "coupon", "coupon")
        if obj["redeem_by"] and obj["redeem_by"] < self.now():  # Stripe invalidates past redeem_by
            obj["valid"] = False
        return copy.deepcopy(obj)

    def _list_coupons(self, p: dict) -> dict:
        matches = [c for c in self.coupons.values() if self._created_matches(c, p.get("created"))]
        return self._paginate(matches, p, "/v1/coupons")

    def _create_tax_rate(self, p: dict) -> dict:
        _refuse_unknown(p, _TAX_RATE_CREATE)
        display_name = _required(p, "display_name")
        percentage = float(_decimal(_required(p, "percentage"), "percentage"))
        if not 0 <= percentage <= 100:
            raise _ApiError(400, "Invalid percentage: must be between 0 and 100.", param="percentage")
        inclusive = _bool(_required(p, "inclusive"), "inclusive")
        rate = {
            "id": self._new_id("txr_"), "object": "tax_rate",
            "active": _bool(p.get("active", "true"), "active"),
            "country": p.get("country") or None, "created": self.now(),
            "description": p.get("description") or None, "display_name": display_name,
            "effective_percentage": percentage, "flat_amount": None, "inclusive": inclusive,
            "jurisdiction": p.get("jurisdiction") or None, "jurisdiction_level": None,
            "livemode": False, "metadata": _metadata(p.get("metadata")), "percentage": percentage,
            "rate_type": "percentage", "state": p.get("state") or None, "tax_type": p.get("tax_type") or None,
        }
        self.tax_rates[rate["id"]] = rate
        return copy.deepcopy(rate)

    def _get_tax_rate(self, p: dict, tax_rate: str) -> dict:
        return copy.deepcopy(self._fetch(self.tax_rates, tax_rate, "tax_rate", "tax_rate"))

    def _list_tax_rates(self, p: dict) -> dict:
        active = _bool(p["active"], "active") if p.get("active") else None
        inclusive = _bool(p["inclusive"], "inclusive") if p.get("inclusive") else None
        matches = [r for r in self.tax_rates.values()
                   if self._created_matches(r, p.get("created"))
                   and (active is None or r["active"] == active)
                   and (inclusive is None or r["inclusive"] == inclusive)]
        return self._paginate(matches, p, "/v1/tax_rates")

    # ----------------------------------------------------------------- payments and refunds

    def _create_payment(self, session: dict, params: dict, now: int, *, pending: bool) -> None:
        """The PaymentIntent and Charge Checkout creates when a payment-mode session is paid."""
        intent_data = params.get("payment_intent_data") if isinstance(params.get("payment_intent_data"), dict) else {}
        metadata = _metadata(intent_data.get("metadata"))
        amount, currency = session["amount_total"], session["currency"]
        intent_id, charge_id = self._new_id("pi_test_"), self._new_id("ch_test_")
        method_id = self._new_id("pm_test_")
        self.payment_intents[intent_id] = {
            "id": intent_id, "object": "payment_intent", "amount": amount, "amount_capturable": 0,
            "amount_received": 0 if pending else amount, "application_fee_amount": None,
            "canceled_at": None, "cancellation_reason": None, "capture_method": "automatic_async",
            "client_secret": f"{intent_id}_secret_{self._new_id('')}", "confirmation_method": "automatic",
            "created": now, "currency": currency, "customer": session["customer"],
            "description": intent_data.get("description") or None, "last_payment_error": None,
            "latest_charge": charge_id, "livemode": False, "metadata": metadata, "next_action": None,
            "on_behalf_of": None, "payment_method": method_id,
            "payment_method_types": session["payment_method_types"], "receipt_email": None,
            "setup_future_usage": intent_data.get("setup_future_usage") or None, "shipping": None,
            "statement_descriptor": None, "status": "processing" if pending else "succeeded",
            "transfer_data": None,
        }
        self.charges[charge_id] = {
            "id": charge_id, "object": "charge", "amount": amount, "amount_captured": 0 if pending else amount,
            "amount_refunded": 0, "balance_transaction": None if pending else self._new_id("txn_"),
            "captured": not pending, "created": now, "currency": currency, "customer": session["customer"],
            "description": intent_data.get("description") or None, "disputed": False, "failure_code": None,
            "failure_message": None, "livemode": False, "metadata": metadata, "paid": not pending,
            "payment_intent": intent_id, "payment_method": method_id, "receipt_url": None,
            "refunded": False, "status": "pending" if pending else "succeeded",
        }
        session["payment_intent"] = intent_id

    def _get_payment_intent(self, p: dict, intent: str) -> dict:
        return copy.deepcopy(self._fetch(self.payment_intents, intent, "payment_intent", "intent"))

    def _get_charge(self, p: dict, charge: str) -> dict:
        return copy.deepcopy(self._fetch(self.charges, charge, "charge", "charge"))

    def _create_refund(self, p: dict) -> dict:
        _refuse_unknown(p, _REFUND_CREATE)
        if not p.get("payment_intent") and not p.get("charge"):
            raise _ApiError(400, "One of the following params should be provided for this request: "
                            "payment_intent or charge.", code="parameter_missing", param="payment_intent")
        if p.get("payment_intent"):
            intent = self._fetch(self.payment_intents, p["payment_intent"], "payment_intent", "payment_intent", 400)
            charge = self.charges[intent["latest_charge"]]
            if p.get("charge") and p["charge"] != charge["id"]:
                raise _ApiError(400, "The charge does not belong to the PaymentIntent.", param="charge")
        else:
            charge = self._fetch(self.charges, p["charge"], "charge", "charge", 400)
        if charge["status"] != "succeeded":
            raise _ApiError(400, f"This PaymentIntent ({charge['payment_intent']}) does not have a successful "
                            "charge to refund.", code="payment_intent_unexpected_state", param="payment_intent")
        if charge["refunded"]:
            raise _ApiError(400, f"Charge {charge['id']} has already been refunded.",
                            code="charge_already_refunded", param="charge")
        refundable = charge["amount"] - charge["amount_refunded"]
        amount = refundable
        if p.get("amount") not in (None, ""):
            amount = _int(p["amount"], "amount", minimum=1)
            if amount > refundable:
                raise _ApiError(400, f"Refund amount ({amount / 100:.2f} {charge['currency']}) is greater than "
                                f"unrefunded amount on charge ({refundable / 100:.2f} {charge['currency']})",
                                code="amount_too_large", param="amount")
        reason = p.get("reason") or None
        if reason is not None:
            _enum(reason, ("duplicate", "fraudulent", "requested_by_customer"), "reason")
        return copy.deepcopy(self._refund_charge(charge, amount, reason=reason, metadata=_metadata(p.get("metadata"))))

    def _refund_charge(self, charge: dict, amount: int, *, reason: str | None, metadata: dict) -> dict:
        refund = {
            "id": self._new_id("re_"), "object": "refund", "amount": amount,
            "balance_transaction": self._new_id("txn_"), "charge": charge["id"], "created": self.now(),
            "currency": charge["currency"], "destination_details": None, "metadata": metadata,
            "payment_intent": charge["payment_intent"], "reason": reason, "receipt_number": None,
            "source_transfer_reversal": None, "status": "succeeded", "transfer_reversal": None,
        }
        self.refunds[refund["id"]] = refund
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] >= charge["amount"]
        self.event("refund.created", refund)
        self.event("charge.refunded", charge)
        return refund

    def _get_refund(self, p: dict, refund: str) -> dict:
        return copy.deepcopy(self._fetch(self.refunds, refund, "refund", "refund"))

    def _list_refunds(self, p: dict) -> dict:
        matches = [r for r in self.refunds.values()
                   if self._created_matches(r, p.get("created"))
                   and (not p.get("charge") or r["charge"] == p["charge"])
                   and (not p.get("payment_intent") or r["payment_intent"] == p["payment_intent"])]
        return self._paginate(matches, p, "/v1/refunds")

    # ----------------------------------------------------------------- events

    def _get_event(self, p: dict, id: str) -> dict:
        return copy.deepcopy(self._fetch(self.events, id, "event", "id"))

    def _list_events(self, p: dict) -> dict:
        wanted = p.get("type") or ""

        def type_matches(kind: str) -> bool:  # "checkout.session.*" is a documented wildcard
            return not wanted or kind == wanted or (wanted.endswith(".*") and kind.startswith(wanted[:-1]))

        matches = [e for e in self.events.values()
                   if type_matches(e["type"]) and self._created_matches(e, p.get("created"))]
        return self._paginate(matches, p, "/v1/events")


class _Handler(BaseHTTPRequestHandler):
    """Feeds each HTTP request to the owning StripeServer."""

    # HTTP/1.0 closes the connection after each response, so stop() never waits on
    # an idle keep-alive connection held by the client's pool.
    protocol_version = "HTTP/1.0"
    server_version = "stripe-loopback/1.0"

    def _handle(self) -> None:
        stripe_server: StripeServer = self.server.stripe  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.command == "GET" and self.path.startswith("/c/pay/"):
            # The hosted Checkout page a session's url points to; browsers don't send
            # API keys, so it isn't an API endpoint.
            self._send(200, {"Content-Type": "text/html; charset=utf-8"},
                       f"<h1>Checkout {self.path.rsplit('/', 1)[-1]}</h1>".encode())
            return
        status, headers, payload = stripe_server._dispatch(self.command, self.path, _Headers(self.headers.items()), body)
        self._send(status, {**headers, "Content-Type": "application/json"}, payload)

    def _send(self, status: int, headers: dict, payload: bytes) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = _handle

    def log_message(self, format: str, *args: Any) -> None:  # keep pytest output clean
        pass
