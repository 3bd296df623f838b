"""Shapes of the API: ``*In`` schemas load request bodies, ``*Out`` schemas dump
responses. Cross-field rules live in ``@validates_schema``; nothing here queries
the database or reads the request."""

import warnings
from datetime import date as _date

from marshmallow import (
    RAISE,
    Schema,
    ValidationError,
    fields,
    post_dump,
    post_load,
    pre_dump,
    validate,
    validates_schema,
)

from api.base import BaseSchema, PageQuery, note_personal_read, viewer
from api.fields import (
    ID_MAX,
    Amount,
    ClockTime,
    Currency,
    Fact,
    Facts,
    Flags,
    Id,
    Instant,
    Integer,
    Latitude,
    Longitude,
    StrictBoolean,
    StrictFloat,
)
from app import authz, money, pii
from app.models import (
    AGREEMENT_STATUSES,
    CONTACT_CHANNELS,
    CONTACT_PURPOSES,
    CONTACT_RESULTS,
    PLACE_KINDS,
    ROLES,
    STAGES,
)
from app.services import geocoding
from app.services.field import OUTCOMES as _OUTCOME_CODES
from app.services.field import PEOPLE as _PEOPLE


def Code(**kwargs):
    """A short identifier such as a team or collector code."""
    return fields.String(
        validate=validate.Regexp(
            r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,39}$", error="letters, digits, '-', '_' and '.', at most 40"
        ),
        **kwargs,
    )


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
    username = fields.String(
        required=True,
        validate=validate.Regexp(r"^[A-Za-z0-9_.\-]{3,80}$", error="3 to 80 letters, digits, '_', '.' or '-'"),
    )
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


class MeOut(UserOut):
    collector = fields.Nested(CollectorOut, allow_none=True)


# ---------------------------------------------------------------- dispatch


class DayScope(BaseSchema):
    """A day for one team or one whole region."""

    date = fields.Date(required=True)
    team = Code()
    region = Code()

    @validates_schema
    def one_scope(self, data, **kwargs):
        if bool(data.get("team")) == bool(data.get("region")):
            raise ValidationError("give either team or region", "team")


class PlanIn(DayScope):
    """The day to plan, for a team or a region."""


class RuleVerdictOut(Schema):
    """One rule's answer, as the policy gives it (``rules.Decision.as_dict``)."""

    rule_id = fields.String()
    profile = fields.String()
    allowed = fields.Boolean()
    reason_en = fields.String()
    reason_zh = fields.String()
    details = Facts(metadata={"description": "The facts the rule was judged on."})


class WhyOut(Schema):
    rule = fields.String()
    text = fields.String()


class PlanSummaryOut(Schema):
    assigned = fields.Integer()
    unassigned = fields.Integer()
    blocked_by_policy = fields.Integer()
    no_location = fields.Integer()
    priority_sum = fields.Integer()
    distance_km = fields.Float()
    solve_seconds = fields.Float()
    solves = fields.Integer(
        metadata={
            "description": "How many times the engine solved: more than 1 when what the "
            "plan is made of changed during a solve and it solved again."
        }
    )
    crews_eligible = fields.Integer()
    crews_ineligible = fields.Integer()
    load = fields.Dict(keys=fields.String(), values=fields.Integer(), metadata={"description": "Stops per crew."})


class _PlanEntryOut(Schema):
    task = fields.String(metadata={"description": "The engine's task key (case-<id>)."})
    case_id = fields.Integer()
    debtor_id = fields.Integer()
    loan_ref = fields.String()
    team = fields.String()
    profile = fields.String()
    lat = fields.Float(allow_none=True)
    lon = fields.Float(allow_none=True)


class PlanStopOut(_PlanEntryOut):
    sequence = fields.Integer()
    arrival = fields.String(metadata={"description": "HH:MM, local"})
    start = fields.String(metadata={"description": "HH:MM, local"})
    end = fields.String(metadata={"description": "HH:MM, local"})
    why = fields.Nested(WhyOut)


