"""A ledger per case: every movement of its balance is a row, in integer minor units,
with its source; the balance is checked against the rows in the same transaction.

``balance = principal − payments + refunds − waivers ± adjustments`` (the sum of the
rows' ``delta_minor``). A positive balance is the case's ``outstanding_minor``; a
negative one is a credit (``credit_minor``), paid beyond what was owed and held for a
refund decision. Allocation and credit rows are memos: they record where a payment
went and leave the balance as it is.

Callers lock the case first (:func:`lock_case`), so two requests moving one balance
queue on its row instead of one overwriting the other.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import selectinload

from app import audit, authz, money
from app.errors import Conflict, NotFound, ValidationFailed
from app.extensions import db
from app.models import Case, LedgerEntry, Team, User
from app.services.common import Data

REOPENED_TO = "remote_contact"
SIGNS = {"principal": 1, "payment": -1, "waiver": -1, "refund": 1, "allocation": 0, "credit": 0}


class LedgerMismatch(RuntimeError):
    """The case's balance and its ledger disagree: a bug (something moved the balance
    without a row), never the caller's fault."""


def lock_case(case_id: int) -> Case:
    """The case, its row locked until the transaction ends, its values read fresh."""
    case = db.session.scalars(
        select(Case)
        .options(selectinload(Case.team).selectinload(Team.region))
        .where(Case.id == case_id)
        .with_for_update(of=Case)
        .execution_options(populate_existing=True)
    ).one_or_none()
    if case is None:
        raise NotFound("No such case.")
    return case


def balance(case: Case) -> int:
    return case.outstanding_minor - (case.credit_minor or 0)


def _last(case: Case) -> LedgerEntry | None:
    return db.session.scalars(
        select(LedgerEntry).where(LedgerEntry.case_id == case.id).order_by(LedgerEntry.id.desc()).limit(1)
    ).one_or_none()


def _row(case: Case, kind: str, amount: int, delta: int, balance_after: int, source: str, **links: Any) -> LedgerEntry:
    row = LedgerEntry(
        case_id=case.id,
        kind=kind,
        amount_minor=amount,
        delta_minor=delta,
        balance_minor=balance_after,
        currency=case.currency,
        source=source,
        **links,
    )
    db.session.add(row)
    return row


def open_case(case: Case, source: str = "case.created") -> None:
    """The opening row of a new case: what it owes as it enters the service."""
    if case.outstanding_minor > 0:
        _row(
            case,
            "principal",
            case.outstanding_minor,
            case.outstanding_minor,
            case.outstanding_minor,
            source,
            note="owed when the case was opened",
        )


def _checked(case: Case) -> int:
    """The balance before a movement, checked against the last row (a case from before
    the ledger, without rows, is opened with its balance as it stands)."""
    last = _last(case)
    current = balance(case)
    if last is None:
        if current > 0:
            _row(case, "principal", current, current, current, "opening", note="balance when the ledger began")
        elif current < 0:
            _row(case, "adjustment", -current, current, current, "opening", note="credit when the ledger began")
    elif last.balance_minor != current:
        raise LedgerMismatch(f"case {case.id}: balance {current} but ledger {last.balance_minor}")
    return current


def post(case: Case, kind: str, amount: int, source: str, *, delta: int | None = None, **links: Any) -> LedgerEntry:
    """A movement of ``amount`` (> 0) on a locked case: its row, the new balance on the case,
    and a credit memo when a payment takes the balance below zero. Returns the row."""
    if amount <= 0:
        raise ValueError("a ledger amount is positive")
    before = _checked(case)
    delta = SIGNS[kind] * amount if delta is None else delta
    after = before + delta
    row = _row(case, kind, amount, delta, after, source, **links)
    case.outstanding_minor, case.credit_minor = max(after, 0), max(-after, 0)
    if case.stage == "resolved" and case.outstanding_minor > 0:
        # Owing again (a correction, a waiver withdrawn): resolved no longer holds.
        case.stage = REOPENED_TO
    new_credit = max(-after, 0) - max(-before, 0)
    if kind == "payment" and new_credit > 0:
        _row(
            case,
            "credit",
            new_credit,
            0,
            after,
            source,
            payment_id=links.get("payment_id"),
            note="paid beyond the balance: held for a refund decision",
        )
    db.session.flush()
    return row


def memo(case: Case, kind: str, amount: int, source: str, **links: Any) -> LedgerEntry:
    """A row that changes no balance (an allocation to an instalment)."""
    return _row(case, kind, amount, 0, balance(case), source, **links)


