"""Agreements, the case ledger, refunds and payments."""

from datetime import date as _date

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from api.base import BaseSchema, PageQuery
from api.fields import Amount, Currency, Id, Instant
from api.schemas.common import Code, Text
from app import money
from app.models import AGREEMENT_STATUSES


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