class PlanRouteOut(Schema):
    crew = fields.String()
    distance_km = fields.Float()
    stops = fields.List(fields.Nested(PlanStopOut))


class PlanLeftOutOut(_PlanEntryOut):
    reason = fields.String(
        metadata={"description": "policy, no_location, capacity, skills, no_eligible_collector, window_unreachable"}
    )
    rules = fields.List(fields.Nested(RuleVerdictOut))
    why = fields.String(allow_none=True, metadata={"description": "The reason in words (English)."})
    why_zh = fields.String(metadata={"description": "no_location: the reason in Chinese."})
    location_note = fields.Raw(
        allow_none=True,
        metadata={"description": "no_location: why the address has no place yet (the geocoder's answer), en and zh."},
    )


class PlanCrewOut(Schema):
    crew = fields.String()
    team = fields.String()
    eligible = fields.Boolean()
    members = fields.List(fields.String())
    rules = fields.List(fields.Nested(RuleVerdictOut))
    note = fields.String(allow_none=True)


class TravelOut(Schema):
    source = fields.String(metadata={"description": "routing (road times from ROUTING_URL) or model"})
    locations = fields.Integer(metadata={"description": "routing: places in the road matrix"})
    note = fields.String(allow_none=True, metadata={"description": "model: why roads were not used"})


class PlanOut(Schema):
    id = fields.Integer()
    date = fields.Date(attribute="plan_date")
    team = fields.Function(lambda p: p.team.code if p.team else None)
    region = fields.Function(lambda p: p.region.code if p.region else None)
    status = fields.String()
    policy_profile = fields.String()
    summary = fields.Nested(PlanSummaryOut)
    routes = fields.List(
        fields.Nested(PlanRouteOut),
        attribute="result.routes",
        metadata={"description": "Per crew: ordered stops with times, why, and where the debtor is (lat/lon)."},
    )
    unassigned = fields.List(
        fields.Nested(PlanLeftOutOut),
        attribute="result.unassigned",
        metadata={
            "description": "Tasks left out, each with its reason and rule ids "
            "(no_location: the debtor has only an address yet)."
        },
    )
    travel = fields.Nested(TravelOut, attribute="result.travel", dump_default={"source": "model"})
    crews = fields.List(
        fields.Nested(PlanCrewOut),
        attribute="result.crews",
        metadata={"description": "Every crew considered, eligible or with the rules refusing it."},
    )
    created_at = fields.AwareDateTime()
    committed_at = fields.AwareDateTime(allow_none=True)

    @pre_dump
    def placed_debtors_read(self, plan, **kwargs):
        # A stop carries where its debtor is (the board draws the draft): a personal read.
        for entry in [stop for route in plan.result["routes"] for stop in route["stops"]] + plan.result["unassigned"]:
            if "lat" in entry:
                note_personal_read(entry.get("debtor_id"), entry.get("case_id"), ("lat", "lon"))
        return plan


class AssignIn(BaseSchema):
    crew = Code(required=True)
    reason = Text(500, required=True)
    override_frequency = StrictBoolean(load_default=False)
    from_crew = fields.String(
        allow_none=True,
        validate=validate.Length(max=40),
        metadata={
            "description": "The crew the caller saw the task on (null: unassigned). If the task has moved since, "
            "the answer is 409 and nothing changes."
        },
    )


class UnassignIn(BaseSchema):
    reason = Text(500, required=True)


class TaskReasonOut(Schema):
    """Why a task is where it is: its route's reason, or why it was left out, withdrawn, moved."""

    reason = fields.String(
        metadata={"description": "policy, no_location, capacity, manual, withdrawn, time_passed, crew, stopped, …"}
    )
    rule = fields.String()
    rule_id = fields.String()
    profile = fields.String()
    text = fields.String(allow_none=True)
    text_zh = fields.String()
    cause = fields.String()
    by = fields.String(metadata={"description": "manual: who moved it"})
    note = fields.String(allow_none=True, metadata={"description": "manual: the reason given"})
    override_frequency = fields.Boolean()
    rules = fields.List(fields.Nested(RuleVerdictOut))


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
    reason = fields.Nested(TaskReasonOut, allow_none=True)
    location = fields.Function(
        lambda t: {"lat": t.case.debtor.lat, "lon": t.case.debtor.lon},
        metadata={"description": "The debtor's home (personal data: reads are logged)."},
    )

    @pre_dump
    def personal_read(self, task, **kwargs):
        note_personal_read(task.case.debtor_id, task.case_id, ("lat", "lon"))
        return task


