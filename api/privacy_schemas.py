"""Shapes of a subject access export: everything held on one debtor."""

from marshmallow import Schema, fields, validate

from api.audit_schemas import VisitFlag, VisitRecording
from api.base import BaseSchema
from api.schemas.cases import AvailabilityOut


class SubjectAccessQuery(BaseSchema):
    format = fields.String(
        load_default="json",
        validate=validate.OneOf(("json", "html")),
        metadata={"description": "json: the data; html: a printable page of the same (to print or save as PDF)."},
    )


class DebtorHeld(Schema):
    id = fields.Integer()
    name = fields.String()
    phone = fields.String(allow_none=True)
    national_id = fields.String(allow_none=True)
    address = fields.String()
    lat = fields.Float()
    lon = fields.Float()
    timezone = fields.String()
    language = fields.String(allow_none=True)
    availability = fields.List(fields.Nested(AvailabilityOut))
    flags = fields.List(fields.String(), metadata={"description": "Flags set on the debtor (dispute, cease, …)."})
    created_at = fields.AwareDateTime()
    updated_at = fields.AwareDateTime()
    anonymised_at = fields.AwareDateTime(allow_none=True)


class ContactHeld(Schema):
    id = fields.Integer()
    channel = fields.String()
    purpose = fields.String()
    result = fields.String()
    occurred_at = fields.AwareDateTime()
    planned_visit_date = fields.Date(allow_none=True)
    notes = fields.String(allow_none=True)


class PlaceHeld(Schema):
    at = fields.AwareDateTime()
    lat = fields.Float(allow_none=True)
    lon = fields.Float(allow_none=True)
    accuracy_m = fields.Float(allow_none=True)
    distance_m = fields.Float(allow_none=True)


class RecordingHeld(VisitRecording):
    erased_at = fields.AwareDateTime(allow_none=True, metadata={"description": "When retention deleted the file."})


class VisitHeld(Schema):
    id = fields.Integer()
    visit_date = fields.Date()
    crew = fields.String()
    collector = fields.String()
    check_in = fields.Nested(PlaceHeld)
    check_out = fields.Nested(PlaceHeld, allow_none=True)
    outcome = fields.String(allow_none=True)
    outcome_at = fields.AwareDateTime(allow_none=True)
    person_met = fields.String(allow_none=True)
    notes = fields.String(allow_none=True)
    recordings = fields.List(fields.Nested(RecordingHeld))


class InstalmentHeld(Schema):
    seq = fields.Integer()
    due_date = fields.Date()
    amount = fields.String()
    paid = fields.String()
    status = fields.String()


class AgreementHeld(Schema):
    id = fields.Integer()
    visit_id = fields.Integer(allow_none=True)
    kind = fields.String()
    status = fields.String()
    currency = fields.String()
    total = fields.String()
    waiver = fields.String()
    owed = fields.String()
    frequency = fields.String(allow_none=True)
    acknowledgement_kind = fields.String(allow_none=True)
    created_at = fields.AwareDateTime()
    approved_at = fields.AwareDateTime(allow_none=True)
    instalments = fields.List(fields.Nested(InstalmentHeld))


class PaymentHeld(Schema):
    id = fields.Integer()
    reference = fields.String()
    amount = fields.String()
    currency = fields.String()
    paid_at = fields.AwareDateTime()
    received_at = fields.AwareDateTime()


class FlagHeld(VisitFlag):
    visit_id = fields.Integer(allow_none=True)


class CaseHeld(Schema):
    id = fields.Integer()
    loan_ref = fields.String()
    team = fields.String()
    product = fields.String()
    currency = fields.String()
    principal = fields.String()
    outstanding = fields.String()
    days_past_due = fields.Integer()
    stage = fields.String()
    created_at = fields.AwareDateTime()
    updated_at = fields.AwareDateTime()
    contact_attempts = fields.List(fields.Nested(ContactHeld))
    visits = fields.List(fields.Nested(VisitHeld))
    agreements = fields.List(fields.Nested(AgreementHeld))
    payments = fields.List(fields.Nested(PaymentHeld))
    conduct_flags = fields.List(fields.Nested(FlagHeld))


class ComplaintHeld(Schema):
    id = fields.Integer()
    case_id = fields.Integer(allow_none=True)
    channel = fields.String()
    category = fields.String()
    text = fields.String()
    status = fields.String()
    received_at = fields.AwareDateTime()
    resolved_at = fields.AwareDateTime(allow_none=True)
    resolution_notes = fields.String(allow_none=True)


class ReadHeld(Schema):
    seq = fields.Integer(metadata={"description": "The pii.read event in the audit log."})
    at = fields.AwareDateTime()
    actor_username = fields.String(allow_none=True)
    actor_role = fields.String(allow_none=True)
    via = fields.String(allow_none=True, metadata={"description": "What was read: the endpoint or export."})
    fields_seen = fields.List(fields.String(), data_key="fields", attribute="fields")
    masked = fields.List(fields.String())


class EventHeld(Schema):
    seq = fields.Integer()
    occurred_at = fields.AwareDateTime()
    action = fields.String()
    actor_role = fields.String(allow_none=True)
    actor_username = fields.String(allow_none=True)
    entity_type = fields.String()
    entity_id = fields.String(allow_none=True)
    changes = fields.Raw(
        metadata={
            "type": "object",
            "description": "Before/after, personal values still held in place (masked as logged).",
        }
    )


class SubjectAccessOut(Schema):
    generated_at = fields.AwareDateTime()
    generated_by = fields.String()
    debtor = fields.Nested(DebtorHeld)
    cases = fields.List(fields.Nested(CaseHeld))
    complaints = fields.List(fields.Nested(ComplaintHeld))
    reads = fields.List(
        fields.Nested(ReadHeld), metadata={"description": "Who read this debtor's personal data, and when."}
    )
    audit_events = fields.List(fields.Nested(EventHeld))
