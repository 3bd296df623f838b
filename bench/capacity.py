"""The CPU a collector's requests cost, split between the web worker and PostgreSQL, for the
capacity model in docs/capacity.md.

    .venv/bin/python bench/capacity.py [--stops 150]

Through the Flask test client on PostgreSQL (as bench/request_cost.py): one agent works a
seeded day — fetches the route, then check-in, outcome and check-out at each stop — and
for each kind of request (and the login, with the production password hashing
parameters: the bench runs as development, which uses them) this prints the median wall
time, the CPU milliseconds of this process (the web worker's share) and of the
connection's PostgreSQL backend (read from /proc: PostgreSQL runs on this machine), the SQL
statements, and the audit events the request appended. CPU is what sizes machines; wall time on a shared machine is not.
"""

import argparse
import os
import platform
import statistics
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("APP_ENV", "development")

import flask_migrate  # noqa: E402
import sync_batch  # noqa: E402
from audit_append import cpu_seconds  # noqa: E402
from sqlalchemy import event, func, select, text  # noqa: E402

from app import create_app  # noqa: E402
from app.extensions import db  # noqa: E402
from app.models import AuditEvent  # noqa: E402

PATHS = {"check_in": "check-in", "visit": "visit", "check_out": "check-out"}
SHANGHAI = ZoneInfo("Asia/Shanghai")


def seed(db, stops):
    """A committed day of ``stops`` for one crew, today in Shanghai (bench/sync_batch.py's
    seed, with the day and the times of now, so the conduct rules accept every action)."""
    from tests.worlds import field_day

    now = datetime.now(SHANGHAI)
    tasks = field_day(db, day=now.date(), phones=1, stops=stops, password="bench-password")[0]["tasks"]
    start = now - timedelta(seconds=30 * stops + 600)
    events = []
    for n, (task_id, lat, lon) in enumerate(tasks):
        at = start + timedelta(seconds=30 * n)
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
                "device_time": (at + timedelta(seconds=20)).isoformat(),
                **position,
            },
        ]
    return events


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stops", type=int, default=150)
    args = parser.parse_args()
    url, (admin, name) = sync_batch.database("postgresql")
    try:
        # One connection, so one PostgreSQL backend does all of this process's work.
        app = create_app(
            {
                "SQLALCHEMY_DATABASE_URI": url,
                "RATELIMIT_ENABLED": False,
                "LOG_FORMAT": "none",
                "SQLALCHEMY_ENGINE_OPTIONS": {"pool_size": 1, "max_overflow": 0},
            }
        )
        with app.app_context():
            flask_migrate.upgrade(directory=str(ROOT / "migrations"))
            events = seed(db, args.stops)
            backend = db.session.execute(text("SELECT pg_backend_pid()")).scalar_one()
            db.session.commit()
            engine = db.engine
        client = app.test_client()
        token = client.post("/api/v1/auth/login", json={"username": "agent001", "password": "bench-password"})
        headers = {"Authorization": f"Bearer {token.json['access_token']}"}
        statements = []
        event.listen(engine, "before_cursor_execute", lambda *a: statements.append(1))

        def audit_count():
            with app.app_context():
                n = db.session.scalar(select(func.count()).select_from(AuditEvent))
                db.session.remove()
                return n

        def measure(call):
            before_events = audit_count()
            statements.clear()
            wall, cpu, pg = time.perf_counter(), time.process_time(), cpu_seconds(backend)
            call()
            row = (
                (time.perf_counter() - wall) * 1000,
                (time.process_time() - cpu) * 1000,
                (cpu_seconds(backend) - pg) * 1000,
                len(statements),
            )
            return (*row, audit_count() - before_events)

        def act(e):
            body = {k: v for k, v in e.items() if k not in ("type", "task_id")}
            answer = client.post(f"/api/v1/agent/tasks/{e['task_id']}/{PATHS[e['type']]}", json=body, headers=headers)
            assert answer.status_code in (200, 201), answer.json

        day = events[0]["device_time"][:10]

        def route():
            answer = client.get(f"/api/v1/agent/route?date={day}", headers=headers)
            assert answer.status_code == 200, answer.json

        def login():
            answer = client.post("/api/v1/auth/login", json={"username": "agent001", "password": "bench-password"})
            assert answer.status_code == 200, answer.json

        for e in events[:30]:  # warm up
            act(e)
        rows = {
            "field action (in/outcome/out)": [measure(lambda e=e: act(e)) for e in events[30:]],
            "GET /api/v1/agent/route": [measure(route) for _ in range(40)],
            "GET /api/v1/me": [measure(lambda: client.get("/api/v1/me", headers=headers)) for _ in range(100)],
            "POST /api/v1/auth/login": [measure(login) for _ in range(10)],
        }
        print(
            f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; PostgreSQL local; "
            f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; {args.stops} stops"
        )
        print(f"{'request':<32}{'n':>5}{'wall ms':>9}{'app CPU ms':>12}{'pg CPU ms':>11}{'stmts':>7}{'audit':>7}")
        for label, got in rows.items():
            # CPU is summed over the run and divided (the /proc clock ticks in 10 ms).
            n = len(got)
            print(
                f"{label:<32}{n:>5}{statistics.median(r[0] for r in got):>9.2f}"
                f"{sum(r[1] for r in got) / n:>12.2f}{sum(r[2] for r in got) / n:>11.2f}"
                f"{statistics.median(r[3] for r in got):>7.0f}{sum(r[4] for r in got) / n:>7.2f}"
            )
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
