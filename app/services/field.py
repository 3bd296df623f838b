"""The day at the door: the agent's route, check-in, check-out, the visit's outcome,
recordings, and offline sync without duplicates.

Every field action carries the phone's ``client_event_id``. The first time an id is
seen, the action is applied and its answer stored with it; sending the same id again
answers ``duplicate`` with that stored answer and changes nothing. An action the
rules refuse is answered ``rejected`` (with the rule id) and kept; an action for a
task that was moved to another crew while the phone was offline is kept and answered
``conflict`` with what happened. Nothing the phone sends is silently dropped.
"""
import hashlib
import mimetypes
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload, selectinload
from sqlalchemy.orm.exc import StaleDataError

from app import audit, clock, geo, money, pii, policy
from app.errors import Conflict, DomainError, NotFound, PolicyViolation, ValidationFailed
from app.extensions import db
from app.models import (
    Case,
    ClientEvent,
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
    "promise_to_pay": ("Promise to pay (one date, one amount)", "承诺还款（一次性）", "debtor",
                       {"agreement": "promise"}),
    "agreement_signed": ("Instalment plan agreed", "签订分期还款协议", "debtor", {"agreement": "instalment"}),
    "paid_on_spot": ("Paid on the spot (to be confirmed by the servicing system)", "当场还款（待系统确认）",
                     "debtor", {}),
    "refused": ("Debtor refused to pay", "债务人拒绝还款", "debtor", {}),
    "not_home": ("Nobody home", "无人在家", "nobody", {}),
    "moved": ("Debtor has moved away", "债务人已搬走", "any", {"stage": "remote_contact"}),
    "wrong_address": ("Wrong address", "地址错误", "any", {"stage": "remote_contact"}),
    "third_party_only": ("Met a third party only; nothing disclosed", "仅见到第三方，未透露任何信息", "third_party", {}),
    "hardship_claimed": ("Debtor claims hardship", "债务人声称经济困难", "debtor", {"stage": "remote_contact"}),
    "dispute_raised": ("Debtor disputes the debt", "债务人对债务提出异议", "debtor",
                       {"flag": "dispute", "stop_visits": True}),
    "cease_requested": ("Debtor asked us to stop", "债务人要求停止催收", "debtor", {"flag": "cease", "stop_visits": True}),
    "deceased_reported": ("Debtor reported deceased", "债务人已故", "any", {"flag": "deceased", "stop_visits": True}),
    "capacity_concern": ("Debtor may lack capacity", "债务人可能缺乏行为能力", "any",
                         {"flag": "capacity_concern", "stop_visits": True}),
    "aggression": ("Visit ended for the crew's safety", "为保障催收员安全结束上门", "any", {}),
}
PEOPLE = ("debtor", "spouse", "relative", "household_member", "neighbour", "other", "nobody")
ALLOWED_TYPES = {"audio/webm", "audio/ogg", "audio/mp4", "audio/mpeg", "audio/wav", "audio/x-wav", "audio/aac",
                 "image/jpeg", "image/png", "image/webp"}


def _crew_id(user):
    collector = user.collector
    if collector is None or collector.crew_id is None:
        raise NotFound("Your account is not on a crew.")
    return collector.crew_id


# ---------------------------------------------------------------- the route

