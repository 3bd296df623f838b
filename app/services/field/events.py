"""Field events in: nothing the phone sends is lost, half-applied or silently dropped.

Every field action carries the phone's ``client_event_id``; a queued one also its
number in the phone's outbox (``seq``). The first time an id is seen, the event is
judged and applied (``app.services.field.visits`` does the visit's work), and stored with the
answer it got — whatever that answer is: accepted, rejected before or after reaching a
task, or in conflict. Then:

* the same id with the same content again answers ``duplicate`` with the stored answer,
  the same bytes every time, and changes nothing;
* the same id with **other** content answers ``conflict`` (``event_payload_mismatch``)
  and keeps the first: the two payloads' SHA-256 go into a conduct flag and the audit
  log, so neither the phone nor an auditor mistakes a bug or a tampered resend for a
  resend;
* an element with no usable id is answered (and counted in a metric): it cannot be
  stored against an id it does not have.

A sync batch is answered element by element, whatever each element is. Events are
applied in the order the phone sent them; a number missing from a phone's sequence, or
one arriving after a higher one, is answered (``sequence``) and recorded, never
silently re-ordered.
"""

import hashlib
import json
import re
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload
from sqlalchemy.orm.exc import StaleDataError

from app import audit, clock, policy
from app.errors import Conflict, DomainError, NotFound
from app.extensions import db
from app.models import Case, ClientEvent, Team, VisitTask
from app.observability import FIELD_EVENTS_WITHOUT_ID
from app.policy import rules
from app.services import conduct, devices
from app.services.field.visits import HANDLERS, crew_id_of, times_of

KINDS = tuple(HANDLERS)
CLIENT_EVENT_ID = re.compile(r"^[A-Za-z0-9_.:\-]{8,80}$")
ID_MAX = 2**31 - 1

# What every field action reads about its task, fetched with the task in one query.
_TASK_CONTEXT = (
    joinedload(VisitTask.case).joinedload(Case.debtor),
    joinedload(VisitTask.case).joinedload(Case.team).joinedload(Team.region),
    joinedload(VisitTask.crew),
)


# ---------------------------------------------------------------- the payload's fingerprint


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


def canonical(value):
    """One text for one content: keys sorted, no spaces, ASCII only (a NUL is written as
    an escape, never as a byte the database refuses)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)


def _content(kind, task_id, data):
    """The content a resend must repeat: the action, its task and its body, without its
    id and its outbox number (a resend may come another way)."""
    body = {k: v for k, v in _jsonable(data).items() if k != "seq"}
    return {"type": kind, "task_id": task_id, **body}


def _raw_content(raw):
    if isinstance(raw, dict):
        return {k: v for k, v in raw.items() if k not in ("client_event_id", "seq")}
    return raw


def fingerprint(content):
    return hashlib.sha256(canonical(content).encode("ascii")).hexdigest()


def usable_id(raw):
    """The element's ``client_event_id`` when it is one the server can store it under."""
    value = raw.get("client_event_id") if isinstance(raw, dict) else None
    return value if isinstance(value, str) and CLIENT_EVENT_ID.match(value) else None


# ---------------------------------------------------------------- one event


def act(user, kind, task_id, data, contact=None, received_at=None):
    """A field action sent straight to its endpoint (online): judged at the server's
    receive time, the phone's time kept beside it."""
    received_at = received_at or clock.now()
    return process(user, kind, task_id, data, devices.judge_online(data.get("device_time"), received_at), contact)


def process(user, kind, task_id, data, judged, contact=None):
    """Apply one field event once, judged at ``judged.at`` (a ``devices.Judged``). Returns
    (status, answer) with status one of accepted, duplicate, rejected, conflict; the
    answer is what the phone is told (and what a resend will be told)."""
    client_event_id = data["client_event_id"]
    digest = fingerprint(_content(kind, task_id, data))
    # Claim the event id first: a copy of this event arriving at the same moment waits on
    # the unique index until this transaction ends, then finds it and answers duplicate.
    # No savepoint is needed for it: the insert does nothing where the id is taken.
    event_id = _claim(
        user_id=user.id,
        client_event_id=client_event_id,
        kind=kind,
        status="processing",
        task_id=task_id,
        payload=_jsonable(data),
        response={},
        received_at=judged.received_at,
        device_id=contact.device.id if contact is not None else None,
        device_seq=data.get("seq"),
        device_time=judged.device_time,
        judged_at=judged.at,
        time_basis=judged.basis,
        payload_sha256=digest,
    )
    if event_id is None:
        stored = _stored(user, client_event_id)
        if stored is None:  # taken and gone again: cannot happen once the claim has waited
            raise Conflict("This event is being recorded at the same moment; send it again.", code="changed_meanwhile")
        return _resent(user, stored, digest, kind, task_id, data)
    task = (
        db.session.scalars(select(VisitTask).options(*_TASK_CONTEXT).where(VisitTask.id == task_id)).first()
        if task_id is not None
        else None
    )
    crew_id = crew_id_of(user)
    base = {
        "client_event_id": client_event_id,
        "task_id": task_id,
        "kind": kind,
        "judged_at": judged.at.isoformat(),
        "time_basis": judged.basis,
    }
    sequence_note = base["sequence"] = devices.note_sequence(contact, data.get("seq"))
    if task is None or (task.crew_id != crew_id and crew_id not in (task.crew_history or [])):
        # Not a task of this crew (or none at all): answered alike, and kept like any answer.
        status, answer = _refused(base, NotFound("No such task on your crew."))
    else:
        status, answer = _apply(user, kind, task, crew_id, data, judged, base)
    db.session.execute(
        update(ClientEvent)
        .where(ClientEvent.id == event_id)
        .values(status=status, response=answer, sequence_note=sequence_note)
        .execution_options(synchronize_session=False)
    )
    return status, answer


