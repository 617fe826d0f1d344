"""Which pytest-xdist worker this process is, and the names that keep workers out of each other's way."""
from __future__ import annotations

import os


def worker_id() -> str | None:
    """"gw0", "gw1", … under `pytest -n N`; None in a plain `pytest` run (or `-n 0`)."""
    return os.environ.get("PYTEST_XDIST_WORKER") or None


def per_worker(name: str) -> str:
    """`name` for this worker: "startline_test" becomes "startline_test_gw1" under xdist, and stays as it is alone.

    Anything two workers would otherwise share on one server (a database, a cluster-wide role) takes its
    name from here, so `-n 2` runs the suite twice over side by side without either seeing the other.
    """
    worker = worker_id()
    return f"{name}_{worker}" if worker else name
