"""The supervisor's board: a day's crews, tasks and plan at a glance."""

from marshmallow import Schema, fields

from api.schemas.dispatch import DayScope, PlanSummaryOut, TaskReasonOut


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
