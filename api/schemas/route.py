"""The agent's route for a day: its stops, each case's history, the phone's limits."""

from marshmallow import Schema, fields

from api.base import BaseSchema


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
