"""Load: many crews' field traffic against gunicorn + PostgreSQL, beside a trivial
endpoint on the same server in the same run.

    .venv/bin/pip install -r bench/requirements.txt
    .venv/bin/python bench/load.py [--users 64] [--seconds 40] [--workers 4]

It makes a throwaway PostgreSQL database, seeds one crew per simulated phone (agentNNN)
with a committed day of stops, starts gunicorn, runs locust headless against GET /healthz
(--seconds / 2), GET /api/v1/me (the same) and then the field traffic of
bench/locustfile.py (--seconds), prints requests/s, p50/p95/p99 and errors for each and
their ratios, and checks that every event the server acknowledged is in the database
exactly once.

Beside the service it serves bench/floor_app.py on the same database with the same
gunicorn settings and drives it the same way: a bare /healthz, one INSERT per request, and
the eight statements a field action cannot do without, written by hand. Those rows are
the floor: what any implementation of the field actions would pay on this machine.
"""

import argparse
import base64
import csv
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

SHANGHAI = ZoneInfo("Asia/Shanghai")


# Keys for this run's personal data, shared by the seeding process and the served app
# (production refuses to start without keys of its own).
PII_KEYS = {
    "PII_ENCRYPTION_KEYS": "load:" + base64.b64encode(os.urandom(32)).decode(),
    "PII_INDEX_KEY": base64.b64encode(os.urandom(32)).decode(),
}


def seed(database_url, phones, stops):
    import flask_migrate

    from app import create_app
    from app.extensions import db
    from tests.worlds import field_day

    app = create_app(
        {
            "APP_ENV": "development",
            "SQLALCHEMY_DATABASE_URI": database_url,
            "RATELIMIT_STORAGE_URI": "memory://",
            "ARGON2_PARAMS": {"time_cost": 1, "memory_cost": 1024},
            **PII_KEYS,
        }
    )
    # Today in the debtors' zone: a check-in is judged on the server's clock, and a visit
    # planned for another day is refused (cn.planned_day). Run it between 08:00 and 22:00
    # Shanghai time (00:00-14:00 UTC), the visiting hours.
    day = datetime.now(SHANGHAI).date()
    with app.app_context():
        flask_migrate.upgrade()
        field_day(db, day=day, phones=phones, stops=stops, password="load-test-password")
        db.engine.dispose()
    return day


def create_floor_tables(database_url):
    from floor_app import SCHEMA

    engine = sa.create_engine(database_url)
    with engine.begin() as connection:
        for statement in SCHEMA:
            connection.exec_driver_sql(statement)
    engine.dispose()


