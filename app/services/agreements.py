"""Repayment agreements, payments and the daily evaluation of both.

Money is integer minor units. An instalment plan splits the total into ``count``
parts of ``total // count``; the remainder (fewer than ``count`` minor units) goes
one unit each to the earliest instalments, so the parts sum to the total exactly and
no two differ by more than one fen/cent.
"""

from __future__ import annotations

import calendar
from collections.abc import Collection
from datetime import date, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from app import audit, authz, clock, money, policy
from app.errors import Conflict, NotFound, ValidationFailed
from app.extensions import db
from app.models import (
    Case,
    Instalment,
    LedgerEntry,
    Payment,
    PaymentAllocation,
    RepaymentAgreement,
    Team,
    User,
    Visit,
    VisitTask,
)
from app.policy import rules
from app.services import conduct, ledger
from app.services.allocation import allocate
from app.services.common import Data, paginate

FREQUENCIES = ("weekly", "fortnightly", "monthly")
MAX_INSTALMENTS = 60


def split_total(total_minor: int, count: int) -> list[int]:
    """``count`` amounts summing to ``total_minor``; earlier ones carry the remainder."""
    if count < 1:
        raise ValueError("count must be at least 1")
    base, remainder = divmod(total_minor, count)
    return [base + (1 if i < remainder else 0) for i in range(count)]


def _add_months(day: date, months: int) -> date:
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def due_dates(first: date, count: int, frequency: str) -> list[date]:
    if frequency == "weekly":
        return [first + timedelta(weeks=i) for i in range(count)]
    if frequency == "fortnightly":
        return [first + timedelta(weeks=2 * i) for i in range(count)]
    return [_add_months(first, i) for i in range(count)]


def schedule(kind: str, total_minor: int, data: Data) -> list[tuple[date, int]]:
    """The instalments of an agreement as [(due_date, amount_minor)]."""
    if kind == "promise":
        return [(data["due_date"], total_minor)]
    count = data["count"]
    if total_minor < count:
        raise ValidationFailed(
            "Each instalment must be at least one minor unit.",
            fields={"agreement": {"count": ["more instalments than the total allows"]}},
        )
    return list(zip(due_dates(data["first_due_date"], count, data["frequency"]), split_total(total_minor, count)))


def create_agreement(
    case: Case, data: Data, *, visit: Visit | None = None, actor: User | None = None, today: date | None = None
) -> RepaymentAgreement:
    """Record an agreement made at the door. A waiver above the profile's limit
    leaves it ``pending_approval`` (and flagged) until a supervisor approves."""
    currency = case.currency
    amounts = {}
    for key in ("total", "waiver"):
        try:
            amounts[key] = money.to_minor(data.get(key, "0"), currency)
        except money.MoneyError as exc:
            raise ValidationFailed("Amount is not valid.", fields={"agreement": {key: [str(exc)]}}) from None
    total, waiver = amounts["total"], amounts["waiver"]
    if data.get("currency") and data["currency"] != currency:
        raise ValidationFailed(
            "The agreement must be in the case's currency.",
            fields={"agreement": {"currency": [f"the case is in {currency}"]}},
        )
    if total <= 0:
        raise ValidationFailed("The total must be positive.", fields={"agreement": {"total": ["must be positive"]}})
    case = ledger.lock_case(case.id)  # the waiver moves the balance: judged on the balance as it is
    if total + waiver > case.outstanding_minor:
        raise ValidationFailed(
            "The total and waiver exceed what is owed.",
            fields={
                "agreement": {
                    "total": [f"total + waiver exceeds {money.to_decimal_string(case.outstanding_minor, currency)}"]
                }
            },
        )
    first_due = data.get("due_date") or data.get("first_due_date")
    today = today or clock.today(case.debtor.timezone)
    if first_due < today:
        raise ValidationFailed(
            "The first payment cannot be due in the past.",
            fields={
                "agreement": {
                    "due_date" if data["kind"] == "promise" else "first_due_date": ["must not be in the past"]
                }
            },
        )
    parts = schedule(data["kind"], total, data)
    profile = policy.current().for_team(case.team)
    flag = rules.waiver_flag(profile, case.outstanding_minor, waiver)
    ack = data.get("acknowledgement") or {}
    agreement = RepaymentAgreement(
        case_id=case.id,
        visit_id=visit.id if visit else None,
        kind=data["kind"],
        status="pending_approval" if flag else "active",
        currency=currency,
        total_minor=total,
        waiver_minor=waiver,
        owed_minor=case.outstanding_minor,
        frequency=data.get("frequency"),
        acknowledgement_kind=ack.get("kind"),
        acknowledgement_ref=ack.get("ref"),
        created_by_id=getattr(actor, "id", None),
    )
    db.session.add(agreement)
    db.session.flush()
    for seq, (due, amount) in enumerate(parts, start=1):
        db.session.add(Instalment(agreement_id=agreement.id, seq=seq, due_date=due, amount_minor=amount))
    if case.stage != "agreement":
        case.stage = "agreement"
    db.session.flush()
    if flag is not None:
        conduct.raise_flag(
            flag,
            collector_id=visit.collector_id if visit else None,
            crew_id=visit.crew_id if visit else None,
            case_id=case.id,
            visit_id=visit.id if visit else None,
            about={"agreement_id": agreement.id},
        )
    elif waiver:
        _apply_waiver(case, agreement)
    audit.record(
        "agreement.created",
        agreement,
        after={
            "kind": agreement.kind,
            "status": agreement.status,
            "total_minor": total,
            "waiver_minor": waiver,
            "instalments": [[d.isoformat(), a] for d, a in parts],
            "acknowledgement": ack.get("kind"),
        },
    )
    return agreement