def route(user, on_date=None):
    """The crew's committed stops for the day (default: today where the crew works), in
    order, with what to know at each door."""
    crew_id = _crew_id(user)
    if on_date is None:
        on_date = clock.today(user.collector.team.region.timezone)
    day = db.session.scalars(
        select(VisitTask).options(selectinload(VisitTask.case).selectinload(Case.debtor),
                                  selectinload(VisitTask.case).selectinload(Case.team).selectinload(Team.region))
        .where(VisitTask.crew_id == crew_id, VisitTask.visit_date == on_date,
               VisitTask.status.in_(("assigned", "checked_in", "done", "withdrawn")))
        .order_by(VisitTask.sequence, VisitTask.id)).all()
    tasks = [t for t in day if t.status != "withdrawn"]
    # Stops taken off the day since the phone last looked, and why: the phone drops them.
    withdrawn = [{"task_id": t.id, "loan_ref": t.case.loan_ref, "rule_id": (t.reason or {}).get("rule_id"),
                  "reason_en": (t.reason or {}).get("text"), "reason_zh": (t.reason or {}).get("text_zh")}
                 for t in day if t.status == "withdrawn"]
    crew = user.collector.crew
    profile = policy.current().for_team(crew.team)
    histories = _histories([t.case for t in tasks], exclude_task_ids=[t.id for t in tasks])
    visits = {v.task_id: v for v in db.session.scalars(select(Visit).where(Visit.task_id.in_([t.id for t in tasks])))} \
        if tasks else {}
    stops = []
    for task in tasks:
        case, debtor = task.case, task.case.debtor
        stops.append({
            "task_id": task.id, "sequence": task.sequence, "status": task.status,
            "planned_start": _iso(task.planned_start), "planned_end": _iso(task.planned_end),
            "visit_id": visits[task.id].id if task.id in visits else None,
            "case": {"id": case.id, "loan_ref": case.loan_ref, "product": case.product, "currency": case.currency,
                     "amount_due": money.to_decimal_string(case.outstanding_minor, case.currency),
                     "days_past_due": case.days_past_due},
            "debtor": {"name": debtor.name, "phone": pii.mask_phone(debtor.phone), "address": debtor.address,
                       "lat": debtor.lat, "lon": debtor.lon, "timezone": debtor.timezone, "language": debtor.language,
                       "availability": debtor.availability},
            "history": histories[case.id],
        })
    return {"date": on_date, "crew": crew.code, "members": [m.name for m in crew.members],
            "profile": profile.label, "reminders": {"en": rules.reminders(profile, "en"),
                                                    "zh": rules.reminders(profile, "zh")},
            "limits": rules.phone_limits(profile),
            "outcomes": [{"code": code, "en": v[0], "zh": v[1], "person_met": v[2],
                          "agreement": v[3].get("agreement")} for code, v in OUTCOMES.items()],
            "stops": stops, "withdrawn": withdrawn, "server_time": clock.now()}


def _iso(moment):
    # A datetime left inside a plain dict would be sent as an HTTP date, not ISO 8601.
    return moment.isoformat() if moment is not None else None


def _histories(cases, exclude_task_ids):
    """Last contacts, last visit outcome and active agreement of each case, in a few queries."""
    ids = [c.id for c in cases]
    out = {cid: {"last_contacts": [], "last_visit": None, "active_agreement": None} for cid in ids}
    if not ids:
        return out
    for attempt in db.session.scalars(select(ContactAttempt).where(ContactAttempt.case_id.in_(ids))
                                      .order_by(ContactAttempt.occurred_at.desc())):
        contacts = out[attempt.case_id]["last_contacts"]
        if len(contacts) < 3:
            contacts.append({"channel": attempt.channel, "purpose": attempt.purpose, "result": attempt.result,
                             "occurred_at": attempt.occurred_at.isoformat()})
    rows = db.session.execute(select(VisitTask.case_id, Visit.check_in_at, Visit.outcome)
                              .join(Visit, Visit.task_id == VisitTask.id)
                              .where(VisitTask.case_id.in_(ids), VisitTask.id.not_in(exclude_task_ids))
                              .order_by(Visit.check_in_at))
    for case_id, at, outcome in rows:
        out[case_id]["last_visit"] = {"at": at.isoformat(), "outcome": outcome}
    for agreement in db.session.scalars(
            select(RepaymentAgreement).options(selectinload(RepaymentAgreement.instalments))
            .where(RepaymentAgreement.case_id.in_(ids),
                   RepaymentAgreement.status.in_(("active", "pending_approval")))):
        next_due = next((i for i in agreement.instalments if i.status != "paid"), None)
        out[agreement.case_id]["active_agreement"] = {
            "id": agreement.id, "kind": agreement.kind, "status": agreement.status,
            "total": money.to_decimal_string(agreement.total_minor, agreement.currency),
            "next_due": None if next_due is None else {
                "date": next_due.due_date.isoformat(),
                "amount": money.to_decimal_string(next_due.amount_minor - next_due.paid_minor, agreement.currency)}}
    return out


