"""The registration-opening spike: 1,000 buyers with complete carts press "Continue to payment"
within 10 seconds for 500 spots, while Stripe takes 300 ms to create each Checkout Session.

The Stripe double is the test suite's loopback Stripe (tests/doubles/stripe_api.py) with a
latency knob. Each buyer has its own cookies (the auth tokens, and a Flask session holding a CSRF
token, minted in-process as a browser would have them from its cart page) and its own connection;
buyer i sends at i × window / buyers, however the others fare (open loop: a slow server does not
slow the arrivals). The buyers are coroutines on one asyncio loop, each writing its request on a
new connection and reading the answer (BENCH_SPIKE_CLIENT=threads: a thread each with `requests`,
as before: about three times the CPU, taken from the CPUs the server shares, and under load its
requests left late); how late each request left against its schedule is reported
(`send_late_p99_ms`), so a client that cannot keep up shows. A checkout answered 303 to the Stripe page holds a spot; the bench
then completes those sessions on the double and delivers each checkout.session.completed webhook,
signed, to the app, so "sold" means paid orders in the database, not redirects.
"""
from __future__ import annotations

import asyncio
import gzip
import json
import math
import os
import re
import subprocess
import sys
import threading
import time
import uuid
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import requests

from bench import stripe_events
from bench.ledger import Attempt, percentile
from tests.doubles.stripe_api import StripeServer

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 120
WINDOW_SECONDS = 10.0
CLIENT = os.environ.get("BENCH_SPIKE_CLIENT", "asyncio").strip() or "asyncio"  # or "threads"


class SlowStripe(StripeServer):
    """The loopback Stripe, answering Checkout Session creation after `latency` seconds (outside its lock).

    It runs in a process of its own (`python -m bench.spike <latency>`, see StripeProcess), so its
    threads do not share a GIL with the 1,000 buyers; `POST /bench/pay/<session id>` completes a session
    and answers the checkout.session.completed event, as StripeServer.pay_session does in the tests."""

    def __init__(self, latency: float):
        super().__init__()
        self.latency = latency

    def start(self) -> SlowStripe:
        super().start()
        self._httpd.socket.listen(512)  # a spike opens hundreds of connections at once (the default backlog is 5)
        return self

    def _dispatch(self, method, raw_path, headers, body):
        if method == "POST" and raw_path.startswith("/bench/pay/"):
            try:
                return 200, {}, json.dumps(self.pay_session(raw_path.rsplit("/", 1)[-1])).encode()
            except ValueError as error:
                return 400, {}, json.dumps({"error": str(error)}).encode()
        if method == "POST" and raw_path.rstrip("/").split("?")[0] == "/v1/checkout/sessions":
            time.sleep(self.latency)
        return super()._dispatch(method, raw_path, headers, body)


