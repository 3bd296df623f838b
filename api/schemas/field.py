"""The field actions a phone sends (check-in, check-out, the visit and its agreement),
singly or as a sync batch, the answers to them, and recordings."""

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from api.base import BaseSchema
from api.fields import Amount, Currency, Id, Instant, Integer, Latitude, Longitude, StrictBoolean, StrictFloat
from app.models import OUTCOMES as _OUTCOME_CODES
from app.models import PEOPLE as _PEOPLE


def ClientEventId():
    return fields.String(
        required=True,
        validate=validate.Regexp(r"^[A-Za-z0-9_.:\-]{8,80}$", error="8 to 80 letters, digits, '-', '_', ':' or '.'"),
        metadata={"description": "Made by the phone, unique per action; resending it never repeats the action."},
    )


OUTBOX_SEQ = validate.Range(1, 2**53)


class PositionIn(BaseSchema):
    client_event_id = ClientEventId()
    lat = Latitude(required=True)
    lon = Longitude(required=True)
    accuracy_m = StrictFloat(validate=validate.Range(0, 100000), allow_none=True)
    device_time = Instant(required=True)
    mock_location = StrictBoolean(load_default=False)
    seq = Integer(validate=OUTBOX_SEQ, metadata={"description": "The action's number in this phone's outbox."})


class AcknowledgementIn(BaseSchema):
    kind = fields.String(required=True, validate=validate.OneOf(("signature", "otp")))
    ref = fields.String(
        required=True,
        validate=validate.Length(4, 128),
        metadata={"description": "SHA-256 of the signature image, or the OTP reference."},
    )


class AgreementIn(BaseSchema):
    kind = fields.String(required=True, validate=validate.OneOf(("promise", "instalment")))
    total = Amount(required=True)
    currency = Currency()
    waiver = Amount(load_default="0")
    due_date = fields.Date(metadata={"description": "Promise: the day it will be paid."})
    first_due_date = fields.Date(metadata={"description": "Instalments: the first due day."})
    count = Integer(validate=validate.Range(2, 60))
    frequency = fields.String(validate=validate.OneOf(("weekly", "fortnightly", "monthly")))
    acknowledgement = fields.Nested(AcknowledgementIn, required=True)

    @validates_schema
    def shape_of_kind(self, data, **kwargs):
        if data.get("kind") == "promise":
            if not data.get("due_date"):
                raise ValidationError("required for a promise", "due_date")
            for name in ("first_due_date", "count", "frequency"):
                if name in data:
                    raise ValidationError("not used by a promise", name)
        elif data.get("kind") == "instalment":
            for name in ("first_due_date", "count", "frequency"):
                if name not in data:
                    raise ValidationError("required for an instalment plan", name)
            if "due_date" in data:
                raise ValidationError("use first_due_date for an instalment plan", "due_date")


class VisitIn(BaseSchema):
    client_event_id = ClientEventId()
    outcome = fields.String(required=True, validate=validate.OneOf(tuple(_OUTCOME_CODES)))
    person_met = fields.String(allow_none=True, validate=validate.OneOf(_PEOPLE))
    notes = fields.String(allow_none=True, validate=validate.Length(max=4000))
    recording_ids = fields.List(Id(), validate=validate.Length(max=20))
    agreement = fields.Nested(AgreementIn)
    device_time = Instant()
    seq = Integer(validate=OUTBOX_SEQ, metadata={"description": "The action's number in this phone's outbox."})


class SyncEvent(BaseSchema):
    """One queued action: its type, its task and its place in the phone's outbox, plus the
    fields of that action's body."""

    type = fields.String(required=True, validate=validate.OneOf(("check_in", "check_out", "visit")))
    task_id = Id(required=True)
    seq = Integer(
        required=True,
        validate=OUTBOX_SEQ,
        metadata={
            "description": "The action's number in this phone's outbox (it only grows); with the phone's "
            "X-Device-Seq reports it bounds when the action can have been queued."
        },
    )


class SyncIn(BaseSchema):
    elements_loaded_one_by_one = True  # api.base.load: each element is checked when it is loaded

    events = fields.List(
        fields.Raw(allow_none=True),
        required=True,
        validate=validate.Length(1, 500),
        metadata={
            "description": "In the order they happened: each {type, task_id, seq, …the body of that action…}. Every "
            "element is answered on its own, whatever it is (an element that is not an action is "
            "answered rejected, naming what is wrong)."
        },
    )


class VisitSummaryOut(Schema):
    id = fields.Integer()
    task_id = fields.Integer()
    check_in_at = fields.String(metadata={"description": "The time judged (ISO 8601)."})
    check_in_distance_m = fields.Float(allow_none=True)
    check_out_at = fields.String(allow_none=True)
    outcome = fields.String(allow_none=True)
    person_met = fields.String(allow_none=True)


class InstalmentBriefOut(Schema):
    seq = fields.Integer()
    due_date = fields.String()
    amount = fields.String(metadata={"example": "333.34"})


class AgreementBriefOut(Schema):
    """An agreement at a glance, its amounts as exact decimal text (a stop's history on the
    phone; a visit on the audit desk)."""

    id = fields.Integer()
    kind = fields.String()
    status = fields.String()
    currency = fields.String()
    total = fields.String(metadata={"example": "1234.50"})
    waiver = fields.String(metadata={"example": "0.00"})


