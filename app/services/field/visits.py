"""The visit's work: check-in, check-out and the visit's outcome (``HANDLERS``), each
judged at the door by the policy, and the summaries their answers give.

How an action reaches these handlers (once, stored with its answer, judged on the
server's clock) is ``app.services.field.events``.
"""

from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from app import audit, geo, money, policy
from app.errors import Conflict, NotFound, PolicyViolation, ValidationFailed
from app.extensions import db
from app.models import OUTCOMES, Recording, Visit
from app.policy import rules
from app.services import agreements, conduct, door


def crew_id_of(user):
    collector = user.collector
    if collector is None or collector.crew_id is None:
        raise NotFound("Your account is not on a crew.")
    return collector.crew_id


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


def _link_recording(recording_id, visit, user):
    recording = db.session.get(Recording, recording_id)
    if recording is None or recording.visit_id not in (None, visit.id) or recording.uploaded_by_id != user.id:
        raise ValidationFailed("No such recording of yours.", fields={"recording_ids": [f"{recording_id}: unknown"]})
    recording.visit_id = visit.id
