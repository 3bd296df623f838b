"""Planning a day: the scope, a plan and its routes, and assigning tasks by hand."""

from marshmallow import Schema, ValidationError, fields, pre_dump, validate, validates_schema

from api.base import BaseSchema, PageQuery, note_personal_read
from api.fields import Facts, StrictBoolean
from api.schemas.common import Code, Text


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
