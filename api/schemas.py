"""Shapes of the API: ``*In`` schemas load request bodies, ``*Out`` schemas dump
responses. Cross-field rules live in ``@validates_schema``; nothing here queries
the database or reads the request."""
from marshmallow import Schema, ValidationError, fields, post_load, validate, validates_schema

from api.base import BaseSchema, PageQuery, viewer
from api.fields import (
    Amount,
    ClockTime,
    Currency,
    Flags,
    Instant,
    Integer,
    Latitude,
    Longitude,
    StrictBoolean,
)
from app import authz, money, pii
from app.models import CONTACT_CHANNELS, CONTACT_PURPOSES, CONTACT_RESULTS, ROLES, STAGES

def Code(**kwargs):
    """A short identifier such as a team or collector code."""
    return fields.String(validate=validate.Regexp(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,39}$",
                                                  error="letters, digits, '-', '_' and '.', at most 40"), **kwargs)


def Text(max_length, **kwargs):
    return fields.String(validate=validate.Length(min=1, max=max_length), **kwargs)


# ---------------------------------------------------------------- auth and users

class LoginIn(BaseSchema):
    username = Text(80, required=True)
    password = fields.String(required=True, load_only=True, validate=validate.Length(max=200))


class UserOut(Schema):
    id = fields.Integer()
    username = fields.String()
    display_name = fields.String()
    role = fields.String()
    team = fields.Function(lambda u: u.team.code if u.team else None)
    region = fields.Function(lambda u: u.region.code if u.region else None)
    active = fields.Boolean()
    created_at = fields.AwareDateTime()


class LoginOut(Schema):
    access_token = fields.String()
    token_type = fields.String()
    expires_at = fields.AwareDateTime()
    user = fields.Nested(UserOut)


class UserIn(BaseSchema):
    username = fields.String(required=True, validate=validate.Regexp(
        r"^[A-Za-z0-9_.\-]{3,80}$", error="3 to 80 letters, digits, '_', '.' or '-'"))
    password = fields.String(required=True, load_only=True, validate=validate.Length(min=10, max=200))
    display_name = Text(200)
    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    team = Code(allow_none=True)
    region = Code(allow_none=True)


class UserUpdate(BaseSchema):
    password = fields.String(load_only=True, validate=validate.Length(min=10, max=200))
    display_name = Text(200)
    role = fields.String(validate=validate.OneOf(ROLES))
    team = Code(allow_none=True)
    region = Code(allow_none=True)
    active = StrictBoolean()


class UserQuery(PageQuery):
    role = fields.String(validate=validate.OneOf(ROLES))


# ---------------------------------------------------------------- organisation

class RegionIn(BaseSchema):
    code = Code(required=True)
    name = Text(200, required=True)
    timezone = Text(64, required=True)
    policy_profile = Text(40, allow_none=True)


class RegionOut(Schema):
    id = fields.Integer()
    code = fields.String()
    name = fields.String()
    timezone = fields.String()
    policy_profile = fields.String(allow_none=True)


class TeamIn(BaseSchema):
    code = Code(required=True)
    name = Text(200, required=True)
    region = Code(required=True)
    policy_profile = Text(40, allow_none=True)


class TeamOut(Schema):
    id = fields.Integer()
    code = fields.String()
    name = fields.String()
    region = fields.Function(lambda t: t.region.code)
    policy_profile = fields.String(allow_none=True)


# ---------------------------------------------------------------- collectors

class Point(BaseSchema):
    lat = Latitude(required=True)
    lon = Longitude(required=True)


class CollectorIn(BaseSchema):
    code = Code(required=True)
    name = Text(200, required=True)
    team = Code(required=True)
    home = fields.Nested(Point, required=True)
    languages = fields.List(Text(16), load_default=list, validate=validate.Length(max=10))
    shift_start = ClockTime(required=True)
    shift_end = ClockTime(required=True)
    daily_capacity = Integer(load_default=10, validate=validate.Range(1, 100))
    background_cleared = StrictBoolean(load_default=False)
    active = StrictBoolean(load_default=True)
    user = Text(80, allow_none=True, metadata={"description": "Username of the collector's agent account."})


