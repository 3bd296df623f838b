"""Payments posted in parallel to one case, against gunicorn serving many requests at
once on a database that really commits: the balance falls by exactly their sum."""

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.conftest import TEST_NOW, TEST_PII_CONFIG, make_app, throwaway_database
from tests.e2e.conftest import ServedClock, _free_port, _wait_until_up

ROOT = Path(__file__).resolve().parents[2]
PARALLEL = 32


@pytest.fixture(scope="module")
def served_money(backend, tmp_path_factory):
    """gunicorn (4 workers × 8 threads) on a fresh migrated database with one case of 1,000.00."""
    clock = ServedClock(tmp_path_factory.mktemp("clock") / "clock.json")
    clock.set(TEST_NOW)
    with throwaway_database(backend, tmp_path_factory, "money") as database_url:
        env = {
            **os.environ,
            "FLASK_APP": "wsgi.py",
            "APP_ENV": "testing",
            "SECRET_KEY": "money-" + "k" * 40,
            "DATABASE_URL": database_url,
            "STORAGE_DIR": str(tmp_path_factory.mktemp("storage")),
            "CLOCK_FILE": str(clock.path),
            **TEST_PII_CONFIG,
        }
        env.pop("REDIS_URL", None)
        subprocess.run(
            [sys.executable, "-m", "flask", "db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True
        )
        token = _seed(database_url, tmp_path_factory.mktemp("seed"))
        port = _free_port()
        log = open(tmp_path_factory.mktemp("log") / "gunicorn.log", "w")
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--workers",
                "4",
                "--threads",
                "8",
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
        try:
            _wait_until_up(url, process)
            yield url, token, database_url
        finally:
            process.terminate()
            process.wait(timeout=20)
            log.close()


def _seed(database_url, tmp_path):
    """One case of 1,000.00 and an integration admin's token, committed through the models."""
    import secrets

    from app.auth import _token_digest
    from app.extensions import db
    from app.models import ApiToken, Case, Debtor, Region, Team, User

    app = make_app(database_url, tmp_path)
    raw = secrets.token_urlsafe(24)
    with app.app_context():
        region = Region(code="SH", name="Shanghai", timezone="Asia/Shanghai")
        db.session.add(region)
        db.session.flush()
        team = Team(code="T", name="T", region_id=region.id)
        debtor = Debtor(name="D", address="x", lat=31.2, lon=121.4, timezone="Asia/Shanghai", availability=[], flags={})
        admin = User(username="integration", password_hash="x", role="admin", active=True)
        db.session.add_all([team, debtor, admin])
        db.session.flush()
        db.session.add(
            Case(
                loan_ref="PAR-1",
                debtor_id=debtor.id,
                team_id=team.id,
                product="p",
                currency="CNY",
                principal_minor=100000,
                outstanding_minor=100000,
                days_past_due=40,
                stage="field_visit",
            )
        )
        db.session.add(
            ApiToken(user_id=admin.id, token_hash=_token_digest(raw), expires_at=TEST_NOW + timedelta(hours=2))
        )
        db.session.commit()
        db.engine.dispose()
    return raw


def test_32_parallel_payments_to_one_case_reduce_its_balance_by_exactly_their_sum(served_money):
    url, token, database_url = served_money
    headers = {"Authorization": f"Bearer {token}"}

    def pay(n):
        body = json.dumps(
            {
                "reference": f"PAR-{n:03d}",
                "loan_ref": "PAR-1",
                "amount": "1.00",
                "currency": "CNY",
                "paid_at": "2026-11-20T10:00:00+08:00",
            }
        ).encode()
        request = urllib.request.Request(
            url + "/api/v1/payments", data=body, method="POST", headers={**headers, "Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code

    with ThreadPoolExecutor(PARALLEL) as pool:
        statuses = list(pool.map(pay, range(PARALLEL)))
    assert statuses == [201] * PARALLEL
    from app.config import normalise_database_url

    engine = sa.create_engine(normalise_database_url(database_url))
    with engine.connect() as connection:
        paid = connection.execute(sa.text("SELECT sum(amount_minor) FROM payments")).scalar_one()
        outstanding = connection.execute(
            sa.text("SELECT outstanding_minor FROM cases WHERE loan_ref = 'PAR-1'")
        ).scalar_one()
    engine.dispose()
    assert paid == PARALLEL * 100
    assert outstanding == 100000 - PARALLEL * 100