def _apply_waiver(case, agreement):
    """An approved (or within-limit) waiver: a ledger row lowering the balance, never below zero."""
    amount = min(agreement.waiver_minor, case.outstanding_minor)
    if amount > 0:
        ledger.post(case, "waiver", amount, f"agreement:{agreement.id}", agreement_id=agreement.id)


def _pending(agreement, verb):
    if agreement.status != "pending_approval":
        raise Conflict(
            f"The agreement is {agreement.status}; only one pending approval can be {verb}.",
            fields={"status": [f"is {agreement.status}"]},
        )


def _decide(agreement, actor, waiver_minor):
    """The policy's word on whether this caller may approve this waiver (refused by rule id)."""
    profile = policy.current().for_team(agreement.case.team)
    tier = rules.approval_tier(actor.role, actor.team_id is not None)
    return rules.waiver_approval(profile, tier, agreement.owed_minor, waiver_minor)


def approve(agreement: RepaymentAgreement, actor: User, note: str | None) -> RepaymentAgreement:
    """Approve a waiver within the caller's limit: the agreement becomes active and the
    waiver is a ledger row. Above the limit it is refused naming the rule."""
    _pending(agreement, "approved")
    decision = _decide(agreement, actor, agreement.waiver_minor).enforce()
    case = ledger.lock_case(agreement.case_id)
    agreement.status, agreement.approved_by_id = "active", actor.id
    agreement.approved_at = clock.now()
    agreement.decided_by_id, agreement.decision_note = actor.id, note
    _apply_waiver(case, agreement)
    if case.stage != "agreement" and case.stage not in ("resolved", "closed"):
        case.stage = "agreement"
    db.session.flush()
    conduct.close_waiver_flags(agreement, actor, "approved", note)
    audit.record(
        "agreement.approved",
        agreement,
        before={"status": "pending_approval"},
        after={"status": "active", "outstanding_minor": case.outstanding_minor},
        extra={
            "note": note,
            "rule_id": decision.rule_id,
            "limit_percent": decision.details["limit"],
            "waiver_percent": decision.details["percent"],
            "tier": decision.details["tier"],
        },
    )
    return agreement


def reject(agreement: RepaymentAgreement, actor: User, reason: str) -> RepaymentAgreement:
    """Refuse a waiver, with the reason the agent reads on the phone; the case's balance is as it was."""
    _pending(agreement, "rejected")
    decision = _decide(agreement, actor, agreement.waiver_minor)
    agreement.status, agreement.decided_by_id, agreement.decision_note = "rejected", actor.id, reason
    agreement.approved_at = None
    _back_to_the_door(agreement)
    db.session.flush()
    conduct.close_waiver_flags(agreement, actor, "rejected", reason)
    audit.record(
        "agreement.rejected",
        agreement,
        before={"status": "pending_approval"},
        after={"status": "rejected"},
        extra={
            "reason": reason,
            "rule_id": decision.rule_id,
            "limit_percent": decision.details.get("limit"),
            "waiver_percent": decision.details.get("percent"),
        },
    )
    return agreement