class CollectorUpdate(BaseSchema):
    name = Text(200)
    team = Code()
    home = fields.Nested(Point)
    languages = fields.List(Text(16), validate=validate.Length(max=10))
    shift_start = ClockTime()
    shift_end = ClockTime()
    daily_capacity = Integer(validate=validate.Range(1, 100))
    background_cleared = StrictBoolean()
    active = StrictBoolean()
    user = Text(80, allow_none=True)


class CollectorOut(Schema):
    id = fields.Integer()
    code = fields.String()
    name = fields.String()
    team = fields.Function(lambda c: c.team.code)
    crew = fields.Function(lambda c: c.crew.code if c.crew else None)
    home = fields.Function(lambda c: {"lat": c.home_lat, "lon": c.home_lon})
    languages = fields.List(fields.String())
    shift_start = ClockTime()
    shift_end = ClockTime()
    daily_capacity = fields.Integer()
    background_cleared = fields.Boolean()
    active = fields.Boolean()
    user = fields.Function(lambda c: c.user.username if c.user else None)


class CollectorQuery(PageQuery):
    team = Code()
    active = fields.Boolean()


class TrainingIn(BaseSchema):
    module = Text(60, required=True)
    passed_at = fields.Date(required=True)
    expires_at = fields.Date(required=True)
    certificate_ref = Text(120, allow_none=True)

    @validates_schema
    def expiry_after_pass(self, data, **kwargs):
        if data.get("passed_at") and data.get("expires_at") and data["expires_at"] <= data["passed_at"]:
            raise ValidationError("must be after passed_at", "expires_at")


class TrainingOut(Schema):
    id = fields.Integer()
    collector = fields.Function(lambda t: t.collector.code)
    module = fields.String()
    passed_at = fields.Date()
    expires_at = fields.Date()
    certificate_ref = fields.String(allow_none=True)


class TrainingList(Schema):
    items = fields.List(fields.Nested(TrainingOut))


class CrewIn(BaseSchema):
    code = Code(required=True)
    name = Text(200)
    team = Code(required=True)
    members = fields.List(Code(), required=True, validate=validate.Length(min=1, max=6))
    active = StrictBoolean(load_default=True)


class CrewUpdate(BaseSchema):
    name = Text(200)
    members = fields.List(Code(), validate=validate.Length(min=1, max=6))
    active = StrictBoolean()


class CrewMember(Schema):
    code = fields.String()
    name = fields.String()


class CrewOut(Schema):
    id = fields.Integer()
    code = fields.String()
    name = fields.String()
    team = fields.Function(lambda c: c.team.code)
    active = fields.Boolean()
    members = fields.List(fields.Nested(CrewMember))


class CrewQuery(PageQuery):
    team = Code()


# ---------------------------------------------------------------- debtors and cases

class AvailabilityWindow(BaseSchema):
    days = fields.List(Integer(validate=validate.Range(0, 6)), validate=validate.Length(min=1, max=7),
                       metadata={"description": "Weekdays, Monday = 0; all days when absent."})
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


class DebtorIn(BaseSchema):
    name = Text(200, required=True)
    phone = fields.String(allow_none=True, validate=validate.Regexp(r"^\+?[0-9 \-]{5,30}$", error="not a phone number"))
    national_id = fields.String(allow_none=True, validate=validate.Regexp(r"^[0-9A-Za-z]{4,40}$",
                                                                          error="letters and digits, 4 to 40"))
    address = Text(500, required=True)
    lat = Latitude(required=True)
    lon = Longitude(required=True)
    timezone = Text(64)
    language = Text(16, allow_none=True)
    availability = fields.List(fields.Nested(AvailabilityWindow), validate=validate.Length(max=14))
    flags = Flags()

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


