"""Conduct flags: raised from the policy's findings, reviewed and resolved by people."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import selectinload

from app import audit, authz, clock, policy
from app.errors import Conflict, NotFound, ValidationFailed
from app.extensions import db
from app.models import Case, Collector, Complaint, ConductFlag, Debtor, RepaymentAgreement, User, Visit
from app.policy import rules
from app.services import door
from app.services.common import Data, paginate


def raise_flag(
    flag: rules.Flag,
    *,
    collector_id: int | None = None,
    crew_id: int | None = None,
    case_id: int | None = None,
    task_id: int | None = None,
    visit_id: int | None = None,
    about: dict[str, Any] | None = None,
) -> ConductFlag:
    """Store a ``rules.Flag`` as an open conduct flag, with its audit event. ``about``: more
    facts kept in its details (e.g. the agreement a waiver flag waits on)."""
    row = ConductFlag(
        kind=flag.kind,
        rule_id=flag.rule_id,
        profile_version=flag.profile,
        collector_id=collector_id,
        crew_id=crew_id,
        case_id=case_id,
        task_id=task_id,
        visit_id=visit_id,
        status="open",
        details={"reason_en": flag.reason_en, "reason_zh": flag.reason_zh, **flag.details, **(about or {})},
        raised_at=clock.now(),
    )
    db.session.add(row)
    db.session.flush()
    audit.record(
        "conduct_flag.raised",
        row,
        after={"kind": flag.kind, "rule_id": flag.rule_id, "collector_id": collector_id, "case_id": case_id},
    )
    return row


def _scoped_flags(user: User) -> Select[ConductFlag]:
    # The collector, the case and its debtor come with each flag (a page names them all).
    return authz.scope(
        select(ConductFlag).options(
            selectinload(ConductFlag.collector), selectinload(ConductFlag.case).selectinload(Case.debtor)
        ),
        ConductFlag,
        user,
    )


def list_flags(args: Data, user: User) -> dict[str, Any]:
    stmt = _scoped_flags(user)
    for name in ("status", "kind"):
        if args.get(name):
            stmt = stmt.where(getattr(ConductFlag, name) == args[name])
    if args.get("collector"):
        stmt = stmt.where(ConductFlag.collector_id.in_(select(Collector.id).where(Collector.code == args["collector"])))
    if args.get("since"):
        stmt = stmt.where(ConductFlag.raised_at >= args["since"])
    return paginate(stmt, ConductFlag, args)


def get_flag(flag_id: int, user: User) -> ConductFlag:
    flag = db.session.scalars(_scoped_flags(user).where(ConductFlag.id == flag_id)).one_or_none()
    if flag is None:
        raise NotFound("No such conduct flag.")
    return flag


def review_flag(flag: ConductFlag, data: Data, user: User) -> ConductFlag:
    """Review notes from a supervisor or auditor; a flag may be reviewed, resolved or dismissed."""
    if flag.status in ("resolved", "dismissed") and data["status"] != "reviewed":
        raise Conflict(f"The flag is already {flag.status}.")
    before = {"status": flag.status}
    flag.status, flag.review_notes = data["status"], data["notes"]
    flag.reviewed_by_id, flag.reviewed_at = user.id, clock.now()
    db.session.flush()
    audit.record(
        "conduct_flag.reviewed", flag, before=before, after={"status": flag.status}, extra={"notes": data["notes"]}
    )
    return flag


def close_waiver_flags(agreement: RepaymentAgreement, user: User, decision: str, note: str | None) -> list[ConductFlag]:
    """A waiver decided (approved, rejected or countered) closes the flag that asked for the
    decision, with the decision as its review — the attention list holds only what still
    waits. Flags from before they named their agreement are matched by the visit."""
    flags = db.session.scalars(
        select(ConductFlag).where(
            ConductFlag.case_id == agreement.case_id,
            ConductFlag.kind == "waiver_above_limit",
            ConductFlag.status.in_(("open", "reviewed")),
        )
    ).all()
    closed = []
    for flag in flags:
        named = (flag.details or {}).get("agreement_id")
        if named == agreement.id or (
            named is None and flag.visit_id is not None and flag.visit_id == agreement.visit_id
        ):
            before = {"status": flag.status}
            flag.status, flag.review_notes = "resolved", f"waiver {decision}: {note}"
            flag.reviewed_by_id, flag.reviewed_at = user.id, clock.now()
            db.session.flush()
            audit.record(
                "conduct_flag.reviewed",
                flag,
                before=before,
                after={"status": "resolved"},
                extra={"notes": flag.review_notes, "agreement_id": agreement.id, "decision": decision},
            )
            closed.append(flag)
    return closed


# ---------------------------------------------------------------- complaints


def create_complaint(data: Data, user: User) -> Complaint:
    """A complaint from any channel. It raises a conduct flag; while it is open, the
    collector it names is kept away from that debtor (the policy's complaint rule)."""
    case = debtor_id = collector = None
    if data.get("case_id"):
        case = authz.get_visible(Case, data["case_id"], user, "case")
        debtor_id = case.debtor_id
    elif data.get("debtor_id"):
        debtor_id = authz.get_visible(Debtor, data["debtor_id"], user, "debtor").id
    else:
        raise ValidationFailed("Say whose complaint it is.", fields={"case_id": ["give case_id or debtor_id"]})
    if data.get("collector"):
        collector = db.session.scalars(
            authz.scope(select(Collector).where(Collector.code == data["collector"]), Collector, user)
        ).one_or_none()
        if collector is None:
            raise ValidationFailed("No such collector.", fields={"collector": ["unknown"]})
    visit_id = data.get("visit_id")
    if visit_id is not None:
        # Only a visit the caller may see, and one at this case's (or this debtor's) door:
        # another team's visit answers as if it did not exist.
        visit = db.session.scalars(authz.scope(select(Visit).where(Visit.id == visit_id), Visit, user)).one_or_none()
        if (
            visit is None
            or (case is not None and visit.task.case_id != case.id)
            or visit.task.case.debtor_id != debtor_id
        ):
            raise ValidationFailed("No such visit of this case.", fields={"visit_id": ["unknown"]})
        collector = collector or visit.collector
    complaint = Complaint(
        debtor_id=debtor_id,
        case_id=case.id if case else None,
        collector_id=collector.id if collector else None,
        visit_id=visit_id,
        channel=data["channel"],
        category=data["category"],
        text=data["text"],
        status="open",
        received_at=data.get("received_at") or clock.now(),
    )
    db.session.add(complaint)
    db.session.flush()
    team = case.team if case else (collector.team if collector else None)
    profile = policy.current().for_team(team) if team else policy.current().get()
    raise_flag(
        rules.complaint_flag(profile, data["category"]),
        collector_id=complaint.collector_id,
        crew_id=collector.crew_id if collector else None,
        case_id=complaint.case_id,
        visit_id=visit_id,
    )
    audit.record(
        "complaint.received",
        complaint,
        after={"channel": complaint.channel, "category": complaint.category, "collector_id": complaint.collector_id},
    )
    if complaint.collector_id is not None:
        # The collector's crew is kept away from this debtor from now on.
        door.withdraw_unlawful(debtor_ids=[debtor_id], cause=f"complaint:{complaint.id}")
    return complaint


def list_complaints(args: Data, user: User) -> dict[str, Any]:
    stmt = list_complaints_stmt(user)
    if args.get("status"):
        stmt = stmt.where(Complaint.status == args["status"])
    return paginate(stmt, Complaint, args)


def get_complaint(complaint_id: int, user: User) -> Complaint:
    complaint = db.session.scalars(list_complaints_stmt(user).where(Complaint.id == complaint_id)).one_or_none()
    if complaint is None:
        raise NotFound("No such complaint.")
    return complaint


def list_complaints_stmt(user: User) -> Select[Complaint]:
    return authz.scope(select(Complaint), Complaint, user)


def resolve_complaint(complaint: Complaint, data: Data, user: User) -> Complaint:
    if complaint.status in ("substantiated", "unsubstantiated", "withdrawn"):
        raise Conflict(f"The complaint is already {complaint.status}.")
    before = {"status": complaint.status}
    complaint.status = data["status"]
    complaint.resolution_notes = data["notes"]
    if data["status"] != "under_review":
        complaint.resolved_at, complaint.resolved_by_id = clock.now(), user.id
    db.session.flush()
    audit.record(
        "complaint.updated",
        complaint,
        before=before,
        after={"status": complaint.status},
        extra={"notes": data["notes"]},
    )
    return complaint


# ---------------------------------------------------------------- a collector's record


def conduct_record(collector: Collector, since: date, until: date) -> dict[str, Any]:
    """Visits, flags by kind, complaints, agreements made and kept, over a period."""
    start = datetime.combine(since, datetime.min.time(), UTC)
    end = datetime.combine(until, datetime.max.time(), UTC)
    visits = db.session.scalar(
        select(func.count())
        .select_from(Visit)
        .where(Visit.collector_id == collector.id, Visit.check_in_at.between(start, end))
    )
    flags = dict(
        db.session.execute(
            select(ConductFlag.kind, func.count())
            .where(ConductFlag.collector_id == collector.id, ConductFlag.raised_at.between(start, end))
            .group_by(ConductFlag.kind)
        ).all()
    )
    complaints = dict(
        db.session.execute(
            select(Complaint.status, func.count())
            .where(Complaint.collector_id == collector.id, Complaint.received_at.between(start, end))
            .group_by(Complaint.status)
        ).all()
    )
    agreement_rows = dict(
        db.session.execute(
            select(RepaymentAgreement.status, func.count())
            .join(Visit, Visit.id == RepaymentAgreement.visit_id)
            .where(Visit.collector_id == collector.id, RepaymentAgreement.created_at.between(start, end))
            .group_by(RepaymentAgreement.status)
        ).all()
    )
    return {
        "collector": collector.code,
        "from": since,
        "to": until,
        "visits": visits,
        "flags": flags,
        "flags_total": sum(flags.values()),
        "complaints": {
            "total": sum(complaints.values()),
            "by_status": complaints,
            "substantiated": complaints.get("substantiated", 0),
        },
        "agreements": {
            "made": sum(agreement_rows.values()),
            "kept": agreement_rows.get("kept", 0),
            "broken": agreement_rows.get("broken", 0),
            "by_status": agreement_rows,
        },
    }
