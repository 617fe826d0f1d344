"""The signed-in cart fragment's CPU per request, in-process (issue 17): not part of the suite (no test_ prefix).

    .venv/bin/pytest -q -s -p no:cacheprovider tests/profile_cart.py            # ms of CPU per request
    PROFILE=1 TOP=60 .venv/bin/pytest -q -s -p no:cacheprovider tests/profile_cart.py   # and cProfile's top

The cart is tests/test_cart_fragment_html.py's (four tickets in four states, price steps, a code); N requests
(200) with the Flask test client, best of three, time.process_time. Add TEST_DATABASE_URL for Postgres."""
import cProfile
import os
import pstats
import time

from tests.test_cart_fragment_html import HTMX, cart  # noqa: F401  (the fixture)

N = int(os.environ.get("N", 200))


def test_cart_fragment_cpu(cart):  # noqa: F811
    client, race, _ = cart
    url = f"/races/{race.slug}/cart"
    for _ in range(20):
        client.get(url, headers=HTMX)
    runs = []
    for _ in range(3):
        started = time.process_time()
        for _ in range(N):
            client.get(url, headers=HTMX)
        runs.append((time.process_time() - started) / N * 1000)
    print(f"\nCPU ms/request: {min(runs):.2f} ({', '.join(f'{r:.2f}' for r in runs)})")
    if os.environ.get("PROFILE"):
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(N):
            client.get(url, headers=HTMX)
        profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(int(os.environ.get("TOP", 60)))