# ---------------------------------------------------------------- one field event

def act(user, kind, task_id, data, contact=None, received_at=None):
    """A field action sent straight to its endpoint (online): judged at the server's
    receive time, the phone's time kept beside it."""
    received_at = received_at or clock.now()
    return process(user, kind, task_id, data, devices.judge_online(data.get("device_time"), received_at), contact)


def process(user, kind, task_id, data, judged, contact=None):
    """Apply one field event once, judged at ``judged.at`` (a ``devices.Judged``). Returns
    (status, answer) with status one of accepted, duplicate, rejected, conflict; the
    answer is what the phone is told."""
    client_event_id = data["client_event_id"]
    stored = _stored(user, client_event_id)
    if stored is not None:
        return _as_duplicate(stored, kind, task_id)
    task = db.session.scalars(select(VisitTask).options(*_TASK_CONTEXT).where(VisitTask.id == task_id)).first() \
        if task_id is not None else None
    crew_id = _crew_id(user)
    if task is None or (task.crew_id != crew_id and crew_id not in (task.crew_history or [])):
        raise NotFound("No such task on your crew.")
    # Claim the event id first: a copy of this event arriving at the same moment waits on
    # the unique index until this transaction ends, then finds it and answers duplicate.
    claim = db.session.begin_nested()
    try:
        event = ClientEvent(user_id=user.id, client_event_id=client_event_id, kind=kind, status="processing",
                            task_id=task.id, payload=_jsonable(data), response={}, received_at=judged.received_at,
                            device_id=contact.device.id if contact is not None else None,
                            device_seq=data.get("seq"), device_time=judged.device_time, judged_at=judged.at,
                            time_basis=judged.basis)
        db.session.add(event)
        db.session.flush()
    except IntegrityError:
        claim.rollback()
        stored = _stored(user, client_event_id)
        if stored is None:
            raise
        return _as_duplicate(stored, kind, task_id)
    status, answer = _apply(user, kind, task, crew_id, data, judged)
    event.status, event.response = status, answer
    db.session.flush()
    claim.commit()
    return status, answer


# What every field action reads about its task, fetched with the task in one query.
_TASK_CONTEXT = (joinedload(VisitTask.case).joinedload(Case.debtor),
                 joinedload(VisitTask.case).joinedload(Case.team).joinedload(Team.region),
                 joinedload(VisitTask.crew))


def _stored(user, client_event_id):
    return db.session.scalars(select(ClientEvent).where(
        ClientEvent.user_id == user.id, ClientEvent.client_event_id == client_event_id)).one_or_none()


def _as_duplicate(stored, kind, task_id):
    if stored.kind != kind or (task_id is not None and stored.task_id != task_id):
        raise Conflict("This client_event_id was already used for a different action.",
                       fields={"client_event_id": ["already used for another action"]}, code="event_id_reused")
    return "duplicate", {**stored.response, "status": "duplicate", "original_status": stored.status}


def _jsonable(value):
    """What the phone sent, as plain JSON (dates as ISO text, amounts as decimal text)."""
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items() if k != "client_event_id"}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _apply(user, kind, task, crew_id, data, judged):
    base = {"client_event_id": data["client_event_id"], "task_id": task.id, "kind": kind,
            "judged_at": judged.at.isoformat(), "time_basis": judged.basis}
    if task.crew_id != crew_id:
        now_crew = task.crew.code if task.crew else None
        answer = {**base, "status": "conflict", "error": {
            "code": "task_reassigned",
            "message": f"This task was moved to {'crew ' + now_crew if now_crew else 'no crew'} while you were "
                       f"offline; your {kind.replace('_', '-')} was recorded but not applied.",
            "task_status": task.status, "now_crew": now_crew}}
        audit.record(f"field.{kind}.conflict", task, extra={"client_event_id": data["client_event_id"],
                                                            "now_crew": now_crew})
        return "conflict", answer
    inner = db.session.begin_nested()
    try:
        result = HANDLERS[kind](user, task, data, judged)
        inner.commit()
    except StaleDataError:
        # Another phone of the crew changed this task at the same moment.
        inner.rollback()
        exc = Conflict("The task changed at the same moment on another phone; reload the route.",
                       code="changed_meanwhile")
        return _rejected(kind, task, data, base, exc, judged)
    except DomainError as exc:
        inner.rollback()
        return _rejected(kind, task, data, base, exc, judged)
    return "accepted", {**base, "status": "accepted", **result}


