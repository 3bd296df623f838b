"""Schemas of the money endpoints added for reconciliation: payment files and the daily report."""

from datetime import date

from marshmallow import Schema, fields, validate

from api.base import BaseSchema
from api.schemas.common import Code

MAX_BATCH = 100_000


class PaymentImportQuery(BaseSchema):
    mode = fields.String(load_default="all_or_nothing", validate=validate.OneOf(("all_or_nothing", "valid_rows")))
    dry_run = fields.Boolean(load_default=False)


class PaymentBatchIn(BaseSchema):
    elements_loaded_one_by_one = True  # each payment is checked (and answered) on its own

    payments = fields.List(
        fields.Raw(),
        required=True,
        validate=validate.Length(1, MAX_BATCH),
        metadata={
            "description": "Payments shaped like the body of POST /payments; each is answered on its own row "
            "(its position, counted from 1)."
        },
    )


class PaymentRowOut(Schema):
    row = fields.Integer(metadata={"description": "CSV: the line (the header is 1); JSON: the position from 1."})
    reference = fields.String()
    status = fields.String(metadata={"description": "created, duplicate or unmatched (no case has the loan ref)"})
    payment_id = fields.Integer()


class PaymentProblemOut(Schema):
    row = fields.Integer()
    column = fields.String(allow_none=True)
    message = fields.String()


class PaymentImportOut(Schema):
    mode = fields.String()
    dry_run = fields.Boolean()
    committed = fields.Boolean()
    rows = fields.Integer()
    created = fields.Integer()
    duplicate = fields.Integer()
    unmatched = fields.Integer()
    rejected = fields.Integer()
    problems = fields.List(fields.Nested(PaymentProblemOut))
    results = fields.List(fields.Nested(PaymentRowOut))


class ReconciliationQuery(BaseSchema):
    date = fields.Date(
        required=True,
        validate=validate.Range(date(2000, 1, 1), date(2999, 12, 31)),
        metadata={"description": "The day, in each team's region."},
    )
    team = Code()
    format = fields.String(load_default="json", validate=validate.OneOf(("json", "csv")))


class ReconciliationLineOut(Schema):
    team = fields.String()
    currency = fields.String()
    payments = fields.Integer(metadata={"description": "How many payments were received."})
    received = fields.String()
    allocated = fields.String(metadata={"description": "Of it, allocated to agreements' instalments."})
    left_on_cases = fields.String(metadata={"description": "Of it, lowering balances outside any instalment."})
    credits = fields.String(metadata={"description": "Of it, paid beyond balances: held for refund decisions."})
    refunds = fields.String(metadata={"description": "Credits paid back that day."})


class UnmatchedOut(Schema):
    reference = fields.String()
    loan_ref = fields.String()
    currency = fields.String()
    amount = fields.String()
    paid_at = fields.AwareDateTime()
    received_at = fields.AwareDateTime()


class ReconciliationOut(Schema):
    date = fields.Date()
    teams = fields.List(fields.Nested(ReconciliationLineOut))
    unmatched = fields.List(
        fields.Nested(UnmatchedOut),
        metadata={"description": "Payments whose loan reference named no case (for those who read every team)."},
    )