class TaskQuery(PageQuery):
    date = fields.Date()
    status = fields.String(validate=validate.OneOf(("open", "assigned", "checked_in", "done", "cancelled")))
    crew = Code()


# ---------------------------------------------------------------- the field


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


class RouteQuery(BaseSchema):
    date = fields.Date()


class HoursOut(Schema):
    start = fields.String(metadata={"description": "HH:MM, the debtor's local time"})
    end = fields.String(metadata={"description": "HH:MM, the debtor's local time"})


class PhoneLimitsOut(Schema):
    visiting_hours = fields.Nested(HoursOut)
    geofence_radius_m = fields.Float()
    max_distance_m = fields.Float(
        allow_none=True,
        metadata={"description": "Beyond it a check-in is refused (registered address only); null: no such limit."},
    )
    max_accuracy_m = fields.Float()
    recording_required = fields.Boolean()
    recording_min_seconds = fields.Integer()
    waiver_limit_percent = fields.Float(metadata={"description": "Above it a waiver waits for a supervisor."})


class RemindersOut(Schema):
    en = fields.List(fields.String())
    zh = fields.List(fields.String())


class OutcomeOptionOut(Schema):
    code = fields.String()
    en = fields.String()
    zh = fields.String()
    person_met = fields.String(metadata={"description": "debtor, nobody, third_party or any"})
    agreement = fields.String(
        allow_none=True, metadata={"description": "promise or instalment: the agreement the outcome needs"}
    )


class StopCaseOut(Schema):
    id = fields.Integer()
    loan_ref = fields.String()
    product = fields.String()
    currency = fields.String()
    amount_due = fields.String(metadata={"description": "Exact decimal text in the currency's minor digits."})
    days_past_due = fields.Integer()


class StopAvailabilityOut(Schema):
    days = fields.List(fields.Integer(), metadata={"description": "Weekdays, Monday = 0; all days when absent."})
    start = fields.String()
    end = fields.String()


class StopDebtorOut(Schema):
    name = fields.String()
    phone = fields.String(allow_none=True, metadata={"description": "Masked."})
    address = fields.String()
    lat = fields.Float(allow_none=True)
    lon = fields.Float(allow_none=True)
    timezone = fields.String()
    language = fields.String(allow_none=True)
    availability = fields.List(fields.Nested(StopAvailabilityOut))


class ContactSeenOut(Schema):
    channel = fields.String()
    purpose = fields.String()
    result = fields.String()
    occurred_at = fields.String()


class LastVisitOut(Schema):
    at = fields.String()
    outcome = fields.String(allow_none=True)


class NextDueOut(Schema):
    date = fields.String()
    amount = fields.String()


class ActiveAgreementOut(Schema):
    id = fields.Integer()
    kind = fields.String()
    status = fields.String(metadata={"description": "active, or pending_approval (waiting for a supervisor)"})
    total = fields.String()
    next_due = fields.Nested(NextDueOut, allow_none=True)


class WaiverAnswerOut(Schema):
    agreement_id = fields.Integer()
    status = fields.String(metadata={"description": "rejected or countered"})
    note = fields.String(allow_none=True, metadata={"description": "The supervisor's reason or note."})
    counter_waiver = fields.String(allow_none=True, metadata={"description": "countered: the waiver offered"})


class StopHistoryOut(Schema):
    last_contacts = fields.List(fields.Nested(ContactSeenOut), metadata={"description": "The latest three."})
    last_visit = fields.Nested(LastVisitOut, allow_none=True)
    active_agreement = fields.Nested(ActiveAgreementOut, allow_none=True)
    waiver_answer = fields.Nested(WaiverAnswerOut, allow_none=True)


