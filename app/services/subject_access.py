"""A debtor's request for their data (PIPL art. 45, GDPR/UK GDPR art. 15): everything the
service holds on one debtor, for an admin to hand over as JSON or a printable page.

It gathers the debtor's own record (decrypted, whole), each of their cases with its
contact attempts, visits (with the recordings list), agreements with their instalments,
payments and conduct flags; their complaints; every audit event about them with the
personal values still held; and who read their data and when (the ``pii.read`` events
naming them). Producing it is itself on the log: a ``pii.read`` by the admin, ``via``
``debtors.subject_access``, in the request's transaction.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import selectinload

from app import audit, authz, clock, money
from app.extensions import db
from app.models import (
    AuditEvent,
    AuditEventSubject,
    Case,
    Complaint,
    ConductFlag,
    ContactAttempt,
    Debtor,
    Payment,
    RepaymentAgreement,
    User,
    Visit,
    VisitTask,
)
from app.services.audit_log import parsed_changes, record_personal_reads

PERSONAL_FIELDS = ("name", "phone", "national_id", "address", "lat", "lon", "notes", "text")


def _place(at, lat, lon, accuracy_m, distance_m):
    if at is None:
        return None
    return {"at": at, "lat": lat, "lon": lon, "accuracy_m": accuracy_m, "distance_m": distance_m}


def _visits(case_ids):
    visits = db.session.scalars(
        select(Visit)
        .options(
            selectinload(Visit.recordings),
            selectinload(Visit.collector),
            selectinload(Visit.crew),
            selectinload(Visit.task),
        )
        .join(VisitTask, VisitTask.id == Visit.task_id)
        .where(VisitTask.case_id.in_(case_ids))
        .order_by(Visit.id)
    )
    by_case = {}
    for v in visits:
        by_case.setdefault(v.task.case_id, []).append(
            {
                "id": v.id,
                "visit_date": v.task.visit_date,
                "crew": v.crew.code,
                "collector": v.collector.code,
                "check_in": _place(
                    v.check_in_at, v.check_in_lat, v.check_in_lon, v.check_in_accuracy_m, v.check_in_distance_m
                ),
                "check_out": _place(
                    v.check_out_at, v.check_out_lat, v.check_out_lon, v.check_out_accuracy_m, v.check_out_distance_m
                ),
                "outcome": v.outcome,
                "outcome_at": v.outcome_at,
                "person_met": v.person_met,
                "notes": v.notes,
                "recordings": [
                    {
                        "id": r.id,
                        "sha256": r.sha256,
                        "kind": r.kind,
                        "content_type": r.content_type,
                        "size_bytes": r.size_bytes,
                        "duration_seconds": r.duration_seconds,
                        "uploaded_at": r.uploaded_at,
                        "erased_at": r.erased_at,
                    }
                    for r in sorted(v.recordings, key=lambda r: r.id)
                ],
            }
        )
    return by_case


def _agreements(case_ids):
    by_case = {}
    for a in db.session.scalars(
        select(RepaymentAgreement)
        .options(selectinload(RepaymentAgreement.instalments))
        .where(RepaymentAgreement.case_id.in_(case_ids))
        .order_by(RepaymentAgreement.id)
    ):
        amount = lambda minor, a=a: money.to_decimal_string(minor, a.currency)  # noqa: E731
        by_case.setdefault(a.case_id, []).append(
            {
                "id": a.id,
                "visit_id": a.visit_id,
                "kind": a.kind,
                "status": a.status,
                "currency": a.currency,
                "total": amount(a.total_minor),
                "waiver": amount(a.waiver_minor),
                "owed": amount(a.owed_minor),
                "frequency": a.frequency,
                "acknowledgement_kind": a.acknowledgement_kind,
                "created_at": a.created_at,
                "approved_at": a.approved_at,
                "instalments": [
                    {
                        "seq": i.seq,
                        "due_date": i.due_date,
                        "amount": amount(i.amount_minor),
                        "paid": amount(i.paid_minor),
                        "status": i.status,
                    }
                    for i in a.instalments
                ],
            }
        )
    return by_case


def _grouped(model, case_ids, order, view):
    by_case = {}
    for row in db.session.scalars(select(model).where(model.case_id.in_(case_ids)).order_by(order)):
        by_case.setdefault(row.case_id, []).append(view(row))
    return by_case


def _events(debtor_id, case_ids):
    """Every audit event about the debtor or their cases, personal values still held put back."""
    about = select(AuditEventSubject.seq).where(AuditEventSubject.debtor_id == debtor_id)
    rows = db.session.scalars(
        select(AuditEvent)
        .where(
            or_(
                AuditEvent.seq.in_(about),
                (AuditEvent.entity_type == "debtors") & (AuditEvent.entity_id == str(debtor_id)),
                (AuditEvent.entity_type == "cases") & AuditEvent.entity_id.in_([str(c) for c in case_ids]),
            )
        )
        .order_by(AuditEvent.seq)
    ).all()
    values = audit.personal_values({r.seq for r in rows})
    names = dict(
        db.session.execute(
            select(User.id, User.username).where(
                User.id.in_({r.actor_user_id for r in rows if r.actor_user_id is not None})
            )
        ).all()
    )
    events, reads = [], []
    for r in rows:
        changes = parsed_changes(r.changes)
        if r.seq in values and isinstance(changes, (dict, list)):
            changes = audit.reveal(changes, values[r.seq])
        event = {
            "seq": r.seq,
            "occurred_at": r.occurred_at,
            "action": r.action,
            "actor_role": r.actor_role,
            "actor_username": names.get(r.actor_user_id),
            "entity_type": r.entity_type,
            "entity_id": r.entity_id,
            "changes": changes,
        }
        events.append(event)
        if r.action == "pii.read":
            extra = changes.get("extra", {}) if isinstance(changes, dict) else {}
            reads.append(
                {
                    "seq": r.seq,
                    "at": r.occurred_at,
                    "actor_username": names.get(r.actor_user_id),
                    "actor_role": r.actor_role,
                    "via": extra.get("via"),
                    "fields": extra.get("fields", []),
                    "masked": extra.get("masked", []),
                }
            )
    return events, reads


def subject_access(debtor_id: int, user: User, fmt: str) -> dict[str, Any]:
    """Everything held on one debtor (see the module's docstring), as one dict."""
    debtor = authz.get_visible(Debtor, debtor_id, user, "debtor")
    cases = db.session.scalars(
        select(Case).options(selectinload(Case.team)).where(Case.debtor_id == debtor.id).order_by(Case.id)
    ).all()
    case_ids = [c.id for c in cases]
    visits, agreements = _visits(case_ids), _agreements(case_ids)
    contacts = _grouped(
        ContactAttempt,
        case_ids,
        ContactAttempt.occurred_at,
        lambda c: {
            "id": c.id,
            "channel": c.channel,
            "purpose": c.purpose,
            "result": c.result,
            "occurred_at": c.occurred_at,
            "planned_visit_date": c.planned_visit_date,
            "notes": c.notes,
        },
    )
    payments = _grouped(
        Payment,
        case_ids,
        Payment.paid_at,
        lambda p: {
            "id": p.id,
            "reference": p.reference,
            "amount": money.to_decimal_string(p.amount_minor, p.currency),
            "currency": p.currency,
            "paid_at": p.paid_at,
            "received_at": p.received_at,
        },
    )
    flags = _grouped(
        ConductFlag,
        case_ids,
        ConductFlag.id,
        lambda f: {
            "id": f.id,
            "kind": f.kind,
            "rule_id": f.rule_id,
            "profile_version": f.profile_version,
            "status": f.status,
            "raised_at": f.raised_at,
            "visit_id": f.visit_id,
        },
    )
    complaints = db.session.scalars(
        select(Complaint)
        .where(or_(Complaint.debtor_id == debtor.id, Complaint.case_id.in_(case_ids)))
        .order_by(Complaint.id)
    ).all()
    events, reads = _events(debtor.id, case_ids)
    record_personal_reads(
        user, [(debtor.id, c, PERSONAL_FIELDS) for c in case_ids or [None]], via="debtors.subject_access"
    )
    return {
        "generated_at": clock.now(),
        "generated_by": user.username,
        "format": fmt,
        "debtor": {
            "id": debtor.id,
            "name": debtor.name,
            "phone": debtor.phone,
            "national_id": debtor.national_id,
            "address": debtor.address,
            "lat": debtor.lat,
            "lon": debtor.lon,
            "timezone": debtor.timezone,
            "language": debtor.language,
            "availability": list(debtor.availability or []),
            "flags": sorted(k for k, v in (debtor.flags or {}).items() if v),
            "created_at": debtor.created_at,
            "updated_at": debtor.updated_at,
            "anonymised_at": debtor.anonymised_at,
        },
        "cases": [
            {
                "id": c.id,
                "loan_ref": c.loan_ref,
                "team": c.team.code,
                "product": c.product,
                "currency": c.currency,
                "principal": money.to_decimal_string(c.principal_minor, c.currency),
                "outstanding": money.to_decimal_string(c.outstanding_minor, c.currency),
                "days_past_due": c.days_past_due,
                "stage": c.stage,
                "created_at": c.created_at,
                "updated_at": c.updated_at,
                "contact_attempts": contacts.get(c.id, []),
                "visits": visits.get(c.id, []),
                "agreements": agreements.get(c.id, []),
                "payments": payments.get(c.id, []),
                "conduct_flags": flags.get(c.id, []),
            }
            for c in cases
        ],
        "complaints": [
            {
                "id": c.id,
                "case_id": c.case_id,
                "channel": c.channel,
                "category": c.category,
                "text": c.text,
                "status": c.status,
                "received_at": c.received_at,
                "resolved_at": c.resolved_at,
                "resolution_notes": c.resolution_notes,
            }
            for c in complaints
        ],
        "reads": reads,
        "audit_events": events,
    }
