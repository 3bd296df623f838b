"""Every answer that carries a debtor's personal data to an auditor or an admin is
written to the audit log as a ``pii.read`` event."""

import json
from datetime import date, timedelta
from urllib.parse import urlencode

import pytest
import sqlalchemy as sa

from app.models import AuditEvent, AuditEventSubject, Recording, VisitTask

DAY = date(2026, 6, 11)


def reads(app, db):
    with app.app_context():
        return db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == "pii.read").order_by(AuditEvent.seq)
        ).all()


def test_an_auditors_read_of_debtor_addresses_through_the_board_is_recorded(app, db, client, make):
    team = make.team(code="BOARD-T")
    crew = make.crew(team=team, members=2, code="BOARD-K")
    case = make.case(team=team, debtor=make.debtor(address="88 Planted Lane, Shanghai"))
    make._save(VisitTask(case_id=case.id, visit_date=DAY, status="assigned", crew_id=crew.id, priority=10, sequence=1))
    auditor = make.user("auditor")
    response = client.get(f"/api/v1/board?date={DAY}&team=BOARD-T", headers=make.token(auditor))
    assert response.status_code == 200
    assert "88 Planted Lane" in response.get_data(as_text=True)
    (event,) = reads(app, db)
    extra = json.loads(event.changes)["extra"]
    assert event.actor_user_id == auditor.id and case.debtor_id in extra["debtors"]


# ---------------------------------------------------------------- every route of the OpenAPI document

PLANTED = {
    "name": "Planted Qian",
    "phone": "13987654321",
    "national_id": "31010119770707987X",
    "address": "QX7Z9W Planted Lane 12, Shanghai",
    "lat": 31.271828,
    "lon": 121.314159,
}
# What the debtor's data looks like in an answer, whole or masked, wherever it appears.
MARKERS = (
    "Planted Qian",
    "P***********",
    "13987654321",
    "139****4321",
    "987X",
    "QX7Z9W",
    "271828",
    "314159",
    "PLANTNOTE",
)
# Routes that do carry the debtor's personal data in this world: the walk must find at least these.
EXPECTED = {
    "/api/v1/cases",
    "/api/v1/cases/{case_id}",
    "/api/v1/debtors/{debtor_id}",
    "/api/v1/cases/{case_id}/contact-attempts",
    "/api/v1/tasks",
    "/api/v1/board",
    "/api/v1/complaints",
    "/api/v1/audit/events",
    "/api/v1/audit/visits",
    "/api/v1/jobs/{job_id}/file",
    "/api/v1/debtors/{debtor_id}/subject-access",
}


@pytest.fixture()
def walk_world(app, db, client, make):
    from app import audit
    from app.models import Complaint, ContactAttempt
    from tests.api.test_audit_visits import make_visit

    region = make.region(code="WALK-R")
    team = make.team(code="WALK-T", region=region)
    crew = make.crew(team=team, members=0, code="WALK-K")
    collector = make.collector(team=team, crew=crew, code="WALK-C")
    debtor = make.debtor(**PLANTED)
    case = make.case(team=team, debtor=debtor, loan_ref="WALK-LOAN")
    visit = make_visit(
        make,
        case,
        crew,
        collector,
        notes="PLANTNOTE at the door",
        recordings=("d" * 64,),
        agreement={"kind": "promise", "status": "active", "total_minor": 10_000},
        flags=("geofence_outside",),
    )
    make._save(VisitTask(case_id=case.id, visit_date=DAY, status="assigned", crew_id=crew.id, priority=10, sequence=1))
    with app.app_context():
        db.session.add(
            ContactAttempt(
                case_id=case.id,
                channel="call",
                purpose="contact",
                result="reached",
                occurred_at=visit.check_in_at,
                notes="PLANTNOTE on the phone",
            )
        )
        complaint = Complaint(
            debtor_id=debtor.id,
            case_id=case.id,
            channel="phone",
            category="rude",
            text="PLANTNOTE complaint",
            status="open",
        )
        db.session.add(complaint)
        audit.record(
            "debtor.created",
            entity_type="debtors",
            entity_id=debtor.id,
            after={k: PLANTED[k] for k in ("name", "phone", "address")},
        )
        db.session.commit()
        ids = {
            "case_id": case.id,
            "debtor_id": debtor.id,
            "collector_id": collector.id,
            "crew_id": crew.id,
            "complaint_id": complaint.id,
            "visit_id": visit.id,
            "recording_id": db.session.scalar(sa.select(Recording.id).where(Recording.visit_id == visit.id)),
        }
    # A team's weekly report (figures, no debtor in it), so its download is walked too.
    from app import storage
    from app.models import TeamReport

    with app.app_context():
        for fmt in ("csv", "html"):
            storage.current().put(f"reports/weekly/walk.{fmt}", b"key\r\nWALK-T\r\n", "text/plain")
    ids["report_id"] = make._save(
        TeamReport(
            team_id=team.id,
            week_start=DAY - timedelta(days=DAY.weekday() + 7),
            csv_key="reports/weekly/walk.csv",
            html_key="reports/weekly/walk.html",
            csv_sha256="0" * 64,
            html_sha256="0" * 64,
        )
    ).id
    users = {"auditor": make.user("auditor"), "admin": make.user("admin")}
    headers = {role: make.token(user) for role, user in users.items()}
    ids.update(
        {
            "agreement_id": client.get("/api/v1/agreements", headers=headers["admin"]).json["items"][0]["id"],
            "flag_id": client.get("/api/v1/conduct/flags", headers=headers["admin"]).json["items"][0]["id"],
            "task_id": client.get(f"/api/v1/tasks?date={DAY}", headers=headers["admin"]).json["items"][0]["id"],
            "user_id": users["admin"].id,
        }
    )
    plan = client.post(
        "/api/v1/dispatch/plans", json={"date": DAY.isoformat(), "team": "WALK-T"}, headers=headers["admin"]
    )
    assert plan.status_code == 201, plan.get_data(as_text=True)
    ids["plan_id"] = plan.json["id"]
    jobs = {}
    for role in headers:
        job = client.post(
            "/api/v1/jobs", json={"name": "export_visits", "params": {"format": "ndjson"}}, headers=headers[role]
        )
        assert job.status_code == 202, job.get_data(as_text=True)
        jobs[role] = job.json["id"]
    return {"ids": ids, "headers": headers, "users": users, "jobs": jobs, "debtor_id": debtor.id}


