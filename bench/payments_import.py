"""Benchmark: a servicing system's payment file of N rows, posted through the API
(``POST /api/v1/payments/import``) into SQLite and PostgreSQL.

    .venv/bin/python bench/payments_import.py --rows 50000

Each backend gets a fresh migrated database holding N cases (imported from a loan file,
not timed), a fifth of them with an active three-instalment agreement. The file pays
each case once (some beyond the balance, 1 % with loan refs no case has); the second
run sends the same file again and must record nothing (every row a duplicate). Times
are wall-clock for the whole request: parsing, checks, locks, ledger rows, allocations,
audit events, the per-row answer and the commit.
"""

import argparse
import os
import platform
import random
import secrets
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import sqlalchemy as sa  # noqa: E402
from import_cases import make_csv as make_cases_csv  # noqa: E402


def make_payments_csv(rows, seed=2):
    rng = random.Random(seed)
    lines = ["reference,loan_ref,amount,currency,paid_at\n"]
    for n in range(rows):
        loan = f"B{n:08d}" if rng.random() > 0.01 else f"NOBODY{n:08d}"
        lines.append(
            f"BANK-{n:09d},{loan},{rng.randrange(1, 15000)}.{rng.randrange(100):02d},CNY,2026-11-20T10:00:00+08:00\n"
        )
    return "".join(lines).encode("utf-8")


def run(backend, cases_csv, payments_csv):
    import flask_migrate

    from app import clock, create_app
    from app.auth import _token_digest
    from app.extensions import db
    from app.models import ApiToken, Case, Instalment, Region, RepaymentAgreement, Team, User
    from app.services.importer import import_cases

    admin_engine = None
    if backend == "sqlite":
        url = f"sqlite:///{tempfile.mkdtemp()}/bench.db"
    else:
        admin_engine = sa.create_engine(
            os.environ.get("BENCH_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1/postgres"),
            isolation_level="AUTOCOMMIT",
        )
        name = f"fc_bench_{uuid.uuid4().hex[:8]}"
        with admin_engine.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        url = admin_engine.url.set(database=name).render_as_string(hide_password=False)
    app = create_app(
        {
            "APP_ENV": "development",
            "SQLALCHEMY_DATABASE_URI": url,
            "RATELIMIT_STORAGE_URI": "memory://",
            "IMPORT_MAX_BYTES": 64 * 1024 * 1024,
        }
    )
    results = {}
    try:
        with app.app_context():
            flask_migrate.upgrade()
            region = Region(code="SH", name="Shanghai", timezone="Asia/Shanghai")
            db.session.add(region)
            db.session.flush()
            db.session.add(Team(code="BENCH", name="Bench", region_id=region.id))
            admin = User(username="integration", password_hash="x", role="admin", active=True)
            db.session.add(admin)
            db.session.commit()
            import_cases(cases_csv, None, default_team="BENCH")
            db.session.commit()
            ids = db.session.scalars(sa.select(Case.id).order_by(Case.id)).all()
            first = clock.today("Asia/Shanghai") + timedelta(days=10)
            now = clock.now()
            db.session.execute(
                RepaymentAgreement.__table__.insert(),
                [
                    {
                        "case_id": case_id,
                        "kind": "instalment",
                        "status": "active",
                        "currency": "CNY",
                        "total_minor": 30000,
                        "waiver_minor": 0,
                        "owed_minor": 30000,
                        "created_at": now,
                    }
                    for case_id in ids[::5]
                ],
            )
            agreement_ids = db.session.scalars(sa.select(RepaymentAgreement.id)).all()
            db.session.execute(
                Instalment.__table__.insert(),
                [
                    {
                        "agreement_id": agreement_id,
                        "seq": k + 1,
                        "due_date": first + timedelta(days=30 * k),
                        "amount_minor": 10000,
                        "paid_minor": 0,
                        "status": "open",
                    }
                    for agreement_id in agreement_ids
                    for k in range(3)
                ],
            )
            raw = secrets.token_urlsafe(24)
            db.session.add(
                ApiToken(user_id=admin.id, token_hash=_token_digest(raw), expires_at=clock.now() + timedelta(hours=2))
            )
            db.session.commit()
            db.session.remove()
        client = app.test_client()
        headers = {"Authorization": f"Bearer {raw}", "Content-Type": "text/csv"}
        for label in ("first file", "same again"):
            started = time.perf_counter()
            response = client.post("/api/v1/payments/import?mode=valid_rows", headers=headers, data=payments_csv)
            results[label] = (time.perf_counter() - started, response.status_code, response.get_json())
        with app.app_context():
            db.engine.dispose()
    finally:
        if admin_engine is not None:
            with admin_engine.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50000)
    parser.add_argument("--backends", default="postgresql,sqlite")
    args = parser.parse_args()
    cases_csv, payments_csv = make_cases_csv(args.rows), make_payments_csv(args.rows)
    print(
        f"{args.rows} payments, {len(payments_csv) / 1e6:.1f} MB; {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, load average {os.getloadavg()[0]:.1f}"
    )
    print(f"{'backend':<11} {'run':<11} {'seconds':>8} {'rows/s':>9}  report")
    for backend in args.backends.split(","):
        for label, (seconds, status, body) in run(backend, cases_csv, payments_csv).items():
            print(
                f"{backend:<11} {label:<11} {seconds:8.1f} {args.rows / seconds:9.0f}  HTTP {status}: created "
                f"{body['created']}, duplicate {body['duplicate']}, unmatched {body['unmatched']}, "
                f"rejected {body['rejected']}"
            )


if __name__ == "__main__":
    main()
