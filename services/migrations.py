"""What `flask prod-migrate` is about to do: which database, which revisions, and is it production."""
from __future__ import annotations

from dataclasses import dataclass

from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask
from sqlalchemy.engine import URL, Engine

# Supabase's direct database hosts (db.<ref>.supabase.co) and its connection poolers.
SUPABASE_HOST_SUFFIXES = (".supabase.co", ".pooler.supabase.com")


def describe_target(url: URL) -> str:
    """The database in words, password hidden: "postgres on db.abc.supabase.co:5432 as postgres"."""
    if url.get_backend_name() == "sqlite":
        return f"SQLite file {url.database}"
    port = f":{url.port}" if url.port else ""
    user = f" as {url.username}" if url.username else ""
    return f"{url.database} on {url.host}{port}{user} (password hidden)"


def production_reason(url: URL, production_hosts: str = "") -> str | None:
    """Why `url` looks like a production database, or None. `production_hosts` is comma-separated."""
    host = (url.host or "").lower().rstrip(".")
    if not host:
        return None
    listed = {h.strip().lower() for h in production_hosts.split(",") if h.strip()}
    if host in listed:
        return f"{host} is listed in PRODUCTION_DATABASE_HOSTS"
    if host.endswith(SUPABASE_HOST_SUFFIXES):
        return f"{host} is a hosted Supabase database"
    return None


@dataclass
class Revision:
    id: str
    message: str

    def __str__(self) -> str:
        return f"{self.id}  {self.message}".rstrip()


@dataclass
class MigrationStatus:
    current: tuple[str, ...]   # the revisions recorded in alembic_version
    pending: list[Revision]    # oldest first


def migration_status(app: Flask, engine: Engine) -> MigrationStatus:
    """Read the database's revisions and list those not applied yet (connects; raises if it can't)."""
    script = ScriptDirectory.from_config(app.extensions["migrate"].migrate.get_config())
    with engine.connect() as conn:
        current = tuple(MigrationContext.configure(conn).get_current_heads())
    applied = {r.revision for r in script.iterate_revisions(current, "base")} if current else set()
    pending = [Revision(r.revision, (r.doc or "").strip().splitlines()[0] if r.doc else "")
               for r in reversed(list(script.walk_revisions())) if r.revision not in applied]
    return MigrationStatus(current, pending)
