"""Money: repayment agreements and their instalments, payments and where they went, the
ledger of a case's balance, and payments that matched no case."""

from datetime import date, datetime

from sqlalchemy import BigInteger, CheckConstraint, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.cases import Case
from app.models.types import UTCDateTime, _in, utcnow

AGREEMENT_KINDS = ("promise", "instalment")
# rejected / countered: a waiver a supervisor refused, or answered with another waiver for
# the agent to take back to the debtor (a new agreement is then recorded).
AGREEMENT_STATUSES = ("pending_approval", "active", "kept", "broken", "cancelled", "rejected", "countered")
# Movements of a case's balance (app.services.ledger). allocation and credit rows are
# memos: they say where a payment went and change no balance.
LEDGER_KINDS = ("principal", "payment", "allocation", "waiver", "credit", "refund", "adjustment")
INSTALMENT_STATUSES = ("open", "paid", "late", "missed")


class RepaymentAgreement(db.Model):
    __tablename__ = "repayment_agreements"
    __table_args__ = (
        CheckConstraint(_in("kind", AGREEMENT_KINDS), name="kind_known"),
        CheckConstraint(_in("status", AGREEMENT_STATUSES), name="status_known"),
        CheckConstraint("total_minor > 0", name="total_positive"),
        CheckConstraint("waiver_minor >= 0", name="waiver_not_negative"),
        CheckConstraint("length(currency) = 3", name="currency_code"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    visit_id: Mapped[int | None] = mapped_column(ForeignKey("visits.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))
    currency: Mapped[str] = mapped_column(String(3))
    total_minor: Mapped[int] = mapped_column(BigInteger)
    waiver_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    # What the debtor owed when the agreement was made; the waiver is judged against it.
    owed_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    frequency: Mapped[str | None] = mapped_column(String(20))
    acknowledgement_kind: Mapped[str | None] = mapped_column(String(20))
    acknowledgement_ref: Mapped[str | None] = mapped_column(String(128))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A waiver decision: who decided, why, and a counter-offer's waiver.
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decision_note: Mapped[str | None] = mapped_column(Text)
    counter_waiver_minor: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)

    instalments: Mapped[list["Instalment"]] = relationship(back_populates="agreement", order_by="Instalment.seq")
    case: Mapped[Case] = relationship()


class Instalment(db.Model):
    __tablename__ = "instalments"
    __table_args__ = (
        UniqueConstraint("agreement_id", "seq", name="uq_instalments_agreement_seq"),
        CheckConstraint(_in("status", INSTALMENT_STATUSES), name="status_known"),
        CheckConstraint("amount_minor > 0", name="amount_positive"),
        CheckConstraint("paid_minor >= 0 AND paid_minor <= amount_minor", name="paid_range"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    agreement_id: Mapped[int] = mapped_column(ForeignKey("repayment_agreements.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    due_date: Mapped[date] = mapped_column(Date)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    paid_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    status: Mapped[str] = mapped_column(String(20), default="open")

    agreement: Mapped[RepaymentAgreement] = relationship(back_populates="instalments")


class Payment(db.Model):
    __tablename__ = "payments"
    __table_args__ = (
        CheckConstraint("amount_minor > 0", name="amount_positive"),
        CheckConstraint("length(currency) = 3", name="currency_code"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(120), unique=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    paid_at: Mapped[datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PaymentAllocation(db.Model):
    __tablename__ = "payment_allocations"
    __table_args__ = (
        CheckConstraint("amount_minor > 0", name="amount_positive"),
        UniqueConstraint("payment_id", "instalment_id", name="uq_payment_allocations_payment_instalment"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("payments.id"), index=True)
    instalment_id: Mapped[int] = mapped_column(ForeignKey("instalments.id"), index=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)


class LedgerEntry(db.Model):
    """One movement of a case's balance, in integer minor units, with its source.

    ``delta_minor`` is its effect on the balance (0 for a memo row); ``balance_minor`` the
    balance after it (negative: a credit held for the debtor). The rows of a case, in id
    order, add up to its ``outstanding_minor - credit_minor``.
    """

    __tablename__ = "ledger_entries"
    __table_args__ = (
        CheckConstraint(_in("kind", LEDGER_KINDS), name="kind_known"),
        CheckConstraint("amount_minor > 0", name="amount_positive"),
        CheckConstraint(
            "delta_minor = 0 OR delta_minor = amount_minor OR delta_minor = -amount_minor", name="delta_is_the_amount"
        ),
        CheckConstraint("length(currency) = 3", name="currency_code"),
        # The portfolio report: a period's payments, and each case's movements since a moment.
        Index("ix_ledger_entries_kind_created_cover", "kind", "created_at", "case_id", "currency", "amount_minor"),
        Index("ix_ledger_entries_case_created_delta", "case_id", "created_at", "delta_minor"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    delta_minor: Mapped[int] = mapped_column(BigInteger)
    balance_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    source: Mapped[str] = mapped_column(String(80))
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id"), index=True)
    agreement_id: Mapped[int | None] = mapped_column(ForeignKey("repayment_agreements.id"), index=True)
    instalment_id: Mapped[int | None] = mapped_column(ForeignKey("instalments.id"))
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class UnmatchedPayment(db.Model):
    """A payment from the servicing system whose loan reference names no case: kept, so the
    day's reconciliation lists it and a second file with the same reference is not new."""

    __tablename__ = "unmatched_payments"
    __table_args__ = (CheckConstraint("length(currency) = 3", name="currency_code"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(120), unique=True)
    loan_ref: Mapped[str] = mapped_column(String(80))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    paid_at: Mapped[datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
