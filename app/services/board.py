"""The day's state for the dispatch board: crews, where they are, their routes and
every task's status, with the conduct flags and approvals that need a person."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from app import authz, pii
from app.extensions import db
from app.models import Case, ConductFlag, Crew, DispatchPlan, RepaymentAgreement, User, Visit, VisitTask
from app.services.audit_log import record_personal_reads
from app.services.common import Data
from app.services.dispatch.problem import resolve_scope


def board_state(data: Data, user: User) -> dict[str, Any]:
    teams, region, team = resolve_scope(data, user)
    team_ids = [t.id for t in teams]
    day = data["date"]
    crews = db.session.scalars(
        select(Crew)
        .options(selectinload(Crew.members), selectinload(Crew.team))
        .where(Crew.team_id.in_(team_ids), Crew.active.is_(True))
        .order_by(Crew.code)
    ).all()
    tasks = db.session.scalars(
        select(VisitTask)
        .options(selectinload(VisitTask.case).selectinload(Case.debtor), selectinload(VisitTask.crew))
        .join(Case, Case.id == VisitTask.case_id)
        .where(Case.team_id.in_(team_ids), VisitTask.visit_date == day)
        .order_by(VisitTask.crew_id, VisitTask.sequence, VisitTask.id)
    ).all()
    task_ids = [t.id for t in tasks]
    visits = (
        {v.task_id: v for v in db.session.scalars(select(Visit).where(Visit.task_id.in_(task_ids)))} if task_ids else {}
    )
    flagged = (
        set(
            db.session.scalars(
                select(ConductFlag.task_id).where(ConductFlag.task_id.in_(task_ids), ConductFlag.status == "open")
            )
        )
        if task_ids
        else set()
    )
    positions, check_ins = _last_positions([c.id for c in crews], day)
    plan = db.session.scalars(
        select(DispatchPlan).where(
            DispatchPlan.plan_date == day,
            DispatchPlan.team_id == (team.id if team else None),
            DispatchPlan.region_id == (None if team else region.id),
            DispatchPlan.status == "committed",
        )
    ).first()
    open_flags = db.session.scalar(
        authz.scope(
            select(func.count()).select_from(ConductFlag).where(ConductFlag.status == "open"), ConductFlag, user
        )
    )
    pending = db.session.scalar(
        authz.scope(
            select(func.count()).select_from(RepaymentAgreement).where(RepaymentAgreement.status == "pending_approval"),
            RepaymentAgreement,
            user,
        )
    )
    record_personal_reads(
        user,
        [(t.case.debtor_id, t.case_id, ("name", "address", "lat", "lon")) for t in tasks],
        via="board",
        masked=("name",),
    )
    return {
        "date": day,
        "team": team.code if team else None,
        "region": region.code,
        "timezone": region.timezone,
        "plan": None
        if plan is None
        else {"id": plan.id, "status": plan.status, "summary": plan.summary, "committed_at": plan.committed_at},
        "crews": [
            {
                "code": crew.code,
                "team": crew.team.code,
                "members": [m.name for m in crew.members if m.active],
                "home": _centre(crew),
                "position": positions.get(crew.id),
                "last_check_in": check_ins.get(crew.id),
                "capacity": min((m.daily_capacity for m in crew.members if m.active), default=0),
            }
            for crew in crews
        ],
        "tasks": [_task_view(t, visits.get(t.id), t.id in flagged) for t in tasks],
        "counts": _counts(tasks, flagged),
        "attention": {"open_flags": open_flags, "pending_approvals": pending},
    }


def _centre(crew: Crew) -> dict[str, float] | None:
    members = [m for m in crew.members if m.active] or crew.members
    if not members:
        return None
    return {
        "lat": round(sum(m.home_lat for m in members) / len(members), 6),
        "lon": round(sum(m.home_lon for m in members) / len(members), 6),
    }


def _last_positions(crew_ids: Sequence[int], day: date) -> tuple[dict[int, dict[str, Any]], dict[int, dict[str, Any]]]:
    """Each crew's latest check-in or check-out position that day, and its last check-in
    (the time and the loan it was at)."""
    out: dict[int, dict[str, Any]] = {}
    check_ins: dict[int, dict[str, Any]] = {}
    if not crew_ids:
        return out, check_ins
    rows = db.session.execute(
        select(Visit, Case.loan_ref)
        .join(VisitTask, VisitTask.id == Visit.task_id)
        .join(Case, Case.id == VisitTask.case_id)
        .where(Visit.crew_id.in_(crew_ids), VisitTask.visit_date == day)
        .order_by(Visit.check_in_at)
    )
    for visit, loan_ref in rows:
        if visit.check_out_at is not None and visit.check_out_lat is not None:
            out[visit.crew_id] = {"lat": visit.check_out_lat, "lon": visit.check_out_lon, "at": visit.check_out_at}
        else:
            out[visit.crew_id] = {"lat": visit.check_in_lat, "lon": visit.check_in_lon, "at": visit.check_in_at}
        check_ins[visit.crew_id] = {"at": visit.check_in_at, "loan_ref": loan_ref}
    return out, check_ins


def _task_view(task: VisitTask, visit: Visit | None, flagged: bool) -> dict[str, Any]:
    debtor = task.case.debtor
    return {
        "id": task.id,
        "case_id": task.case_id,
        "debtor_id": task.case.debtor_id,
        "loan_ref": task.case.loan_ref,
        "status": task.status,
        "display_status": "flagged" if flagged else task.status,
        "crew": task.crew.code if task.crew else None,
        "sequence": task.sequence,
        "planned_start": task.planned_start,
        "planned_end": task.planned_end,
        "priority": task.priority,
        "lat": debtor.lat,
        "lon": debtor.lon,
        "debtor": pii.mask_name(debtor.name),
        "address": debtor.address,
        "reason": task.reason,
        "visit_id": visit.id if visit else None,
        "outcome": visit.outcome if visit else None,
    }


def _counts(tasks: Sequence[VisitTask], flagged: Collection[int | None]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for task in tasks:
        counts[task.status] = counts.get(task.status, 0) + 1
    counts["flagged"] = sum(1 for t in tasks if t.id in flagged)
    return counts