class DebtorOut(Schema):
    id = fields.Integer()
    name = fields.String()
    phone = fields.Function(_masked("phone", pii.mask_phone), allow_none=True,
                            metadata={"description": "Whole for supervisors and admins; masked for others."})
    national_id = fields.Function(_masked("national_id", pii.mask_national_id), allow_none=True,
                                  metadata={"description": "Whole for admins only; masked for others."})
    address = fields.String()
    lat = fields.Float()
    lon = fields.Float()
    timezone = fields.String()
    language = fields.String(allow_none=True)
    availability = fields.List(fields.Dict())
    flags = fields.Dict()


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
    debtor_id = Integer(validate=validate.Range(min=1))

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
    team = Code()


class CaseOut(Schema):
    id = fields.Integer()
    loan_ref = fields.String()
    product = fields.String()
    currency = fields.String()
    principal = fields.Function(_money("principal_minor"))
    outstanding = fields.Function(_money("outstanding_minor"))
    days_past_due = fields.Integer()
    stage = fields.String()
    priority = fields.Integer()
    team = fields.Function(lambda c: c.team.code)
    debtor = fields.Nested(DebtorOut)
    created_at = fields.AwareDateTime()
    updated_at = fields.AwareDateTime()


class CaseQuery(PageQuery):
    stage = fields.String(validate=validate.OneOf(STAGES))
    team = Code()
    loan_ref = Text(80)
    min_days_past_due = fields.Integer(validate=validate.Range(min=0))


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


class MeOut(UserOut):
    collector = fields.Nested(CollectorOut, allow_none=True)


# ---------------------------------------------------------------- dispatch

class PlanIn(BaseSchema):
    date = fields.Date(required=True)
    team = Code()
    region = Code()

    @validates_schema
    def one_scope(self, data, **kwargs):
        if bool(data.get("team")) == bool(data.get("region")):
            raise ValidationError("give either team or region", "team")


class PlanOut(Schema):
    id = fields.Integer()
    date = fields.Date(attribute="plan_date")
    team = fields.Function(lambda p: p.team.code if p.team else None)
    region = fields.Function(lambda p: p.region.code if p.region else None)
    status = fields.String()
    policy_profile = fields.String()
    summary = fields.Dict()
    routes = fields.Function(lambda p: p.result["routes"],
                             metadata={"description": "Per crew: ordered stops with times and why."})
    unassigned = fields.Function(lambda p: p.result["unassigned"],
                                 metadata={"description": "Tasks left out, each with its reason and rule ids."})
    crews = fields.Function(lambda p: p.result["crews"],
                            metadata={"description": "Every crew considered, eligible or with the rules refusing it."})
    created_at = fields.AwareDateTime()
    committed_at = fields.AwareDateTime(allow_none=True)


class AssignIn(BaseSchema):
    crew = Code(required=True)
    reason = Text(500, required=True)
    override_frequency = StrictBoolean(load_default=False)


class UnassignIn(BaseSchema):
    reason = Text(500, required=True)


class TaskOut(Schema):
    id = fields.Integer()
    case_id = fields.Integer()
    loan_ref = fields.Function(lambda t: t.case.loan_ref)
    visit_date = fields.Date()
    status = fields.String()
    crew = fields.Function(lambda t: t.crew.code if t.crew else None)
    sequence = fields.Integer(allow_none=True)
    planned_start = fields.AwareDateTime(allow_none=True)
    planned_end = fields.AwareDateTime(allow_none=True)
    priority = fields.Integer()
    reason = fields.Dict()
    location = fields.Function(lambda t: {"lat": t.case.debtor.lat, "lon": t.case.debtor.lon})


class TaskQuery(PageQuery):
    date = fields.Date()
    status = fields.String(validate=validate.OneOf(("open", "assigned", "checked_in", "done", "cancelled")))
    crew = Code()