def _rejected(kind, task, data, base, exc, judged):
    """The answer to a refused event, which is kept on record like any other."""
    error = {"code": exc.code, "message": exc.message, "fields": exc.fields}
    if getattr(exc, "rule_id", None):
        error |= {"rule_id": exc.rule_id, "profile_version": exc.profile_version,
                  "reason_zh": (exc.details or {}).get("reason_zh"), "rules": (exc.details or {}).get("rules", [])}
    audit.record(f"field.{kind}.rejected", task, lat=data.get("lat"), lon=data.get("lon"),
                 extra={"client_event_id": data["client_event_id"], "code": exc.code,
                        "rule_id": getattr(exc, "rule_id", None), **_times(judged)})
    return "rejected", {**base, "status": "rejected", "http_status": exc.status, "error": error}


def _times(judged):
    """The three times of an action, as every record of it shows them."""
    return {"judged_at": judged.at.isoformat(), "received_at": judged.received_at.isoformat(),
            "device_time": judged.device_time.isoformat() if judged.device_time else None,
            "time_basis": judged.basis}


def _check_in(user, task, data, judged):
    if task.status == "withdrawn":
        why = task.reason or {}
        raise PolicyViolation(f"This visit was withdrawn: {why.get('text', 'the rules no longer allow it')}",
                              rule_id=why.get("rule_id", "withdrawn"), profile_version=why.get("profile"),
                              details={"reason_zh": why.get("text_zh"), "rules": why.get("rules", [])})
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
    visit = Visit(task_id=task.id, crew_id=task.crew_id, collector_id=collector.id, check_in_at=at,
                  check_in_device_at=judged.device_time, check_in_received_at=judged.received_at,
                  check_in_basis=judged.basis, check_in_lat=data["lat"], check_in_lon=data["lon"],
                  check_in_accuracy_m=data.get("accuracy_m"), check_in_distance_m=round(distance, 1),
                  check_in_mock=data.get("mock_location", False))
    db.session.add(visit)
    task.status = "checked_in"
    db.session.flush()
    for flag in flags:
        conduct.raise_flag(flag, collector_id=collector.id, crew_id=task.crew_id, case_id=case.id, task_id=task.id,
                           visit_id=visit.id)
    audit.record("visit.checked_in", visit, lat=data["lat"], lon=data["lon"], after={
        "task_id": task.id, "at": at.isoformat(), **_times(judged), "distance_m": visit.check_in_distance_m,
        "accuracy_m": data.get("accuracy_m"), "mock": visit.check_in_mock, "flags": [f.kind for f in flags]})
    # A visit made today makes the debtor's other tasks inside the frequency window unlawful.
    door.withdraw_unlawful(debtor_ids=[debtor.id], cause="visit_made")
    return {"visit": visit_summary(visit), "flags": [_flag_view(f) for f in flags]}


def _travel_flag(profile, collector_id, lat, lon, at):
    """Impossible travel since this collector's previous check-in or check-out."""
    previous = db.session.scalars(select(Visit).where(
        Visit.collector_id == collector_id, Visit.check_in_at < at,
        Visit.check_in_at > at - timedelta(hours=16)).order_by(Visit.check_in_at.desc()).limit(1)).first()
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
        conduct.raise_flag(flag, collector_id=visit.collector_id, crew_id=visit.crew_id, case_id=case.id,
                           task_id=task.id, visit_id=visit.id)
    audit.record("visit.checked_out", visit, lat=data["lat"], lon=data["lon"], after={
        "at": at.isoformat(), **_times(judged), "distance_m": visit.check_out_distance_m,
        "flags": [f.kind for f in flags]})
    return {"visit": visit_summary(visit), "flags": [_flag_view(f) for f in flags]}


