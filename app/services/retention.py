"""Retention as policy: a debtor whose cases are all closed and past their profile's
retention is anonymised.

The unit is the debtor with every one of their cases: their personal data goes only when
no case of theirs still needs it. For each case, each record kind's period counts from
the event its profile names (``rules.retention_due``); the latest decides. A legal hold
(an open dispute, a complaint not yet closed, a litigation flag) stops it.

Anonymising removes the personal fields and keeps everything the reports count:

* debtor: name, phone, national id (and its blind index), address and stated times are
  removed; the home's coordinates are rounded to 0.01° (about 1 km), so maps and regional
  figures still place the case; language, time zone and flags stay;
* visits: notes removed, check-in/out coordinates rounded likewise (distances, accuracy,
  times, outcomes stay); the phone's stored requests and answers lose their notes;
* recordings: the files are deleted from storage (the local folder or S3); the rows stay
  with their hash, size and length, marked ``erased_at``;
* contact attempts lose their notes, complaints their text and resolution notes, conduct
  flags their review notes, agreements the acknowledgement reference;
* the audit log: the personal values kept beside the chain for events about the debtor
  are erased; the chain's commitments stay and it verifies as before.

Cases, amounts, payments, agreements and their instalments, visits, flags and every
audit event stay, so totals and reports add up as before. Each debtor is one
transaction: recordings are deleted before it commits (deleting a file already gone is
not an error, so a failed commit is simply done again at the next sweep).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import selectinload

from app import audit, clock, policy, storage
from app.extensions import db
from app.models import (
    AuditEventSubject,
    AuditPersonalValue,
    Case,
    ClientEvent,
    Complaint,
    ConductFlag,
    ContactAttempt,
    Debtor,
    Instalment,
    Payment,
    Recording,
    RepaymentAgreement,
    Team,
    Visit,
    VisitTask,
)
from app.pii import PERSONAL_KEYS
from app.policy import rules

log = logging.getLogger(__name__)
CLOSED = ("resolved", "closed")
OPEN_COMPLAINTS = ("open", "under_review")
ANONYMISED = "[anonymised]"
CHUNK = 500


def sweep(day: date | None = None, *, dry_run: bool = False, commit_each: bool = False) -> dict[str, Any]:
    """Anonymise every debtor due on ``day`` (default today, UTC); with ``dry_run`` change
    nothing and say what would go. ``commit_each``: commit after each debtor (the job and
    the CLI), so one failure (storage unreachable) leaves the others done."""
    day = day or clock.now().date()
    report: dict[str, Any] = {
        "date": day.isoformat(),
        "dry_run": dry_run,
        "anonymised": [],
        "held": [],
        "waiting": 0,
        "failed": [],
    }
    candidates = db.session.scalars(
        select(Debtor.id)
        .where(Debtor.anonymised_at.is_(None), Debtor.cases.any(), ~Debtor.cases.any(Case.stage.not_in(CLOSED)))
        .order_by(Debtor.id)
    ).all()
    for start in range(0, len(candidates), CHUNK):
        for debtor_id, holds, due, cases in _judge(candidates[start : start + CHUNK]):
            if holds:
                report["held"].append({"debtor_id": debtor_id, "cases": cases, "holds": holds})
            elif due > day:
                report["waiting"] += 1
            elif dry_run:
                report["anonymised"].append(
                    {
                        "debtor_id": debtor_id,
                        "cases": cases,
                        "due": due.isoformat(),
                        "removed": _what_goes(debtor_id, cases),
                    }
                )
            else:
                try:
                    removed = anonymise(debtor_id, cases, due)
                    if commit_each:
                        db.session.commit()
                except storage.StorageError as exc:
                    db.session.rollback()
                    log.warning("retention: debtor %s not anonymised: %s", debtor_id, exc.message)
                    report["failed"].append({"debtor_id": debtor_id, "error": exc.message})
                    continue
                report["anonymised"].append(
                    {"debtor_id": debtor_id, "cases": cases, "due": due.isoformat(), "removed": removed}
                )
    if not dry_run:
        audit.record(
            "retention.swept",
            entity_type="retention",
            extra={
                "date": report["date"],
                "anonymised": len(report["anonymised"]),
                "held": len(report["held"]),
                "waiting": report["waiting"],
                "failed": len(report["failed"]),
            },
        )
        if commit_each:
            db.session.commit()
    return report


def _judge(debtor_ids):
    """(debtor id, holds, due day, case ids) for each debtor, from a few grouped queries."""
    debtors = {d.id: d for d in db.session.scalars(select(Debtor).where(Debtor.id.in_(debtor_ids)))}
    cases = db.session.scalars(
        select(Case)
        .options(selectinload(Case.team).selectinload(Team.region))
        .where(Case.debtor_id.in_(debtor_ids))
        .order_by(Case.id)
    ).all()
    case_ids = [c.id for c in cases]
    latest = _latest_records(case_ids)
    open_complaints = set(
        db.session.scalars(
            select(Complaint.debtor_id).where(
                Complaint.status.in_(OPEN_COMPLAINTS),
                or_(Complaint.debtor_id.in_(debtor_ids), Complaint.case_id.in_(case_ids)),
            )
        )
    )
    open_complaints |= set(
        db.session.scalars(
            select(Case.debtor_id)
            .join(Complaint, Complaint.case_id == Case.id)
            .where(Complaint.status.in_(OPEN_COMPLAINTS), Case.id.in_(case_ids))
        )
    )
    by_debtor = defaultdict(list)
    for case in cases:
        by_debtor[case.debtor_id].append(case)
    engine = policy.current()
    for debtor_id in debtor_ids:
        mine = by_debtor[debtor_id]
        holds = rules.legal_holds(debtors[debtor_id].flags, debtor_id in open_complaints)
        due = None
        for case in mine:
            records = latest.get(case.id, {})
            # The case's last change: for a closed case, its closing or later (never earlier).
            closed = case.updated_at.date()
            last_activity = max([closed, *records.values()])
            case_due, _ = rules.retention_due(engine.for_team(case.team), closed, last_activity, records)
            due = case_due if due is None else max(due, case_due)
        yield debtor_id, holds, due, [c.id for c in mine]


def _latest_records(case_ids):
    """Per case, per record kind, the day of its latest record (what retention counts from)."""
    out = defaultdict(dict)
    if not case_ids:
        return out

    def take(kind, stmt):
        for case_id, moment in db.session.execute(stmt):
            if moment is not None:
                day = moment.date() if isinstance(moment, datetime) else moment
                out[case_id][kind] = max(out[case_id].get(kind, day), day)

    take(
        "contact_attempt",
        select(ContactAttempt.case_id, func.max(ContactAttempt.occurred_at))
        .where(ContactAttempt.case_id.in_(case_ids))
        .group_by(ContactAttempt.case_id),
    )
    for column in (Visit.check_in_at, Visit.check_out_at, Visit.outcome_at):
        take(
            "visit",
            select(VisitTask.case_id, func.max(column))
            .join(Visit, Visit.task_id == VisitTask.id)
            .where(VisitTask.case_id.in_(case_ids))
            .group_by(VisitTask.case_id),
        )
    take(
        "recording",
        select(VisitTask.case_id, func.max(Recording.uploaded_at))
        .join(Visit, Visit.task_id == VisitTask.id)
        .join(Recording, Recording.visit_id == Visit.id)
        .where(VisitTask.case_id.in_(case_ids))
        .group_by(VisitTask.case_id),
    )
    for column in (RepaymentAgreement.created_at, RepaymentAgreement.approved_at):
        take(
            "agreement",
            select(RepaymentAgreement.case_id, func.max(column))
            .where(RepaymentAgreement.case_id.in_(case_ids))
            .group_by(RepaymentAgreement.case_id),
        )
    take(
        "agreement",
        select(RepaymentAgreement.case_id, func.max(Instalment.due_date))
        .join(Instalment, Instalment.agreement_id == RepaymentAgreement.id)
        .where(RepaymentAgreement.case_id.in_(case_ids))
        .group_by(RepaymentAgreement.case_id),
    )
    for column in (Payment.paid_at, Payment.received_at):
        take(
            "payment",
            select(Payment.case_id, func.max(column)).where(Payment.case_id.in_(case_ids)).group_by(Payment.case_id),
        )
    for column in (Complaint.received_at, Complaint.resolved_at):
        take(
            "complaint",
            select(Complaint.case_id, func.max(column))
            .where(Complaint.case_id.in_(case_ids))
            .group_by(Complaint.case_id),
        )
    return out


# ---------------------------------------------------------------- what goes


def _visits_of(case_ids):
    return select(Visit).join(VisitTask, VisitTask.id == Visit.task_id).where(VisitTask.case_id.in_(case_ids))


def _recordings_of(case_ids):
    return (
        select(Recording)
        .join(Visit, Visit.id == Recording.visit_id)
        .join(VisitTask, VisitTask.id == Visit.task_id)
        .where(VisitTask.case_id.in_(case_ids), Recording.erased_at.is_(None))
    )


def _complaints_of(debtor_id, case_ids):
    return select(Complaint).where(or_(Complaint.debtor_id == debtor_id, Complaint.case_id.in_(case_ids)))


def _count(stmt):
    return db.session.scalar(select(func.count()).select_from(stmt.subquery()))


def _what_goes(debtor_id, case_ids):
    return {
        "debtor_fields": ["name", "phone", "national_id", "address", "availability", "home coordinates (rounded)"],
        "visits": _count(_visits_of(case_ids)),
        "recordings": _count(_recordings_of(case_ids)),
        "contact_attempts": _count(select(ContactAttempt).where(ContactAttempt.case_id.in_(case_ids))),
        "complaints": _count(_complaints_of(debtor_id, case_ids)),
        "audit_values": _count(
            select(AuditPersonalValue.seq).where(
                AuditPersonalValue.seq.in_(
                    select(AuditEventSubject.seq).where(AuditEventSubject.debtor_id == debtor_id)
                )
            )
        ),
    }


def _rounded(value):
    return None if value is None else round(value, 2)


def _scrubbed(value):
    """A stored phone request or answer without its personal values (coordinates rounded)."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key in ("lat", "lon") and isinstance(item, (int, float)) and not isinstance(item, bool):
                out[key] = _rounded(item)
            elif key in PERSONAL_KEYS:
                out[key] = None
            else:
                out[key] = _scrubbed(item)
        return out
    if isinstance(value, list):
        return [_scrubbed(item) for item in value]
    return value


