"""RegistrationAudit: one line per field an organizer changed on a registrant, and who changed it."""
from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, utcnow


class RegistrationAudit(Base):
    __tablename__ = "registration_audits"

    id: Mapped[int] = mapped_column(primary_key=True)
    registration_id: Mapped[int] = mapped_column(ForeignKey("registrations.id", ondelete="CASCADE"), index=True)
    # Who: an organizer or the buyer; none when the runner acted through their emailed link (`actor` says so).
    profile_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("profiles.id"), index=True)
    actor: Mapped[str] = mapped_column(String(200), default="", server_default="")
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    field: Mapped[str] = mapped_column(String(40))
    old_value: Mapped[str] = mapped_column(Text, default="")
    new_value: Mapped[str] = mapped_column(Text, default="")

    def __repr__(self) -> str:
        return f"<RegistrationAudit {self.registration_id} {self.field}>"
