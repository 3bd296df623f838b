"""A day's work: the dispatch plans and the visit tasks they give to crews."""

from datetime import date, datetime

from sqlalchemy import JSON, CheckConstraint, Date, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.cases import Case
from app.models.organisation import Crew, Region, Team
from app.models.types import UTCDateTime, _in, utcnow

# withdrawn: a task the rules no longer allow (a change made it unlawful, or its day passed
# unstarted); its reason names the rule. The case goes back to the planner's pool.
TASK_STATUSES = ("open", "assigned", "checked_in", "done", "cancelled", "withdrawn")


class DispatchPlan(db.Model):
    """A day's plan for a team or region: a draft a supervisor previews, then commits."""

    __tablename__ = "dispatch_plans"
    __table_args__ = (
        CheckConstraint(_in("status", ("draft", "committed", "superseded", "discarded")), name="status_known"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    plan_date: Mapped[date] = mapped_column(Date, index=True)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"))
    region_id: Mapped[int | None] = mapped_column(ForeignKey("regions.id"))
    status: Mapped[str] = mapped_column(String(20), default="draft")
    policy_profile: Mapped[str] = mapped_column(String(60))
    # The engine's plan as JSON, and the reasons for each task.
    result: Mapped[dict] = mapped_column(JSON, default=dict)
    summary: Mapped[dict] = mapped_column(JSON, default=dict)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    committed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    team: Mapped[Team | None] = relationship()
    region: Mapped[Region | None] = relationship()


class VisitTask(db.Model):
    """A home visit to make on a given day; assigned to a crew by a plan or by hand."""

    __tablename__ = "visit_tasks"
    __table_args__ = (
        CheckConstraint(_in("status", TASK_STATUSES), name="status_known"),
        CheckConstraint(
            "status IN ('open', 'cancelled', 'withdrawn') OR crew_id IS NOT NULL", name="assigned_has_crew"
        ),
        CheckConstraint("priority >= 0 AND priority <= 100", name="priority_range"),
        UniqueConstraint("case_id", "visit_date", name="uq_visit_tasks_case_date"),
        # The portfolio report: a period's tasks with their case, crew and status, from the index alone.
        Index("ix_visit_tasks_date_case", "visit_date", "case_id", "id", "crew_id", "status"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    visit_date: Mapped[date] = mapped_column(Date, index=True)
    status: Mapped[str] = mapped_column(String(20), default="open")
    crew_id: Mapped[int | None] = mapped_column(ForeignKey("crews.id"), index=True)
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("dispatch_plans.id"))
    sequence: Mapped[int | None] = mapped_column(Integer)
    planned_start: Mapped[datetime | None] = mapped_column(UTCDateTime)
    planned_end: Mapped[datetime | None] = mapped_column(UTCDateTime)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    # Why the task went to its crew, or why it is unassigned: rule ids and words.
    reason: Mapped[dict] = mapped_column(JSON, default=dict)
    # Every crew the task was ever given to, so a stale phone's event is a conflict, not a 404.
    crew_history: Mapped[list] = mapped_column(JSON, default=list)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    case: Mapped[Case] = relationship()
    crew: Mapped[Crew | None] = relationship()

    __mapper_args__ = {"version_id_col": version}