def gunicorn(target, port, workers, env, cwd):
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--workers",
            str(workers),
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            target,
        ],
        cwd=cwd,
        env=env,
    )
    host = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            urllib.request.urlopen(host + "/healthz", timeout=1)
            break
        except OSError:
            time.sleep(0.2)
    return server, host


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def locust(host, user_class, users, seconds, out, env, label=None):
    prefix = out / (label or user_class.lower())
    subprocess.run(
        [
            sys.executable,
            "-m",
            "locust",
            "-f",
            str(ROOT / "bench" / "locustfile.py"),
            user_class,
            "--headless",
            "-u",
            str(users),
            "-r",
            str(users),
            "-t",
            f"{seconds}s",
            "--host",
            host,
            "--csv",
            str(prefix),
            "--only-summary",
            "--loglevel",
            "ERROR",
        ],
        env=env,
        check=False,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    with open(f"{prefix}_stats.csv") as handle:
        rows = {row["Name"]: row for row in csv.DictReader(handle)}
    return rows["Aggregated"], rows


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=64)
    parser.add_argument("--seconds", type=int, default=40)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--stops", type=int, default=40)
    args = parser.parse_args()

    admin = sa.create_engine(
        os.environ.get("BENCH_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1/postgres"),
        isolation_level="AUTOCOMMIT",
    )
    name = f"fc_load_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    database_url = admin.url.set(database=name).render_as_string(hide_password=False)
    out = Path(tempfile.mkdtemp(prefix="fc-load-"))
    servers = []
    try:
        day = seed(database_url, args.users, args.stops)
        create_floor_tables(database_url)
        env = {
            **os.environ,
            **PII_KEYS,
            "APP_ENV": "production",
            "SECRET_KEY": "load-" + "k" * 40,
            "DATABASE_URL": database_url,
            "STORAGE_DIR": str(out / "storage"),
            "LOG_FORMAT": "none",
            "LOGIN_RATE_LIMIT": "1000 per minute",
            "LOAD_DAY": day.isoformat(),
            "LOAD_ACKS": str(out / "acks.txt"),
        }
        env.pop("REDIS_URL", None)
        server, host = gunicorn("wsgi:app", free_port(), args.workers, env, ROOT)
        servers.append(server)
        floor_server, floor_host = gunicorn(
            "floor_app:app", free_port(), args.workers, {**env, "FLOOR_DATABASE_URL": database_url}, ROOT / "bench"
        )
        servers.append(floor_server)
        half = args.seconds // 2
        trivial, _ = locust(host, "Trivial", args.users, half, out, env)
        me, _ = locust(host, "Me", args.users, half, out, env)
        field, rows = locust(host, "Phone", args.users, args.seconds, out, env)
        acks = [line for line in (out / "acks.txt").read_text().splitlines() if line]
        floor_env = {k: v for k, v in env.items() if k != "LOAD_ACKS"}
        floor_trivial, _ = locust(floor_host, "Trivial", args.users, half, out, floor_env, label="floor-trivial")
        floor_write, _ = locust(floor_host, "FloorWrite", args.users, half, out, floor_env)
        floor_action, _ = locust(floor_host, "FloorAction", args.users, half, out, floor_env)
        engine = sa.create_engine(database_url)
        with engine.connect() as connection:
            stored = {row[0] for row in connection.execute(sa.text("SELECT client_event_id FROM client_events"))}
            visits = connection.execute(sa.text("SELECT count(*) FROM visits")).scalar()
            checked_in = connection.execute(
                sa.text("SELECT count(*) FROM client_events WHERE kind = 'check_in' AND status = 'accepted'")
            ).scalar()
        engine.dispose()
        missing = set(acks) - stored

        print(
            f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; gunicorn "
            f"{args.workers} workers; PostgreSQL local; {args.users} concurrent clients; locust on the same machine"
        )
        print(f"{'traffic':<26} {'requests':>9} {'req/s':>8} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'errors':>7}")
        for label, row in (
            [("GET /healthz (trivial)", trivial), ("GET /api/v1/me (auth)", me), ("field traffic (all)", field)]
            + [(f"  {k}", v) for k, v in rows.items() if k != "Aggregated"]
            + [
                ("floor: GET /healthz", floor_trivial),
                ("floor: one INSERT", floor_write),
                ("floor: minimal action", floor_action),
            ]
        ):
            print(
                f"{label:<26} {row['Request Count']:>9} {float(row['Requests/s']):8.1f} {row['50%']:>7} "
                f"{row['95%']:>7} {row['99%']:>7} {row['Failure Count']:>7}"
            )
        # The field actions alone (what the floor's minimal action stands for), without the
        # phones' sign-in and route fetch at the start: the sum of their rates, and the worst
        # of their p99s (an upper bound of the p99 of them together).
        actions = [v for k, v in rows.items() if k in ("check-in", "visit", "check-out", "/api/v1/agent/sync")]
        if actions:
            action_rate = sum(float(v["Requests/s"]) for v in actions)
            action_p99 = max(float(v["99%"]) for v in actions)
            print(
                f"field actions only: {sum(int(v['Request Count']) for v in actions)} requests, "
                f"{action_rate:.1f} req/s, "
                f"p99 <= {action_p99:.0f} ms; / floor minimal action: throughput "
                f"{action_rate / float(floor_action['Requests/s']):.2f}, "
                f"p99 {action_p99 / float(floor_action['99%']):.2f}"
            )
        rate = float(field["Requests/s"])
        print(
            f"field / trivial throughput: {rate / float(trivial['Requests/s']):.2f}; "
            f"field / authenticated trivial: {rate / float(me['Requests/s']):.2f}"
        )
        trivial_rate = float(trivial["Requests/s"])
        print(
            f"field / floor minimal action: throughput {rate / float(floor_action['Requests/s']):.2f}, "
            f"p99 {float(field['99%']) / float(floor_action['99%']):.2f} (goal: >= 0.8 and <= 2)"
        )
        print(
            f"floor / trivial throughput: one INSERT {float(floor_write['Requests/s']) / trivial_rate:.2f}, "
            f"minimal action {float(floor_action['Requests/s']) / trivial_rate:.2f}"
        )
        print(
            f"acknowledged events: {len(set(acks))} distinct ({len(acks)} acknowledgements incl. resends); "
            f"missing from the database: {len(missing)}; visits {visits} = accepted check-ins {checked_in}: "
            f"{visits == checked_in}"
        )
        return 0 if not missing and visits == checked_in else 1
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=30)
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    sys.exit(main())
