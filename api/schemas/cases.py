"""Debtors and their cases, contact attempts, and the case import's report."""

from marshmallow import Schema, ValidationError, fields, post_load, pre_dump, validate, validates_schema

from api.base import BaseSchema, PageQuery, note_personal_read, viewer
from api.fields import ID_MAX, Amount, ClockTime, Currency, Flags, Id, Instant, Integer, Latitude, Longitude
from api.schemas.common import Code, Text
from app import authz, money, pii
from app.models import CONTACT_CHANNELS, CONTACT_PURPOSES, CONTACT_RESULTS, PLACE_KINDS, STAGES
from app.services import geocoding


class AvailabilityWindow(BaseSchema):
    days = fields.List(
        Integer(validate=validate.Range(0, 6)),
        validate=validate.Length(min=1, max=7),
        metadata={"description": "Weekdays, Monday = 0; all days when absent."},
    )
    start = ClockTime(required=True)
    end = ClockTime(required=True)

    @validates_schema
    def ordered(self, data, **kwargs):
        if data.get("start") and data.get("end") and data["end"] <= data["start"]:
            raise ValidationError("must be after start", "end")


def _availability_to_json(windows):
    out = []
    for w in windows:
        item = {"start": w["start"].strftime("%H:%M"), "end": w["end"].strftime("%H:%M")}
        if "days" in w:
            item["days"] = sorted(set(w["days"]))
        out.append(item)
    return out


class KnownPlace(BaseSchema):
    """Another place the case knows of, where the policy profile may forbid visits."""

    kind = fields.String(required=True, validate=validate.OneOf(PLACE_KINDS))
    address = Text(500)
    lat = Latitude(required=True)
    lon = Longitude(required=True)


class DebtorIn(BaseSchema):
    name = Text(200, required=True)
    phone = fields.String(allow_none=True, validate=validate.Regexp(r"^\+?[0-9 \-]{5,30}$", error="not a phone number"))
    national_id = fields.String(
        allow_none=True, validate=validate.Regexp(r"^[0-9A-Za-z]{4,40}$", error="letters and digits, 4 to 40")
    )
    address = Text(500, required=True)
    lat = Latitude(
        metadata={
            "description": "With lon, or neither: an address-only debtor is geocoded (or pinned "
            "by a supervisor) and planned once placed."
        }
    )
    lon = Longitude()
    timezone = Text(64)
    language = Text(16, allow_none=True)
    availability = fields.List(fields.Nested(AvailabilityWindow), validate=validate.Length(max=14))
    flags = Flags()
    places = fields.List(
        fields.Nested(KnownPlace),
        validate=validate.Length(max=10),
        metadata={
            "description": "Other places known for the debtor (workplace, hospital, public): a check-in there is "
            "refused where the policy profile says so. Replaces the list when given."
        },
    )

    @validates_schema
    def lat_with_lon(self, data, **kwargs):
        if ("lat" in data) != ("lon" in data):
            missing = "lon" if "lat" in data else "lat"
            raise ValidationError("give lat and lon together, or neither (address only)", missing)

    @post_load
    def availability_as_json(self, data, **kwargs):
        if "availability" in data:
            data["availability"] = _availability_to_json(data["availability"])
        return data


class DebtorUpdate(DebtorIn):
    """Any subset of the debtor's fields; flags are merged into the existing ones."""


def _masked(field, mask):
    def get(debtor):
        value = getattr(debtor, field)
        return value if authz.sees_whole(viewer(), field) else mask(value)

    return get


class AvailabilityOut(Schema):
    """A window the debtor said they are at home."""

    days = fields.List(fields.Integer(), metadata={"description": "Weekdays, Monday = 0; all days when absent."})
    start = fields.String(metadata={"description": "HH:MM, the debtor's local time"})
    end = fields.String(metadata={"description": "HH:MM, the debtor's local time"})


class DebtorOut(Schema):
    id = fields.Integer()
    name = fields.String()
    phone = fields.Function(
        _masked("phone", pii.mask_phone),
        allow_none=True,
        metadata={"description": "Whole for supervisors and admins; masked for others."},
    )
    national_id = fields.Function(
        _masked("national_id", pii.mask_national_id),
        allow_none=True,
        metadata={"description": "Whole for admins only; masked for others."},
    )
    address = fields.String()
    lat = fields.Float(allow_none=True)
    lon = fields.Float(allow_none=True)
    location_status = fields.String(
        metadata={"description": "located; pending (waits for the geocoder); needs_pin (a supervisor places the pin)"}
    )
    location_source = fields.String(allow_none=True, metadata={"description": "given, geocoded or pin"})
    location_note = fields.Function(
        lambda d: geocoding.note_text(d.location_note) if d.location_note else None,
        allow_none=True,
        metadata={"description": "Why there is no point yet: {code, en, zh}"},
    )
    timezone = fields.String()
    language = fields.String(allow_none=True)
    availability = fields.List(
        fields.Nested(AvailabilityOut), metadata={"description": "When the debtor said they are at home."}
    )
    flags = Flags()
    places = fields.List(fields.Nested(KnownPlace))

    @pre_dump
    def personal_read(self, debtor, **kwargs):
        note_personal_read(debtor.id, None, ("name", "phone", "national_id", "address", "lat", "lon"))
        return debtor


