"""The field agent's API: the day's route, check-in/out, outcomes, recordings, sync."""
from flask import Blueprint, current_app, g, jsonify, request

from api.base import endpoint, load
from api.schemas import (
    FieldEventOut,
    PositionIn,
    RecordingForm,
    RecordingOut,
    RouteOut,
    RouteQuery,
    SyncEvent,
    SyncIn,
    SyncOut,
    VisitIn,
)
from app.errors import ValidationFailed
from app.services import field

bp = Blueprint("field", __name__)
BODIES = {"check_in": PositionIn, "check_out": PositionIn, "visit": VisitIn}


def _answer(status, answer, accepted_status=200):
    """accepted/duplicate → 2xx with the answer; rejected/conflict → the error envelope,
    carrying the answer, while the event itself stays recorded."""
    if status in ("accepted", "duplicate"):
        response = jsonify(answer)
        response.status_code = accepted_status if status == "accepted" else 200
        return response
    error = answer["error"]
    http_status = answer.get("http_status", 409) if status == "rejected" else 409
    body = {"error": {"code": error["code"], "message": error["message"], "fields": error.get("fields") or {},
                      "details": answer}}
    if error.get("rule_id"):
        body["error"] |= {"rule_id": error["rule_id"], "profile_version": error["profile_version"],
                          "reason_zh": error.get("reason_zh"), "rules": error.get("rules", [])}
    response = jsonify(body)
    response.status_code = http_status
    return response


@bp.get("/agent/route")
@endpoint(permission="field:act", query=RouteQuery, response=RouteOut, device="optional")
def get_route(args):
    """The crew's committed stops for a day, in order, with what to know at each door."""
    return field.route(g.user, args.get("date"))


@bp.post("/agent/tasks/<id:task_id>/check-in")
@endpoint(permission="field:act", body=PositionIn, response=FieldEventOut, status=201, device="optional",
          also={200: "The same client_event_id again: the answer it got the first time."})
def check_in(task_id, data):
    """Check in at the door: position, accuracy, device time; judged by the policy."""
    return _answer(*field.act(g.user, "check_in", task_id, data, g.device_contact, g.received_at), accepted_status=201)


@bp.post("/agent/tasks/<id:task_id>/check-out")
@endpoint(permission="field:act", body=PositionIn, response=FieldEventOut, device="optional")
def check_out(task_id, data):
    """Check out; a visit closed without its required recording is flagged."""
    return _answer(*field.act(g.user, "check_out", task_id, data, g.device_contact, g.received_at))


@bp.post("/agent/tasks/<id:task_id>/visit")
@endpoint(permission="field:act", body=VisitIn, response=FieldEventOut, device="optional")
def record_visit(task_id, data):
    """Record the outcome, who was met, notes, recordings and any agreement made."""
    return _answer(*field.act(g.user, "visit", task_id, data, g.device_contact, g.received_at))


def _load_event(raw):
    if not isinstance(raw, dict):
        raise ValidationFailed("An event must be an object.", fields={"_event": ["must be an object"]})
    head = load(SyncEvent(), {k: raw[k] for k in ("type", "task_id", "seq") if k in raw})
    body = {k: v for k, v in raw.items() if k not in ("type", "task_id", "seq")}
    return head["type"], head["task_id"], {**load(BODIES[head["type"]](), body), "seq": head["seq"]}


@bp.post("/agent/sync")
@endpoint(permission="field:act", body=SyncIn, response=SyncOut, device="required")
def sync(data):
    """A batch of queued offline events, applied in order; each answered on its own."""
    return field.sync(g.user, data["events"], _load_event, g.device_contact, g.received_at)


@bp.post("/agent/recordings")
@endpoint(permission="field:act", response=RecordingOut, status=201, raw_body="multipart/form-data", device="optional",
          also={200: "The same file again: the recording already stored."})
def upload_recording():
    """Upload a visit's recording or photo; the SHA-256 sent with it is checked."""
    request.max_content_length = current_app.config["RECORDING_MAX_BYTES"] + 64 * 1024
    upload = request.files.get("file") if request.mimetype == "multipart/form-data" else None
    if upload is None:
        raise ValidationFailed("Send the file as form field 'file' (multipart/form-data).",
                               fields={"file": ["missing"]})
    form = load(RecordingForm(), request.form.to_dict(flat=True))
    recording, created = field.store_recording(g.user, form, upload.read(), upload.mimetype)
    if not created:  # the same file again: answer the stored one
        return jsonify(RecordingOut().dump(recording))
    return recording