class RouteStopOut(Schema):
    task_id = fields.Integer()
    sequence = fields.Integer(allow_none=True)
    status = fields.String()
    planned_start = fields.String(allow_none=True)
    planned_end = fields.String(allow_none=True)
    visit_id = fields.Integer(allow_none=True)
    case = fields.Nested(StopCaseOut)
    debtor = fields.Nested(StopDebtorOut)
    history = fields.Nested(StopHistoryOut)


class RouteOut(Schema):
    date = fields.Date()
    crew = fields.String()
    members = fields.List(fields.String())
    profile = fields.String()
    reminders = fields.Nested(RemindersOut)
    limits = fields.Nested(
        PhoneLimitsOut,
        metadata={
            "description": "The profile's visiting hours, geofence radius, accuracy limit, recording minimum and "
            "waiver limit, for warnings on the phone (the server stays the judge)."
        },
    )
    outcomes = fields.List(
        fields.Nested(OutcomeOptionOut),
        metadata={
            "description": "Outcome codes with en/zh labels, who must have been met and the agreement kind the "
            "outcome needs, if any."
        },
    )
    stops = fields.List(
        fields.Nested(RouteStopOut),
        metadata={
            "description": "Ordered stops: task, planned times, case (amount due), debtor (masked phone), history."
        },
    )
    withdrawn = fields.List(
        fields.Nested("WithdrawnStopOut"),
        metadata={"description": "Stops of the day the rules took off the route since it was planned, with why."},
    )
    server_time = fields.AwareDateTime(metadata={"description": "The server's clock, the one every rule is judged on."})
    currency_digits = fields.Dict(
        keys=fields.String(),
        values=fields.Integer(),
        metadata={
            "description": "Minor digits of each currency on the route (ISO 4217 via CLDR): the phone parses and "
            "formats amounts with these, the server's numbers."
        },
    )


class WithdrawnStopOut(Schema):
    task_id = fields.Integer()
    loan_ref = fields.String()
    rule_id = fields.String(allow_none=True)
    reason_en = fields.String(allow_none=True)
    reason_zh = fields.String(allow_none=True)


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


# ---------------------------------------------------------------- agreements and payments


class InstalmentOut(Schema):
    seq = fields.Integer()
    due_date = fields.Date()
    amount = fields.Function(lambda i: money.to_decimal_string(i.amount_minor, i.agreement.currency))
    paid = fields.Function(lambda i: money.to_decimal_string(i.paid_minor, i.agreement.currency))
    status = fields.String()


class AgreementOut(Schema):
    id = fields.Integer()
    case_id = fields.Integer()
    loan_ref = fields.Function(lambda a: a.case.loan_ref)
    visit_id = fields.Integer(allow_none=True)
    kind = fields.String()
    status = fields.String()
    currency = fields.String()
    total = fields.Function(lambda a: money.to_decimal_string(a.total_minor, a.currency))
    waiver = fields.Function(lambda a: money.to_decimal_string(a.waiver_minor, a.currency))
    owed = fields.Function(lambda a: money.to_decimal_string(a.owed_minor, a.currency))
    frequency = fields.String(allow_none=True)
    acknowledgement = fields.Function(lambda a: {"kind": a.acknowledgement_kind, "ref": a.acknowledgement_ref})
    instalments = fields.List(fields.Nested(InstalmentOut))
    approved_at = fields.AwareDateTime(allow_none=True)
    decision_note = fields.String(allow_none=True, metadata={"description": "A waiver decision's reason or note."})
    counter_waiver = fields.Function(
        lambda a: (
            None if a.counter_waiver_minor is None else money.to_decimal_string(a.counter_waiver_minor, a.currency)
        ),
        allow_none=True,
        metadata={"description": "countered: the waiver offered instead."},
    )
    created_at = fields.AwareDateTime()