def _back_to_the_door(agreement):
    """A waiver refused or countered leaves no deal: unless another agreement is active, the
    case goes back where a broken one would (the agent renegotiates)."""
    case = agreement.case
    other = db.session.scalar(
        select(func.count())
        .select_from(RepaymentAgreement)
        .where(
            RepaymentAgreement.case_id == case.id,
            RepaymentAgreement.id != agreement.id,
            RepaymentAgreement.status.in_(("active", "pending_approval")),
        )
    )
    if case.stage == "agreement" and not other:
        case.stage = policy.current().for_team(case.team).agreements["broken_returns_to"]


def counter(agreement: RepaymentAgreement, actor: User, waiver_minor: int, note: str | None) -> RepaymentAgreement:
    """Answer a waiver with a smaller one the caller may approve: the agent takes it back to
    the debtor and records a new agreement; this one is closed as ``countered``."""
    _pending(agreement, "countered")
    if waiver_minor >= agreement.waiver_minor:
        raise ValidationFailed(
            "A counter-offer waives less than was asked.", fields={"waiver": ["must be below the waiver asked"]}
        )
    decision = _decide(agreement, actor, waiver_minor).enforce()
    agreement.status, agreement.decided_by_id, agreement.decision_note = "countered", actor.id, note
    agreement.counter_waiver_minor = waiver_minor
    _back_to_the_door(agreement)
    db.session.flush()
    conduct.close_waiver_flags(agreement, actor, "countered", note)
    audit.record(
        "agreement.countered",
        agreement,
        before={"status": "pending_approval"},
        after={"status": "countered", "counter_waiver_minor": waiver_minor},
        extra={
            "note": note,
            "rule_id": decision.rule_id,
            "limit_percent": decision.details["limit"],
            "waiver_percent": decision.details["percent"],
        },
    )
    return agreement


def _agreement_stmt():
    return select(RepaymentAgreement).options(
        selectinload(RepaymentAgreement.instalments), selectinload(RepaymentAgreement.case)
    )


def list_agreements(args: Data, user: User) -> dict[str, Any]:
    stmt = authz.scope(_agreement_stmt(), RepaymentAgreement, user)
    if args.get("status"):
        stmt = stmt.where(RepaymentAgreement.status == args["status"])
    if args.get("case_id"):
        stmt = stmt.where(RepaymentAgreement.case_id == args["case_id"])
    return paginate(stmt, RepaymentAgreement, args)


def get_agreement(agreement_id: int, user: User) -> RepaymentAgreement:
    agreement = db.session.scalars(
        authz.scope(_agreement_stmt().where(RepaymentAgreement.id == agreement_id), RepaymentAgreement, user)
    ).one_or_none()
    if agreement is None:
        raise NotFound("No such agreement.")
    return agreement


# ---------------------------------------------------------------- payments


def record_payment(data: Data) -> tuple[Payment, bool]:
    """A payment from the servicing system, idempotent on its reference.

    Returns (payment, created). The same reference with the same content answers the
    stored payment; with different content it is a conflict. The case row is locked
    (parallel payments queue on it); the payment is a ledger row, allocated to the oldest
    open instalment of the case's active agreements first; what no instalment takes stays
    on the case, and what goes beyond the balance is a credit held for a refund decision.
    """
    existing = db.session.scalars(select(Payment).where(Payment.reference == data["reference"])).one_or_none()
    case = _payment_case(data)
    try:
        amount = money.to_minor(data["amount"], case.currency)
    except money.MoneyError as exc:
        raise ValidationFailed("Amount is not valid.", fields={"amount": [str(exc)]}) from None
    if data["currency"] != case.currency:
        raise ValidationFailed(
            "Currency differs from the case's.", fields={"currency": [f"the case is in {case.currency}"]}
        )
    if amount <= 0:
        raise ValidationFailed("The amount must be positive.", fields={"amount": ["must be positive"]})
    if existing is not None:
        return _same_or_conflict(existing, case, amount, data), False
    payment = Payment(
        reference=data["reference"],
        case_id=case.id,
        amount_minor=amount,
        currency=case.currency,
        paid_at=data["paid_at"],
    )
    savepoint = db.session.begin_nested()
    try:
        db.session.add(payment)
        db.session.flush()
    except IntegrityError:
        # A parallel request recorded the same reference first: answer theirs.
        savepoint.rollback()
        existing = db.session.scalars(select(Payment).where(Payment.reference == data["reference"])).one()
        return _same_or_conflict(existing, case, amount, data), False
    savepoint.commit()
    apply_payment(case, payment)
    return payment, True


