"""Conduct flags, complaints and a collector's conduct record."""

from marshmallow import Schema, ValidationError, fields, pre_dump, validate, validates_schema

from api.base import BaseSchema, PageQuery, note_personal_read
from api.fields import Facts, Id, Instant
from api.schemas.common import Code, Text
from app import pii


class FlagBriefOut(Schema):
    """A conduct flag at a glance (the audit desk's visit log lists a visit's flags so)."""

    id = fields.Integer()
    kind = fields.String()
    rule_id = fields.String()
    profile_version = fields.String()
    status = fields.String()
    raised_at = fields.AwareDateTime()


class FlagOut(FlagBriefOut):
    collector = fields.Function(lambda f: f.collector.code if f.collector else None)
    collector_name = fields.Function(lambda f: f.collector.name if f.collector else None)
    case_id = fields.Integer(allow_none=True)
    loan_ref = fields.Function(
        lambda f: f.case.loan_ref if f.case else None,
        metadata={"description": "The loan of the flag's case, so a reviewer can find it."},
    )
    debtor = fields.Method("_debtor", metadata={"description": "The debtor's name, masked."})
    task_id = fields.Integer(allow_none=True)
    visit_id = fields.Integer(allow_none=True)
    reason_en = fields.Function(lambda f: (f.details or {}).get("reason_en"), allow_none=True)
    reason_zh = fields.Function(lambda f: (f.details or {}).get("reason_zh"), allow_none=True)
    details = Facts(
        metadata={
            "description": "The facts the rule was judged on (and its reason, as reason_en "
            "and reason_zh), e.g. the hour of a late check-in or the waiver asked."
        }
    )
    review_notes = fields.String(allow_none=True)
    reviewed_at = fields.AwareDateTime(allow_none=True)

    def _debtor(self, flag):
        if flag.case is None:
            return None
        note_personal_read(flag.case.debtor_id, flag.case_id, ("name",))
        return pii.mask_name(flag.case.debtor.name)


class FlagQuery(PageQuery):
    status = fields.String(validate=validate.OneOf(("open", "reviewed", "resolved", "dismissed")))
    kind = Text(40)
    collector = Code()
    since = Instant()


class ReviewIn(BaseSchema):
    status = fields.String(required=True, validate=validate.OneOf(("reviewed", "resolved", "dismissed")))
    notes = Text(2000, required=True)


class ComplaintIn(BaseSchema):
    case_id = Id()
    debtor_id = Id()
    collector = Code()
    visit_id = Id()
    channel = fields.String(
        required=True, validate=validate.OneOf(("phone", "letter", "email", "in_person", "regulator", "app", "other"))
    )
    category = fields.String(
        required=True,
        validate=validate.OneOf(
            (
                "rudeness",
                "threat",
                "third_party_disclosure",
                "out_of_hours",
                "workplace_visit",
                "wrong_debt",
                "harassment",
                "privacy",
                "other",
            )
        ),
    )
    text = Text(4000, required=True)
    received_at = Instant()


class ComplaintOut(Schema):
    id = fields.Integer()
    case_id = fields.Integer(allow_none=True)
    debtor_id = fields.Integer(allow_none=True)
    collector_id = fields.Integer(allow_none=True)
    visit_id = fields.Integer(allow_none=True)
    channel = fields.String()
    category = fields.String()
    text = fields.String()
    status = fields.String()
    received_at = fields.AwareDateTime()
    resolved_at = fields.AwareDateTime(allow_none=True)
    resolution_notes = fields.String(allow_none=True)

    @pre_dump
    def personal_read(self, complaint, **kwargs):
        note_personal_read(complaint.debtor_id, complaint.case_id, ("text", "resolution_notes"))
        return complaint


class ComplaintQuery(PageQuery):
    status = fields.String(
        validate=validate.OneOf(("open", "under_review", "substantiated", "unsubstantiated", "withdrawn"))
    )


class ComplaintUpdate(BaseSchema):
    status = fields.String(
        required=True, validate=validate.OneOf(("under_review", "substantiated", "unsubstantiated", "withdrawn"))
    )
    notes = Text(4000, required=True)


class PeriodQuery(BaseSchema):
    since = fields.Date(data_key="from", required=True)
    until = fields.Date(data_key="to", required=True)

    @validates_schema
    def ordered(self, data, **kwargs):
        if data.get("since") and data.get("until") and data["until"] < data["since"]:
            raise ValidationError("must not be before from", "to")


class ComplaintCountsOut(Schema):
    total = fields.Integer()
    substantiated = fields.Integer()
    by_status = fields.Dict(keys=fields.String(), values=fields.Integer())


class AgreementCountsOut(Schema):
    made = fields.Integer()
    kept = fields.Integer()
    broken = fields.Integer()
    by_status = fields.Dict(keys=fields.String(), values=fields.Integer())


class ConductRecordOut(Schema):
    collector = fields.String()
    since = fields.Date(data_key="from")
    until = fields.Date(data_key="to")
    visits = fields.Integer()
    flags = fields.Dict(keys=fields.String(), values=fields.Integer(), metadata={"description": "Flags by kind."})
    flags_total = fields.Integer()
    complaints = fields.Nested(ComplaintCountsOut)
    agreements = fields.Nested(AgreementCountsOut)
