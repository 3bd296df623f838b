"""Money that reconciles: a ledger per case (backfilled from the cases and payments already
stored), a credit held on a case, waiver decisions (rejected, countered), payments whose
loan reference names no case, one allocation per payment and instalment.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 00:50:00

"""

from contextlib import contextmanager

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

OLD_STATUSES = "status IN ('pending_approval', 'active', 'kept', 'broken', 'cancelled')"
NEW_STATUSES = "status IN ('pending_approval', 'active', 'kept', 'broken', 'cancelled', 'rejected', 'countered')"


@contextmanager
def _sqlite_rebuilds():
    """SQLite changes a table's constraints by rebuilding it (copy, drop, rename); with
    foreign keys enforced, dropping a table other rows point at fails. Enforcement can
    only be switched outside a transaction: the work so far is committed, the rebuilds run
    with it off, every foreign key is checked, and it is switched back on. (PostgreSQL
    alters in place.)"""
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        yield
        return
    bind.exec_driver_sql("COMMIT")
    bind.exec_driver_sql("PRAGMA foreign_keys = OFF")
    bind.exec_driver_sql("BEGIN")
    yield
    broken = bind.exec_driver_sql("PRAGMA foreign_key_check").all()
    if broken:
        raise RuntimeError(f"foreign keys broken by the rebuild: {broken[:5]}")
    bind.exec_driver_sql("COMMIT")
    bind.exec_driver_sql("PRAGMA foreign_keys = ON")
    bind.exec_driver_sql("BEGIN")


def upgrade():
    with _sqlite_rebuilds():
        _alter_for_money()
    _create_tables()
    backfill(op.get_bind())


def _alter_for_money():
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("credit_minor", sa.BigInteger(), nullable=False, server_default="0"))
        batch_op.create_check_constraint(batch_op.f("ck_cases_credit_not_negative"), "credit_minor >= 0")

    with op.batch_alter_table("repayment_agreements", schema=None) as batch_op:
        batch_op.add_column(sa.Column("decided_by_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("decision_note", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("counter_waiver_minor", sa.BigInteger(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_repayment_agreements_decided_by_id_users"), "users", ["decided_by_id"], ["id"]
        )
        batch_op.drop_constraint(batch_op.f("ck_repayment_agreements_status_known"), type_="check")
        batch_op.create_check_constraint(batch_op.f("ck_repayment_agreements_status_known"), NEW_STATUSES)

    with op.batch_alter_table("payment_allocations", schema=None) as batch_op:
        batch_op.create_unique_constraint("uq_payment_allocations_payment_instalment", ["payment_id", "instalment_id"])


