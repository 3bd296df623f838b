"""Background jobs: what may be asked for, and what a job reports."""

import warnings

from marshmallow import Schema, fields, post_dump, validate

from api.base import BaseSchema
from api.fields import Fact
from api.schemas.common import Code


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
