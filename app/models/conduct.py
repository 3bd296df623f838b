"""Conduct: complaints about collectors and the flags the conduct rules raise."""

from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.cases import Case
from app.models.organisation import Collector
from app.models.types import UTCDateTime, _in, utcnow

COMPLAINT_STATUSES = ("open", "under_review", "substantiated", "unsubstantiated", "withdrawn")
FLAG_STATUSES = ("open", "reviewed", "resolved", "dismissed")


class Complaint(db.Model):
    __tablename__ = "complaints"
    __table_args__ = (CheckConstraint(_in("status", COMPLAINT_STATUSES), name="status_known"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    debtor_id: Mapped[int | None] = mapped_column(ForeignKey("debtors.id"), index=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    collector_id: Mapped[int | None] = mapped_column(ForeignKey("collectors.id"), index=True)
    visit_id: Mapped[int | None] = mapped_column(ForeignKey("visits.id"))
    channel: Mapped[str] = mapped_column(String(30))
    category: Mapped[str] = mapped_column(String(40))
    text: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="open")
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    resolution_notes: Mapped[str | None] = mapped_column(Text)


class ConductFlag(db.Model):
    __tablename__ = "conduct_flags"
    __table_args__ = (CheckConstraint(_in("status", FLAG_STATUSES), name="status_known"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40), index=True)
    rule_id: Mapped[str] = mapped_column(String(60))
    profile_version: Mapped[str] = mapped_column(String(60))
    collector_id: Mapped[int | None] = mapped_column(ForeignKey("collectors.id"), index=True)
    crew_id: Mapped[int | None] = mapped_column(ForeignKey("crews.id"))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    task_id: Mapped[int | None] = mapped_column(ForeignKey("visit_tasks.id"))
    visit_id: Mapped[int | None] = mapped_column(ForeignKey("visits.id"), index=True)
    details: Mapped[dict] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(20), default="open")
    raised_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    review_notes: Mapped[str | None] = mapped_column(Text)

    collector: Mapped[Collector | None] = relationship()
    case: Mapped["Case | None"] = relationship()
