"""Migration 0008 writes a ledger for the cases already stored: their rows add up to the
balance each case shows, with each payment and its allocations; downgrade removes it."""

from datetime import date

import flask_migrate
import sqlalchemy as sa

from app.extensions import db
from tests.conftest import TEST_NOW


def test_the_ledger_is_backfilled_from_cases_and_payments_and_downgrades_away(empty_app):
    app = empty_app
    with app.app_context():
        flask_migrate.upgrade(revision="0007")
        run = lambda sql, **values: db.session.execute(sa.text(sql), values)  # noqa: E731
        run("INSERT INTO regions (id, code, name, timezone) VALUES (1, 'R', 'R', 'Asia/Shanghai')")
        run("INSERT INTO teams (id, code, name, region_id) VALUES (1, 'T', 'T', 1)")
        run(
            "INSERT INTO debtors (id, name, address, lat, lon, timezone, availability, flags, places, created_at, "
            "updated_at) VALUES (1, 'D', 'x', 31.2, 121.4, 'Asia/Shanghai', '[]', '{}', '[]', :now, :now)",
            now=TEST_NOW,
        )
        for case_id, outstanding in ((1, 70_000), (2, 0), (3, 5_000)):
            run(
                "INSERT INTO cases (id, loan_ref, debtor_id, team_id, product, currency, principal_minor, "
                "outstanding_minor, days_past_due, stage, priority, created_at, updated_at) VALUES (:id, :ref, 1, 1, "
                "'p', 'CNY', 100000, :owed, 30, 'agreement', 0, :now, :now)",
                id=case_id,
                ref=f"L{case_id}",
                owed=outstanding,
                now=TEST_NOW,
            )
        run(
            "INSERT INTO repayment_agreements (id, case_id, kind, status, currency, total_minor, waiver_minor, "
            "owed_minor, created_at) VALUES (1, 1, 'instalment', 'active', 'CNY', 40000, 0, 100000, :now)",
            now=TEST_NOW,
        )
        run(
            "INSERT INTO instalments (id, agreement_id, seq, due_date, amount_minor, paid_minor, status) "
            "VALUES (1, 1, 1, :day, 20000, 20000, 'paid'), (2, 1, 2, :day, 20000, 10000, 'open')",
            day=date(2026, 12, 1),
        )
        for payment_id, case_id, amount in ((1, 1, 25_000), (2, 1, 5_000), (3, 2, 8_000)):
            run(
                "INSERT INTO payments (id, reference, case_id, amount_minor, currency, paid_at, received_at) "
                "VALUES (:id, :ref, :case, :amount, 'CNY', :now, :now)",
                id=payment_id,
                ref=f"P{payment_id}",
                case=case_id,
                amount=amount,
                now=TEST_NOW,
            )
        run(
            "INSERT INTO payment_allocations (payment_id, instalment_id, amount_minor) VALUES (1, 1, 20000), "
            "(1, 2, 5000), (2, 2, 5000)"
        )
        db.session.commit()
        flask_migrate.upgrade(revision="0008")
        rows = db.session.execute(
            sa.text("SELECT case_id, kind, amount_minor, delta_minor, balance_minor FROM ledger_entries ORDER BY id")
        ).all()
        assert [tuple(r) for r in rows if r.case_id == 1] == [
            (1, "principal", 100_000, 100_000, 100_000),
            (1, "payment", 25_000, -25_000, 75_000),
            (1, "allocation", 20_000, 0, 75_000),
            (1, "allocation", 5_000, 0, 75_000),
            (1, "payment", 5_000, -5_000, 70_000),
            (1, "allocation", 5_000, 0, 70_000),
        ]
        assert [tuple(r) for r in rows if r.case_id == 2] == [
            (2, "principal", 8_000, 8_000, 8_000),
            (2, "payment", 8_000, -8_000, 0),
        ]
        assert [tuple(r) for r in rows if r.case_id == 3] == [(3, "principal", 5_000, 5_000, 5_000)]
        credit = db.session.execute(sa.text("SELECT credit_minor FROM cases WHERE id = 1")).scalar_one()
        assert credit == 0
        db.session.commit()
        flask_migrate.downgrade(revision="0007")
        assert "ledger_entries" not in sa.inspect(db.engine).get_table_names()
        assert "credit_minor" not in {c["name"] for c in sa.inspect(db.engine).get_columns("cases")}