class AgreementSummaryOut(AgreementBriefOut):
    instalments = fields.List(fields.Nested(InstalmentBriefOut))


class ConductFlagBriefOut(Schema):
    kind = fields.String()
    rule_id = fields.String()
    reason_en = fields.String()
    reason_zh = fields.String()


class RuleRefusalOut(Schema):
    rule_id = fields.String()
    profile = fields.String()
    allowed = fields.Boolean()
    reason_en = fields.String()
    reason_zh = fields.String()


class MoveOptionOut(Schema):
    crew = fields.String()
    current = fields.Boolean(metadata={"description": "The task is on this crew now."})
    stops = fields.Integer(metadata={"description": "The crew's other stops that day."})
    capacity = fields.Integer()
    full = fields.Boolean()
    allowed = fields.Boolean(
        metadata={
            "description": "A move here would pass the policy and the crew's room now "
            "(its day's times are fitted when it is made)."
        }
    )
    rules = fields.List(fields.Nested(RuleRefusalOut), metadata={"description": "The policy's refusals, if any."})


class MoveOptionsOut(Schema):
    task_id = fields.Integer()
    status = fields.String()
    visit_date = fields.Date()
    crews = fields.List(fields.Nested(MoveOptionOut))


class FieldEventErrorOut(Schema):
    code = fields.String(
        metadata={
            "description": "e.g. policy_violation, validation_error, not_found, task_reassigned, event_payload_mismatch"
        }
    )
    message = fields.String()
    field_errors = fields.Dict(
        data_key="fields",
        attribute="fields",
        keys=fields.String(),
        values=fields.Raw(),
        metadata={"description": "The error envelope's fields: each bad field with its messages."},
    )
    rule_id = fields.String()
    profile_version = fields.String()
    reason_zh = fields.String(allow_none=True)
    rules = fields.List(fields.Nested(RuleRefusalOut))
    task_status = fields.String(metadata={"description": "task_reassigned: the task's status now"})
    now_crew = fields.String(allow_none=True, metadata={"description": "task_reassigned: the crew it is on now"})
    first_payload_sha256 = fields.String(metadata={"description": "event_payload_mismatch: the content kept"})
    this_payload_sha256 = fields.String(metadata={"description": "event_payload_mismatch: the content refused"})


class SequenceNoteOut(Schema):
    status = fields.String(
        metadata={
            "description": "in_order; gap (numbers before it never arrived); late (it "
            "arrived after a higher number); unnumbered"
        }
    )
    missing = fields.List(fields.Integer(), metadata={"description": "gap: the first and last number missing"})
    after = fields.Integer(metadata={"description": "late: the highest number already received"})


class FieldEventOut(Schema):
    index = fields.Integer(metadata={"description": "In a sync batch: the element's position."})
    status = fields.String(metadata={"description": "accepted, duplicate, rejected or conflict"})
    original_status = fields.String(metadata={"description": "duplicate/conflict: what the first answer was"})
    client_event_id = fields.String(allow_none=True)
    task_id = fields.Integer(allow_none=True, metadata={"description": "null when the element named no usable task"})
    kind = fields.String(allow_none=True, metadata={"description": "null when the element named no known action"})
    judged_at = fields.String(metadata={"description": "The time the rules judged the action on (ISO 8601)."})
    time_basis = fields.String(metadata={"description": "server, device_corrected or device_bounded"})
    http_status = fields.Integer(metadata={"description": "rejected/conflict: the status it would have alone"})
    payload_sha256 = fields.String(metadata={"description": "conflict: the fingerprint of the content refused"})
    sequence = fields.Nested(SequenceNoteOut)
    visit = fields.Nested(VisitSummaryOut)
    agreement = fields.Nested(AgreementSummaryOut)
    flags = fields.List(fields.Nested(ConductFlagBriefOut))
    error = fields.Nested(FieldEventErrorOut)


class SyncCountsOut(Schema):
    accepted = fields.Integer()
    duplicate = fields.Integer()
    rejected = fields.Integer()
    conflict = fields.Integer()


class SyncOut(Schema):
    results = fields.List(fields.Nested(FieldEventOut))
    counts = fields.Nested(SyncCountsOut)


class RecordingOut(Schema):
    id = fields.Integer()
    sha256 = fields.String()
    size_bytes = fields.Integer()
    content_type = fields.String()
    kind = fields.String()
    duration_seconds = fields.Integer(allow_none=True)
    visit_id = fields.Integer()
    uploaded_at = fields.AwareDateTime()


class RecordingForm(BaseSchema):
    """Form fields sent beside the file (multipart/form-data)."""

    class Meta:
        unknown = RAISE

    task_id = Id(strict=False, required=True)
    sha256 = fields.String(required=True, validate=validate.Regexp(r"^[0-9a-fA-F]{64}$", error="64 hex digits"))
    seq = fields.Integer(validate=OUTBOX_SEQ, metadata={"description": "The recording's number in the phone's outbox."})
    duration_seconds = fields.Integer(validate=validate.Range(0, 36000), allow_none=True)
