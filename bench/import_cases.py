"""Benchmark: import a loan system's CSV export of N cases into SQLite and PostgreSQL.

    .venv/bin/python bench/import_cases.py --rows 50000

Each backend gets a fresh database built by the migrations. The first import creates
every case (with its debtor and audit event); the second imports the same file again
and must change nothing. Times are wall-clock for the whole import and its commit.
"""

import argparse
import os
import platform
import random
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

HEADER = "loan_ref,product,currency,principal,outstanding,days_past_due,debtor_name,phone,national_id,address,lat,lon\n"


def make_csv(rows, seed=1):
    rng = random.Random(seed)
    lines = [HEADER]
    for n in range(rows):
        principal = rng.randrange(500, 20000)
        lines.append(
            f"B{n:08d},cash_loan,CNY,{principal}.00,{principal * rng.uniform(0.3, 1):.2f},{rng.randrange(31, 400)},"
            f"王{n % 97}芳,1{rng.randrange(3, 10)}{rng.randrange(10**9):09d},{310101197001010000 + n},"
            f"上海市徐汇区漕溪北路{n % 1500}号,{31.0 + rng.random() * 0.5:.6f},{121.2 + rng.random() * 0.5:.6f}\n"
        )
    return "".join(lines).encode("utf-8")


def run(backend, content):
    import flask_migrate

    from app import create_app
    from app.extensions import db
    from app.models import Region, Team
    from app.services.importer import import_cases

    admin = None
    if backend == "sqlite":
        url = f"sqlite:///{tempfile.mkdtemp()}/bench.db"
    else:
        admin = sa.create_engine(
            os.environ.get("BENCH_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1/postgres"),
            isolation_level="AUTOCOMMIT",
        )
        name = f"fc_bench_{uuid.uuid4().hex[:8]}"
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        url = admin.url.set(database=name).render_as_string(hide_password=False)
    app = create_app({"APP_ENV": "development", "SQLALCHEMY_DATABASE_URI": url, "RATELIMIT_STORAGE_URI": "memory://"})
    results = {}
    try:
        with app.app_context():
            flask_migrate.upgrade()
            region = Region(code="SH", name="Shanghai", timezone="Asia/Shanghai")
            db.session.add(region)
            db.session.flush()
            db.session.add(Team(code="BENCH", name="Bench", region_id=region.id))
            db.session.commit()
            for label in ("first import", "re-import"):
                started = time.perf_counter()
                report = import_cases(content, None, default_team="BENCH")
                db.session.commit()
                results[label] = (time.perf_counter() - started, report)
            db.session.remove()
            db.engine.dispose()
    finally:
        if admin is not None:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50000)
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    content = make_csv(args.rows)
    print(
        f"{args.rows} rows, {len(content) / 1e6:.1f} MB; {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}"
    )
    print(f"{'backend':<11} {'run':<13} {'seconds':>8} {'rows/s':>9}  report")
    for backend in args.backends.split(","):
        for label, (seconds, report) in run(backend, content).items():
            print(
                f"{backend:<11} {label:<13} {seconds:8.1f} {args.rows / seconds:9.0f}  created {report.created}, "
                f"updated {report.updated}, unchanged {report.unchanged}, rejected {report.rejected}"
            )


if __name__ == "__main__":
    main()