def adjust_to(case: Case, outstanding: int, source: str, note: str | None = None, actor: User | None = None) -> None:
    """Set what the case owes (an operator's correction or a loan system's new figure)."""
    if case.credit_minor:
        raise Conflict(
            "The case holds a credit; refund it before changing what is owed.",
            fields={"outstanding": ["the case holds a credit"]},
        )
    delta = outstanding - case.outstanding_minor
    if delta:
        post(case, "adjustment", abs(delta), source, delta=delta, note=note, approved_by_id=getattr(actor, "id", None))


def open_imported(case_rows: Iterable[Mapping[str, Any]]) -> None:
    """Opening rows for cases a file created in bulk (``case_rows``: the inserted values)."""
    rows = [
        {
            "case_id": c["id"],
            "kind": "principal",
            "amount_minor": c["outstanding_minor"],
            "delta_minor": c["outstanding_minor"],
            "balance_minor": c["outstanding_minor"],
            "currency": c["currency"],
            "source": "import",
            "note": "owed when the case was opened",
            "created_at": c["created_at"],
        }
        for c in case_rows
        if c["outstanding_minor"] > 0
    ]
    if rows:
        db.session.execute(insert(LedgerEntry), rows)


def adjust_imported(case: Case, outstanding: int) -> None:
    """A loan system's new figure for what a case owes: an adjustment row (a credit held
    on the case nets against it)."""
    case = lock_case(case.id)
    delta = outstanding - case.outstanding_minor
    if delta:
        post(case, "adjustment", abs(delta), "import", delta=delta, note="outstanding from the loan system")


def refund(case: Case, amount: int, actor: User, note: str, reference: str | None = None) -> LedgerEntry:
    """Pay back (part of) a credit: a refund row naming its approver."""
    if amount <= 0:
        raise ValidationFailed("The refund must be positive.", fields={"amount": ["must be positive"]})
    if amount > case.credit_minor:
        raise ValidationFailed(
            "A refund cannot exceed the credit held.",
            fields={
                "amount": [f"the case holds a credit of {money.to_decimal_string(case.credit_minor, case.currency)}"]
            },
        )
    before = {"credit_minor": case.credit_minor}
    row = post(
        case, "refund", amount, f"refund:{reference}" if reference else "refund", approved_by_id=actor.id, note=note
    )
    audit.record(
        "case.refunded",
        case,
        before=before,
        after={"credit_minor": case.credit_minor, "amount_minor": amount, "ledger_entry": row.id},
        extra={"note": note, "reference": reference},
    )
    return row


def entries(case: Case) -> Sequence[LedgerEntry]:
    return db.session.scalars(select(LedgerEntry).where(LedgerEntry.case_id == case.id).order_by(LedgerEntry.id)).all()


# ---------------------------------------------------------------- reading it


class CaseLedger:
    """A case's rows with their totals, as the ledger endpoint answers them."""

    def __init__(self, case: Case, rows: Sequence[LedgerEntry]) -> None:
        self.case_id, self.loan_ref, self.currency = case.id, case.loan_ref, case.currency
        self.entries = rows
        text = lambda minor: money.to_decimal_string(minor, case.currency)  # noqa: E731
        self.outstanding, self.credit = text(case.outstanding_minor), text(case.credit_minor)
        running, self.balanced = 0, True
        for row in rows:
            running += row.delta_minor
            self.balanced &= row.balance_minor == running
        self.balanced &= running == balance(case)
        sums: dict[str, int] = {}
        for row in rows:
            key = "adjustment" if row.kind == "adjustment" else row.kind
            sums[key] = sums.get(key, 0) + (row.delta_minor if row.kind == "adjustment" else row.amount_minor)
        self.totals = {
            name: text(sums.get(kind, 0))
            for name, kind in (
                ("principal", "principal"),
                ("payments", "payment"),
                ("allocated", "allocation"),
                ("waivers", "waiver"),
                ("credits", "credit"),
                ("refunds", "refund"),
                ("adjustments", "adjustment"),
            )
        }


def case_ledger(case_id: int, user: User) -> CaseLedger:
    case = authz.get_visible(Case, case_id, user, "case")
    return CaseLedger(case, entries(case))


def refund_case(case_id: int, data: Data, actor: User) -> CaseLedger:
    """A refund of a case's credit, approved by the caller."""
    case = authz.get_visible(Case, case_id, actor, "case")
    case = lock_case(case.id)
    try:
        amount = money.to_minor(data["amount"], case.currency)
    except money.MoneyError as exc:
        raise ValidationFailed("Amount is not valid.", fields={"amount": [str(exc)]}) from None
    refund(case, amount, actor, data["note"], data.get("reference"))
    return CaseLedger(case, entries(case))
