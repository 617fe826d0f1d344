"""ScheduledJob: one row per recurring job, claimed by the worker that runs it and read by operators."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base


class ScheduledJob(Base):
    """When a job last started and finished, and what it did (for an operator: `flask scheduled-jobs`).

    `last_started_at` is also the claim: a worker runs the job only after moving it forward in a
    conditional UPDATE, so however many workers tick, one of them runs it per interval.
    """

    __tablename__ = "scheduled_jobs"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)   # expire-reservations, stripe-reconcile, …
    last_started_at: Mapped[datetime | None]
    last_finished_at: Mapped[datetime | None]
    last_succeeded: Mapped[bool | None] = mapped_column(Boolean)
    last_result: Mapped[str | None] = mapped_column(Text)             # the job's summary, or the error

    def __repr__(self) -> str:
        return f"<ScheduledJob {self.name} {self.last_started_at}>"