class AgreementQuery(PageQuery):
    status = fields.String(validate=validate.OneOf(AGREEMENT_STATUSES))
    case_id = Id(strict=False)


class ApproveIn(BaseSchema):
    note = Text(1000, required=True)


class RejectIn(BaseSchema):
    reason = Text(1000, required=True, metadata={"description": "Why, for the agent to read on the phone."})


class CounterIn(BaseSchema):
    waiver = Amount(
        required=True,
        metadata={
            "description": "The waiver the caller offers instead (below the one "
            "asked, within the caller's approval limit)."
        },
    )
    note = Text(1000, required=True)


class RefundIn(BaseSchema):
    amount = Amount(required=True)
    note = Text(1000, required=True)
    reference = Text(120, metadata={"description": "The servicing system's reference for the refund, if any."})


class LedgerEntryOut(Schema):
    id = fields.Integer()
    kind = fields.String(
        metadata={
            "description": "principal, payment, allocation, waiver, credit, refund or "
            "adjustment (allocation and credit are memos: no balance moves)"
        }
    )
    amount = fields.Function(lambda e: money.to_decimal_string(e.amount_minor, e.currency))
    delta = fields.Function(
        lambda e: money.to_decimal_string(e.delta_minor, e.currency),
        metadata={"description": "The row's effect on the balance (negative lowers it)."},
    )
    balance = fields.Function(
        lambda e: money.to_decimal_string(e.balance_minor, e.currency),
        metadata={"description": "The running balance after the row; negative: a credit held for the debtor."},
    )
    currency = fields.String()
    source = fields.String(metadata={"description": "What made it: payment:REF, agreement:ID, refund, import, …"})
    payment_id = fields.Integer(allow_none=True)
    agreement_id = fields.Integer(allow_none=True)
    instalment_id = fields.Integer(allow_none=True)
    approved_by_id = fields.Integer(allow_none=True, metadata={"description": "A refund's (or adjustment's) approver."})
    note = fields.String(allow_none=True)
    created_at = fields.AwareDateTime()


class LedgerTotalsOut(Schema):
    principal = fields.String()
    payments = fields.String()
    allocated = fields.String()
    waivers = fields.String()
    credits = fields.String()
    refunds = fields.String()
    adjustments = fields.String()


class LedgerOut(Schema):
    case_id = fields.Integer()
    loan_ref = fields.String()
    currency = fields.String()
    outstanding = fields.String()
    credit = fields.String(metadata={"description": "Paid beyond the balance, held for a refund decision."})
    balanced = fields.Boolean(metadata={"description": "The rows add up to the case's balance."})
    totals = fields.Nested(LedgerTotalsOut)
    entries = fields.List(fields.Nested(LedgerEntryOut))


class EvaluateIn(BaseSchema):
    date = fields.Date(
        validate=validate.Range(_date(2000, 1, 1), _date(2999, 12, 31)),
        metadata={"description": "The day judged (default: today)."},
    )
    teams = fields.List(
        Code(),
        validate=validate.Length(max=200),
        metadata={"description": "Only these teams (a supervisor: default and limit, their own)."},
    )


class EvaluateOut(Schema):
    date = fields.Date()
    teams = fields.List(fields.String())
    late = fields.Integer()
    missed = fields.Integer()
    kept = fields.Integer()
    broken = fields.Integer()


class PaymentIn(BaseSchema):
    reference = Text(120, required=True)
    loan_ref = Text(80)
    case_id = Id()
    amount = Amount(required=True)
    currency = Currency(required=True)
    paid_at = Instant(required=True)

    @validates_schema
    def one_case(self, data, **kwargs):
        if ("loan_ref" in data) == ("case_id" in data):
            raise ValidationError("give either loan_ref or case_id", "loan_ref")


