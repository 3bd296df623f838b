"""Shapes of the audit API: the auditors' filters and what they get back."""

from datetime import UTC, date, datetime, time, timedelta

from marshmallow import Schema, ValidationError, fields, post_load, validate, validates_schema

from api.base import BaseSchema
from api.fields import ID_MAX, SEQ_MAX, Id
from api.schemas.common import Code, Text
from api.schemas.conduct import FlagBriefOut
from api.schemas.field import AgreementBriefOut, RecordingOut
from api.schemas.route import StopCaseOut

FORMATS = ("json", "csv", "ndjson")
MAX_PAGE = 500


class DayOrInstant(fields.Field):
    """A UTC day ("2026-03-01") or an instant with its offset ("2026-03-01T08:00:00Z").

    A day given as the end of a range includes that whole day (up to the next UTC midnight).
    """

    def __init__(self, *, day_end=False, **kwargs):
        self.day_end = day_end
        metadata = {
            "type": "string",
            "example": "2026-03-01",
            "description": "A UTC day (YYYY-MM-DD) or an ISO 8601 time with its offset "
            "(write '+' as %2B in a URL, or use Z).",
        }
        metadata.update(kwargs.pop("metadata", {}))
        super().__init__(metadata=metadata, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str):
            raise ValidationError("must be a date (YYYY-MM-DD) or a time with its offset")
        try:
            if len(value) == 10:
                day = date.fromisoformat(value)
                start = datetime.combine(day, time(0), tzinfo=UTC)
                return start + timedelta(days=1) if self.day_end else start
            instant = datetime.fromisoformat(value)
        except ValueError:
            raise ValidationError("must be a date (YYYY-MM-DD) or an ISO 8601 time with its offset") from None
        if instant.tzinfo is None:
            raise ValidationError("give the time with its offset, e.g. Z or +08:00")
        return instant.astimezone(UTC)


class _PullQuery(BaseSchema):
    from_ = DayOrInstant(data_key="from")
    to = DayOrInstant(
        day_end=True,
        metadata={
            "description": "End of the range, exclusive for a time; a day (YYYY-MM-DD) includes that whole UTC day."
        },
    )
    after = fields.Integer(
        validate=validate.Range(0, SEQ_MAX),
        metadata={"description": "Keyset cursor: `next_after` of the previous page."},
    )
    limit = fields.Integer(
        validate=validate.Range(1, SEQ_MAX),
        metadata={
            "description": f"Page size (default 50, at most {MAX_PAGE}); with format=csv|ndjson, the most rows "
            "to export (default: every match)."
        },
    )
    format = fields.String(
        load_default="json",
        validate=validate.OneOf(FORMATS),
        metadata={"description": "json: a page; csv or ndjson: every match, streamed (`after` resumes an export)."},
    )

    @validates_schema
    def consistent(self, data, **kwargs):
        if data.get("from_") and data.get("to") and data["to"] <= data["from_"]:
            raise ValidationError("must be after from", "to")
        if data.get("format", "json") == "json" and (data.get("limit") or 0) > MAX_PAGE:
            raise ValidationError(f"at most {MAX_PAGE} per page; use format=csv or ndjson for more", "limit")

    @post_load
    def named_from(self, data, **kwargs):
        data["from"] = data.pop("from_", None)
        return data


class AuditEventQuery(_PullQuery):
    action = Text(60, metadata={"description": "Exact action, e.g. case.updated, pii.read, audit.exported."})
    entity_type = Text(40, metadata={"description": "The table of the entity, e.g. cases, debtors, visits."})
    entity_id = Text(80)
    actor = Id(strict=False, metadata={"description": "Id of the acting user."})
    collector = Code(
        metadata={
            "description": "Collector code: the events their agent account performed "
            "(events about the collector: entity_type=collectors&entity_id=ID)."
        }
    )


class VisitLogQuery(_PullQuery):
    after = fields.Integer(
        validate=validate.Range(0, ID_MAX),  # a visit id: a 32-bit column, unlike seq
        metadata={"description": "Keyset cursor: `next_after` of the previous page."},
    )
    collector = Code(metadata={"description": "Code of the collector who checked in."})
    crew = Code()
    case = Id(strict=False, metadata={"description": "Case id."})
    loan_ref = Text(80)
    debtor = Id(strict=False, metadata={"description": "Debtor id."})
    outcome = Text(40)
    flag = Text(40, metadata={"description": "Visits with a conduct flag of this kind."})


class VerifyQuery(BaseSchema):
    """No parameters: the whole chain is verified, from the first event. Unknown ones are refused."""


class HeadQuery(BaseSchema):
    date = fields.Date(
        metadata={"description": "A UTC day that has ended: the head as of its end. Without it, the live head."}
    )


class AuditEventOut(Schema):
    seq = fields.Integer()
    occurred_at = fields.AwareDateTime()
    actor_user_id = fields.Integer(allow_none=True)
    actor_role = fields.String(allow_none=True)
    actor_username = fields.String(
        allow_none=True, metadata={"description": "The actor's current username (not part of the hash)."}
    )
    action = fields.String()
    entity_type = fields.String()
    entity_id = fields.String(allow_none=True)
    changes = fields.Raw(
        metadata={
            "type": "object",
            "description": "Before/after of the changed fields, personal data masked; stored "
            "(and hashed) as canonical JSON text. Text that does not parse (an "
            "altered row) is answered as a string.",
        }
    )
    request_id = fields.String(allow_none=True)
    client_ip = fields.String(allow_none=True)
    lat = fields.Float(allow_none=True)
    lon = fields.Float(allow_none=True)
    prev_hash = fields.String()
    hash = fields.String()


