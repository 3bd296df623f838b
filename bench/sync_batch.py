"""Benchmark: one 500-event offline sync batch (check-in, outcome, check-out for 167
stops), then the same batch again (all duplicates), on SQLite and PostgreSQL.

    .venv/bin/python bench/sync_batch.py [--events 500] [--backends sqlite,postgresql]

Each backend gets a fresh migrated database; the batch goes through the HTTP layer
(Flask's test client, in process), so validation, policy checks, flags, audit chain
and the request's one commit are all in the figure.
"""

import argparse
import os
import platform
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta
from datetime import time as clock
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402


def database(backend):
    if backend == "sqlite":
        return f"sqlite:///{tempfile.mkdtemp()}/bench.db", None
    admin = sa.create_engine(
        os.environ.get("BENCH_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1/postgres"),
        isolation_level="AUTOCOMMIT",
    )
    name = f"fc_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    return admin.url.set(database=name).render_as_string(hide_password=False), (admin, name)


def seed(db, stops, day=None):
    """A committed day of ``stops`` for one crew, and the events of working it offline."""
    from tests.worlds import field_day

    zone = ZoneInfo("Asia/Shanghai")
    day = day or (datetime.now(zone) - timedelta(hours=14)).date()
    tasks = field_day(db, day=day, phones=1, stops=stops, password="bench-password")[0]["tasks"]
    start = datetime.combine(day, clock(9), zone)
    events = []
    for n, (task_id, lat, lon) in enumerate(tasks):
        at = start + timedelta(minutes=4 * n)
        position = {"lat": lat, "lon": lon, "accuracy_m": 8.0}
        events += [
            {
                "type": "check_in",
                "task_id": task_id,
                "client_event_id": f"in-{task_id}-bench",
                "device_time": at.isoformat(),
                **position,
            },
            {
                "type": "visit",
                "task_id": task_id,
                "client_event_id": f"visit-{task_id}-bench",
                "outcome": "not_home",
                "person_met": "nobody",
            },
            {
                "type": "check_out",
                "task_id": task_id,
                "client_event_id": f"out-{task_id}-bench",
                "device_time": (at + timedelta(minutes=2)).isoformat(),
                **position,
            },
        ]
    return events


def run(backend, count):
    import flask_migrate

    from app import create_app
    from app.extensions import db

    url, cleanup = database(backend)
    app = create_app(
        {
            "APP_ENV": "development",
            "SQLALCHEMY_DATABASE_URI": url,
            "RATELIMIT_STORAGE_URI": "memory://",
            "LOG_FORMAT": "none",
            "STORAGE_DIR": tempfile.mkdtemp(),
        }
    )
    try:
        with app.app_context():
            flask_migrate.upgrade()
            events = seed(db, -(-count // 3))[:count]
            db.session.remove()
        client = app.test_client()
        token = client.post("/api/v1/auth/login", json={"username": "agent001", "password": "bench-password"}).json
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        results = []
        for label in ("first send", "sent again"):
            started = time.perf_counter()
            response = client.post("/api/v1/agent/sync", json={"events": events}, headers=headers)
            seconds = time.perf_counter() - started
            results.append((label, seconds, response.status_code, response.json["counts"]))
        with app.app_context():
            db.engine.dispose()
        return results
    finally:
        if cleanup:
            admin, name = cleanup
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=500)
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    print(
        f"{args.events}-event batch; {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(f"{'backend':<11} {'run':<11} {'seconds':>8} {'events/s':>9}  answers")
    for backend in args.backends.split(","):
        for label, seconds, status, counts in run(backend, args.events):
            print(f"{backend:<11} {label:<11} {seconds:8.2f} {args.events / seconds:9.0f}  HTTP {status}, {counts}")


if __name__ == "__main__":
    main()
