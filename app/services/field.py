"""The day at the door: the agent's route, and the work of each field action —
check-in, check-out, the visit's outcome — and its recordings.

How an action reaches these handlers (once, stored with its answer, judged on the
server's clock) is ``app.services.field_events``.
"""

import hashlib
import mimetypes
from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.orm import selectinload

from app import audit, clock, geo, money, pii, policy
from app.errors import Conflict, NotFound, PolicyViolation, ValidationFailed
from app.extensions import db
from app.models import (
    Case,
    ContactAttempt,
    Recording,
    RepaymentAgreement,
    Team,
    Visit,
    VisitTask,
)
from app.policy import rules
from app.services import agreements, conduct, devices, door

# The documented outcome codes: (English, Chinese, who must have been met, effects).
OUTCOMES = {
    "met_debtor": ("Met the debtor; no agreement", "见到债务人，未达成协议", "debtor", {}),
    "promise_to_pay": (
        "Promise to pay (one date, one amount)",
        "承诺还款（一次性）",
        "debtor",
        {"agreement": "promise"},
    ),
    "agreement_signed": ("Instalment plan agreed", "签订分期还款协议", "debtor", {"agreement": "instalment"}),
    "paid_on_spot": (
        "Paid on the spot (to be confirmed by the servicing system)",
        "当场还款（待系统确认）",
        "debtor",
        {},
    ),
    "refused": ("Debtor refused to pay", "债务人拒绝还款", "debtor", {}),
    "not_home": ("Nobody home", "无人在家", "nobody", {}),
    "moved": ("Debtor has moved away", "债务人已搬走", "any", {"stage": "remote_contact"}),
    "wrong_address": ("Wrong address", "地址错误", "any", {"stage": "remote_contact"}),
    "third_party_only": (
        "Met a third party only; nothing disclosed",
        "仅见到第三方，未透露任何信息",
        "third_party",
        {},
    ),
    "hardship_claimed": ("Debtor claims hardship", "债务人声称经济困难", "debtor", {"stage": "remote_contact"}),
    "dispute_raised": (
        "Debtor disputes the debt",
        "债务人对债务提出异议",
        "debtor",
        {"flag": "dispute", "stop_visits": True},
    ),
    "cease_requested": (
        "Debtor asked us to stop",
        "债务人要求停止催收",
        "debtor",
        {"flag": "cease", "stop_visits": True},
    ),
    "deceased_reported": ("Debtor reported deceased", "债务人已故", "any", {"flag": "deceased", "stop_visits": True}),
    "capacity_concern": (
        "Debtor may lack capacity",
        "债务人可能缺乏行为能力",
        "any",
        {"flag": "capacity_concern", "stop_visits": True},
    ),
    "aggression": ("Visit ended for the crew's safety", "为保障催收员安全结束上门", "any", {}),
}
PEOPLE = ("debtor", "spouse", "relative", "household_member", "neighbour", "other", "nobody")
ALLOWED_TYPES = {
    "audio/webm",
    "audio/ogg",
    "audio/mp4",
    "audio/mpeg",
    "audio/wav",
    "audio/x-wav",
    "audio/aac",
    "image/jpeg",
    "image/png",
    "image/webp",
}


def crew_id_of(user):
    collector = user.collector
    if collector is None or collector.crew_id is None:
        raise NotFound("Your account is not on a crew.")
    return collector.crew_id


# ---------------------------------------------------------------- the route


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


# ---------------------------------------------------------------- the visit's work


def times_of(judged):
    """The three times of an action, as every record of it shows them."""
    return {
        "judged_at": judged.at.isoformat(),
        "received_at": judged.received_at.isoformat(),
        "device_time": judged.device_time.isoformat() if judged.device_time else None,
        "time_basis": judged.basis,
    }