class PaymentOut(Schema):
    id = fields.Integer()
    reference = fields.String()
    case_id = fields.Integer()
    amount = fields.Function(lambda p: money.to_decimal_string(p.amount_minor, p.currency))
    currency = fields.String()
    paid_at = fields.AwareDateTime()
    received_at = fields.AwareDateTime()
    duplicate = fields.Boolean(
        dump_default=False,
        metadata={
            "description": "true (and status 200) when this reference was already recorded: nothing new was written"
        },
    )


# ---------------------------------------------------------------- conduct


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


class BoardQuery(DayScope):
    """The day the board shows, for a team or a region."""


class BoardPointOut(Schema):
    lat = fields.Float()
    lon = fields.Float()


class BoardPositionOut(BoardPointOut):
    at = fields.AwareDateTime()


class LastCheckInOut(Schema):
    at = fields.AwareDateTime()
    loan_ref = fields.String()


class BoardCrewOut(Schema):
    code = fields.String()
    team = fields.String()
    members = fields.List(fields.String(), metadata={"description": "Active members' names."})
    home = fields.Nested(BoardPointOut, allow_none=True, metadata={"description": "The centre of the members' homes."})
    position = fields.Nested(
        BoardPositionOut,
        allow_none=True,
        metadata={"description": "The latest check-in or check-out position that day."},
    )
    last_check_in = fields.Nested(LastCheckInOut, allow_none=True)
    capacity = fields.Integer()


class BoardTaskOut(Schema):
    id = fields.Integer()
    case_id = fields.Integer()
    debtor_id = fields.Integer()
    loan_ref = fields.String()
    status = fields.String()
    display_status = fields.String(metadata={"description": "status, or flagged for a visit with an open flag"})
    crew = fields.String(allow_none=True)
    sequence = fields.Integer(allow_none=True)
    planned_start = fields.AwareDateTime(allow_none=True)
    planned_end = fields.AwareDateTime(allow_none=True)
    priority = fields.Integer()
    lat = fields.Float(allow_none=True)
    lon = fields.Float(allow_none=True)
    debtor = fields.String(metadata={"description": "The debtor's name, masked."})
    address = fields.String()
    reason = fields.Nested(TaskReasonOut, allow_none=True)
    visit_id = fields.Integer(allow_none=True)
    outcome = fields.String(allow_none=True)


class BoardPlanOut(Schema):
    id = fields.Integer()
    status = fields.String()
    summary = fields.Nested(PlanSummaryOut)
    committed_at = fields.AwareDateTime(allow_none=True)


class AttentionOut(Schema):
    open_flags = fields.Integer()
    pending_approvals = fields.Integer()


class BoardOut(Schema):
    date = fields.Date()
    team = fields.String(allow_none=True)
    region = fields.String()
    timezone = fields.String()
    plan = fields.Nested(BoardPlanOut, allow_none=True)
    crews = fields.List(fields.Nested(BoardCrewOut))
    tasks = fields.List(
        fields.Nested(BoardTaskOut),
        metadata={"description": "Every task of the day with status, crew, order, position and reason."},
    )
    counts = fields.Dict(
        keys=fields.String(), values=fields.Integer(), metadata={"description": "Tasks per status, and flagged."}
    )
    attention = fields.Nested(AttentionOut)


class JobParams(BaseSchema):
    date = fields.Date(metadata={"description": "plan_day, evaluate_agreements, plan_scope: the day."})
    teams = fields.List(
        Code(),
        validate=validate.Length(max=200),
        metadata={"description": "plan_day, check_tasks, apply_strategy: only these teams."},
    )
    team = Code(metadata={"description": "plan_scope: the team to plan (or region)."})
    region = Code(metadata={"description": "plan_scope: the region to plan (or team)."})
    format = fields.String(
        validate=validate.OneOf(("csv", "ndjson")), metadata={"description": "Exports: csv (default) or ndjson."}
    )
    filters = fields.Dict(
        keys=fields.String(),
        metadata={
            "description": "Exports: the filters of GET /audit/events (export_audit_events) or GET /audit/visits "
            '(export_visits), e.g. {"collector": "SH-C-001", "from": "2026-11-01"}; '
            "`limit` caps the rows."
        },
    )


