"""What the in-process profilers (bench/profile_cart.py, profile_registrants.py, profile_checkout.py) share: the app
with `make bench`'s environment on PROFILE_DATABASE_URL, its database made afresh and seeded as `make bench` seeds it."""
from __future__ import annotations

import os

from bench.run import app_environment


def reset(url: str) -> None:
    """Drop and create the database of `url` (its name must contain "bench" or "test")."""
    from urllib.parse import urlsplit, urlunsplit

    import psycopg
    from psycopg import sql

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if "bench" not in name and "test" not in name:
        raise SystemExit(f"Refusing to drop {name!r}: its name must contain 'bench' or 'test'.")
    with psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def seeded_app(*, reuse: bool = False, spike_races: int = 0):
    """(app, the seed's data): PROFILE_DATABASE_URL dropped, migrated, seeded (bench/seed.py) and VACUUMed and ANALYZEd as `make
    bench` does; with `reuse`, the database as an earlier run left it, and no seed data (None)."""
    url = os.environ["PROFILE_DATABASE_URL"]
    os.environ.update(app_environment(url, "http://127.0.0.1:5000"))
    if not reuse:
        reset(url)

    import flask_migrate

    from app import create_app
    from bench import scale
    from bench.seed import seed
    from extensions import db

    app = create_app()
    data = None
    if not reuse:
        with app.app_context():
            flask_migrate.upgrade(revision="heads")
            data = seed(db.session, spike_races=spike_races)
            scale.refresh_counts(db.session)  # VACUUM and ANALYZE, as make bench does: the planner's choices depend on it
            db.session.remove()
    return app, data