def apply_payment(case: Case, payment: Payment) -> list[list[int]]:
    """Post a stored payment to its locked case: ledger, allocations, stage, audit."""
    amount = payment.amount_minor
    before = {"outstanding_minor": case.outstanding_minor, "credit_minor": case.credit_minor, "stage": case.stage}
    ledger.post(case, "payment", amount, f"payment:{payment.reference}", payment_id=payment.id)
    allocations = _allocate(case, payment)
    if case.outstanding_minor == 0 and case.stage not in ("resolved", "closed"):
        case.stage = "resolved"
    db.session.flush()
    audit.record(
        "payment.recorded",
        payment,
        before=before,
        after={
            "outstanding_minor": case.outstanding_minor,
            "credit_minor": case.credit_minor,
            "stage": case.stage,
            "amount_minor": amount,
            "reference": payment.reference,
            "allocations": allocations,
        },
    )
    return allocations


def _payment_case(data):
    # The case row is locked until the request commits: parallel payments to one case
    # queue here, each reading the balance the one before it left (no lost update).
    stmt = (
        select(Case)
        .options(selectinload(Case.team).selectinload(Team.region))
        .with_for_update(of=Case)
        .execution_options(populate_existing=True)
    )
    if data.get("case_id"):
        case = db.session.scalars(stmt.where(Case.id == data["case_id"])).one_or_none()
    else:
        case = db.session.scalars(stmt.where(Case.loan_ref == data["loan_ref"])).one_or_none()
    if case is None:
        raise ValidationFailed("No such case.", fields={"loan_ref" if data.get("loan_ref") else "case_id": ["unknown"]})
    return case


def _same_or_conflict(existing, case, amount, data):
    if (existing.case_id, existing.amount_minor, existing.currency) != (case.id, amount, data["currency"]):
        raise Conflict(
            "This reference was already used for a different payment.",
            fields={"reference": ["already recorded with other details"]},
        )
    return existing


def _allocate(case, payment):
    instalments = db.session.scalars(
        select(Instalment)
        .join(RepaymentAgreement)
        .where(
            # Not an agreement still pending approval: its payments stay on the case.
            RepaymentAgreement.case_id == case.id,
            RepaymentAgreement.status == "active",
            Instalment.status.in_(("open", "late")),
        )
        .order_by(Instalment.due_date, Instalment.agreement_id, Instalment.seq)
        .with_for_update()
    ).all()
    allocations = []
    for instalment, portion in allocate(payment.amount_minor, instalments):
        db.session.add(PaymentAllocation(payment_id=payment.id, instalment_id=instalment.id, amount_minor=portion))
        ledger.memo(
            case,
            "allocation",
            portion,
            f"payment:{payment.reference}",
            payment_id=payment.id,
            agreement_id=instalment.agreement_id,
            instalment_id=instalment.id,
        )
        allocations.append([instalment.id, portion])
    return allocations


# ---------------------------------------------------------------- daily evaluation


