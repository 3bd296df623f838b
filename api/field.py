"""The field agent's API: the day's route, check-in/out, outcomes, recordings, sync."""

from flask import Blueprint, current_app, g, request

from api.base import endpoint, load
from api.schemas.field import (
    FieldEventOut,
    PositionIn,
    RecordingForm,
    RecordingOut,
    SyncEvent,
    SyncIn,
    SyncOut,
    VisitIn,
)
from api.schemas.route import RouteOut, RouteQuery
from app.errors import FieldEventRefused, ValidationFailed
from app.services.field import agent_route, recordings
from app.services.field import events as field_events

bp = Blueprint("field", __name__)
BODIES = {"check_in": PositionIn, "check_out": PositionIn, "visit": VisitIn}


def _answer(status, answer, accepted_status=200):
    """accepted → ``accepted_status``, duplicate → 200, each with the answer; rejected or
    conflict → the error envelope with the answer in its details (the event itself stays
    on record, so the refusal is committed, not rolled back)."""
    if status in ("accepted", "duplicate"):
        return answer, accepted_status if status == "accepted" else 200
    raise FieldEventRefused(answer)


@bp.get("/agent/route")
@endpoint(permission="field:act", query=RouteQuery, response=RouteOut, device="optional")
def get_route(args):
    """The crew's committed stops for a day, in order, with what to know at each door."""
    return agent_route.route(g.user, args.get("date"))


@bp.post("/agent/tasks/<id:task_id>/check-in")
@endpoint(
    permission="field:act",
    body=PositionIn,
    response=FieldEventOut,
    status=201,
    device="optional",
    also={200: "The same client_event_id again: the answer it got the first time."},
)
def check_in(task_id, data):
    """Check in at the door: position, accuracy, device time; judged by the policy."""
    return _answer(
        *field_events.act(g.user, "check_in", task_id, data, g.device_contact, g.received_at), accepted_status=201
    )


@bp.post("/agent/tasks/<id:task_id>/check-out")
@endpoint(permission="field:act", body=PositionIn, response=FieldEventOut, device="optional")
def check_out(task_id, data):
    """Check out; a visit closed without its required recording is flagged."""
    return _answer(*field_events.act(g.user, "check_out", task_id, data, g.device_contact, g.received_at))


@bp.post("/agent/tasks/<id:task_id>/visit")
@endpoint(permission="field:act", body=VisitIn, response=FieldEventOut, device="optional")
def record_visit(task_id, data):
    """Record the outcome, who was met, notes, recordings and any agreement made."""
    return _answer(*field_events.act(g.user, "visit", task_id, data, g.device_contact, g.received_at))


def _load_event(raw):
    """One element of a batch as (type, task id, body), or ValidationFailed naming what is wrong."""
    if not isinstance(raw, dict):
        raise ValidationFailed("An event must be an object.", fields={"_event": ["must be an object"]})
    head_names = ("type", "task_id", "seq")
    problems, head, data = {}, None, None
    try:
        head = load(SyncEvent(), {k: raw[k] for k in head_names if k in raw})
    except ValidationFailed as exc:
        problems.update(exc.fields)
    kind = head["type"] if head else raw.get("type")
    if isinstance(kind, str) and kind in BODIES:  # what is wrong in the body too, not only in its head
        try:
            data = load(BODIES[kind](), {k: v for k, v in raw.items() if k not in head_names})
        except ValidationFailed as exc:
            problems.update(exc.fields)
    if problems:
        raise ValidationFailed("Some fields are not valid.", fields=problems)
    return head["type"], head["task_id"], {**data, "seq": head["seq"]}


@bp.post("/agent/sync")
@endpoint(permission="field:act", body=SyncIn, response=SyncOut, device="required")
def sync(data):
    """A batch of queued offline events, applied in order; each answered on its own."""
    return field_events.sync(g.user, data["events"], _load_event, g.device_contact, g.received_at)


@bp.post("/agent/recordings")
@endpoint(
    permission="field:act",
    response=RecordingOut,
    status=201,
    raw_body="multipart/form-data",
    device="optional",
    also={200: "The same file again: the recording already stored."},
)
def upload_recording():
    """Upload a visit's recording or photo; the SHA-256 sent with it is checked."""
    request.max_content_length = current_app.config["RECORDING_MAX_BYTES"] + 64 * 1024
    upload = request.files.get("file") if request.mimetype == "multipart/form-data" else None
    if upload is None:
        raise ValidationFailed(
            "Send the file as form field 'file' (multipart/form-data).", fields={"file": ["missing"]}
        )
    form = load(RecordingForm(), request.form.to_dict(flat=True))
    recording, created = recordings.store_recording(g.user, form, upload.read(), upload.mimetype, g.device_contact)
    return recording, 201 if created else 200  # the same file again: the stored one
