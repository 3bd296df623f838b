"""Faults, for real: PostgreSQL restarted in the middle of a sync batch, a gunicorn
worker killed mid-request. The phone retries with the same client_event_ids and every
event is recorded exactly once.

The PostgreSQL here is a private cluster made for this module (initdb on a free port),
so restarting it disturbs nothing else on the machine.
"""

import glob
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta
from datetime import time as clock
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from tests.conftest import TEST_NOW, TEST_PII_CONFIG
from tests.e2e.conftest import ROOT, ServedClock, _free_port, _wait_until_up
from tests.phone import Phone

PG_BIN = sorted(glob.glob("/usr/lib/postgresql/*/bin"))[-1] if glob.glob("/usr/lib/postgresql/*/bin") else None
SHANGHAI = ZoneInfo("Asia/Shanghai")


def as_postgres(*command, check=True):
    return subprocess.run(["runuser", "-u", "postgres", "--", *command], check=check, capture_output=True, text=True)


class Cluster:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="fc-pg-")
        shutil.chown(self.dir, "postgres", "postgres")
        self.data = os.path.join(self.dir, "data")
        self.port = _free_port()
        as_postgres(f"{PG_BIN}/initdb", "-D", self.data, "-A", "trust", "-U", "postgres", "--no-sync")
        self.start()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self):
        as_postgres(
            f"{PG_BIN}/pg_ctl",
            "-D",
            self.data,
            "-l",
            os.path.join(self.dir, "log"),
            "-w",
            "-o",
            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off",
            "start",
        )

    def restart(self):
        # -l matters: without a log file the new server inherits our captured stdout and we would wait forever.
        as_postgres(
            f"{PG_BIN}/pg_ctl",
            "-D",
            self.data,
            "-l",
            os.path.join(self.dir, "log"),
            "-m",
            "fast",
            "-w",
            "-o",
            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off",
            "restart",
        )

    def stop(self):
        as_postgres(f"{PG_BIN}/pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop", check=False)
        shutil.rmtree(self.dir, ignore_errors=True)


def seed(database_url, stops):
    """One crew (signed in as agent001) with ``stops`` committed tasks for the tests' day."""
    import flask_migrate

    from app import create_app
    from app.clock import FrozenClock
    from app.extensions import db
    from tests.worlds import field_day

    app = create_app(
        {
            "APP_ENV": "development",
            "SQLALCHEMY_DATABASE_URI": database_url,
            "RATELIMIT_STORAGE_URI": "memory://",
            "CLOCK": FrozenClock(TEST_NOW),
            **TEST_PII_CONFIG,
        }
    )
    day = TEST_NOW.astimezone(SHANGHAI).date()
    with app.app_context():
        flask_migrate.upgrade()
        field_day(db, day=day, phones=1, stops=stops, password="agent-password")
        db.engine.dispose()
    return day


def events_for(stack):
    """The whole day worked offline from 09:00, numbered in the phone's outbox; the phone
    comes back online at 15:30."""
    phone, day = stack["phone"], stack["day"]
    stops = phone.route(day)["stops"]
    start = datetime.combine(day, clock(9), SHANGHAI)
    events = []
    for n, stop in enumerate(stops):
        at = start + timedelta(minutes=2 * n)
        where = {"lat": stop["debtor"]["lat"], "lon": stop["debtor"]["lon"], "accuracy_m": 6.0}
        events += [
            {
                "type": "check_in",
                "task_id": stop["task_id"],
                "client_event_id": f"in-{stop['task_id']}-fault",
                "device_time": at.isoformat(),
                **where,
            },
            {
                "type": "visit",
                "task_id": stop["task_id"],
                "client_event_id": f"visit-{stop['task_id']}-fault",
                "outcome": "not_home",
                "person_met": "nobody",
            },
            {
                "type": "check_out",
                "task_id": stop["task_id"],
                "client_event_id": f"out-{stop['task_id']}-fault",
                "device_time": (at + timedelta(minutes=1)).isoformat(),
                **where,
            },
        ]
    stack["clock"].set(datetime.combine(day, clock(15, 30), SHANGHAI))
    return phone.number(events)


def send_until_answered(phone, events, attempts=20):
    """What a phone does: resend the same batch until the server answers it."""
    answers = []
    for _ in range(attempts):
        try:
            status, body = phone.call("POST", "/api/v1/agent/sync", {"events": events})
        except OSError as error:  # the connection was cut
            answers.append(type(error).__name__)
            time.sleep(0.5)
            continue
        answers.append(status)
        if status == 200:
            return answers, body
        time.sleep(0.5)
    raise AssertionError(f"never answered: {answers}")


def count(database_url, sql):
    from app.config import normalise_database_url

    engine = sa.create_engine(normalise_database_url(database_url))
    try:
        with engine.connect() as connection:
            return connection.execute(sa.text(sql)).scalar()
    finally:
        engine.dispose()


