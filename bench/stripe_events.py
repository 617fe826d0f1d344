"""Stripe webhook events for the benchmark, signed the way Stripe signs them.

Most events name a Checkout Session this database never created (another environment's, as with a
developer's `stripe listen`): the app records the event id and answers 200 "ignored". Every tenth
names a real pending order's session: the first such delivery pays the order, later ones find it
paid already. Each event has its own id, so none is a duplicate unless the file runs out.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

from bench.seed import PendingPayment

REAL_EVERY = 10


def sign(payload: str, secret: str, timestamp: int | None = None) -> str:
    """The Stripe-Signature header: HMAC-SHA256 of f"{t}.{payload}" keyed by the endpoint secret."""
    t = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{t}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def completed_event(session_id: str, *, order_id: str, amount_total: int, currency: str, app_env: str,
                    amount_tax: int = 0) -> str:
    """A checkout.session.completed event as Stripe sends it (the fields the app reads, and a few more)."""
    now = int(time.time())
    return json.dumps({
        "id": f"evt_{secrets.token_hex(12)}", "object": "event", "api_version": "2026-10-28.endive",
        "created": now, "livemode": False, "pending_webhooks": 1, "type": "checkout.session.completed",
        "request": {"id": None, "idempotency_key": None},
        "data": {"object": {
            "id": session_id, "object": "checkout.session", "mode": "payment", "status": "complete",
            "payment_status": "paid", "amount_subtotal": amount_total - amount_tax, "amount_total": amount_total,
            "currency": currency.lower(), "client_reference_id": order_id,
            "customer_email": "runner@example.com", "created": now - 120, "expires_at": now + 1680,
            "metadata": {"order_id": order_id, "app_env": app_env},
            # One payment per session, as Stripe has it: a second event for the session is a redelivery
            # (already done), not a second payment (which the app records as a duplicate to refund).
            "payment_intent": f"pi_{hashlib.sha256(session_id.encode()).hexdigest()[:24]}",
            "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": amount_tax},
        }},
    }, separators=(",", ":"))


def foreign_event(app_env: str) -> str:
    """An event for a session some other environment created: acknowledged and ignored."""
    return completed_event(f"cs_test_{secrets.token_hex(24)}", order_id=str(uuid.uuid4()), amount_total=4500,
                           currency="usd", app_env=app_env)


def write_events(path: Path, count: int, pending: Sequence[PendingPayment], secret: str, app_env: str) -> int:
    """Write `count` signed events, one "signature<TAB>payload" per line; returns how many name a real order."""
    real = 0
    t = int(time.time())
    with path.open("w") as out:
        for i in range(count):
            if pending and i % REAL_EVERY == 0:
                payment = pending[real % len(pending)]
                payload = completed_event(payment.session_id, order_id=str(payment.order_id),
                                          amount_total=payment.total, currency=payment.currency, app_env=app_env,
                                          amount_tax=payment.tax)
                real += 1
            else:
                payload = foreign_event(app_env)
            out.write(f"{sign(payload, secret, t)}\t{payload}\n")
    return real
