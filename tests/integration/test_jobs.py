"""Background jobs: in-process without Redis, on a real RQ worker with Redis."""

import json
import os
import subprocess
import sys
import uuid
from datetime import timedelta
from pathlib import Path

import pytest

from app import jobs
from app.extensions import db
from app.models import DispatchPlan, Instalment, Job, RepaymentAgreement
from tests.conftest import REDIS_URL

ROOT = Path(__file__).resolve().parents[2]


def test_without_redis_a_job_runs_in_process_and_shows_how_it_went(app, db, client, make):
    team = make.team(code="SH-A", region=make.region(code="SH"))
    case = make.case(team=team, stage="agreement")
    agreement = make._save(
        RepaymentAgreement(
            case_id=case.id,
            kind="promise",
            status="active",
            currency="CNY",
            total_minor=100,
            waiver_minor=0,
            owed_minor=100,
        )
    )
    make._save(
        Instalment(agreement_id=agreement.id, seq=1, due_date=make.today() - timedelta(days=30), amount_minor=100)
    )
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
    day = (make.today() + timedelta(days=1)).isoformat()
    submitted = client.post("/api/v1/jobs", json={"name": "plan_day", "params": {"date": day}}, headers=admin).json
    job = client.get(f"/api/v1/jobs/{submitted['id']}", headers=admin).json
    assert job["status"] == "finished"
    plan_id = job["result"]["plans"]["SH-A"]["plan_id"]
    with app.app_context():
        plan = db.session.get(DispatchPlan, plan_id)
        assert (plan.status, plan.plan_date.isoformat(), plan.summary["assigned"]) == ("draft", day, 1)


def test_a_supervisor_plans_their_teams_day_in_the_background_and_reads_the_draft(app, db, client, make):
    team = make.team(code="SH-A", region=make.region(code="SH"))
    make.trained_crew(team)
    make.dispatchable_case(team)
    supervisor = make.token(make.user("supervisor", team=team))
    day = (make.today() + timedelta(days=1)).isoformat()
    submitted = client.post(
        "/api/v1/jobs", json={"name": "plan_scope", "params": {"date": day, "team": "SH-A"}}, headers=supervisor
    )
    assert submitted.status_code == 202, submitted.json
    job = client.get(f"/api/v1/jobs/{submitted.json['id']}", headers=supervisor).json
    assert job["status"] == "finished" and job["result"]["assigned"] == 1, job
    plan = client.get(f"/api/v1/dispatch/plans/{job['result']['plan_id']}", headers=supervisor).json
    assert (plan["status"], plan["date"], plan["team"]) == ("draft", day, "SH-A")
    with app.app_context():
        drafted = db.session.get(DispatchPlan, plan["id"])
        assert drafted.created_by_id is not None  # drafted as the supervisor who asked


@pytest.mark.parametrize(
    "params,field",
    [
        ({"date": "2026-06-11"}, "team"),
        ({"date": "2026-06-11", "team": "SH-A", "region": "SH"}, "team"),
        ({"team": "SH-A"}, "date"),
        ({"date": "2026-02-30", "team": "SH-A"}, "date"),
    ],
)
def test_a_background_plan_with_no_day_or_scope_is_refused_naming_it(client, make, params, field):
    team = make.team(code="SH-A", region=make.region(code="SH"))
    supervisor = make.token(make.user("supervisor", team=team))
    answer = client.post("/api/v1/jobs", json={"name": "plan_scope", "params": params}, headers=supervisor)
    assert answer.status_code == 422 and field in answer.json["error"]["fields"]["params"], answer.json


def test_another_teams_day_cannot_be_planned_in_the_background(app, db, client, make, rows):
    mine = make.team(code="SH-A", region=make.region(code="SH"))
    make.team(code="SH-B", region=make.region(code="SH2"))
    supervisor = make.token(make.user("supervisor", team=mine))
    before = rows(Job)
    answer = client.post(
        "/api/v1/jobs",
        json={"name": "plan_scope", "params": {"date": "2026-06-11", "team": "SH-B"}},
        headers=supervisor,
    )
    assert answer.status_code in (404, 422) and rows(Job) == before
    agent = make.token(make.user("agent"))
    assert (
        client.post(
            "/api/v1/jobs", json={"name": "plan_scope", "params": {"date": "2026-06-11", "team": "SH-A"}}, headers=agent
        ).status_code
        == 403
    )


