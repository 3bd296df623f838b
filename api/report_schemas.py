"""Schemas of the portfolio report (GET /reports/portfolio) and the teams' weekly report files."""

from datetime import date

from marshmallow import Schema, fields, validate

from api.base import BaseSchema
from api.schemas.common import Code
from app.services.reports import GROUPS


class PortfolioQuery(BaseSchema):
    from_ = fields.Date(
        data_key="from",
        required=True,
        validate=validate.Range(date(2000, 1, 1), date(2999, 12, 31)),
        metadata={"description": "The first day of the period (each team's local calendar)."},
    )
    to = fields.Date(
        required=True,
        validate=validate.Range(date(2000, 1, 1), date(2999, 12, 31)),
        metadata={
            "description": "The last day of the period, included: at most 366 days after from (92 when grouped by day)."
        },
    )
    group_by = fields.String(load_default="team", validate=validate.OneOf(GROUPS))
    team = Code(metadata={"description": "Only this team (one of the caller's)."})
    region = Code(metadata={"description": "Only this region's teams (wholly the caller's)."})
    format = fields.String(load_default="json", validate=validate.OneOf(("json", "csv")))


class MoneyLineOut(Schema):
    currency = fields.String(required=True)
    payments = fields.Integer(required=True, metadata={"description": "Payments received in the period."})
    recovered_minor = fields.Integer(
        required=True, metadata={"description": "Their sum, in the currency's minor units (fen, cents)."}
    )
    outstanding_at_start_minor = fields.Integer(
        allow_none=True,
        required=True,
        metadata={"description": "Owed on the group's cases when the period began, in minor units."},
    )
    recovery_rate = fields.Float(
        allow_none=True,
        required=True,
        metadata={"description": "recovered_minor ÷ outstanding_at_start_minor (null when nothing was outstanding)."},
    )


class CountOut(Schema):
    key = fields.String(required=True)
    count = fields.Integer(required=True)


class RuleCountOut(Schema):
    key = fields.String(required=True, metadata={"description": "The conduct rule id."})
    count = fields.Integer(required=True)
    per_100_visits = fields.Float(allow_none=True, required=True)


class RollOut(Schema):
    from_bucket = fields.String(required=True)
    to_bucket = fields.String(required=True)
    cases = fields.Integer(required=True)
    rate = fields.Float(
        allow_none=True,
        required=True,
        metadata={"description": "cases ÷ all cases that were in from_bucket when the period began."},
    )


def _n(description=None):
    return fields.Integer(allow_none=True, required=True, metadata={"description": description} if description else {})


def _rate(description):
    return fields.Float(allow_none=True, required=True, metadata={"description": description})


class PortfolioRowOut(Schema):
    key = fields.String(
        required=True,
        metadata={
            "description": "The team, crew, collector or region code, the bucket id, or the day / week's Monday "
            "(ISO date); 'none' for rows with nothing to group them by; 'all' for the totals."
        },
    )
    label = fields.String(metadata={"description": "The group's name."})
    money = fields.List(
        fields.Nested(MoneyLineOut),
        allow_none=True,
        required=True,
        metadata={
            "description": "Per currency (never summed across currencies); null where the grouping does not "
            "apply to money (crew, collector)."
        },
    )
    promises_made = _n("Agreements made in the period that came into force.")
    promises_kept = _n("Of them, kept.")
    promises_broken = _n("Of them, broken.")
    promise_kept_rate = _rate("kept ÷ (kept + broken).")
    remote_attempts = _n("Remote contact attempts (calls, SMS, …) in the period.")
    remote_debtor_met = _n("Of them, the debtor reached.")
    remote_contact_rate = _rate("remote_debtor_met ÷ remote_attempts.")
    visits = fields.Integer(required=True, metadata={"description": "Visits on tasks dated in the period."})
    visits_debtor_met = fields.Integer(required=True, metadata={"description": "Of them, the debtor met."})
    field_contact_rate = _rate("visits_debtor_met ÷ visits.")
    crew_days = _n("Distinct (crew, day) pairs with a task assigned.")
    visits_per_crew_day = _rate("visits ÷ crew_days.")
    outcomes = fields.List(
        fields.Nested(CountOut),
        required=True,
        metadata={"description": "Visits by outcome code ('none': not yet recorded)."},
    )
    door_visits_timed = fields.Integer(required=True, metadata={"description": "Visits checked out."})
    door_minutes_avg = _rate("Average minutes from check-in to check-out over them.")
    flags = fields.Integer(required=True, metadata={"description": "Conduct flags raised in the period."})
    flags_per_100_visits = _rate("flags × 100 ÷ visits.")
    flags_by_rule = fields.List(fields.Nested(RuleCountOut), required=True)
    complaints = fields.Integer(required=True, metadata={"description": "Complaints received in the period."})
    roll_rates = fields.List(
        fields.Nested(RollOut),
        allow_none=True,
        required=True,
        metadata={
            "description": "Cases by DPD bucket at the period's start and at its end; null where the grouping "
            "does not own cases (crew, collector, day, week: see the totals)."
        },
    )


class PortfolioOut(Schema):
    from_ = fields.Date(data_key="from", attribute="from", required=True)
    to = fields.Date(required=True)
    group_by = fields.String(required=True)
    strategy = fields.String(
        required=True, metadata={"description": "The strategy (id@version) whose DPD buckets are used."}
    )
    buckets = fields.List(fields.String(), required=True, metadata={"description": "Its bucket ids, in order."})
    groups = fields.List(fields.Nested(PortfolioRowOut), required=True)
    totals = fields.Nested(PortfolioRowOut, required=True)


class TeamReportOut(Schema):
    id = fields.Integer()
    team = fields.Function(lambda r: r.team.code)
    week_start = fields.Date()
    week_end = fields.Function(lambda r: r.week_end.isoformat(), metadata={"description": "Sunday, included."})
    csv_sha256 = fields.String()
    html_sha256 = fields.String()
    created_at = fields.AwareDateTime()


class TeamReportPage(Schema):
    items = fields.List(fields.Nested(TeamReportOut), required=True)


class TeamReportQuery(BaseSchema):
    team = Code()


class TeamReportFileQuery(BaseSchema):
    format = fields.String(required=True, validate=validate.OneOf(("csv", "html")))