def _claim(**values):
    """Store a client event unless its (user, client_event_id) is already stored (or being
    stored by a transaction still open, which this one then waits for): its id, or None."""
    dialect = db.session.get_bind().dialect.name
    statement = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(ClientEvent).values(**values)
    return db.session.execute(
        statement.on_conflict_do_nothing(index_elements=["user_id", "client_event_id"]).returning(ClientEvent.id)
    ).scalar()


def _stored(user, client_event_id):
    return db.session.scalars(
        select(ClientEvent).where(ClientEvent.user_id == user.id, ClientEvent.client_event_id == client_event_id)
    ).one_or_none()


def _resent(user, stored, digest, kind, task_id, data):
    """The same id again: the same content is a duplicate; other content is a conflict."""
    if stored.payload_sha256 is None or stored.payload_sha256 == digest:
        return "duplicate", {**stored.response, "status": "duplicate", "original_status": stored.status}
    return "conflict", _mismatch(user, stored, digest, {"type": kind, "task_id": task_id, "seq": data.get("seq")})


def _mismatch(user, stored, digest, sent):
    """A resend with other content: the first stands; the difference is on record, once
    per distinct content (a phone resending it again gets the same answer)."""
    answer = {
        "client_event_id": stored.client_event_id,
        "task_id": stored.task_id,
        "kind": stored.kind,
        "status": "conflict",
        "original_status": stored.status,
        "http_status": 409,
        "payload_sha256": digest,
        "error": {
            "code": "event_payload_mismatch",
            "message": "This client_event_id was already used for an action with other content; the "
            "first is kept and this one is not applied.",
            "fields": {"client_event_id": ["already used for other content"]},
            "first_payload_sha256": stored.payload_sha256,
            "this_payload_sha256": digest,
        },
    }
    if digest not in (stored.mismatches or []):
        stored.mismatches = [*(stored.mismatches or []), digest]
        task = db.session.get(VisitTask, stored.task_id) if stored.task_id is not None else None
        team = task.case.team if task is not None else None
        profile = policy.current().for_team(team) if team is not None else policy.current().get()
        collector = user.collector
        conduct.raise_flag(
            rules.payload_mismatch_flag(profile, stored.client_event_id, stored.payload_sha256, digest),
            collector_id=collector.id if collector else None,
            crew_id=collector.crew_id if collector else None,
            case_id=task.case_id if task is not None else None,
            task_id=task.id if task is not None else None,
        )
        audit.record(
            "field.event_payload_mismatch",
            stored,
            extra={
                "client_event_id": stored.client_event_id,
                "first_payload_sha256": stored.payload_sha256,
                "this_payload_sha256": digest,
                "sent": sent,
            },
        )
        db.session.flush()
    return answer


def _apply(user, kind, task, crew_id, data, judged, base):
    if task.crew_id != crew_id:
        now_crew = task.crew.code if task.crew else None
        answer = {
            **base,
            "status": "conflict",
            "http_status": 409,
            "error": {
                "code": "task_reassigned",
                "message": f"This task was moved to {'crew ' + now_crew if now_crew else 'no crew'} while you were "
                f"offline; your {kind.replace('_', '-')} was recorded but not applied.",
                "fields": {},
                "task_status": task.status,
                "now_crew": now_crew,
            },
        }
        audit.record(
            f"field.{kind}.conflict", task, extra={"client_event_id": data["client_event_id"], "now_crew": now_crew}
        )
        return "conflict", answer
    inner = db.session.begin_nested()
    try:
        result = HANDLERS[kind](user, task, data, judged)
        inner.commit()
    except StaleDataError:
        # Another phone of the crew changed this task at the same moment.
        inner.rollback()
        exc = Conflict(
            "The task changed at the same moment on another phone; reload the route.", code="changed_meanwhile"
        )
        return _rejected(kind, task, data, base, exc, judged)
    except DomainError as exc:
        inner.rollback()
        return _rejected(kind, task, data, base, exc, judged)
    return "accepted", {**base, "status": "accepted", **result}


