"""Background jobs: in-process without Redis, on a real RQ worker with Redis."""
import os
import subprocess
import sys
import uuid
from datetime import date, timedelta
from pathlib import Path

import flask_migrate
import pytest

from app import jobs
from app.extensions import db
from app.models import DispatchPlan, Instalment, Job, RepaymentAgreement

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/13")


def test_without_redis_a_job_runs_in_process_and_shows_how_it_went(app, db, client, make):
    team = make.team(code="SH-A", region=make.region(code="SH"))
    case = make.case(team=team, stage="agreement")
    agreement = make._save(RepaymentAgreement(case_id=case.id, kind="promise", status="active", currency="CNY",
                                              total_minor=100, waiver_minor=0, owed_minor=100))
    make._save(Instalment(agreement_id=agreement.id, seq=1, due_date=date.today() - timedelta(days=30),
                          amount_minor=100))
    admin = make.token(make.user("admin"))
    submitted = client.post("/api/v1/jobs", json={"name": "evaluate_agreements"}, headers=admin)
    assert submitted.status_code == 202 and submitted.json["runner"] == "inline"
    job = client.get(f"/api/v1/jobs/{submitted.json['id']}", headers=admin).json
    assert job["status"] == "finished" and job["attempts"] == 1 and job["result"]["broken"] == 1


def test_nightly_planning_drafts_a_plan_per_team(app, db, client, make):
    team = make.team(code="SH-A", region=make.region(code="SH"))
    make.trained_crew(team)
    make.dispatchable_case(team)
    admin = make.token(make.user("admin"))
    day = (date.today() + timedelta(days=1)).isoformat()
    submitted = client.post("/api/v1/jobs", json={"name": "plan_day", "params": {"date": day}}, headers=admin).json
    job = client.get(f"/api/v1/jobs/{submitted['id']}", headers=admin).json
    assert job["status"] == "finished"
    plan_id = job["result"]["plans"]["SH-A"]["plan_id"]
    with app.app_context():
        plan = db.session.get(DispatchPlan, plan_id)
        assert (plan.status, plan.plan_date.isoformat(), plan.summary["assigned"]) == ("draft", day, 1)


def test_a_failing_in_process_job_is_marked_failed_with_its_error(app, db, client, make, monkeypatch):
    def broken(params):
        raise RuntimeError("the servicing system is down")

    monkeypatch.setitem(jobs.JOBS, "evaluate_agreements", broken)
    admin = make.token(make.user("admin"))
    submitted = client.post("/api/v1/jobs", json={"name": "evaluate_agreements"}, headers=admin).json
    job = client.get(f"/api/v1/jobs/{submitted['id']}", headers=admin).json
    assert job["status"] == "failed" and "servicing system is down" in job["error"]


def test_an_unknown_job_is_refused(client, make):
    admin = make.token(make.user("admin"))
    response = client.post("/api/v1/jobs", json={"name": "delete_everything"}, headers=admin)
    assert response.status_code == 422 and "name" in response.json["error"]["fields"]


# ---------------------------------------------------------------- a real worker on Redis

@pytest.fixture()
def queued(empty_app, backend):
    """A migrated, committed database and an app that queues jobs on Redis."""
    import redis

    connection = redis.Redis.from_url(REDIS_URL)
    try:
        connection.ping()
    except redis.exceptions.ConnectionError:
        pytest.fail(f"Redis is not reachable at {REDIS_URL}")
    queue_name = f"test-{uuid.uuid4().hex[:8]}"
    empty_app.config.update(REDIS_URL=REDIS_URL, JOB_QUEUE=queue_name, JOB_RETRIES=2, JOB_RETRY_INTERVALS=[0, 0])
    with empty_app.app_context():
        flask_migrate.upgrade()
    env = {**os.environ, "FLASK_APP": "wsgi.py", "APP_ENV": "development",
           "DATABASE_URL": empty_app.config["SQLALCHEMY_DATABASE_URI"], "REDIS_URL": REDIS_URL,
           "JOB_QUEUE": queue_name, "JOB_RETRIES": "2", "JOB_RETRY_INTERVALS": "0,0"}
    yield empty_app, env
    for key in connection.scan_iter(f"rq:*{queue_name}*"):
        connection.delete(key)


def run_worker(env):
    result = subprocess.run([sys.executable, "-m", "flask", "jobs", "worker", "--burst"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]


def submit(app, name, params):
    with app.app_context():
        job, start = jobs.submit(name, params, None)
        job_id = job.id
        db.session.commit()
        start()
    return job_id


def job_row(app, job_id):
    with app.app_context():
        job = db.session.get(Job, job_id)
        db.session.expunge(job)
        return job


def test_a_real_worker_runs_queued_jobs_from_redis(queued):
    app, env = queued
    job_id = submit(app, "evaluate_agreements", {})
    assert job_row(app, job_id).status == "queued"
    run_worker(env)
    job = job_row(app, job_id)
    assert (job.status, job.runner, job.attempts) == ("finished", "rq", 1)
    assert set(job.result) == {"date", "late", "missed", "kept", "broken"}


def test_a_failing_job_is_retried_then_marked_failed(queued):
    from app.models import Region, Team

    app, env = queued
    with app.app_context():
        region = Region(code="SH", name="Shanghai", timezone="Asia/Shanghai")
        db.session.add(region)
        db.session.flush()
        db.session.add(Team(code="SH-A", name="A", region_id=region.id))
        db.session.commit()
    job_id = submit(app, "plan_day", {"date": "not-a-date"})
    run_worker(env)
    job = job_row(app, job_id)
    assert (job.status, job.attempts) == ("failed", 3)
    assert "ValueError" in job.error