def anonymise(debtor_id: int, case_ids: Sequence[int], due: date) -> dict[str, int]:
    """Remove the personal data of one debtor and their cases (see the module's docstring);
    flushes, and records ``debtor.anonymised``. Storage errors propagate (nothing is kept
    half-done: the caller rolls back)."""
    now = clock.now()
    debtor = db.session.get(Debtor, debtor_id)
    recordings = db.session.scalars(_recordings_of(case_ids)).all()
    store = storage.current()
    for recording in recordings:
        store.delete(recording.storage_key)
        recording.erased_at = now
    visits = db.session.scalars(_visits_of(case_ids)).all()
    for visit in visits:
        visit.notes = None
        visit.check_in_lat, visit.check_in_lon = _rounded(visit.check_in_lat), _rounded(visit.check_in_lon)
        visit.check_out_lat, visit.check_out_lon = _rounded(visit.check_out_lat), _rounded(visit.check_out_lon)
    task_ids = list(db.session.scalars(select(VisitTask.id).where(VisitTask.case_id.in_(case_ids))))
    events = db.session.scalars(select(ClientEvent).where(ClientEvent.task_id.in_(task_ids))).all() if task_ids else []
    for event in events:
        event.payload, event.response = _scrubbed(event.payload), _scrubbed(event.response)
    attempts = db.session.scalars(select(ContactAttempt).where(ContactAttempt.case_id.in_(case_ids))).all()
    for attempt in attempts:
        attempt.notes = None
    complaints = db.session.scalars(_complaints_of(debtor_id, case_ids)).all()
    for complaint in complaints:
        complaint.text, complaint.resolution_notes = ANONYMISED, None
    for flag in db.session.scalars(select(ConductFlag).where(ConductFlag.case_id.in_(case_ids))):
        flag.review_notes = None
    for agreement in db.session.scalars(select(RepaymentAgreement).where(RepaymentAgreement.case_id.in_(case_ids))):
        agreement.acknowledgement_ref = None
    debtor.name, debtor.address = ANONYMISED, ANONYMISED
    debtor.phone = debtor.national_id = None
    debtor.lat, debtor.lon = _rounded(debtor.lat), _rounded(debtor.lon)
    debtor.availability = []
    debtor.anonymised_at = now
    db.session.flush()
    entities = {
        "cases": case_ids,
        "visits": [v.id for v in visits],
        "visit_tasks": task_ids,
        "recordings": [r.id for r in recordings],
        "contact_attempts": [a.id for a in attempts],
        "complaints": [c.id for c in complaints],
        "conduct_flags": list(db.session.scalars(select(ConductFlag.id).where(ConductFlag.case_id.in_(case_ids)))),
    }
    values = audit.erase_personal_values([debtor_id], entities)
    removed = {
        "visits": len(visits),
        "recordings": len(recordings),
        "contact_attempts": len(attempts),
        "complaints": len(complaints),
        "audit_values": values,
    }
    audit.record(
        "debtor.anonymised",
        entity_type="debtors",
        entity_id=debtor_id,
        extra={"cases": case_ids, "due": due.isoformat(), "removed": removed},
    )
    return removed
