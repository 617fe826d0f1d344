"""The burst: 200 buyers press "Continue to payment" at the same moment for the last 100 spots.

Each buyer is a thread with its own cookie jar. It opens its cart (which gives it the session
cookie and the CSRF token, as a browser gets them), waits at a barrier with the others, then
POSTs /orders/<id>/checkout through the real checkout and pays on the test gateway. The answer
we want: exactly 100 tickets, and everyone else told "sold out"; no other errors.
"""
from __future__ import annotations

import re
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import requests
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import Order, OrderStatus, Registration, TicketType
from services import inventory

_CSRF = re.compile(r'"X-CSRFToken":\s*"([^"]+)"')
TIMEOUT = 120


@dataclass(frozen=True)
class Shopper:
    order_id: str
    access_token: str
    refresh_token: str


@dataclass
class Attempt:
    checkout_status: int | None = None
    checkout_ms: float | None = None
    outcome: str = ""            # paid | sold out | error
    pay_ms: float | None = None
    detail: str = ""


@dataclass
class BurstResult:
    buyers: int
    spots: int
    attempts: list[Attempt] = field(default_factory=list)
    wall_s: float = 0.0

    def count(self, outcome: str) -> int:
        return sum(1 for a in self.attempts if a.outcome == outcome)

    def checkout_latencies(self) -> list[float]:
        return sorted(a.checkout_ms for a in self.attempts if a.checkout_ms is not None)

    def errors(self) -> list[Attempt]:
        return [a for a in self.attempts if a.outcome == "error"]


def percentile(sorted_values: list[float], pct: float) -> float | None:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return None
    rank = max(1, -(-len(sorted_values) * pct // 100))  # ceil
    return sorted_values[int(rank) - 1]


def _buy(base_url: str, slug: str, shopper: Shopper, barrier: threading.Barrier, attempt: Attempt) -> None:
    http = requests.Session()
    http.cookies.set("sl_access", shopper.access_token)
    http.cookies.set("sl_refresh", shopper.refresh_token)
    try:
        cart = http.get(f"{base_url}/races/{slug}/cart", timeout=TIMEOUT)
        token = _CSRF.search(cart.text)
        if cart.status_code != 200 or token is None:
            found = "found" if token else "missing"
            attempt.outcome, attempt.detail = "error", f"cart page: HTTP {cart.status_code}, CSRF token {found}"
            barrier.wait(timeout=TIMEOUT)  # the others go ahead without this buyer
            return
        headers = {"X-CSRFToken": token[1]}
        barrier.wait(timeout=TIMEOUT)

        started = time.perf_counter()
        checkout = http.post(f"{base_url}/orders/{shopper.order_id}/checkout", headers=headers, allow_redirects=False,
                             timeout=TIMEOUT)
        attempt.checkout_ms = (time.perf_counter() - started) * 1000
        attempt.checkout_status = checkout.status_code
        if checkout.status_code == 409 and "sold out" in checkout.text.lower():
            attempt.outcome = "sold out"
            return
        location = checkout.headers.get("Location", "")
        if checkout.status_code != 303 or "/test-gateway/" not in location:
            attempt.outcome, attempt.detail = "error", f"checkout: HTTP {checkout.status_code} {location or checkout.text[:200]}"
            return

        started = time.perf_counter()
        paid = http.post(location, data={"action": "pay", "csrf_token": token[1]}, headers=headers,
                         allow_redirects=False, timeout=TIMEOUT)
        attempt.pay_ms = (time.perf_counter() - started) * 1000
        if paid.status_code != 303 or f"/orders/{shopper.order_id}" not in paid.headers.get("Location", ""):
            attempt.outcome, attempt.detail = "error", f"pay: HTTP {paid.status_code} {paid.text[:200]}"
            return
        attempt.outcome = "paid"
    except (requests.RequestException, threading.BrokenBarrierError) as exc:
        attempt.outcome, attempt.detail = "error", f"{type(exc).__name__}: {exc}"
    finally:
        http.close()


def run_burst(base_url: str, slug: str, shoppers: list[Shopper], spots: int) -> BurstResult:
    """Every shopper at once; returns what each of them saw."""
    result = BurstResult(buyers=len(shoppers), spots=spots, attempts=[Attempt() for _ in shoppers])
    barrier = threading.Barrier(len(shoppers) + 1)
    threads = [threading.Thread(target=_buy, args=(base_url, slug, s, barrier, a), daemon=True)
               for s, a in zip(shoppers, result.attempts, strict=True)]
    for thread in threads:
        thread.start()
    try:
        barrier.wait(timeout=TIMEOUT)  # everyone has their cart page and token
    except threading.BrokenBarrierError:
        pass  # a buyer timed out getting ready; each thread records what it saw
    started = time.perf_counter()
    for thread in threads:
        thread.join(timeout=TIMEOUT * 2)
    result.wall_s = time.perf_counter() - started
    return result


@dataclass(frozen=True)
class Ledger:
    """What the database says after the burst."""

    paid_orders: int
    tickets: int
    pending_orders: int
    sold_in_race: int
    capacity: int
    spots_left: int


def ledger(session: Session, ticket_type_id: int, order_ids: list[str], now) -> Ledger:
    ids = [uuid.UUID(i) for i in order_ids]
    statuses = Counter(dict(session.execute(
        select(Order.status, func.count()).where(Order.id.in_(ids)).group_by(Order.status)).all()))
    tickets = session.scalar(select(func.count(Registration.id)).join(Order, Order.id == Registration.order_id)
                             .where(Order.id.in_(ids), Order.status == OrderStatus.PAID,
                                    Registration.ticket_code.is_not(None)))
    ticket_type = session.get(TicketType, ticket_type_id)
    sold = session.scalar(select(func.count(Registration.id)).join(Order, Order.id == Registration.order_id)
                          .where(Registration.ticket_type_id == ticket_type_id, Order.status == OrderStatus.PAID))
    left = inventory.spots_left(session, [ticket_type], now)[ticket_type_id]
    return Ledger(paid_orders=statuses.get(OrderStatus.PAID, 0), tickets=tickets,
                  pending_orders=statuses.get(OrderStatus.PENDING, 0), sold_in_race=sold,
                  capacity=ticket_type.capacity, spots_left=left)