QUERY = {"date": DAY.isoformat(), "team": "WALK-T", "from": "2026-01-01", "to": "2026-12-31"}


def _requests(spec, world, role):
    """Every GET of the OpenAPI document, its path filled from the world, its day, team and
    period parameters given, and each export format the operation offers."""
    for template, operations in sorted(spec["paths"].items()):
        operation = operations.get("get")
        if operation is None or template.startswith("/api/v1/agent/"):
            continue
        params = {p["name"]: p for p in operation.get("parameters", []) if p["in"] == "query"}
        query = {name: QUERY[name] for name in params if name in QUERY}
        ids = {**world["ids"], "job_id": world["jobs"][role]}
        path = template.format(**ids)
        variants = [query]
        if "format" in params:
            variants += [{**query, "format": f} for f in params["format"]["schema"].get("enum", []) if f != "json"]
        for variant in variants:
            yield template, path + ("?" + urlencode(variant) if variant else "")


def _new_reads(app, db, after_seq, debtor_id):
    with app.app_context():
        return db.session.scalars(
            sa.select(AuditEvent)
            .join(AuditEventSubject, AuditEventSubject.seq == AuditEvent.seq)
            .where(
                AuditEvent.action == "pii.read", AuditEvent.seq > after_seq, AuditEventSubject.debtor_id == debtor_id
            )
        ).all()


def _head(app, db):
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.coalesce(sa.func.max(AuditEvent.seq), 0)))


@pytest.mark.parametrize("role", ["auditor", "admin"])
def test_every_route_that_answers_a_debtors_personal_data_to_an_auditor_or_admin_writes_a_pii_read(
    app, db, client, walk_world, role
):
    spec = client.get("/api/v1/openapi.json").json
    carried, unlogged = set(), []
    for template, url in _requests(spec, walk_world, role):
        before = _head(app, db)
        response = client.get(url, headers=walk_world["headers"][role])
        if response.status_code != 200:
            continue
        text = response.get_data(as_text=True)
        if not any(marker in text for marker in MARKERS):
            continue
        carried.add(template)
        events = _new_reads(app, db, before, walk_world["debtor_id"])
        if not events or any(e.actor_user_id != walk_world["users"][role].id for e in events):
            unlogged.append(url)
    assert unlogged == [], f"answers with personal data and no pii.read for the {role}: {unlogged}"
    expected = EXPECTED if role == "admin" else EXPECTED - {"/api/v1/debtors/{debtor_id}/subject-access"}
    assert expected <= carried, f"the walk did not see personal data where it should: {expected - carried}"


def test_the_walk_would_catch_an_answer_that_forgot_to_log(app, db, client, walk_world, monkeypatch):
    """The check above can fail: with the board's logging taken out, the board is caught."""
    from app.services import board

    monkeypatch.setattr(board, "record_personal_reads", lambda *args, **kwargs: None)
    before = _head(app, db)
    response = client.get(f"/api/v1/board?date={DAY}&team=WALK-T", headers=walk_world["headers"]["auditor"])
    assert "QX7Z9W" in response.get_data(as_text=True)
    assert _new_reads(app, db, before, walk_world["debtor_id"]) == []


def test_a_supervisors_reads_are_not_logged_as_pii_reads(app, db, client, make, walk_world):
    from app.models import Team

    with app.app_context():
        team = db.session.scalars(sa.select(Team).where(Team.code == "WALK-T")).one()
    headers = make.token(make.user("supervisor", team=team))
    before = _head(app, db)
    assert "QX7Z9W" in client.get(f"/api/v1/board?date={DAY}&team=WALK-T", headers=headers).get_data(as_text=True)
    assert _new_reads(app, db, before, walk_world["debtor_id"]) == []


def test_downloading_an_export_again_is_logged_again(app, db, client, walk_world):
    job = walk_world["jobs"]["auditor"]
    headers = walk_world["headers"]["auditor"]
    for _ in range(2):
        before = _head(app, db)
        assert "PLANTNOTE" in client.get(f"/api/v1/jobs/{job}/file", headers=headers).get_data(as_text=True)
        (event,) = _new_reads(app, db, before, walk_world["debtor_id"])
        assert (event.entity_type, event.entity_id) == ("jobs", job)