def _check_in(user, task, data, judged):
    if task.status == "withdrawn":
        why = task.reason or {}
        raise PolicyViolation(
            f"This visit was withdrawn: {why.get('text', 'the rules no longer allow it')}",
            rule_id=why.get("rule_id", "withdrawn"),
            profile_version=why.get("profile"),
            details={"reason_zh": why.get("text_zh"), "rules": why.get("rules", [])},
        )
    if task.status != "assigned":
        raise Conflict(f"The task is {task.status}; check-in needs an assigned task.", code="task_not_assigned")
    collector = user.collector
    crew = door.lock_for_visit(task)
    case, debtor = task.case, task.case.debtor
    profile = policy.current().for_team(case.team)
    at = judged.at
    refusals, flags, distance = door.check_in_refusals(task, crew, collector, at, data["lat"], data["lon"])
    if refusals:
        door.refuse(refusals)
    flags += rules.check_in_place(profile, distance, data.get("accuracy_m"), data.get("mock_location", False))
    skew = rules.clock_skew_flag(profile, judged.device_time, at)
    if skew:
        flags.append(skew)
    travel = _travel_flag(profile, collector.id, data["lat"], data["lon"], at)
    if travel:
        flags.append(travel)
    visit = Visit(
        task_id=task.id,
        crew_id=task.crew_id,
        collector_id=collector.id,
        check_in_at=at,
        check_in_device_at=judged.device_time,
        check_in_received_at=judged.received_at,
        check_in_basis=judged.basis,
        check_in_lat=data["lat"],
        check_in_lon=data["lon"],
        check_in_accuracy_m=data.get("accuracy_m"),
        check_in_distance_m=round(distance, 1),
        check_in_mock=data.get("mock_location", False),
    )
    db.session.add(visit)
    task.status = "checked_in"
    db.session.flush()
    for flag in flags:
        conduct.raise_flag(
            flag, collector_id=collector.id, crew_id=task.crew_id, case_id=case.id, task_id=task.id, visit_id=visit.id
        )
    audit.record(
        "visit.checked_in",
        visit,
        lat=data["lat"],
        lon=data["lon"],
        after={
            "task_id": task.id,
            "at": at.isoformat(),
            **times_of(judged),
            "distance_m": visit.check_in_distance_m,
            "accuracy_m": data.get("accuracy_m"),
            "mock": visit.check_in_mock,
            "flags": [f.kind for f in flags],
        },
    )
    # A visit made today makes the debtor's other tasks inside the frequency window unlawful.
    door.withdraw_unlawful(debtor_ids=[debtor.id], cause="visit_made")
    return {"visit": visit_summary(visit), "flags": [_flag_view(f) for f in flags]}


def _travel_flag(profile, collector_id, lat, lon, at):
    """Impossible travel since this collector's previous check-in or check-out."""
    previous = db.session.scalars(
        select(Visit)
        .where(Visit.collector_id == collector_id, Visit.check_in_at < at, Visit.check_in_at > at - timedelta(hours=16))
        .order_by(Visit.check_in_at.desc())
        .limit(1)
    ).first()
    if previous is None:
        return None
    if previous.check_out_at is not None and previous.check_out_at <= at and previous.check_out_lat is not None:
        then, p_lat, p_lon = previous.check_out_at, previous.check_out_lat, previous.check_out_lon
    else:
        then, p_lat, p_lon = previous.check_in_at, previous.check_in_lat, previous.check_in_lon
    distance_km = geo.distance_m(p_lat, p_lon, lat, lon) / 1000
    return rules.travel_flag(profile, distance_km, (at - then).total_seconds())


def _visit_of(task):
    visit = db.session.scalars(select(Visit).where(Visit.task_id == task.id)).one_or_none()
    if visit is None:
        raise Conflict("Check in first: this task has no visit yet.", code="not_checked_in")
    return visit


def _check_out(user, task, data, judged):
    if task.status != "checked_in":
        raise Conflict(f"The task is {task.status}; check-out needs a checked-in visit.", code="not_checked_in")
    visit = _visit_of(task)
    case, debtor = task.case, task.case.debtor
    profile = policy.current().for_team(case.team)
    # Ending a visit is never refused; it cannot end before it began.
    at = max(judged.at, visit.check_in_at)
    distance = geo.distance_m(data["lat"], data["lon"], debtor.lat, debtor.lon)
    visit.check_out_at, visit.check_out_device_at = at, judged.device_time
    visit.check_out_received_at = judged.received_at
    visit.check_out_basis = judged.basis if at == judged.at else "device_bounded"
    visit.check_out_lat, visit.check_out_lon = data["lat"], data["lon"]
    visit.check_out_accuracy_m, visit.check_out_distance_m = data.get("accuracy_m"), round(distance, 1)
    visit.check_out_mock = data.get("mock_location", False)
    task.status = "done"
    db.session.flush()
    durations = [r.duration_seconds for r in visit.recordings if r.kind == "audio"]
    flags = [f for f in [rules.recording_flag(profile, durations)] if f]
    if visit.check_out_mock:
        flags += [f for f in rules.check_in_place(profile, None, None, True)]
    skew = rules.clock_skew_flag(profile, judged.device_time, at)
    if skew:
        flags.append(skew)
    for flag in flags:
        conduct.raise_flag(
            flag,
            collector_id=visit.collector_id,
            crew_id=visit.crew_id,
            case_id=case.id,
            task_id=task.id,
            visit_id=visit.id,
        )
    audit.record(
        "visit.checked_out",
        visit,
        lat=data["lat"],
        lon=data["lon"],
        after={
            "at": at.isoformat(),
            **times_of(judged),
            "distance_m": visit.check_out_distance_m,
            "flags": [f.kind for f in flags],
        },
    )
    return {"visit": visit_summary(visit), "flags": [_flag_view(f) for f in flags]}


