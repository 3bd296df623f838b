"""Repayment agreements, waiver approvals, and payments from the servicing system."""

from flask import Blueprint, g

from api.base import endpoint, page_of
from api.schemas.money import (
    AgreementOut,
    AgreementQuery,
    ApproveIn,
    CounterIn,
    EvaluateIn,
    EvaluateOut,
    PaymentIn,
    PaymentOut,
    RejectIn,
)
from app import money
from app.errors import ValidationFailed
from app.services import agreements

bp = Blueprint("agreements", __name__)


@bp.get("/agreements")
@endpoint(permission="agreements:read", query=AgreementQuery, response=page_of(AgreementOut))
def list_agreements(args):
    """Agreements of the caller's teams; `status=pending_approval` lists waivers to approve."""
    return agreements.list_agreements(args, g.user)


@bp.get("/agreements/<id:agreement_id>")
@endpoint(permission="agreements:read", response=AgreementOut)
def get_agreement(agreement_id):
    """One agreement with its instalments."""
    return agreements.get_agreement(agreement_id, g.user)


@bp.post("/agreements/<id:agreement_id>/approve")
@endpoint(permission="agreements:approve", body=ApproveIn, response=AgreementOut)
def approve_agreement(agreement_id, data):
    """Approve a waiver above the profile's limit; the agreement becomes active."""
    return agreements.approve(agreements.get_agreement(agreement_id, g.user), g.user, data["note"])


@bp.post("/agreements/<id:agreement_id>/reject")
@endpoint(permission="agreements:approve", body=RejectIn, response=AgreementOut)
def reject_agreement(agreement_id, data):
    """Refuse a waiver with a reason; the agent sees the answer on the phone."""
    return agreements.reject(agreements.get_agreement(agreement_id, g.user), g.user, data["reason"])


@bp.post("/agreements/<id:agreement_id>/counter")
@endpoint(permission="agreements:approve", body=CounterIn, response=AgreementOut)
def counter_agreement(agreement_id, data):
    """Answer a waiver with a smaller one within your limit, for the agent to take back to the debtor."""
    agreement = agreements.get_agreement(agreement_id, g.user)
    try:
        waiver = money.to_minor(data["waiver"], agreement.currency)
    except money.MoneyError as exc:
        raise ValidationFailed("Amount is not valid.", fields={"waiver": [str(exc)]}) from None
    return agreements.counter(agreement, g.user, waiver, data["note"])


@bp.post("/agreements/evaluate")
@endpoint(permission="agreements:evaluate", body=EvaluateIn, response=EvaluateOut)
def evaluate_agreements(data):
    """Judge agreements kept or broken now, for your own teams (an admin: any or all)."""
    return agreements.evaluate_for(g.user, data)


@bp.post("/payments")
@endpoint(
    permission="payments:write",
    body=PaymentIn,
    response=PaymentOut,
    status=201,
    also={200: "The same reference again: the payment already recorded, with duplicate true."},
)
def record_payment(data):
    """A payment from the servicing system; idempotent on its reference."""
    payment, created = agreements.record_payment(data)
    if not created:
        payment.duplicate = True  # said in the answer only; not a column
        return payment, 200
    return payment