class CaseRef(StopCaseOut):
    """The case a visit was for: the phone's case shape, its id and loan only."""

    class Meta:
        fields = ("id", "loan_ref")


TIME_BASES = (
    "server: the server's receive time (sent online); device_corrected: the phone's time corrected by "
    "its measured clock offset (queued offline); device_bounded: that, moved to the nearest time the "
    "server can prove (after the phone's last contact before it was queued, before it arrived)"
)


class VisitPlace(Schema):
    at = fields.AwareDateTime(metadata={"description": "The time every rule was judged on (see time_basis)."})
    received_at = fields.AwareDateTime(allow_none=True, metadata={"description": "When the server received it."})
    device_at = fields.AwareDateTime(allow_none=True, metadata={"description": "The phone's clock: evidence only."})
    time_basis = fields.String(allow_none=True, metadata={"description": TIME_BASES})
    lat = fields.Float()
    lon = fields.Float()
    accuracy_m = fields.Float(allow_none=True)
    distance_m = fields.Float(allow_none=True, metadata={"description": "Distance from the debtor's address."})
    mock = fields.Boolean(metadata={"description": "The phone reported a mock location."})


class VisitRecording(RecordingOut):
    """A recording of the visit, as its upload was answered (its visit is the row it is in)."""

    class Meta:
        exclude = ("visit_id",)


class VisitAgreement(AgreementBriefOut):
    created_at = fields.AwareDateTime()


VisitFlag = FlagBriefOut


class VisitLogOut(Schema):
    id = fields.Integer()
    task_id = fields.Integer()
    visit_date = fields.Date()
    case = fields.Nested(CaseRef)
    debtor_id = fields.Integer()
    team = fields.String()
    crew = fields.String()
    collector = fields.String(metadata={"description": "Code of the collector who checked in."})
    collector_name = fields.String(metadata={"description": "That collector's name."})
    timezone = fields.String(
        metadata={
            "description": "The debtor's time zone (IANA), where rules about hours are judged.",
            "example": "Asia/Shanghai",
        }
    )
    check_in = fields.Nested(VisitPlace)
    check_out = fields.Nested(VisitPlace, allow_none=True)
    outcome = fields.String(allow_none=True)
    outcome_at = fields.AwareDateTime(
        allow_none=True, metadata={"description": "When the outcome was recorded (the time judged)."}
    )
    outcome_received_at = fields.AwareDateTime(
        allow_none=True, metadata={"description": "When the server received the outcome."}
    )
    outcome_device_at = fields.AwareDateTime(allow_none=True, metadata={"description": "The phone's clock then."})
    person_met = fields.String(allow_none=True)
    notes = fields.String(allow_none=True)
    recordings = fields.List(fields.Nested(VisitRecording))
    agreements = fields.List(fields.Nested(VisitAgreement))
    flags = fields.List(fields.Nested(VisitFlag))


class ChainPart(Schema):
    chain = fields.Integer()
    seq = fields.Integer(metadata={"description": "The chain's last event (0: none yet)."})
    hash = fields.String()


CHAINS_DESCRIPTION = (
    "A partitioned log (AUDIT_CHAINS > 1) only: the head of each chain. Then seq is the highest "
    'of them and hash binds them all: SHA-256 of "heads" followed by the JSON '
    "[[chain, seq, hash], ...] in chain order."
)


class ChainHead(Schema):
    seq = fields.Integer()
    hash = fields.String()
    chains = fields.List(fields.Nested(ChainPart), metadata={"description": CHAINS_DESCRIPTION})


class BrokenLink(Schema):
    seq = fields.Integer(allow_none=True)
    chain = fields.Integer(metadata={"description": "A partitioned log: the chain the broken link is on."})
    what = fields.String(
        metadata={
            "description": "missing (a gap), prev_hash (a broken link), hash (the event's "
            "content was altered), head, personal_value (a value kept beside "
            "the chain differs from its commitment) or anchor (an external "
            "anchor shows a cut tail, a rewound head or a rewritten link, or "
            "an anchor is not validly signed), or chain (an event on a chain that has no "
            "head)."
        }
    )
    detail = fields.String()


class AnchorRef(Schema):
    seq = fields.Integer()
    hash = fields.String()
    anchored_at = fields.String(metadata={"description": "When the anchor was written (ISO 8601, UTC)."})


class AnchorsChecked(Schema):
    checked = fields.Integer(metadata={"description": "Validly signed anchors the chain was checked against."})
    store = fields.String(metadata={"description": "Where the anchors are kept."})
    latest = fields.Nested(AnchorRef, allow_none=True)


class VerifyOut(Schema):
    ok = fields.Boolean()
    checked = fields.Integer(metadata={"description": "Events verified intact, from seq 1."})
    first_broken = fields.Nested(BrokenLink, allow_none=True)
    head = fields.Nested(ChainHead)
    personal_values_checked = fields.Integer(
        metadata={"description": "Events whose personal values, kept beside the chain, matched their commitments."}
    )
    anchors = fields.Nested(AnchorsChecked)


class HeadOut(Schema):
    date = fields.Date(allow_none=True)
    as_of = fields.AwareDateTime(metadata={"description": "The end of the day (next UTC midnight), or now."})
    seq = fields.Integer()
    hash = fields.String()
    chains = fields.List(fields.Nested(ChainPart), metadata={"description": CHAINS_DESCRIPTION})
    final = fields.Boolean(
        metadata={"description": "True once an event of a later day exists: the day's head can no longer change."}
    )