def _create_tables():
    op.create_table(
        "ledger_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("delta_minor", sa.BigInteger(), nullable=False),
        sa.Column("balance_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("source", sa.String(length=80), nullable=False),
        sa.Column("payment_id", sa.Integer(), nullable=True),
        sa.Column("agreement_id", sa.Integer(), nullable=True),
        sa.Column("instalment_id", sa.Integer(), nullable=True),
        sa.Column("approved_by_id", sa.Integer(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('principal', 'payment', 'allocation', 'waiver', 'credit', 'refund', 'adjustment')",
            name=op.f("ck_ledger_entries_kind_known"),
        ),
        sa.CheckConstraint("amount_minor > 0", name=op.f("ck_ledger_entries_amount_positive")),
        sa.CheckConstraint(
            "delta_minor = 0 OR delta_minor = amount_minor OR delta_minor = -amount_minor",
            name=op.f("ck_ledger_entries_delta_is_the_amount"),
        ),
        sa.CheckConstraint("length(currency) = 3", name=op.f("ck_ledger_entries_currency_code")),
        sa.ForeignKeyConstraint(
            ["agreement_id"],
            ["repayment_agreements.id"],
            name=op.f("fk_ledger_entries_agreement_id_repayment_agreements"),
        ),
        sa.ForeignKeyConstraint(["approved_by_id"], ["users.id"], name=op.f("fk_ledger_entries_approved_by_id_users")),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_ledger_entries_case_id_cases")),
        sa.ForeignKeyConstraint(
            ["instalment_id"], ["instalments.id"], name=op.f("fk_ledger_entries_instalment_id_instalments")
        ),
        sa.ForeignKeyConstraint(["payment_id"], ["payments.id"], name=op.f("fk_ledger_entries_payment_id_payments")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_entries")),
    )
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ledger_entries_agreement_id"), ["agreement_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_ledger_entries_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_ledger_entries_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_ledger_entries_payment_id"), ["payment_id"], unique=False)

    op.create_table(
        "unmatched_payments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(length=120), nullable=False),
        sa.Column("loan_ref", sa.String(length=80), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("length(currency) = 3", name=op.f("ck_unmatched_payments_currency_code")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_unmatched_payments")),
        sa.UniqueConstraint("reference", name=op.f("uq_unmatched_payments_reference")),
    )
    with op.batch_alter_table("unmatched_payments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_unmatched_payments_received_at"), ["received_at"], unique=False)


def backfill(connection):
    """Ledger rows for the cases already stored, so each case's rows add up to its balance.

    What a case owed before the ledger is its balance now plus what was paid on it (the
    opening row), then each payment with its allocations, in the order received. Waivers
    never moved the balance before this revision, so none is written. Paid beyond the
    balance, the old code clamped at zero and the excess is not known: none is invented.
    """
    cases = sa.table(
        "cases", sa.column("id"), sa.column("currency"), sa.column("outstanding_minor"), sa.column("created_at")
    )
    payments = sa.table(
        "payments",
        sa.column("id"),
        sa.column("case_id"),
        sa.column("reference"),
        sa.column("amount_minor"),
        sa.column("received_at"),
    )
    allocations = sa.table(
        "payment_allocations", sa.column("payment_id"), sa.column("instalment_id"), sa.column("amount_minor")
    )
    instalments = sa.table("instalments", sa.column("id"), sa.column("agreement_id"))
    ledger = sa.table(
        "ledger_entries",
        *(
            sa.column(name)
            for name in (
                "case_id",
                "kind",
                "amount_minor",
                "delta_minor",
                "balance_minor",
                "currency",
                "source",
                "payment_id",
                "agreement_id",
                "instalment_id",
                "note",
                "created_at",
            )
        ),
    )
    paid = {}
    for row in connection.execute(sa.select(payments).order_by(payments.c.received_at, payments.c.id)):
        paid.setdefault(row.case_id, []).append(row)
    allocated = {}
    for row in connection.execute(
        sa.select(
            allocations.c.payment_id,
            allocations.c.instalment_id,
            allocations.c.amount_minor,
            instalments.c.agreement_id,
        )
        .join(instalments, instalments.c.id == allocations.c.instalment_id)
        .order_by(allocations.c.payment_id, allocations.c.instalment_id)
    ):
        allocated.setdefault(row.payment_id, []).append(row)
    rows = []

    def add(case, balance, kind, amount, delta, **values):
        rows.append(
            {
                "case_id": case.id,
                "kind": kind,
                "amount_minor": amount,
                "delta_minor": delta,
                "balance_minor": balance,
                "currency": case.currency,
                "payment_id": None,
                "agreement_id": None,
                "instalment_id": None,
                "note": None,
                **values,
            }
        )

    for case in connection.execute(sa.select(cases).order_by(cases.c.id)):
        received = paid.get(case.id, [])
        balance = case.outstanding_minor + sum(p.amount_minor for p in received)
        if balance > 0:
            add(
                case,
                balance,
                "principal",
                balance,
                balance,
                source="backfill",
                note="owed before the ledger began",
                created_at=case.created_at,
            )
        for payment in received:
            balance -= payment.amount_minor
            add(
                case,
                balance,
                "payment",
                payment.amount_minor,
                -payment.amount_minor,
                source=f"payment:{payment.reference}"[:80],
                payment_id=payment.id,
                created_at=payment.received_at,
            )
            for share in allocated.get(payment.id, []):
                add(
                    case,
                    balance,
                    "allocation",
                    share.amount_minor,
                    0,
                    source=f"payment:{payment.reference}"[:80],
                    payment_id=payment.id,
                    agreement_id=share.agreement_id,
                    instalment_id=share.instalment_id,
                    created_at=payment.received_at,
                )
    for start in range(0, len(rows), 1000):
        connection.execute(sa.insert(ledger), rows[start : start + 1000])


def downgrade():
    with op.batch_alter_table("unmatched_payments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_unmatched_payments_received_at"))
    op.drop_table("unmatched_payments")

    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_entries_payment_id"))
        batch_op.drop_index(batch_op.f("ix_ledger_entries_created_at"))
        batch_op.drop_index(batch_op.f("ix_ledger_entries_case_id"))
        batch_op.drop_index(batch_op.f("ix_ledger_entries_agreement_id"))
    op.drop_table("ledger_entries")

    with _sqlite_rebuilds():
        _undo_alterations()


def _undo_alterations():
    with op.batch_alter_table("payment_allocations", schema=None) as batch_op:
        batch_op.drop_constraint("uq_payment_allocations_payment_instalment", type_="unique")

    # A decision the old schema cannot name is kept as cancelled (what was decided stays in the audit log).
    op.execute("UPDATE repayment_agreements SET status = 'cancelled' WHERE status IN ('rejected', 'countered')")
    with op.batch_alter_table("repayment_agreements", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_repayment_agreements_status_known"), type_="check")
        batch_op.create_check_constraint(batch_op.f("ck_repayment_agreements_status_known"), OLD_STATUSES)
        batch_op.drop_constraint(batch_op.f("fk_repayment_agreements_decided_by_id_users"), type_="foreignkey")
        batch_op.drop_column("counter_waiver_minor")
        batch_op.drop_column("decision_note")
        batch_op.drop_column("decided_by_id")

    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_cases_credit_not_negative"), type_="check")
        batch_op.drop_column("credit_minor")
