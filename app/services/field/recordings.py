"""A visit's recordings and photos uploaded from the phone: checked (type, size, SHA-256),
stored, and the flag raised for a missing recording settled. (Played back on the audit
desk: ``app.services.recordings``.)"""

import hashlib
import mimetypes

from sqlalchemy import or_, select

from app import audit, clock, policy
from app.errors import Conflict, NotFound, ValidationFailed
from app.extensions import db
from app.models import ALLOWED_TYPES, Recording, Visit, VisitTask
from app.policy import rules
from app.services import devices
from app.services.field.visits import crew_id_of


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