def _record_outcome(user, task, data, judged):
    visit = _visit_of(task)
    if visit.outcome is not None:
        raise Conflict(f"The outcome of this visit was already recorded ({visit.outcome}).", code="outcome_recorded")
    outcome = data["outcome"]
    _, _, met, effects = OUTCOMES[outcome]
    person = data.get("person_met")
    if met == "debtor" and person != "debtor":
        raise ValidationFailed(
            "This outcome needs the debtor to have been met.",
            fields={"person_met": ["must be 'debtor' for this outcome"]},
        )
    if met == "nobody" and person not in (None, "nobody"):
        raise ValidationFailed("Nobody was home.", fields={"person_met": ["must be 'nobody' for not_home"]})
    if met == "third_party" and person in (None, "debtor", "nobody"):
        raise ValidationFailed("Say who was met.", fields={"person_met": ["must name the third party met"]})
    wanted = effects.get("agreement")
    agreement_data = data.get("agreement")
    if wanted and (agreement_data is None or agreement_data["kind"] != wanted):
        raise ValidationFailed(
            f"This outcome needs a {wanted} agreement.", fields={"agreement": [f"a {wanted} is required"]}
        )
    if agreement_data is not None and not wanted:
        raise ValidationFailed(
            "An agreement goes with promise_to_pay or agreement_signed.",
            fields={"agreement": ["not expected for this outcome"]},
        )
    case, debtor = task.case, task.case.debtor
    before = {"stage": case.stage, "flags": dict(debtor.flags or {})}
    visit.outcome, visit.person_met, visit.notes = outcome, person, data.get("notes")
    visit.outcome_at = max(judged.at, visit.check_in_at)
    visit.outcome_device_at, visit.outcome_received_at = judged.device_time, judged.received_at
    for recording_id in data.get("recording_ids", []):
        _link_recording(recording_id, visit, user)
    agreement = None
    if agreement_data is not None:
        # "Not in the past" is judged on the day of the visit where the debtor lives, so an
        # agreement recorded offline and synced days later still stands.
        visit_day = visit.check_in_at.astimezone(ZoneInfo(debtor.timezone)).date()
        agreement = agreements.create_agreement(case, agreement_data, visit=visit, actor=user, today=visit_day)
    if effects.get("flag"):
        debtor.flags = {**(debtor.flags or {}), effects["flag"]: True}
    if effects.get("stage") and case.stage not in ("resolved", "closed"):
        case.stage = effects["stage"]
    db.session.flush()
    # What the visit changed (a flag, the stage, an agreement) withdraws the debtor's
    # tasks it makes unlawful, today's other stops and later days alike.
    door.withdraw_unlawful(debtor_ids=[debtor.id], cause=f"visit_outcome:{outcome}")
    audit.record(
        "visit.outcome_recorded",
        visit,
        before=before,
        after={
            "outcome": outcome,
            "person_met": person,
            "stage": case.stage,
            "flags": dict(debtor.flags or {}),
            **times_of(judged),
            "agreement_id": agreement.id if agreement else None,
        },
    )
    answer = {"visit": visit_summary(visit)}
    if agreement is not None:
        answer["agreement"] = agreement_summary(agreement)
    return answer


HANDLERS = {"check_in": _check_in, "check_out": _check_out, "visit": _record_outcome}


def _flag_view(flag):
    return {"kind": flag.kind, "rule_id": flag.rule_id, "reason_en": flag.reason_en, "reason_zh": flag.reason_zh}


def visit_summary(visit):
    return {
        "id": visit.id,
        "task_id": visit.task_id,
        "check_in_at": visit.check_in_at.isoformat(),
        "check_in_distance_m": visit.check_in_distance_m,
        "check_out_at": visit.check_out_at.isoformat() if visit.check_out_at else None,
        "outcome": visit.outcome,
        "person_met": visit.person_met,
    }