def _record_outcome(user, task, data, judged):
    visit = _visit_of(task)
    if visit.outcome is not None:
        raise Conflict(f"The outcome of this visit was already recorded ({visit.outcome}).", code="outcome_recorded")
    outcome = data["outcome"]
    _, _, met, effects = OUTCOMES[outcome]
    person = data.get("person_met")
    if met == "debtor" and person != "debtor":
        raise ValidationFailed("This outcome needs the debtor to have been met.",
                               fields={"person_met": ["must be 'debtor' for this outcome"]})
    if met == "nobody" and person not in (None, "nobody"):
        raise ValidationFailed("Nobody was home.", fields={"person_met": ["must be 'nobody' for not_home"]})
    if met == "third_party" and person in (None, "debtor", "nobody"):
        raise ValidationFailed("Say who was met.", fields={"person_met": ["must name the third party met"]})
    wanted = effects.get("agreement")
    agreement_data = data.get("agreement")
    if wanted and (agreement_data is None or agreement_data["kind"] != wanted):
        raise ValidationFailed(f"This outcome needs a {wanted} agreement.", fields={"agreement": [f"a {wanted} is required"]})
    if agreement_data is not None and not wanted:
        raise ValidationFailed("An agreement goes with promise_to_pay or agreement_signed.",
                               fields={"agreement": ["not expected for this outcome"]})
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
    audit.record("visit.outcome_recorded", visit, before=before, after={
        "outcome": outcome, "person_met": person, "stage": case.stage, "flags": dict(debtor.flags or {}),
        **_times(judged),
        "agreement_id": agreement.id if agreement else None})
    answer = {"visit": visit_summary(visit)}
    if agreement is not None:
        answer["agreement"] = agreement_summary(agreement)
    return answer


HANDLERS = {"check_in": _check_in, "check_out": _check_out, "visit": _record_outcome}


def _flag_view(flag):
    return {"kind": flag.kind, "rule_id": flag.rule_id, "reason_en": flag.reason_en, "reason_zh": flag.reason_zh}


def visit_summary(visit):
    return {
        "id": visit.id, "task_id": visit.task_id, "check_in_at": visit.check_in_at.isoformat(),
        "check_in_distance_m": visit.check_in_distance_m,
        "check_out_at": visit.check_out_at.isoformat() if visit.check_out_at else None,
        "outcome": visit.outcome, "person_met": visit.person_met,
    }


def agreement_summary(agreement):
    return {
        "id": agreement.id, "kind": agreement.kind, "status": agreement.status, "currency": agreement.currency,
        "total": money.to_decimal_string(agreement.total_minor, agreement.currency),
        "waiver": money.to_decimal_string(agreement.waiver_minor, agreement.currency),
        "instalments": [{"seq": i.seq, "due_date": i.due_date.isoformat(),
                         "amount": money.to_decimal_string(i.amount_minor, agreement.currency)}
                        for i in sorted(agreement.instalments, key=lambda i: i.seq)],
    }


# ---------------------------------------------------------------- recordings