def _error(exc):
    error = {"code": exc.code, "message": exc.message, "fields": exc.fields}
    if getattr(exc, "rule_id", None):
        error |= {
            "rule_id": exc.rule_id,
            "profile_version": exc.profile_version,
            "reason_zh": (exc.details or {}).get("reason_zh"),
            "rules": (exc.details or {}).get("rules", []),
        }
    return error


def _refused(base, exc):
    return "rejected", {**base, "status": "rejected", "http_status": exc.status, "error": _error(exc)}


def _rejected(kind, task, data, base, exc, judged):
    """The answer to a refused event, which is kept on record like any other."""
    audit.record(
        f"field.{kind}.rejected",
        task,
        lat=data.get("lat"),
        lon=data.get("lon"),
        extra={
            "client_event_id": data["client_event_id"],
            "code": exc.code,
            "rule_id": getattr(exc, "rule_id", None),
            **times_of(judged),
        },
    )
    return _refused(base, exc)


# ---------------------------------------------------------------- a batch


def sync(user, events, load, contact, received_at=None):
    """Apply a batch of queued offline events in order; each is answered on its own,
    whatever it is, so one bad element never holds the rest back. ``load(element)``
    validates one element and returns (kind, task_id, data) or raises ValidationFailed.
    Each event is judged at its device time corrected by the phone's clock offset, inside
    what the server can prove of when it was queued (``devices.judge_offline``)."""
    received_at = received_at or clock.now()
    answers = []
    for index, raw in enumerate(events):
        try:
            kind, task_id, data = load(raw)
        except DomainError as exc:
            status, answer = _invalid(user, raw, exc, contact, received_at)
        else:
            judged = devices.judge_offline(contact, data.get("device_time"), data.get("seq"), received_at)
            status, answer = process(user, kind, task_id, data, judged, contact)
        answers.append({"index": index, **answer, "status": status})
    counts = {s: sum(1 for a in answers if a["status"] == s) for s in ("accepted", "duplicate", "rejected", "conflict")}
    audit.record("field.synced", entity_type="users", entity_id=user.id, extra={"events": len(events), **counts})
    return {"results": answers, "counts": counts}


def _invalid(user, raw, exc, contact, received_at):
    """An element the server cannot read as an action: answered with what is wrong, and
    stored under its id (if it has a usable one), so a resend gets the same answer."""
    element = raw if isinstance(raw, dict) else {}
    kind = element.get("type") if element.get("type") in KINDS else None
    task_id = element.get("task_id")
    task_id = task_id if isinstance(task_id, int) and not isinstance(task_id, bool) and 1 <= task_id <= ID_MAX else None
    client_event_id = usable_id(raw)
    answer = {
        "client_event_id": client_event_id,
        "task_id": task_id,
        "kind": kind,
        "status": "rejected",
        "http_status": exc.status,
        "error": _error(exc),
    }
    if client_event_id is None:
        FIELD_EVENTS_WITHOUT_ID.inc()
        return "rejected", answer
    digest = fingerprint(_raw_content(raw))
    stored = _stored(user, client_event_id)
    if stored is not None:
        return _resent(user, stored, digest, kind, task_id, element)
    seq = (
        element.get("seq")
        if isinstance(element.get("seq"), int)
        and not isinstance(element.get("seq"), bool)
        and 1 <= element["seq"] <= 2**53
        else None
    )
    claim = db.session.begin_nested()
    try:
        event = ClientEvent(
            user_id=user.id,
            client_event_id=client_event_id,
            kind=kind or "invalid",
            status="rejected",
            task_id=task_id,
            received_at=received_at,
            response=answer,
            payload={},
            raw=canonical(_raw_content(raw)),
            payload_sha256=digest,
            device_id=contact.device.id if contact is not None else None,
            device_seq=seq,
        )
        db.session.add(event)
        db.session.flush()
    except IntegrityError:
        claim.rollback()
        stored = _stored(user, client_event_id)
        if stored is None:
            raise
        return _resent(user, stored, digest, kind, task_id, element)
    event.sequence_note = devices.note_sequence(contact, seq)
    answer = event.response = {**answer, "sequence": event.sequence_note}
    db.session.flush()
    claim.commit()
    audit.record(
        "field.event_refused",
        entity_type="client_events",
        entity_id=event.id,
        extra={"client_event_id": client_event_id, "code": exc.code, "payload_sha256": digest},
    )
    return "rejected", answer