class JobIn(BaseSchema):
    name = fields.String(
        required=True,
        validate=validate.OneOf(
            (
                "plan_day",
                "plan_scope",
                "evaluate_agreements",
                "check_tasks",
                "export_audit_events",
                "export_visits",
                "anchor_audit_head",
                "retention_sweep",
                "geocode_addresses",
                "weekly_reports",
                "apply_strategy",
            )
        ),
        metadata={
            "description": "plan_scope: a supervisor's plan of one day for a team or region, as POST /dispatch/plans "
            "but in the background (the board follows it, and picks it up again in a new tab). apply_strategy: "
            "the collection strategy's escalations and priority scores (nightly, or now)."
        },
    )
    params = fields.Nested(JobParams, load_default=dict)


class JobProgress(Schema):
    total = fields.Integer(metadata={"description": "items the job took on"})
    done = fields.Integer()
    located = fields.Integer(metadata={"description": "geocode_addresses: placed by the geocoder"})
    needs_pin = fields.Integer(metadata={"description": "geocode_addresses: sent to the pin queue"})
    retry_later = fields.Integer(metadata={"description": "geocode_addresses: the geocoder failed; tried again later"})


class JobParamsOut(Schema):
    """The parameters a job was asked with, as stored (days as ISO 8601 strings)."""

    date = fields.String()
    teams = fields.List(fields.String())
    team = fields.String()
    region = fields.String()
    format = fields.String()
    filters = fields.Dict(keys=fields.String(), values=fields.String(allow_none=True))
    dry_run = fields.Boolean()


class _PlanDraftedOut(Schema):
    plan_id = fields.Integer()
    date = fields.String()
    assigned = fields.Integer()
    unassigned = fields.Integer()


class _RetentionHoldOut(Schema):
    hold = fields.String()
    reason = fields.String()
    reason_zh = fields.String()


class _RetentionDebtorOut(Schema):
    debtor_id = fields.Integer()
    cases = fields.List(fields.Integer())
    due = fields.String()
    holds = fields.List(fields.Nested(_RetentionHoldOut))
    removed = fields.Dict(
        keys=fields.String(),
        values=Fact(),
        metadata={"description": "What goes: the debtor's fields, and counts of visits, recordings, ..."},
    )
    error = fields.String()


class _WeeklyReportWrittenOut(Schema):
    team = fields.String()
    week_start = fields.String()
    report_id = fields.Integer()