@pytest.fixture()
def stack(tmp_path):
    """A private PostgreSQL, a seeded database, and gunicorn with two workers on it."""
    if PG_BIN is None or shutil.which("runuser") is None:
        pytest.fail("PostgreSQL server binaries and runuser are needed for the fault tests")
    cluster = Cluster()
    process = log = None
    try:
        subprocess.run(["psql", cluster.url, "-qc", "CREATE DATABASE faults"], check=True, capture_output=True)
        database_url = cluster.url.rsplit("/", 1)[0] + "/faults"
        day = seed(database_url, stops=160)  # 480 events: one batch under the 500 limit
        # The phone downloads its route at 08:00, works from 09:00 offline, and syncs at 15:30.
        served_clock = ServedClock(tmp_path / "clock.json")
        served_clock.set(datetime.combine(day, clock(8), SHANGHAI))
        port = _free_port()
        env = {
            **os.environ,
            **TEST_PII_CONFIG,
            "APP_ENV": "testing",
            "SECRET_KEY": "faults-" + "k" * 40,
            "DATABASE_URL": database_url,
            "STORAGE_DIR": str(tmp_path / "storage"),
            "LOG_FORMAT": "text",
            "CLOCK_FILE": str(served_clock.path),
        }
        env.pop("REDIS_URL", None)
        log = open(tmp_path / "gunicorn.log", "w")
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--workers",
                "2",
                "--timeout",
                "120",
                "--bind",
                f"127.0.0.1:{port}",
                "wsgi:app",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        _wait_until_up(url, process)
        phone = Phone(url, timeout=60, clock=served_clock.now)
        phone.login("agent001", "agent-password")
        yield {
            "cluster": cluster,
            "db": database_url,
            "day": day,
            "phone": phone,
            "gunicorn": process,
            "clock": served_clock,
        }
    finally:
        if process is not None:
            process.terminate()
            process.wait(timeout=30)
        if log is not None:
            log.close()
        cluster.stop()


def when_writing(stack, action):
    """Run ``action`` once the server is inside the batch's transaction, having written
    some rows (a backend of ours holds a transaction id), so the fault lands mid-batch."""
    from app.config import normalise_database_url

    def watch():
        engine = sa.create_engine(normalise_database_url(stack["db"]))
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                with engine.connect() as connection:
                    busy = connection.execute(
                        sa.text(
                            "SELECT count(*) FROM pg_stat_activity "
                            "WHERE datname = 'faults' AND backend_xid IS NOT NULL "
                            "AND pid <> pg_backend_pid()"
                        )
                    ).scalar()
                if busy:
                    break
                time.sleep(0.02)
        finally:
            engine.dispose()
        time.sleep(0.2)
        action()

    thread = threading.Thread(target=watch)
    thread.start()
    return thread


def assert_each_event_recorded_once(stack, events, body):
    assert {r["status"] for r in body["results"]} <= {"accepted", "duplicate"}
    assert count(stack["db"], "SELECT count(*) FROM client_events") == len(events)
    assert count(stack["db"], "SELECT count(*) FROM visits") == len(events) // 3
    assert count(stack["db"], "SELECT count(*) FROM visit_tasks WHERE status = 'done'") == len(events) // 3
    assert count(stack["db"], "SELECT count(*) FROM conduct_flags WHERE kind = 'missing_recording'") == len(events) // 3


def test_postgresql_restarted_mid_batch_loses_and_doubles_nothing(stack):
    events = events_for(stack)
    restarter = when_writing(stack, stack["cluster"].restart)
    answers, body = send_until_answered(stack["phone"], events)
    restarter.join()
    assert answers[0] != 200, f"the restart should have cut the first attempt: {answers}"
    assert_each_event_recorded_once(stack, events, body)
    assert count(stack["db"], "SELECT count(*) FROM audit_events") > 0
    status, again = stack["phone"].call("POST", "/api/v1/agent/sync", {"events": events})
    assert status == 200 and {r["status"] for r in again["results"]} == {"duplicate"}


def worker_pids(master):
    output = subprocess.run(["ps", "-o", "pid=", "--ppid", str(master.pid)], capture_output=True, text=True).stdout
    return [int(pid) for pid in output.split()]


def test_a_worker_killed_mid_request_loses_and_doubles_nothing(stack):
    events = events_for(stack)

    def kill_workers():
        for pid in worker_pids(stack["gunicorn"]):
            os.kill(pid, signal.SIGKILL)

    killer = when_writing(stack, kill_workers)
    answers, body = send_until_answered(stack["phone"], events)
    killer.join()
    assert answers[0] != 200, f"the kill should have cut the first attempt: {answers}"
    assert_each_event_recorded_once(stack, events, body)