def store_recording(user, data, content, content_type):
    """Keep an uploaded recording or photo, after checking its type, size and SHA-256."""
    from app import storage

    limit = _recording_limit()
    if len(content) == 0:
        raise ValidationFailed("The file is empty.", fields={"file": ["empty"]})
    if len(content) > limit:
        raise ValidationFailed("The file is too large.", fields={"file": [f"larger than {limit} bytes"]})
    content_type = (content_type or "").split(";")[0].strip().lower()
    if content_type not in ALLOWED_TYPES:
        raise ValidationFailed("That file type is not accepted.",
                               fields={"file": [f"type {content_type or 'unknown'} not accepted"]})
    digest = hashlib.sha256(content).hexdigest()
    if digest != data["sha256"].lower():
        raise ValidationFailed("The file's SHA-256 does not match the one sent; it was damaged on the way.",
                               fields={"sha256": ["does not match the file"]})
    task = db.session.get(VisitTask, data["task_id"])
    if task is None or task.crew_id != _crew_id(user):
        raise NotFound("No such task on your crew.")
    visit = db.session.scalars(select(Visit).where(Visit.task_id == task.id)).one_or_none()
    if visit is None:
        raise Conflict("Check in before uploading the visit's recording.", code="not_checked_in")
    existing = db.session.scalars(select(Recording).where(Recording.sha256 == digest,
                                                          Recording.visit_id == visit.id)).first()
    if existing is not None:
        return existing, False
    extension = mimetypes.guess_extension(content_type) or ".bin"
    key = f"recordings/{digest[:2]}/{digest}{extension}"
    storage.current().put(key, content, content_type)
    kind = "photo" if content_type.startswith("image/") else "audio"
    recording = Recording(sha256=digest, size_bytes=len(content), content_type=content_type, kind=kind,
                          storage_key=key if not _key_taken(key) else f"{key}.{visit.id}",
                          duration_seconds=data.get("duration_seconds"), visit_id=visit.id, uploaded_by_id=user.id)
    db.session.add(recording)
    db.session.flush()
    _settle_recording_flags(visit)
    audit.record("recording.stored", recording, after={"sha256": digest, "size_bytes": len(content), "kind": kind,
                                                       "visit_id": visit.id, "duration_seconds": recording.duration_seconds})
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
    for flag in db.session.scalars(select(ConductFlag).where(
            ConductFlag.visit_id == visit.id, ConductFlag.status == "open",
            or_(ConductFlag.kind == "missing_recording", ConductFlag.kind == "short_recording"))):
        flag.status, flag.review_notes = "resolved", "The recording was uploaded after check-out."
        flag.reviewed_at = clock.now()
        audit.record("conduct_flag.resolved", flag, after={"status": "resolved", "by": "recording upload"})


def _link_recording(recording_id, visit, user):
    recording = db.session.get(Recording, recording_id)
    if recording is None or recording.visit_id not in (None, visit.id) or recording.uploaded_by_id != user.id:
        raise ValidationFailed("No such recording of yours.", fields={"recording_ids": [f"{recording_id}: unknown"]})
    recording.visit_id = visit.id



def sync(user, events, load, contact, received_at=None):
    """Apply a batch of queued offline events in order; each is answered on its own,
    so one bad event does not lose the rest. ``load(event)`` validates one event and
    returns (kind, task_id, data) or raises ValidationFailed. Each event is judged at
    its device time corrected by the phone's clock offset, inside what the server can
    prove of when it was queued (``devices.judge_offline``)."""
    received_at = received_at or clock.now()
    answers = []
    for index, raw in enumerate(events):
        client_event_id = raw.get("client_event_id") if isinstance(raw, dict) else None
        try:
            kind, task_id, data = load(raw)
            judged = devices.judge_offline(contact, data.get("device_time"), data.get("seq"), received_at)
            status, answer = process(user, kind, task_id, data, judged, contact)
        except DomainError as exc:
            # Invalid, unknown task, or an id reused for another action: answered, not stored.
            status, answer = "rejected", {"client_event_id": client_event_id, "status": "rejected",
                                          "task_id": raw.get("task_id") if isinstance(raw, dict) else None,
                                          "kind": raw.get("type") if isinstance(raw, dict) else None,
                                          "http_status": exc.status,
                                          "error": {"code": exc.code, "message": exc.message, "fields": exc.fields}}
        answers.append({"index": index, **answer, "status": status})
    counts = {s: sum(1 for a in answers if a["status"] == s) for s in ("accepted", "duplicate", "rejected", "conflict")}
    audit.record("field.synced", entity_type="users", entity_id=user.id, extra={"events": len(events), **counts})
    return {"results": answers, "counts": counts}