class JobResultOut(Schema):
    """A finished job's result. Each key names the jobs that give it."""

    plans = fields.Dict(
        keys=fields.String(),
        values=fields.Nested(_PlanDraftedOut),
        metadata={"description": "plan_day: the draft of each team, by team code."},
    )
    plan_id = fields.Integer(metadata={"description": "plan_scope: the draft."})
    date = fields.String(metadata={"description": "plan_scope, evaluate_agreements, retention_sweep: the day."})
    assigned = fields.Integer(metadata={"description": "plan_scope"})
    unassigned = fields.Integer(metadata={"description": "plan_scope"})
    late = fields.Integer(metadata={"description": "evaluate_agreements: instalments marked late"})
    missed = fields.Integer(metadata={"description": "evaluate_agreements: instalments marked missed"})
    kept = fields.Integer(metadata={"description": "evaluate_agreements: agreements kept"})
    broken = fields.Integer(metadata={"description": "evaluate_agreements: agreements broken"})
    withdrawn_past_day = fields.Integer(metadata={"description": "check_tasks"})
    withdrawn_unlawful = fields.Integer(metadata={"description": "check_tasks"})
    format = fields.String(metadata={"description": "exports: csv or ndjson"})
    rows = fields.Integer(metadata={"description": "exports"})
    bytes = fields.Integer(metadata={"description": "exports"})
    sha256 = fields.String(metadata={"description": "exports: of the file"})
    file = fields.String(metadata={"description": "exports: the storage key"})
    seq = fields.Integer(metadata={"description": "anchor_audit_head: the anchored event"})
    hash = fields.String(metadata={"description": "anchor_audit_head"})
    as_of = fields.String(metadata={"description": "anchor_audit_head; apply_strategy: the server's time it judged on"})
    anchored_at = fields.String(metadata={"description": "anchor_audit_head"})
    name = fields.String(metadata={"description": "anchor_audit_head: the anchor's name in its store"})
    store = fields.String(metadata={"description": "anchor_audit_head"})
    dry_run = fields.Boolean(metadata={"description": "retention_sweep"})
    anonymised = fields.List(fields.Nested(_RetentionDebtorOut), metadata={"description": "retention_sweep"})
    held = fields.List(fields.Nested(_RetentionDebtorOut), metadata={"description": "retention_sweep"})
    waiting = fields.Integer(metadata={"description": "retention_sweep"})
    failed = fields.List(fields.Nested(_RetentionDebtorOut), metadata={"description": "retention_sweep"})
    geocoder = fields.String(allow_none=True, metadata={"description": "geocode_addresses: the provider"})
    total = fields.Integer(metadata={"description": "geocode_addresses"})
    done = fields.Integer(metadata={"description": "geocode_addresses"})
    located = fields.Integer(metadata={"description": "geocode_addresses"})
    needs_pin = fields.Integer(metadata={"description": "geocode_addresses"})
    retry_later = fields.Integer(metadata={"description": "geocode_addresses"})
    asked = fields.Integer(metadata={"description": "geocode_addresses: addresses sent to the geocoder"})
    cached = fields.Integer(metadata={"description": "geocode_addresses: answered from earlier results"})
    skipped = fields.Integer(
        metadata={
            "description": "geocode_addresses; apply_strategy: changes not written because "
            "the case changed after it was read"
        }
    )
    note = fields.String(metadata={"description": "geocode_addresses: why nothing was done"})
    reports = fields.Integer(metadata={"description": "weekly_reports: reports written"})
    written = fields.List(fields.Nested(_WeeklyReportWrittenOut), metadata={"description": "weekly_reports"})
    strategy = fields.String(metadata={"description": "apply_strategy: the strategy and its version, default@2026.2"})
    cases = fields.Integer(metadata={"description": "apply_strategy: open cases judged"})
    escalated = fields.Dict(
        keys=fields.String(),
        values=fields.Integer(),
        metadata={"description": "apply_strategy: cases moved, by escalation rule id"},
    )
    blocked = fields.Dict(
        keys=fields.String(),
        values=fields.Integer(),
        metadata={
            "description": "apply_strategy: moves a rule asked for and a blocking flag of the policy refused, "
            "by rule id"
        },
    )
    rescored = fields.Integer(metadata={"description": "apply_strategy: priorities changed to the score"})
    overridden = fields.Integer(
        metadata={"description": "apply_strategy: priorities set by import or by hand, left alone"}
    )

    @post_dump(pass_original=True)
    def nothing_undocumented(self, data, original, **kwargs):
        # A job that returns a key not declared here would lose it from the answer: a
        # warning (an error in the tests, filterwarnings = error) names it.
        undeclared = set(original or {}) - set(self.fields)
        if undeclared:
            warnings.warn(f"job result keys not in JobResultOut: {sorted(undeclared)}", stacklevel=2)
        return data


class JobOut(Schema):
    id = fields.String()
    name = fields.String()
    params = fields.Nested(JobParamsOut)
    status = fields.String(metadata={"description": "queued, running, retrying, finished or failed"})
    runner = fields.String(metadata={"description": "rq (a worker on Redis) or inline (in-process)"})
    attempts = fields.Integer()
    result = fields.Nested(
        JobResultOut,
        allow_none=True,
        metadata={"description": "What the job did; which keys depends on the job (each key names its jobs)."},
    )
    progress = fields.Nested(JobProgress, allow_none=True)
    error = fields.String(allow_none=True)
    created_at = fields.AwareDateTime()
    started_at = fields.AwareDateTime(allow_none=True)
    finished_at = fields.AwareDateTime(allow_none=True)