def test_a_failing_in_process_job_is_marked_failed_with_its_error(app, db, client, make, monkeypatch):
    def broken(params, job):
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
def queued(migrated_app, backend, redis_connection):
    """A migrated, committed database and an app that queues jobs on Redis."""
    empty_app = migrated_app
    queue_name = f"test-{uuid.uuid4().hex[:8]}"
    empty_app.config.update(REDIS_URL=REDIS_URL, JOB_QUEUE=queue_name, JOB_RETRIES=2, JOB_RETRY_INTERVALS=[0, 0])
    env = {
        **os.environ,
        "FLASK_APP": "wsgi.py",
        "APP_ENV": "development",
        "DATABASE_URL": empty_app.config["SQLALCHEMY_DATABASE_URI"],
        "REDIS_URL": REDIS_URL,
        "JOB_QUEUE": queue_name,
        "JOB_RETRIES": "2",
        "JOB_RETRY_INTERVALS": "0,0",
    }
    yield empty_app, env
    for key in redis_connection.scan_iter(f"rq:*{queue_name}*"):
        redis_connection.delete(key)


def run_worker(env):
    result = subprocess.run(
        [sys.executable, "-m", "flask", "jobs", "worker", "--burst"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
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


# ---------------------------------------------------------------- exports as jobs


@pytest.fixture()
def two_teams(make):
    """Visits of two teams, and who may pull them."""
    from tests.api.test_audit_visits import T0, make_visit

    region = make.region(code="SH")
    team_a, team_b = make.team(code="TEAM-A", region=region), make.team(code="TEAM-B", region=region)
    crew_a, crew_b = make.crew(team=team_a, members=0, code="K-A"), make.crew(team=team_b, members=0, code="K-B")
    col_a = make.collector(team=team_a, crew=crew_a, code="COL-A")
    col_b = make.collector(team=team_b, crew=crew_b, code="COL-B")
    case_a, case_b = make.case(team=team_a, loan_ref="LOAN-A"), make.case(team=team_b, loan_ref="LOAN-B")
    for n in range(3):
        make_visit(make, case_a, crew_a, col_a, T0 + timedelta(days=n), notes=f"visit {n}, 李先生")
    make_visit(make, case_b, crew_b, col_b, T0, outcome="refused")
    return {
        "auditor": make.token(make.user("auditor")),
        "admin": make.token(make.user("admin")),
        "supervisor": make.token(make.user("supervisor", team=team_a)),
    }


def run_export(client, headers, name, params):
    submitted = client.post("/api/v1/jobs", json={"name": name, "params": params}, headers=headers)
    assert submitted.status_code == 202, submitted.json
    return client.get(f"/api/v1/jobs/{submitted.json['id']}", headers=headers).json


def test_an_export_job_writes_the_same_file_the_streamed_pull_answers(client, two_teams):
    import hashlib

    auditor = two_teams["auditor"]
    job = run_export(client, auditor, "export_visits", {"format": "csv", "filters": {"from": "2026-03-01"}})
    assert job["status"] == "finished" and job["result"]["rows"] == 4
    download = client.get(f"/api/v1/jobs/{job['id']}/file", headers=auditor)
    assert download.status_code == 200 and download.mimetype == "text/csv"
    assert "attachment" in download.headers["Content-Disposition"]
    assert hashlib.sha256(download.data).hexdigest() == job["result"]["sha256"]
    streamed = client.get("/api/v1/audit/visits?format=csv&from=2026-03-01", headers=auditor)
    assert download.data == streamed.data and "李先生" in download.data.decode()


def test_a_supervisors_export_holds_only_their_teams_visits(client, two_teams):
    job = run_export(client, two_teams["supervisor"], "export_visits", {"format": "ndjson"})
    lines = client.get(f"/api/v1/jobs/{job['id']}/file", headers=two_teams["supervisor"]).data.splitlines()
    assert job["result"]["rows"] == len(lines) == 3
    assert {json.loads(line)["team"] for line in lines} == {"TEAM-A"}


def test_an_export_job_and_its_download_are_on_the_audit_log(client, two_teams):
    auditor = two_teams["auditor"]
    job = run_export(client, auditor, "export_audit_events", {"filters": {"action": "job.submitted"}})
    client.get(f"/api/v1/jobs/{job['id']}/file", headers=auditor)
    actions = [e["action"] for e in client.get("/api/v1/audit/events?limit=500", headers=auditor).json["items"]]
    assert {"job.submitted", "audit.exported", "job.finished", "audit.export_downloaded"} <= set(actions)
    exported = client.get("/api/v1/audit/events?action=audit.exported", headers=auditor).json["items"][-1]
    assert exported["changes"]["extra"]["filters"] == {"action": "job.submitted"}
    assert exported["changes"]["extra"]["rows"] == job["result"]["rows"] > 0


def test_someone_elses_export_is_not_found(client, two_teams, make):
    job = run_export(client, two_teams["auditor"], "export_visits", {})
    other = make.token(make.user("auditor", username="another-auditor"))
    for path in (f"/api/v1/jobs/{job['id']}", f"/api/v1/jobs/{job['id']}/file"):
        response = client.get(path, headers=other)
        assert response.status_code == 404 and response.json["error"]["code"] == "not_found"
    assert client.get(f"/api/v1/jobs/{job['id']}/file", headers=two_teams["admin"]).status_code == 200


def test_an_export_that_has_not_finished_has_no_file_yet(app, db, client, two_teams, make):
    user = make.user("auditor", username="waiting-auditor")
    job = make._save(
        Job(
            id=str(uuid.uuid4()),
            name="export_visits",
            params={"format": "csv", "filters": {}},
            status="queued",
            runner="rq",
            requested_by_id=user.id,
        )
    )
    response = client.get(f"/api/v1/jobs/{job.id}/file", headers=make.token(user))
    assert response.status_code == 409 and response.json["error"]["code"] == "export_not_ready"


@pytest.mark.parametrize(
    "params,named",
    [
        ({"filters": {"limit": 0}}, "limit"),
        ({"filters": {"from": "yesterday"}}, "from"),
        ({"filters": {"colour": "red"}}, "colour"),
        ({"format": "xlsx"}, None),
    ],
)
def test_an_export_with_bad_filters_is_refused_naming_them_and_queues_nothing(
    app, db, client, two_teams, params, named
):
    response = client.post(
        "/api/v1/jobs", json={"name": "export_visits", "params": params}, headers=two_teams["auditor"]
    )
    assert response.status_code == 422
    fields = response.json["error"]["fields"]["params"]
    assert (named in fields["filters"]) if named else ("format" in fields)
    with app.app_context():
        assert db.session.query(Job).count() == 0


def test_an_agent_or_a_supervisor_cannot_export_the_whole_audit_log(client, two_teams):
    response = client.post("/api/v1/jobs", json={"name": "export_audit_events"}, headers=two_teams["supervisor"])
    assert response.status_code == 403


def test_a_real_worker_writes_an_export_to_storage(queued):
    from app.auth import hash_password
    from app.models import User

    app, env = queued
    env["STORAGE_DIR"] = app.config["STORAGE_DIR"]
    with app.app_context():
        user = User(username="auditor-w", role="auditor", password_hash=hash_password("a-long-password"))
        db.session.add(user)
        db.session.commit()
        job, start = jobs.submit("export_audit_events", {"format": "ndjson", "filters": {}}, user)
        job_id = job.id
        db.session.commit()
        start()
    run_worker(env)
    job = job_row(app, job_id)
    assert (job.status, job.runner) == ("finished", "rq"), job.error
    stored = Path(app.config["STORAGE_DIR"]) / job.result["file"]
    lines = stored.read_bytes().splitlines()
    assert len(lines) == job.result["rows"] >= 1
    assert "job.submitted" in {json.loads(line)["action"] for line in lines}
