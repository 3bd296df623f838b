"""What one request costs in process, on PostgreSQL: /healthz, /api/v1/me and the field
actions (check-in, outcome, check-out), each through the Flask test client (no server, no
network), with the SQL statements each field action sends.

    .venv/bin/python bench/request_cost.py [--stops 200]

The load benchmark (bench/load.py) measures the same endpoints through gunicorn; this one
shows where the ratio between them comes from.
"""

import argparse
import os
import platform
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("APP_ENV", "development")

import flask_migrate  # noqa: E402
import sync_batch  # noqa: E402
from sqlalchemy import event  # noqa: E402

from app import create_app  # noqa: E402
from app.extensions import db  # noqa: E402

PATHS = {"check_in": "check-in", "visit": "visit", "check_out": "check-out"}


def timed(call, n, cpu=None):
    times = []
    for _ in range(n):
        start, used = time.perf_counter(), time.process_time()
        call()
        times.append((time.perf_counter() - start) * 1000)
        if cpu is not None:
            cpu.append((time.process_time() - used) * 1000)
    return times


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stops", type=int, default=200)
    parser.add_argument(
        "--trace", action="store_true", help="print the SQL of one check-in, one outcome and one check-out"
    )
    args = parser.parse_args()
    url, (admin, name) = sync_batch.database("postgresql")
    try:
        app = create_app({"SQLALCHEMY_DATABASE_URI": url, "RATELIMIT_ENABLED": False, "LOG_FORMAT": "none"})
        with app.app_context():
            flask_migrate.upgrade(directory=str(ROOT / "migrations"))
            # Today in the debtors' zone: an action sent online is judged on the server's clock
            # (a visit planned for another day is refused); run it in visiting hours.
            events = sync_batch.seed(db, args.stops, day=datetime.now(ZoneInfo("Asia/Shanghai")).date())
            engine = db.engine
        client = app.test_client()
        token = client.post("/api/v1/auth/login", json={"username": "agent001", "password": "bench-password"})
        headers = {"Authorization": f"Bearer {token.json['access_token']}"}
        statements = []
        event.listen(
            engine,
            "before_cursor_execute",
            lambda conn, cursor, statement, *a: statements.append(" ".join(statement.split())),
        )

        outbox = iter(range(1, 10**6))

        def act(e):
            body = {k: v for k, v in e.items() if k not in ("type", "task_id")}
            body["seq"] = next(outbox)
            if "device_time" in body:  # the phone's clock is the machine's (no clock_skew flag)
                body["device_time"] = datetime.now(UTC).isoformat()
            # As the field app: the phone, its clock and its outbox's high-water mark.
            phone = {
                "X-Device-Id": "request-cost-phone",
                "X-Device-Time": datetime.now(UTC).isoformat(),
                "X-Device-Seq": str(body["seq"]),
            }
            answer = client.post(
                f"/api/v1/agent/tasks/{e['task_id']}/{PATHS[e['type']]}", json=body, headers={**headers, **phone}
            )
            assert answer.status_code in (200, 201), answer.json

        warm, measured = events[:30], events[30:]
        for e in warm:
            act(e)
        # Wall time moves with the machine's load (PostgreSQL shares the cores); the CPU time
        # this process spent on the request (Python: Flask, the ORM, schemas, policy, hashing)
        # much less so: compare that column between two versions on a loaded machine.
        costs, counts, cpu = [], [], {"health": [], "me": [], "field": []}
        for e in measured:
            statements.clear()
            start, used = time.perf_counter(), time.process_time()
            act(e)
            costs.append((time.perf_counter() - start) * 1000)
            cpu["field"].append((time.process_time() - used) * 1000)
            counts.append(len(statements))
            if args.trace and len(counts) <= 3:  # the first check-in, outcome and check-out
                print(f"--- {e['type']}: {len(statements)} statements")
                for n, text in enumerate(statements, 1):
                    print(f"{n:>3}. {text[:160]}")
        me = timed(lambda: client.get("/api/v1/me", headers=headers), 300, cpu["me"])
        health = timed(lambda: client.get("/healthz"), 300, cpu["health"])
        print(
            f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
            f"PostgreSQL local; load average {os.getloadavg()[0]:.2f}"
        )
        print(f"{'request':<34}{'median ms':>10}{'p95 ms':>9}{'CPU ms':>9}{'statements':>12}")
        for label, times, used, n in (
            ("GET /healthz", health, cpu["health"], 0),
            ("GET /api/v1/me", me, cpu["me"], None),
            ("field action (in/outcome/out)", costs, cpu["field"], statistics.median(counts)),
        ):
            p95 = sorted(times)[int(len(times) * 0.95)]
            print(
                f"{label:<34}{statistics.median(times):>10.2f}{p95:>9.2f}{statistics.median(used):>9.2f}"
                f"{'' if n is None else n:>12}"
            )
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