def agreement_summary(agreement):
    return {
        "id": agreement.id,
        "kind": agreement.kind,
        "status": agreement.status,
        "currency": agreement.currency,
        "total": money.to_decimal_string(agreement.total_minor, agreement.currency),
        "waiver": money.to_decimal_string(agreement.waiver_minor, agreement.currency),
        "instalments": [
            {
                "seq": i.seq,
                "due_date": i.due_date.isoformat(),
                "amount": money.to_decimal_string(i.amount_minor, agreement.currency),
            }
            for i in sorted(agreement.instalments, key=lambda i: i.seq)
        ],
    }


# ---------------------------------------------------------------- recordings


def store_recording(user, data, content, content_type, contact=None):
    """Keep an uploaded recording or photo, after checking its type, size and SHA-256."""
    from app import storage

    limit = _recording_limit()
    if len(content) == 0:
        raise ValidationFailed("The file is empty.", fields={"file": ["empty"]})
    if len(content) > limit:
        raise ValidationFailed("The file is too large.", fields={"file": [f"larger than {limit} bytes"]})
    content_type = (content_type or "").split(";")[0].strip().lower()
    if content_type not in ALLOWED_TYPES:
        raise ValidationFailed(
            "That file type is not accepted.", fields={"file": [f"type {content_type or 'unknown'} not accepted"]}
        )
    digest = hashlib.sha256(content).hexdigest()
    if digest != data["sha256"].lower():
        raise ValidationFailed(
            "The file's SHA-256 does not match the one sent; it was damaged on the way.",
            fields={"sha256": ["does not match the file"]},
        )
    task = db.session.get(VisitTask, data["task_id"])
    if task is None or task.crew_id != crew_id_of(user):
        raise NotFound("No such task on your crew.")
    visit = db.session.scalars(select(Visit).where(Visit.task_id == task.id)).one_or_none()
    if visit is None:
        raise Conflict("Check in before uploading the visit's recording.", code="not_checked_in")
    existing = db.session.scalars(
        select(Recording).where(Recording.sha256 == digest, Recording.visit_id == visit.id)
    ).first()
    if existing is not None:
        return existing, False
    extension = mimetypes.guess_extension(content_type) or ".bin"
    key = f"recordings/{digest[:2]}/{digest}{extension}"
    storage.current().put(key, content, content_type)
    kind = "photo" if content_type.startswith("image/") else "audio"
    recording = Recording(
        sha256=digest,
        size_bytes=len(content),
        content_type=content_type,
        kind=kind,
        storage_key=key if not _key_taken(key) else f"{key}.{visit.id}",
        duration_seconds=data.get("duration_seconds"),
        visit_id=visit.id,
        uploaded_by_id=user.id,
    )
    db.session.add(recording)
    db.session.flush()
    # A recording takes its number in the phone's outbox like an action: the order is kept.
    devices.note_sequence(contact, data.get("seq"))
    _settle_recording_flags(visit)
    audit.record(
        "recording.stored",
        recording,
        after={
            "sha256": digest,
            "size_bytes": len(content),
            "kind": kind,
            "visit_id": visit.id,
            "duration_seconds": recording.duration_seconds,
        },
    )
    return recording, True


def _key_taken(key):
    return db.session.scalars(select(Recording.id).where(Recording.storage_key == key)).first() is not None


def _recording_limit():
    from flask import current_app

    return current_app.config["RECORDING_MAX_BYTES"]


def _settle_recording_flags(visit):
    """A recording that arrives after check-out (queued offline) settles the flag raised
    for its absence, if it now meets the profile's minimum."""
    from app.models import ConductFlag

    if visit.check_out_at is None:
        return
    profile = policy.current().for_team(visit.task.case.team)
    durations = [r.duration_seconds for r in visit.recordings if r.kind == "audio"]
    if rules.recording_flag(profile, durations) is not None:
        return
    for flag in db.session.scalars(
        select(ConductFlag).where(
            ConductFlag.visit_id == visit.id,
            ConductFlag.status == "open",
            or_(ConductFlag.kind == "missing_recording", ConductFlag.kind == "short_recording"),
        )
    ):
        flag.status, flag.review_notes = "resolved", "The recording was uploaded after check-out."
        flag.reviewed_at = clock.now()
        audit.record("conduct_flag.resolved", flag, after={"status": "resolved", "by": "recording upload"})


def _link_recording(recording_id, visit, user):
    recording = db.session.get(Recording, recording_id)
    if recording is None or recording.visit_id not in (None, visit.id) or recording.uploaded_by_id != user.id:
        raise ValidationFailed("No such recording of yours.", fields={"recording_ids": [f"{recording_id}: unknown"]})
    recording.visit_id = visit.id
