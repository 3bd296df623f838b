"""What reports read beyond the live tables: each case's DPD marks, and the weekly team
reports."""

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app import clock
from app.extensions import db
from app.models.cases import Case
from app.models.organisation import Team
from app.models.types import UTCDateTime, utcnow


class CaseDpdMark(db.Model):
    """A case's days past due from a moment on: written when a case arrives and whenever
    its DPD moves into another bucket of the collection strategy (``note_dpd_changes``).

    ``cases.days_past_due`` is only today's value; reports need each case's bucket at the
    start and the end of a period (roll rates), which is the latest mark before that moment.
    A mark per bucket change, not per day, keeps the table near one row per case.
    """

    __tablename__ = "case_dpd_marks"
    __table_args__ = (
        CheckConstraint("days_past_due >= 0", name="dpd_not_negative"),
        # A case's latest mark before a moment, read from the index alone; a period's marks.
        Index("ix_case_dpd_marks_case_at_dpd", "case_id", "at", "id", "days_past_due"),
        Index("ix_case_dpd_marks_at_case", "at", "case_id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    days_past_due: Mapped[int] = mapped_column(Integer)
    bucket: Mapped[str] = mapped_column(String(20))
    strategy_version: Mapped[str] = mapped_column(String(40))

    case: Mapped[Case] = relationship()


class TeamReport(db.Model):
    """A team's weekly report as produced by the ``weekly_reports`` job: its CSV and its
    printable page in storage."""

    __tablename__ = "team_reports"
    __table_args__ = (UniqueConstraint("team_id", "week_start", name="uq_team_reports_team_week"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"))
    week_start: Mapped[date] = mapped_column(Date)
    csv_key: Mapped[str] = mapped_column(String(255))
    html_key: Mapped[str] = mapped_column(String(255))
    csv_sha256: Mapped[str] = mapped_column(String(64))
    html_sha256: Mapped[str] = mapped_column(String(64))
    job_id: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    team: Mapped[Team] = relationship()

    @property
    def week_end(self):
        from datetime import timedelta

        return self.week_start + timedelta(days=6)


def dpd_mark_rows(changes, at):
    """Rows of ``case_dpd_marks`` for writers that bypass the ORM (the importer's bulk
    statements): ``changes`` are (case id, DPD before or None for a new case, DPD now)."""
    from app.policy.strategy import default_strategy

    strategy = default_strategy()
    return [
        {
            "case_id": case_id,
            "at": at,
            "days_past_due": now,
            "bucket": strategy.bucket_for(now),
            "strategy_version": strategy.version,
        }
        for case_id, before, now in changes
        if before is None or strategy.bucket_for(before) != strategy.bucket_for(now)
    ]


def note_dpd_changes(session, _flush_context, _instances):
    """Before each flush: a DPD mark for every new case and every case whose DPD moved into
    another bucket, whoever changed it (import, API, demo), in the same transaction."""
    from sqlalchemy.orm import attributes

    from app.policy.strategy import default_strategy

    strategy = default_strategy()
    for obj in list(session.new) + list(session.dirty):
        if not isinstance(obj, Case) or obj.days_past_due is None:
            continue
        bucket = strategy.bucket_for(obj.days_past_due)
        if obj in session.new:
            at = obj.created_at or clock.now()  # a new case: from its creation
        else:
            history = attributes.get_history(obj, "days_past_due")
            if not history.has_changes():
                continue
            if history.deleted and history.deleted[0] is not None and strategy.bucket_for(history.deleted[0]) == bucket:
                continue  # the same bucket: nothing a report could tell apart
            at = clock.now()
        session.add(
            CaseDpdMark(
                case=obj, at=at, days_past_due=obj.days_past_due, bucket=bucket, strategy_version=strategy.version
            )
        )


from sqlalchemy import event as _event  # noqa: E402
from sqlalchemy.orm import Session as _Session  # noqa: E402

_event.listen(_Session, "before_flush", note_dpd_changes)