def evaluate(on_date: date, team_ids: Collection[int] | None = None) -> dict[str, int]:
    """Mark instalments late or missed and agreements kept or broken, as of ``on_date``
    (for the given teams only, when named).

    An instalment unpaid after its due date is ``late``; after the profile's grace days
    it is ``missed`` and its agreement ``broken``: its waiver is withdrawn (a ledger
    adjustment) and the case goes back for a visit (or to remote contact, per the
    profile). An agreement whose instalments are all paid is ``kept``: the case is
    resolved only when nothing is left owing after approved waivers; otherwise it goes
    to the queue the profile names for a remainder. Running it twice for a day changes
    nothing more.
    """
    counts = {"late": 0, "missed": 0, "kept": 0, "broken": 0}
    stmt = (
        select(RepaymentAgreement)
        .options(
            selectinload(RepaymentAgreement.instalments),
            selectinload(RepaymentAgreement.case).selectinload(Case.team).selectinload(Team.region),
        )
        .where(RepaymentAgreement.status == "active")
        .order_by(RepaymentAgreement.id)
    )
    if team_ids is not None:
        stmt = stmt.join(Case, Case.id == RepaymentAgreement.case_id).where(Case.team_id.in_(team_ids))
    agreements = db.session.scalars(stmt).all()
    engine = policy.current()
    for agreement in agreements:
        case = agreement.case
        profile = engine.for_team(case.team)
        grace = timedelta(days=profile.agreements["grace_days"])
        broken = False
        for instalment in agreement.instalments:
            if instalment.status in ("paid", "missed"):
                broken |= instalment.status == "missed"
                continue
            if on_date > instalment.due_date + grace:
                instalment.status = "missed"
                counts["missed"] += 1
                broken = True
            elif on_date > instalment.due_date and instalment.status != "late":
                instalment.status = "late"
                counts["late"] += 1
        before = {"status": agreement.status, "stage": case.stage}
        if broken:
            case = ledger.lock_case(case.id)
            agreement.status = "broken"
            _withdraw_waiver(case, agreement)
            if case.stage not in ("resolved", "closed"):
                case.stage = profile.agreements["broken_returns_to"]
            counts["broken"] += 1
        elif all(i.status == "paid" for i in agreement.instalments):
            case = ledger.lock_case(case.id)
            agreement.status = "kept"
            if case.outstanding_minor == 0 and case.stage != "closed":
                case.stage = "resolved"
            elif case.stage not in ("resolved", "closed"):
                case.stage = profile.agreements["kept_remainder_returns_to"]
            counts["kept"] += 1
        if agreement.status != before["status"]:
            db.session.flush()
            audit.record(
                f"agreement.{agreement.status}",
                agreement,
                before=before,
                after={"status": agreement.status, "stage": case.stage, "outstanding_minor": case.outstanding_minor},
                extra={"evaluated_on": on_date.isoformat()},
            )
    db.session.flush()
    return counts


def evaluate_for(user: User, data: Data) -> dict[str, Any]:
    """The evaluation run by a supervisor (their teams, or some of them) or an admin (any)."""
    visible = authz.visible_team_ids(user)
    if data.get("teams"):
        teams = [authz.writable_team(user, code, "teams") for code in data["teams"]]
    elif visible is not None:
        teams = db.session.scalars(select(Team).where(Team.id.in_(visible)).order_by(Team.code)).all()
    else:
        teams = None
    day = data.get("date") or clock.now().date()
    counts = evaluate(day, team_ids=None if teams is None else [t.id for t in teams])
    audit.record(
        "agreements.evaluated",
        entity_type="agreements",
        entity_id=None,
        extra={"date": day.isoformat(), "teams": None if teams is None else [t.code for t in teams], **counts},
    )
    return {"date": day, "teams": [] if teams is None else [t.code for t in teams], **counts}


def _withdraw_waiver(case, agreement):
    """A broken agreement's waiver no longer holds: what it took off the balance is owed again."""
    waived = db.session.scalar(
        select(func.coalesce(func.sum(LedgerEntry.amount_minor), 0)).where(
            LedgerEntry.agreement_id == agreement.id, LedgerEntry.kind == "waiver"
        )
    )
    if waived:
        ledger.post(
            case,
            "adjustment",
            waived,
            f"agreement:{agreement.id}",
            delta=waived,
            agreement_id=agreement.id,
            note="waiver withdrawn: the agreement was broken",
        )


def cancel_future_visits(debtor_id: int, after_date: date, reason: str) -> int:
    """Stop visits to a debtor: open or assigned tasks after ``after_date`` are cancelled."""
    tasks = db.session.scalars(
        select(VisitTask)
        .join(Case)
        .where(
            Case.debtor_id == debtor_id, VisitTask.visit_date > after_date, VisitTask.status.in_(("open", "assigned"))
        )
    ).all()
    for task in tasks:
        before = {"status": task.status, "crew_id": task.crew_id}
        task.status, task.reason = "cancelled", {"reason": "stopped", "text": reason}
        db.session.flush()
        audit.record("task.cancelled", task, before=before, after={"status": "cancelled"}, extra={"why": reason})
    return len(tasks)
