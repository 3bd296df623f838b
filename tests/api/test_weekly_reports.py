"""The weekly report per team: made by a job into storage as CSV and a one-page printable
page, listed and downloaded by the team's supervisor (and auditors), every download logged."""
import csv
import io
from datetime import date, datetime, timezone

import pytest

UTC = timezone.utc
PLANTED = '<script>alert("x")</script><img src=x onerror=alert(1)>一队'


def _at(text):
    return datetime.fromisoformat(text + "+08:00").astimezone(UTC)


@pytest.fixture()
def week(app, make, clock):
    """Team A (a name with planted HTML) with a visit and a payment in the week of 1–7 June 2026."""
    from app.models import LedgerEntry, Team, Visit, VisitTask

    clock.set(datetime(2026, 5, 20, 2, 0, tzinfo=UTC))
    region = make.region(code="SH")
    team_a = make._save(Team(code="TEAM-A", name=PLANTED, region_id=region.id))
    team_b = make.team(code="TEAM-B", region=region)
    crew = make.trained_crew(team_a)
    case = make.case(team=team_a, days_past_due=20, outstanding_minor=700_000)
    make.case(team=team_b)
    make._save(LedgerEntry(case_id=case.id, kind="payment", amount_minor=123_456, delta_minor=-123_456,
                           balance_minor=700_000, currency="CNY", source="payment", created_at=_at("2026-06-03T15:00")))
    task = make._save(VisitTask(case_id=case.id, visit_date=date(2026, 6, 2), status="done", crew_id=crew.id,
                                priority=5))
    with app.app_context():
        from app.extensions import db
        from app.models import Crew

        member = db.session.get(Crew, crew.id).members[0].id
    make._save(Visit(task_id=task.id, crew_id=crew.id, collector_id=member, check_in_at=_at("2026-06-02T10:00"),
                     check_out_at=_at("2026-06-02T10:24"), check_in_lat=31.2, check_in_lon=121.4,
                     outcome="promise_to_pay", person_met="debtor"))
    clock.set(datetime(2026, 6, 10, 2, 0, tzinfo=UTC))  # a Wednesday: last week is 1–7 June
    users = {"admin": make.user("admin"), "supervisor": make.user("supervisor", team=team_a),
             "other": make.user("supervisor", team=team_b), "auditor": make.user("auditor"),
             "agent": make.user("agent")}
    return {role: make.token(u) for role, u in users.items()}


def _run_job(client, headers):
    submitted = client.post("/api/v1/jobs", json={"name": "weekly_reports"}, headers=headers["admin"])
    assert submitted.status_code == 202, submitted.get_json()
    job = client.get(f"/api/v1/jobs/{submitted.get_json()['id']}", headers=headers["admin"]).get_json()
    assert job["status"] == "finished", job
    return job


def _mine(client, headers, role="supervisor", query=""):
    response = client.get(f"/api/v1/reports/weekly{query}", headers=headers[role])
    assert response.status_code == 200, response.get_json()
    return response.get_json()["items"]


def test_the_job_writes_last_weeks_files_for_every_team(client, week):
    job = _run_job(client, week)
    assert job["result"]["reports"] == 2
    assert {w["week_start"] for w in job["result"]["written"]} == {"2026-06-01"}
    items = _mine(client, week, role="auditor")
    assert {(i["team"], i["week_start"], i["week_end"]) for i in items} == {
        ("TEAM-A", "2026-06-01", "2026-06-07"), ("TEAM-B", "2026-06-01", "2026-06-07")}


def test_the_supervisor_downloads_their_teams_csv_with_the_weeks_figures(client, week, rows):
    from app.models import AuditEvent

    _run_job(client, week)
    [item] = _mine(client, week)
    assert item["team"] == "TEAM-A"
    before = rows(AuditEvent)
    response = client.get(f"/api/v1/reports/weekly/{item['id']}/file?format=csv", headers=week["supervisor"])
    assert response.status_code == 200
    raw = response.get_data()
    assert raw.startswith("\ufeff".encode())
    import hashlib

    assert hashlib.sha256(raw).hexdigest() == item["csv_sha256"]
    lines = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert [line["key"] for line in lines] == [f"2026-06-0{d}" for d in range(1, 8)] + ["all"]
    assert lines[2]["recovered"] == "1234.56" and lines[-1]["visits"] == "1"
    assert rows(AuditEvent) == before + 1  # the download is on the log


def test_the_printable_page_has_its_charts_and_keeps_planted_html_as_text(client, week):
    _run_job(client, week)
    [item] = _mine(client, week)
    response = client.get(f"/api/v1/reports/weekly/{item['id']}/file?format=html", headers=week["supervisor"])
    assert response.status_code == 200 and response.mimetype == "text/html"
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    page = response.get_data(as_text=True)
    assert "<svg" in page and "1234.56" in page
    assert "<script" not in page and "<img" not in page  # the planted tags are text, not tags
    assert "&lt;script&gt;alert(" in page and "&lt;img src=x onerror=alert(1)&gt;一队" in page
    assert "http" not in page.split("</style>")[0]  # nothing fetched from anywhere


def test_other_teams_reports_are_invisible_and_agents_are_refused(client, week):
    _run_job(client, week)
    b = next(i for i in _mine(client, week, role="auditor") if i["team"] == "TEAM-B")
    response = client.get(f"/api/v1/reports/weekly/{b['id']}/file?format=csv", headers=week["supervisor"])
    assert response.status_code == 404
    assert client.get(f"/api/v1/reports/weekly/{b['id']}/file?format=csv",
                      headers=week["auditor"]).status_code == 200
    assert client.get("/api/v1/reports/weekly", headers=week["agent"]).status_code == 403
    refused = client.get("/api/v1/reports/weekly?team=TEAM-B", headers=week["supervisor"])
    assert refused.status_code == 403 and "team" in refused.get_json()["error"]["fields"]
    bad = client.get(f"/api/v1/reports/weekly/{b['id']}/file?format=pdf", headers=week["auditor"])
    assert bad.status_code == 422 and "format" in bad.get_json()["error"]["fields"]


def test_running_the_job_again_replaces_the_weeks_files(client, week, rows):
    from app.models import TeamReport

    _run_job(client, week)
    _run_job(client, week)
    assert rows(TeamReport) == 2
