"""The agent's route: the crew's committed stops for a day, with what to know at each door."""

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app import clock, money, pii, policy
from app.extensions import db
from app.models import OUTCOMES, Case, ContactAttempt, RepaymentAgreement, Team, Visit, VisitTask
from app.policy import rules
from app.services.field.visits import crew_id_of


def route(user, on_date=None):
    """The crew's committed stops for the day (default: today where the crew works), in
    order, with what to know at each door."""
    crew_id = crew_id_of(user)
    if on_date is None:
        on_date = clock.today(user.collector.team.region.timezone)
    day = db.session.scalars(
        select(VisitTask)
        .options(
            selectinload(VisitTask.case).selectinload(Case.debtor),
            selectinload(VisitTask.case).selectinload(Case.team).selectinload(Team.region),
        )
        .where(
            VisitTask.crew_id == crew_id,
            VisitTask.visit_date == on_date,
            VisitTask.status.in_(("assigned", "checked_in", "done", "withdrawn")),
        )
        .order_by(VisitTask.sequence, VisitTask.id)
    ).all()
    tasks = [t for t in day if t.status != "withdrawn"]
    # Stops taken off the day since the phone last looked, and why: the phone drops them.
    withdrawn = [
        {
            "task_id": t.id,
            "loan_ref": t.case.loan_ref,
            "rule_id": (t.reason or {}).get("rule_id"),
            "reason_en": (t.reason or {}).get("text"),
            "reason_zh": (t.reason or {}).get("text_zh"),
        }
        for t in day
        if t.status == "withdrawn"
    ]
    crew = user.collector.crew
    profile = policy.current().for_team(crew.team)
    histories = _histories([t.case for t in tasks], exclude_task_ids=[t.id for t in tasks])
    visits = (
        {v.task_id: v for v in db.session.scalars(select(Visit).where(Visit.task_id.in_([t.id for t in tasks])))}
        if tasks
        else {}
    )
    stops = []
    for task in tasks:
        case, debtor = task.case, task.case.debtor
        stops.append(
            {
                "task_id": task.id,
                "sequence": task.sequence,
                "status": task.status,
                "planned_start": _iso(task.planned_start),
                "planned_end": _iso(task.planned_end),
                "visit_id": visits[task.id].id if task.id in visits else None,
                "case": {
                    "id": case.id,
                    "loan_ref": case.loan_ref,
                    "product": case.product,
                    "currency": case.currency,
                    "amount_due": money.to_decimal_string(case.outstanding_minor, case.currency),
                    "days_past_due": case.days_past_due,
                },
                "debtor": {
                    "name": debtor.name,
                    "phone": pii.mask_phone(debtor.phone),
                    "address": debtor.address,
                    "lat": debtor.lat,
                    "lon": debtor.lon,
                    "timezone": debtor.timezone,
                    "language": debtor.language,
                    "availability": debtor.availability,
                },
                "history": histories[case.id],
            }
        )
    return {
        "date": on_date,
        "crew": crew.code,
        "members": [m.name for m in crew.members],
        "profile": profile.label,
        "reminders": {"en": rules.reminders(profile, "en"), "zh": rules.reminders(profile, "zh")},
        "limits": rules.phone_limits(profile),
        "outcomes": [
            {"code": code, "en": v[0], "zh": v[1], "person_met": v[2], "agreement": v[3].get("agreement")}
            for code, v in OUTCOMES.items()
        ],
        "stops": stops,
        "withdrawn": withdrawn,
        "server_time": clock.now(),
        # The server's minor digits (CLDR, app.money) for the day's currencies: the phone
        # formats and parses with these, not its own Intl's, where the two differ (COP, HUF, …).
        "currency_digits": {
            c: money.exponent(c) for c in sorted({t.case.currency for t in tasks}) if money.is_currency(c)
        },
    }


def _iso(moment):
    # A datetime left inside a plain dict would be sent as an HTTP date, not ISO 8601.
    return moment.isoformat() if moment is not None else None


def _histories(cases, exclude_task_ids):
    """Last contacts, last visit outcome and active agreement of each case, in a few queries."""
    ids = [c.id for c in cases]
    out = {
        cid: {"last_contacts": [], "last_visit": None, "active_agreement": None, "waiver_answer": None} for cid in ids
    }
    if not ids:
        return out
    for attempt in db.session.scalars(
        select(ContactAttempt).where(ContactAttempt.case_id.in_(ids)).order_by(ContactAttempt.occurred_at.desc())
    ):
        contacts = out[attempt.case_id]["last_contacts"]
        if len(contacts) < 3:
            contacts.append(
                {
                    "channel": attempt.channel,
                    "purpose": attempt.purpose,
                    "result": attempt.result,
                    "occurred_at": attempt.occurred_at.isoformat(),
                }
            )
    rows = db.session.execute(
        select(VisitTask.case_id, Visit.check_in_at, Visit.outcome)
        .join(Visit, Visit.task_id == VisitTask.id)
        .where(VisitTask.case_id.in_(ids), VisitTask.id.not_in(exclude_task_ids))
        .order_by(Visit.check_in_at)
    )
    for case_id, at, outcome in rows:
        out[case_id]["last_visit"] = {"at": at.isoformat(), "outcome": outcome}
    for agreement in db.session.scalars(
        select(RepaymentAgreement)
        .options(selectinload(RepaymentAgreement.instalments))
        .where(RepaymentAgreement.case_id.in_(ids), RepaymentAgreement.status.in_(("active", "pending_approval")))
    ):
        next_due = next((i for i in agreement.instalments if i.status != "paid"), None)
        out[agreement.case_id]["active_agreement"] = {
            "id": agreement.id,
            "kind": agreement.kind,
            "status": agreement.status,
            "total": money.to_decimal_string(agreement.total_minor, agreement.currency),
            "next_due": None
            if next_due is None
            else {
                "date": next_due.due_date.isoformat(),
                "amount": money.to_decimal_string(next_due.amount_minor - next_due.paid_minor, agreement.currency),
            },
        }
    # A supervisor's answer to a waiver (refused, or another one offered), unless a later
    # agreement has been made since: the agent reads it on the phone.
    latest = {}
    for agreement in db.session.scalars(
        select(RepaymentAgreement).where(RepaymentAgreement.case_id.in_(ids)).order_by(RepaymentAgreement.id)
    ):
        latest[agreement.case_id] = agreement
    for case_id, agreement in latest.items():
        if agreement.status in ("rejected", "countered"):
            out[case_id]["waiver_answer"] = {
                "agreement_id": agreement.id,
                "status": agreement.status,
                "note": agreement.decision_note,
                "counter_waiver": None
                if agreement.counter_waiver_minor is None
                else money.to_decimal_string(agreement.counter_waiver_minor, agreement.currency),
            }
    return out