class StripeProcess:
    """SlowStripe in its own process; `pay(session_id)` answers the completed event's JSON."""

    api_key = StripeServer.api_key

    def __init__(self, latency: float, log_path: Path):
        self.latency, self.log_path = latency, log_path
        self.url = ""
        self.process: subprocess.Popen | None = None

    def start(self) -> StripeProcess:
        log = self.log_path.open("w")
        self.process = subprocess.Popen([sys.executable, "-m", "bench.spike", str(self.latency)],
                                        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and self.process.poll() is None:
            started = re.search(r"Stripe double on (\S+),", self.log_path.read_text())
            if started:
                self.url = started[1]
                return self
            time.sleep(0.1)
        raise RuntimeError(f"the Stripe double did not start: {self.log_path.read_text()[-2000:]}")

    def pay(self, session_id: str) -> str:
        response = requests.post(f"{self.url}/bench/pay/{session_id}", timeout=TIMEOUT)
        response.raise_for_status()
        return response.text

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


@dataclass(frozen=True)
class Buyer:
    order_id: str
    cookies: dict[str, str]
    csrf_token: str


@dataclass
class SpikeResult:
    model: str
    buyers: int
    spots: int
    window_s: float
    stripe_latency_ms: float
    attempts: list[Attempt] = field(default_factory=list)
    wall_s: float = 0.0
    webhooks_delivered: int = 0
    webhook_errors: list[str] = field(default_factory=list)
    cpu_ms: dict[str, float] = field(default_factory=dict)  # CPU time during the buyers' part, per process
    client: str = CLIENT
    send_late_ms: list[float] = field(default_factory=list)  # per buyer: how long after its time its request left

    def count(self, outcome: str) -> int:
        return sum(1 for a in self.attempts if a.outcome == outcome)

    def errors(self) -> list[Attempt]:
        return [a for a in self.attempts if a.outcome == "error"]

    def medians_by_second(self) -> list[float | None]:
        """The median checkout of the buyers sent in each second of the window (buyers leave evenly, in order): a
        queue that grows while spots are sold shows as medians that climb, then fall once only refusals are left."""
        seconds: list[list[float]] = [[] for _ in range(max(1, math.ceil(self.window_s)))]
        for i, attempt in enumerate(self.attempts):  # buyer i leaves at i × window ÷ buyers (run_spike)
            if attempt.checkout_ms is not None:
                seconds[min(len(seconds) - 1, int(i * self.window_s / len(self.attempts)))].append(attempt.checkout_ms)
        return [_round(percentile(sorted(times), 50)) for times in seconds]

    def summary(self) -> dict:
        latencies = sorted(a.checkout_ms for a in self.attempts if a.checkout_ms is not None)
        return {"model": self.model, "buyers": self.buyers, "spots": self.spots, "window_s": self.window_s,
                "stripe_latency_ms": self.stripe_latency_ms, "reached_stripe": self.count("reached stripe"),
                "sold_out": self.count("sold out"), "errors": len(self.errors()),
                "error_samples": [a.detail for a in self.errors()[:5]],
                "checkout_p50_ms": _round(percentile(latencies, 50)),
                "checkout_p99_ms": _round(percentile(latencies, 99)),
                "checkout_max_ms": _round(latencies[-1] if latencies else None),
                "checkout_p50_ms_by_second": self.medians_by_second(),
                "wall_s": round(self.wall_s, 2),
                "client": self.client, "send_late_p99_ms": _round(percentile(sorted(self.send_late_ms), 99)),
                "webhooks_delivered": self.webhooks_delivered, "webhook_errors": self.webhook_errors[:5],
                "cpu_ms_per_checkout": {k: round(v / self.buyers, 1) for k, v in self.cpu_ms.items()}}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def browser_state(app, count: int) -> list[tuple[str, str]]:
    """`count` Flask session cookies, each holding a CSRF token, with the token the page would show:
    what a buyer's browser has after opening its cart (the app's own signing, in-process)."""
    from flask import session
    from flask_wtf.csrf import generate_csrf

    serializer = app.session_interface.get_signing_serializer(app)
    states = []
    for _ in range(count):
        with app.test_request_context("/"):
            token = generate_csrf()
            states.append((serializer.dumps(dict(session)), token))
    return states


_TICK_MS = 1000 / os.sysconf("SC_CLK_TCK")


def _tree_cpu_ms(pid: int) -> float:
    """User + system CPU milliseconds of a process and its live children, from /proc (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) * _TICK_MS + sum(_tree_cpu_ms(int(c)) for c in children)


def _machine_busy_ms() -> float:
    """CPU milliseconds every core spent not idle since boot (/proc/stat): Postgres and everyone else included."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(values[:8]) - values[3] - values[4]) * _TICK_MS


def cpu_snapshot(pids: dict[str, int]) -> dict[str, float]:
    ours = os.times()
    return {**{name: _tree_cpu_ms(pid) for name, pid in pids.items()},
            "load generator": (ours.user + ours.system) * 1000, "machine": _machine_busy_ms()}


def _judge(attempt: Attempt, status: int, location: str, text: str, stripe_url: str) -> None:
    attempt.checkout_status = status
    if status == 409 and "sold out" in text.lower():
        attempt.outcome = "sold out"
    elif status == 303 and location.startswith(stripe_url + "/c/pay/"):
        attempt.outcome, attempt.detail = "reached stripe", location.rsplit("/", 1)[-1]
    else:
        attempt.outcome = "error"
        attempt.detail = f"checkout: HTTP {status} {location or text[:200]}"


def _checkout(base_url: str, buyer: Buyer, start_at: float, stripe_url: str, attempt: Attempt,
              late: list[float], index: int) -> None:
    """One buyer as a thread with `requests` (BENCH_SPIKE_CLIENT=threads)."""
    http = requests.Session()
    for name, value in buyer.cookies.items():
        http.cookies.set(name, value)
    try:
        delay = start_at - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        started = time.perf_counter()
        late[index] = (started - start_at) * 1000
        response = http.post(f"{base_url}/orders/{buyer.order_id}/checkout", headers={"X-CSRFToken": buyer.csrf_token},
                             allow_redirects=False, timeout=TIMEOUT)
        attempt.checkout_ms = (time.perf_counter() - started) * 1000
        _judge(attempt, response.status_code, response.headers.get("Location", ""), response.text, stripe_url)
    except requests.RequestException as exc:
        attempt.outcome, attempt.detail = "error", f"{type(exc).__name__}: {exc}"
    finally:
        http.close()


async def _checkout_async(base_url: str, buyer: Buyer, start_at: float, stripe_url: str, attempt: Attempt,
                          late: list[float], index: int) -> None:
    """One buyer as a coroutine: the same request as `_checkout` (its cookies, CSRF header, gzip accepted, a
    connection of its own), written and read with asyncio streams."""
    target = urlsplit(base_url)
    cookie = "; ".join(f"{name}={value}" for name, value in buyer.cookies.items())
    request = (f"POST /orders/{buyer.order_id}/checkout HTTP/1.1\r\nHost: {target.netloc}\r\n"
               f"User-Agent: startline-bench\r\nAccept: */*\r\nAccept-Encoding: gzip, deflate\r\n"
               f"Cookie: {cookie}\r\nX-CSRFToken: {buyer.csrf_token}\r\nContent-Length: 0\r\n"
               f"Connection: close\r\n\r\n").encode()
    delay = start_at - time.perf_counter()
    if delay > 0:
        await asyncio.sleep(delay)
    started = time.perf_counter()
    late[index] = (started - start_at) * 1000
    writer = None
    try:
        async with asyncio.timeout(TIMEOUT):
            reader, writer = await asyncio.open_connection(target.hostname, target.port)
            writer.write(request)
            raw = await reader.read()  # Connection: close: the answer ends with the connection
        attempt.checkout_ms = (time.perf_counter() - started) * 1000
        head, _, body = raw.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = _unchunk(body)
        encoding = headers.get("content-encoding", "")
        if encoding == "gzip":
            body = gzip.decompress(body)
        elif encoding == "deflate":
            body = zlib.decompress(body)
        _judge(attempt, int(lines[0].split()[1]), headers.get("location", ""), body.decode("utf-8", "replace"),
               stripe_url)
    except (OSError, TimeoutError, ValueError, IndexError, zlib.error) as exc:
        attempt.outcome, attempt.detail = "error", f"{type(exc).__name__}: {exc}"
    finally:
        if writer is not None:
            writer.close()


def _unchunk(body: bytes) -> bytes:
    out = bytearray()
    while body:
        size_line, _, body = body.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out += body[:size]
        body = body[size + 2:]
    return bytes(out)


async def _buyers_async(base_urls: list[str], buyers: list[Buyer], t0: float, window: float, stripe_url: str,
                        attempts: list[Attempt], late: list[float]) -> None:
    await asyncio.gather(*(_checkout_async(base_urls[i % len(base_urls)], b, t0 + i * window / len(buyers), stripe_url,
                                           a, late, i)
                           for i, (b, a) in enumerate(zip(buyers, attempts, strict=True))))


def run_spike(base_urls: list[str], buyers: list[Buyer], spots: int, stripe: StripeProcess, *, model: str,
              webhook_secret: str, window: float = WINDOW_SECONDS, cpu_of: dict[str, int] | None = None) -> SpikeResult:
    """Every buyer within `window` seconds, spread evenly (and over the servers in turn); then the
    sessions that opened are paid and their webhooks delivered. `cpu_of` ({name: pid}): processes whose
    CPU time during the buyers' part is measured (result.cpu_ms), with this process's and the machine's."""
    result = SpikeResult(model=model, buyers=len(buyers), spots=spots, window_s=window,
                         stripe_latency_ms=stripe.latency * 1000, attempts=[Attempt() for _ in buyers],
                         send_late_ms=[0.0] * len(buyers))
    t0 = time.perf_counter() + 0.5
    before = cpu_snapshot(cpu_of or {})
    if CLIENT == "threads":
        threads = [threading.Thread(target=_checkout, daemon=True,
                                    args=(base_urls[i % len(base_urls)], b, t0 + i * window / len(buyers), stripe.url,
                                          a, result.send_late_ms, i))
                   for i, (b, a) in enumerate(zip(buyers, result.attempts, strict=True))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=TIMEOUT + window + 5)
    else:
        asyncio.run(_buyers_async(base_urls, buyers, t0, window, stripe.url, result.attempts, result.send_late_ms))
    result.wall_s = time.perf_counter() - t0
    after = cpu_snapshot(cpu_of or {})
    result.cpu_ms = {name: after[name] - before[name] for name in after}

    def deliver(item: tuple[int, Attempt]) -> str | None:
        i, attempt = item
        event = stripe.pay(attempt.detail)
        response = requests.post(f"{base_urls[i % len(base_urls)]}/webhooks/stripe", data=event, timeout=TIMEOUT,
                                 headers={"Content-Type": "application/json",
                                          "Stripe-Signature": stripe_events.sign(event, webhook_secret)})
        return None if response.status_code == 200 else f"HTTP {response.status_code} {response.text[:120]}"

    opened = [(i, a) for i, a in enumerate(result.attempts) if a.outcome == "reached stripe"]
    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(deliver, opened))
    result.webhooks_delivered = sum(1 for o in outcomes if o is None)
    result.webhook_errors = [o for o in outcomes if o is not None]
    return result


def spike_buyers(app, order_ids: list[uuid.UUID], tokens: list[tuple[str, str]]) -> list[Buyer]:
    """The buyers of one spike race: their auth cookies, and a fresh browser session each."""
    states = browser_state(app, len(order_ids))
    cookie_name = app.config["SESSION_COOKIE_NAME"]
    return [Buyer(str(order_id), {"sl_access": access, "sl_refresh": refresh, cookie_name: session_cookie}, csrf)
            for order_id, (access, refresh), (session_cookie, csrf) in zip(order_ids, tokens, states, strict=True)]


if __name__ == "__main__":  # the Stripe double's own process: python -m bench.spike <latency in seconds>
    sys.path[0] = str(ROOT)
    double = SlowStripe(float(sys.argv[1])).start()
    print(f"Stripe double on {double.url}, Checkout Sessions in {double.latency * 1000:.0f} ms", flush=True)
    double._thread.join()