def _money(attr):
    return lambda case: money.to_decimal_string(getattr(case, attr), case.currency)


class CaseIn(BaseSchema):
    loan_ref = Text(80, required=True)
    product = Text(80, required=True)
    currency = Currency(required=True)
    principal = Amount(required=True)
    outstanding = Amount(required=True)
    days_past_due = Integer(required=True, validate=validate.Range(0, 100000))
    stage = fields.String(validate=validate.OneOf(STAGES))
    priority = Integer(validate=validate.Range(0, 100))
    team = Code(required=True)
    debtor = fields.Nested(DebtorIn)
    debtor_id = Id()

    @validates_schema
    def one_debtor(self, data, **kwargs):
        if ("debtor" in data) == ("debtor_id" in data):
            raise ValidationError("give either debtor or debtor_id", "debtor")


class CaseUpdate(BaseSchema):
    product = Text(80)
    principal = Amount()
    outstanding = Amount()
    days_past_due = Integer(validate=validate.Range(0, 100000))
    stage = fields.String(validate=validate.OneOf(STAGES))
    priority = Integer(validate=validate.Range(0, 100))
    priority_source = fields.String(
        validate=validate.OneOf(("strategy",)),
        metadata={
            "description": "strategy: hand the priority back to the collection strategy's nightly score (a priority "
            "given here, or by the importer, is an override the score leaves alone)."
        },
    )
    team = Code()

    @validates_schema
    def one_priority(self, data, **kwargs):
        if "priority" in data and "priority_source" in data:
            raise ValidationError("give a priority, or hand it back to the strategy, not both", "priority_source")


class CaseOut(Schema):
    id = fields.Integer()
    loan_ref = fields.String()
    product = fields.String()
    currency = fields.String()
    principal = fields.Function(_money("principal_minor"))
    outstanding = fields.Function(_money("outstanding_minor"))
    credit = fields.Function(
        _money("credit_minor"), metadata={"description": "Paid beyond the balance, held for a refund decision."}
    )
    days_past_due = fields.Integer()
    stage = fields.String()
    priority = fields.Integer()
    priority_source = fields.String(
        metadata={"description": "strategy (the nightly score), import or manual (overrides the score leaves alone)."}
    )
    team = fields.Function(lambda c: c.team.code)
    debtor = fields.Nested(DebtorOut)
    created_at = fields.AwareDateTime()
    updated_at = fields.AwareDateTime()

    @pre_dump
    def personal_read(self, case, **kwargs):
        note_personal_read(case.debtor_id, case.id)
        return case


class CaseQuery(PageQuery):
    stage = fields.String(validate=validate.OneOf(STAGES))
    team = Code()
    loan_ref = Text(80)
    min_days_past_due = fields.Integer(validate=validate.Range(0, ID_MAX))


class ContactIn(BaseSchema):
    channel = fields.String(required=True, validate=validate.OneOf(CONTACT_CHANNELS))
    purpose = fields.String(load_default="contact", validate=validate.OneOf(CONTACT_PURPOSES))
    result = fields.String(required=True, validate=validate.OneOf(CONTACT_RESULTS))
    occurred_at = Instant(required=True)
    planned_visit_date = fields.Date(allow_none=True)
    notes = fields.String(allow_none=True, validate=validate.Length(max=2000))

    @validates_schema
    def visit_notice_has_date(self, data, **kwargs):
        if data.get("purpose") == "visit_notice" and not data.get("planned_visit_date"):
            raise ValidationError("required for a visit notice", "planned_visit_date")


class ContactOut(Schema):
    id = fields.Integer()
    case_id = fields.Integer()
    channel = fields.String()
    purpose = fields.String()
    result = fields.String()
    occurred_at = fields.AwareDateTime()
    planned_visit_date = fields.Date(allow_none=True)
    notes = fields.String(allow_none=True)

    @pre_dump
    def personal_read(self, attempt, **kwargs):
        if attempt.notes:
            note_personal_read(attempt.case.debtor_id, attempt.case_id, ("notes",))
        return attempt


class ContactList(Schema):
    items = fields.List(fields.Nested(ContactOut))


class ImportQuery(BaseSchema):
    team = Code(metadata={"description": "Team for rows that have no team column."})
    mode = fields.String(load_default="all_or_nothing", validate=validate.OneOf(("all_or_nothing", "valid_rows")))
    dry_run = fields.Boolean(load_default=False)


class ImportProblem(Schema):
    row = fields.Integer()
    column = fields.String(allow_none=True)
    message = fields.String()


class ImportReport(Schema):
    mode = fields.String()
    dry_run = fields.Boolean()
    committed = fields.Boolean()
    rows = fields.Integer()
    created = fields.Integer()
    updated = fields.Integer()
    unchanged = fields.Integer()
    rejected = fields.Integer()
    problems = fields.List(fields.Nested(ImportProblem))
    ignored_columns = fields.List(fields.String())
    address_only = fields.Integer(
        metadata={"description": "Rows given without lat/lon: geocoded by a job, or pinned by hand"}
    )
    geocode_job = fields.String(
        allow_none=True,
        metadata={"description": "The geocoding job's id (GET /jobs/<id> shows its progress), if one started"},
    )
