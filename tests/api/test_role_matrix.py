"""Every endpoint × every role: the answer each caller gets.

A supervisor manages team A; team B belongs to someone else. The agent is on a crew
of team A. Rows of team B must be invisible to the supervisor (404, not 403, so their
existence does not leak). The test fails if an endpoint is added without a row here.
"""

from datetime import timedelta

import pytest

from tests.conftest import TEST_NOW

ROLES = ("anonymous", "agent", "supervisor", "auditor", "admin")
# Every caller sends what the field app sends about its phone; only the agent API reads it.
PHONE = {"X-Device-Id": "phone-matrix-0001", "X-Device-Time": TEST_NOW.isoformat(), "X-Device-Seq": "1"}


@pytest.fixture(scope="module")
def world(module_make):
    """Built once per module and backend; each test's changes are rolled back (``module_db``)."""
    make = module_make
    region = make.region(code="RA")
    team_a = make.team(code="TEAM-A", region=region)
    team_b = make.team(code="TEAM-B", region=make.region(code="RB"))
    crew = make.trained_crew(team_a)
    agent = make.user("agent", username="field-agent")
    collector = make.collector(team=team_a, crew=crew, user=agent)
    for module in ("law_compliance", "communication"):
        make.training(collector, module=module)
    collector_b = make.collector(team=team_b)
    crew_b = make.crew(team=team_b, members=0)
    make.collector(team=team_b, code="B-FREE")
    case_a = make.dispatchable_case(team_a)
    case_b = make.case(team=team_b)
    users = {
        "agent": agent,
        "supervisor": make.user("supervisor", team=team_a),
        "auditor": make.user("auditor"),
        "admin": make.user("admin"),
    }
    other_user = make.user("auditor", username="someone-else")
    from app.models import DispatchPlan, VisitTask

    day = make.today()
    empty = {"timezone": "Asia/Shanghai", "routes": [], "unassigned": [], "crews": []}
    plan_a = make._save(
        DispatchPlan(
            plan_date=day, team_id=team_a.id, status="draft", policy_profile="cn@2026.1", result=empty, summary={}
        )
    )
    plan_b = make._save(
        DispatchPlan(
            plan_date=day, team_id=team_b.id, status="draft", policy_profile="cn@2026.1", result=empty, summary={}
        )
    )
    make.trained_crew(team_a, code="CREW-FULL")
    open_task = make._save(
        VisitTask(case_id=make.dispatchable_case(team_a).id, visit_date=day, status="open", priority=10)
    )
    crew_task = make._save(
        VisitTask(case_id=case_a.id, visit_date=day, status="assigned", crew_id=crew.id, sequence=1, priority=10)
    )
    other_task = make._save(VisitTask(case_id=case_b.id, visit_date=day, status="open", priority=10))
    from app.models import Complaint, ConductFlag, RepaymentAgreement, Visit

    visit_case = make.dispatchable_case(team_a)
    # Yesterday's visit, never checked out: it may still be closed, and does not hold the crew today.
    in_visit = make._save(
        VisitTask(
            case_id=visit_case.id,
            visit_date=day - timedelta(days=1),
            status="checked_in",
            crew_id=crew.id,
            sequence=2,
            priority=10,
            crew_history=[crew.id],
        )
    )
    visit = make._save(
        Visit(
            task_id=in_visit.id,
            crew_id=crew.id,
            collector_id=collector.id,
            check_in_at=make.now() - timedelta(days=1),
            check_in_lat=31.23,
            check_in_lon=121.47,
        )
    )
    agreements = {}
    for name, case in (("a", case_a), ("b", case_b)):
        agreements[name] = make._save(
            RepaymentAgreement(
                case_id=case.id,
                kind="promise",
                status="pending_approval",
                currency="CNY",
                total_minor=900,
                waiver_minor=100,
                owed_minor=1000,
            )
        )
    credit_case = make.case(team=team_a, stage="resolved", outstanding_minor=0, credit_minor=5000)
    flags = {
        name: make._save(
            ConductFlag(
                kind="off_geofence",
                rule_id="cn.off_geofence",
                profile_version="cn@2026.1",
                collector_id=c.id,
                case_id=case.id,
                details={},
            )
        )
        for name, c, case in (("a", collector, case_a), ("b", collector_b, case_b))
    }
    complaint = make._save(
        Complaint(
            case_id=case_a.id, debtor_id=case_a.debtor_id, channel="phone", category="rudeness", text="x", status="open"
        )
    )
    from app.models import Job

    job = make._save(
        Job(
            id="00000000-0000-4000-8000-000000000001",
            name="evaluate_agreements",
            params={},
            status="finished",
            runner="inline",
        )
    )
    from app import storage
    from app.models import Recording

    with make.app.app_context():
        storage.current().put(f"recordings/matrix/{visit.id}.oga", b"OggS-matrix", "audio/ogg")
    recording = make._save(
        Recording(
            sha256="0f" * 32,
            size_bytes=11,
            content_type="audio/ogg",
            kind="audio",
            storage_key=f"recordings/matrix/{visit.id}.oga",
            visit_id=visit.id,
        )
    )
    from app.models import TeamReport

    with make.app.app_context():
        storage.current().put("reports/weekly/matrix.csv", b"\xef\xbb\xbfkey\r\n", "text/csv")
    weekly = make._save(
        TeamReport(
            team_id=team_a.id,
            week_start=day,
            csv_key="reports/weekly/matrix.csv",
            html_key="reports/weekly/matrix.html",
            csv_sha256="0" * 64,
            html_sha256="0" * 64,
        )
    )
    return {
        "users": users,
        "headers": {role: {**make.token(user), **PHONE} for role, user in users.items()} | {"anonymous": PHONE},
        "ids": {
            "case_a": case_a.id,
            "case_b": case_b.id,
            "debtor_a": case_a.debtor_id,
            "debtor_b": case_b.debtor_id,
            "collector_a": collector.id,
            "collector_b": collector_b.id,
            "crew_a": crew.id,
            "crew_b": crew_b.id,
            "user_x": other_user.id,
            "plan_a": plan_a.id,
            "plan_b": plan_b.id,
            "open_task": open_task.id,
            "crew_task": crew_task.id,
            "other_task": other_task.id,
            "day": day.isoformat(),
            "in_visit": in_visit.id,
            "visit": visit.id,
            "agreement_a": agreements["a"].id,
            "agreement_b": agreements["b"].id,
            "flag_a": flags["a"].id,
            "flag_b": flags["b"].id,
            "complaint": complaint.id,
            "loan_a": case_a.loan_ref,
            "job": job.id,
            "credit_case": credit_case.id,
            "recording": recording.id,
            "weekly_a": weekly.id,
        },
    }


def _collector(role):
    return {
        "code": f"NEW-{role}",
        "name": "New",
        "team": "TEAM-A",
        "home": {"lat": 31.2, "lon": 121.4},
        "shift_start": "09:00",
        "shift_end": "18:00",
    }


def _case(role):
    return {
        "loan_ref": f"LOAN-{role}",
        "product": "cash_loan",
        "currency": "CNY",
        "principal": "1000.00",
        "outstanding": "900.00",
        "days_past_due": 40,
        "team": "TEAM-A",
        "debtor": {"name": "Li Lei", "address": "1 Road", "lat": 31.2, "lon": 121.4},
    }


def _csv(role):
    return (
        b"loan_ref,product,currency,principal,outstanding,days_past_due,debtor_name,address,lat,lon,team\n"
        + f"CSV-{role},cash_loan,CNY,100.00,90.00,31,Wang Fang,2 Road,31.2,121.4,TEAM-A\n".encode()
    )


def _position(role):
    return {
        "client_event_id": f"pos-{role}-0001",
        "lat": 31.2317,
        "lon": 121.4846,
        "accuracy_m": 10.0,
        "device_time": TEST_NOW.isoformat(),
    }


def _recording(role):
    import hashlib

    content = b"OggS" + role.encode() * 100
    return {
        "__multipart__": {
            "task_id": "{in_visit}",
            "sha256": hashlib.sha256(content).hexdigest(),
            "duration_seconds": "90",
            "file": (content, "a.ogg", "audio/ogg"),
        }
    }


def _payment(role):
    return {
        "reference": f"PAY-{role}",
        "loan_ref": "{loan_a}",
        "amount": "10.00",
        "currency": "CNY",
        "paid_at": "2026-11-20T10:00:00+08:00",
    }


READ_STAFF = {"anonymous": 401, "agent": 403, "supervisor": 200, "auditor": 200, "admin": 200}
READ_OTHER_TEAM = {"anonymous": 401, "agent": 403, "supervisor": 404, "auditor": 200, "admin": 200}
WRITE_MANAGERS = {"anonymous": 401, "agent": 403, "supervisor": 201, "auditor": 403, "admin": 201}
UPDATE_MANAGERS = {"anonymous": 401, "agent": 403, "supervisor": 200, "auditor": 403, "admin": 200}
UPDATE_OTHER_TEAM = {"anonymous": 401, "agent": 403, "supervisor": 404, "auditor": 403, "admin": 200}
AGENT_ONLY = {"anonymous": 401, "agent": 200, "supervisor": 403, "auditor": 403, "admin": 403}
STAFF_WRITES = {"anonymous": 401, "agent": 403, "supervisor": 200, "auditor": 200, "admin": 200}
ADMIN_ONLY = {"anonymous": 401, "agent": 403, "supervisor": 403, "auditor": 403, "admin": 200}
ADMIN_CREATES = {"anonymous": 401, "agent": 403, "supervisor": 403, "auditor": 403, "admin": 201}
EVERYONE = {"anonymous": 401, "agent": 200, "supervisor": 200, "auditor": 200, "admin": 200}
AUDITORS = {"anonymous": 401, "agent": 403, "supervisor": 403, "auditor": 200, "admin": 200}

# (endpoint, method, path, body factory or None, expected status per role)
MATRIX = [
    ("api.auth.me", "GET", "/api/v1/me", None, EVERYONE),
    (
        "api.auth.logout",
        "POST",
        "/api/v1/auth/logout",
        None,
        {"anonymous": 401, "agent": 204, "supervisor": 204, "auditor": 204, "admin": 204},
    ),
    ("api.users.list_users", "GET", "/api/v1/users", None, ADMIN_ONLY),
    (
        "api.users.create_user",
        "POST",
        "/api/v1/users",
        lambda role: {"username": f"made-by-{role}", "password": "a-long-password", "role": "auditor"},
        ADMIN_CREATES,
    ),
    ("api.users.get_user", "GET", "/api/v1/users/{user_x}", None, ADMIN_ONLY),
    ("api.users.update_user", "PATCH", "/api/v1/users/{user_x}", lambda role: {"display_name": "Renamed"}, ADMIN_ONLY),
    ("api.users.deactivate_user", "DELETE", "/api/v1/users/{user_x}", None, ADMIN_ONLY),
    ("api.org.list_regions", "GET", "/api/v1/regions", None, READ_STAFF),
    (
        "api.org.create_region",
        "POST",
        "/api/v1/regions",
        lambda role: {"code": f"REG-{role}", "name": "North", "timezone": "Asia/Shanghai"},
        ADMIN_CREATES,
    ),
    ("api.org.list_teams", "GET", "/api/v1/teams", None, READ_STAFF),
    (
        "api.org.create_team",
        "POST",
        "/api/v1/teams",
        lambda role: {"code": f"TEAM-{role}", "name": "New team", "region": "RA"},
        ADMIN_CREATES,
    ),
    ("api.collectors.list_collectors", "GET", "/api/v1/collectors", None, READ_STAFF),
    ("api.collectors.create_collector", "POST", "/api/v1/collectors", _collector, WRITE_MANAGERS),
    ("api.collectors.get_collector", "GET", "/api/v1/collectors/{collector_a}", None, READ_STAFF),
    ("api.collectors.get_collector", "GET", "/api/v1/collectors/{collector_b}", None, READ_OTHER_TEAM),
    (
        "api.collectors.update_collector",
        "PATCH",
        "/api/v1/collectors/{collector_a}",
        lambda role: {"daily_capacity": 8},
        UPDATE_MANAGERS,
    ),
    (
        "api.collectors.update_collector",
        "PATCH",
        "/api/v1/collectors/{collector_b}",
        lambda role: {"daily_capacity": 8},
        UPDATE_OTHER_TEAM,
    ),
    ("api.collectors.list_trainings", "GET", "/api/v1/collectors/{collector_a}/trainings", None, READ_STAFF),
    (
        "api.collectors.add_training",
        "POST",
        "/api/v1/collectors/{collector_a}/trainings",
        lambda role: {"module": "law_compliance", "passed_at": "2026-01-10", "expires_at": "2027-01-10"},
        WRITE_MANAGERS,
    ),
    ("api.collectors.list_crews", "GET", "/api/v1/crews", None, READ_STAFF),
    (
        "api.collectors.create_crew",
        "POST",
        "/api/v1/crews",
        lambda role: {"code": f"CREW-{role}", "team": "TEAM-A", "members": [f"NEW-{role}"]},
        WRITE_MANAGERS,
    ),
    ("api.collectors.get_crew", "GET", "/api/v1/crews/{crew_a}", None, READ_STAFF),
    ("api.collectors.get_crew", "GET", "/api/v1/crews/{crew_b}", None, READ_OTHER_TEAM),
    (
        "api.collectors.update_crew",
        "PATCH",
        "/api/v1/crews/{crew_a}",
        lambda role: {"name": "Renamed"},
        UPDATE_MANAGERS,
    ),
    (
        "api.collectors.update_crew",
        "PATCH",
        "/api/v1/crews/{crew_b}",
        lambda role: {"name": "Renamed"},
        UPDATE_OTHER_TEAM,
    ),
    ("api.cases.list_cases", "GET", "/api/v1/cases", None, READ_STAFF),
    ("api.cases.create_case", "POST", "/api/v1/cases", _case, WRITE_MANAGERS),
    ("api.cases.get_case", "GET", "/api/v1/cases/{case_a}", None, READ_STAFF),
    ("api.cases.get_case", "GET", "/api/v1/cases/{case_b}", None, READ_OTHER_TEAM),
    ("api.cases.update_case", "PATCH", "/api/v1/cases/{case_a}", lambda role: {"priority": 70}, UPDATE_MANAGERS),
    ("api.cases.update_case", "PATCH", "/api/v1/cases/{case_b}", lambda role: {"priority": 70}, UPDATE_OTHER_TEAM),
    (
        "api.cases.import_cases",
        "POST",
        "/api/v1/cases/import",
        _csv,
        {"anonymous": 401, "agent": 403, "supervisor": 200, "auditor": 403, "admin": 200},
    ),
    ("api.cases.get_debtor", "GET", "/api/v1/debtors/{debtor_a}", None, READ_STAFF),
    ("api.cases.get_debtor", "GET", "/api/v1/debtors/{debtor_b}", None, READ_OTHER_TEAM),
    (
        "api.cases.update_debtor",
        "PATCH",
        "/api/v1/debtors/{debtor_a}",
        lambda role: {"flags": {"dispute": True}},
        UPDATE_MANAGERS,
    ),
    (
        "api.cases.update_debtor",
        "PATCH",
        "/api/v1/debtors/{debtor_b}",
        lambda role: {"flags": {"dispute": True}},
        UPDATE_OTHER_TEAM,
    ),
    ("api.cases.subject_access", "GET", "/api/v1/debtors/{debtor_a}/subject-access", None, ADMIN_ONLY),
    ("api.geocoding.pin_queue", "GET", "/api/v1/pin-queue", None, UPDATE_MANAGERS),
    (
        "api.geocoding.place_pin",
        "PUT",
        "/api/v1/debtors/{debtor_a}/pin",
        lambda role: {"lat": 31.3, "lon": 121.5},
        UPDATE_MANAGERS,
    ),
    (
        "api.geocoding.place_pin",
        "PUT",
        "/api/v1/debtors/{debtor_b}/pin",
        lambda role: {"lat": 31.3, "lon": 121.5},
        UPDATE_OTHER_TEAM,
    ),
    ("api.cases.list_contact_attempts", "GET", "/api/v1/cases/{case_a}/contact-attempts", None, READ_STAFF),
    ("api.cases.list_contact_attempts", "GET", "/api/v1/cases/{case_b}/contact-attempts", None, READ_OTHER_TEAM),
    (
        "api.cases.record_contact_attempt",
        "POST",
        "/api/v1/cases/{case_a}/contact-attempts",
        lambda role: {"channel": "call", "result": "no_answer", "occurred_at": "2026-06-01T10:00:00+08:00"},
        WRITE_MANAGERS,
    ),
    (
        "api.cases.record_contact_attempt",
        "POST",
        "/api/v1/cases/{case_b}/contact-attempts",
        lambda role: {"channel": "call", "result": "no_answer", "occurred_at": "2026-06-01T10:00:00+08:00"},
        {"anonymous": 401, "agent": 403, "supervisor": 404, "auditor": 403, "admin": 201},
    ),
    (
        "api.dispatch.create_plan",
        "POST",
        "/api/v1/dispatch/plans",
        lambda role: {"date": "2030-01-02", "team": "TEAM-A"},
        WRITE_MANAGERS,
    ),
    ("api.dispatch.get_plan", "GET", "/api/v1/dispatch/plans/{plan_a}", None, READ_STAFF),
    ("api.dispatch.get_plan", "GET", "/api/v1/dispatch/plans/{plan_b}", None, READ_OTHER_TEAM),
    ("api.dispatch.commit_plan", "POST", "/api/v1/dispatch/plans/{plan_a}/commit", None, UPDATE_MANAGERS),
    ("api.dispatch.commit_plan", "POST", "/api/v1/dispatch/plans/{plan_b}/commit", None, UPDATE_OTHER_TEAM),
    ("api.dispatch.list_tasks", "GET", "/api/v1/tasks", None, READ_STAFF),
    ("api.dispatch.get_board", "GET", "/api/v1/board?date={day}&team=TEAM-A", None, READ_STAFF),
    ("api.dispatch.get_board", "GET", "/api/v1/board?date={day}&team=TEAM-B", None, READ_STAFF | {"supervisor": 422}),
    (
        "api.dispatch.assign_task",
        "POST",
        "/api/v1/tasks/{open_task}/assign",
        lambda role: {"crew": "CREW-FULL", "reason": "matrix"},
        UPDATE_MANAGERS,
    ),
    (
        "api.dispatch.assign_task",
        "POST",
        "/api/v1/tasks/{other_task}/assign",
        lambda role: {"crew": "CREW-FULL", "reason": "matrix"},
        UPDATE_OTHER_TEAM | {"admin": 422},
    ),
    ("api.dispatch.move_options", "GET", "/api/v1/tasks/{open_task}/move-options", None, UPDATE_MANAGERS),
    ("api.dispatch.move_options", "GET", "/api/v1/tasks/{other_task}/move-options", None, UPDATE_OTHER_TEAM),
    (
        "api.dispatch.unassign_task",
        "POST",
        "/api/v1/tasks/{crew_task}/unassign",
        lambda role: {"reason": "matrix"},
        UPDATE_MANAGERS,
    ),
    ("api.field.get_route", "GET", "/api/v1/agent/route?date={day}", None, AGENT_ONLY),
    ("api.field.check_in", "POST", "/api/v1/agent/tasks/{crew_task}/check-in", _position, AGENT_ONLY | {"agent": 201}),
    ("api.field.check_in", "POST", "/api/v1/agent/tasks/{other_task}/check-in", _position, AGENT_ONLY | {"agent": 404}),
    ("api.field.check_out", "POST", "/api/v1/agent/tasks/{in_visit}/check-out", _position, AGENT_ONLY),
    (
        "api.field.record_visit",
        "POST",
        "/api/v1/agent/tasks/{in_visit}/visit",
        lambda role: {"client_event_id": f"visit-{role}-01", "outcome": "not_home", "person_met": "nobody"},
        AGENT_ONLY,
    ),
    (
        "api.field.sync",
        "POST",
        "/api/v1/agent/sync",
        lambda role: {
            "events": [
                {
                    "type": "visit",
                    "task_id": 0,
                    "seq": 1,
                    "client_event_id": f"sync-{role}-01",
                    "outcome": "not_home",
                    "person_met": "nobody",
                }
            ]
        },
        AGENT_ONLY,
    ),
    ("api.field.upload_recording", "POST", "/api/v1/agent/recordings", _recording, AGENT_ONLY | {"agent": 201}),
    ("api.agreements.list_agreements", "GET", "/api/v1/agreements", None, READ_STAFF),
    ("api.agreements.get_agreement", "GET", "/api/v1/agreements/{agreement_a}", None, READ_STAFF),
    ("api.agreements.get_agreement", "GET", "/api/v1/agreements/{agreement_b}", None, READ_OTHER_TEAM),
    (
        "api.agreements.approve_agreement",
        "POST",
        "/api/v1/agreements/{agreement_a}/approve",
        lambda role: {"note": "ok"},
        UPDATE_MANAGERS,
    ),
    (
        "api.agreements.approve_agreement",
        "POST",
        "/api/v1/agreements/{agreement_b}/approve",
        lambda role: {"note": "ok"},
        UPDATE_OTHER_TEAM,
    ),
    (
        "api.agreements.reject_agreement",
        "POST",
        "/api/v1/agreements/{agreement_a}/reject",
        lambda role: {"reason": "no evidence"},
        UPDATE_MANAGERS,
    ),
    (
        "api.agreements.reject_agreement",
        "POST",
        "/api/v1/agreements/{agreement_b}/reject",
        lambda role: {"reason": "no evidence"},
        UPDATE_OTHER_TEAM,
    ),
    (
        "api.agreements.counter_agreement",
        "POST",
        "/api/v1/agreements/{agreement_a}/counter",
        lambda role: {"waiver": "0.50", "note": "half"},
        UPDATE_MANAGERS,
    ),
    (
        "api.agreements.counter_agreement",
        "POST",
        "/api/v1/agreements/{agreement_b}/counter",
        lambda role: {"waiver": "0.50", "note": "half"},
        UPDATE_OTHER_TEAM,
    ),
    ("api.agreements.evaluate_agreements", "POST", "/api/v1/agreements/evaluate", lambda role: {}, UPDATE_MANAGERS),
    (
        "api.agreements.evaluate_agreements",
        "POST",
        "/api/v1/agreements/evaluate",
        lambda role: {"teams": ["TEAM-B"]},
        UPDATE_MANAGERS | {"supervisor": 422},
    ),
    ("api.cases.get_ledger", "GET", "/api/v1/cases/{case_a}/ledger", None, READ_STAFF),
    ("api.cases.get_ledger", "GET", "/api/v1/cases/{case_b}/ledger", None, READ_OTHER_TEAM),
    (
        "api.cases.refund_credit",
        "POST",
        "/api/v1/cases/{credit_case}/refunds",
        lambda role: {"amount": "10.00", "note": "to the card"},
        WRITE_MANAGERS,
    ),
    (
        "api.cases.refund_credit",
        "POST",
        "/api/v1/cases/{case_b}/refunds",
        lambda role: {"amount": "10.00", "note": "to the card"},
        WRITE_MANAGERS | {"supervisor": 404, "admin": 422},
    ),
    ("api.agreements.record_payment", "POST", "/api/v1/payments", _payment, ADMIN_CREATES),
    (
        "api.money.import_payments",
        "POST",
        "/api/v1/payments/import",
        lambda role: {"payments": [_payment(f"batch-{role}")]},
        ADMIN_ONLY,
    ),
    (
        "api.money.import_payments",
        "POST",
        "/api/v1/payments/import",
        lambda role: (
            f"reference,loan_ref,amount,currency,paid_at\nCSV-PAY-{role},NO-SUCH-LOAN,1.00,CNY,"
            f"2026-11-20T10:00:00+08:00\n".encode()
        ),
        ADMIN_ONLY,
    ),
    ("api.money.reconciliation_report", "GET", "/api/v1/reports/reconciliation?date={day}", None, READ_STAFF),
    (
        "api.money.reconciliation_report",
        "GET",
        "/api/v1/reports/reconciliation?date={day}&team=TEAM-B",
        None,
        READ_STAFF | {"supervisor": 422},
    ),
    ("api.reports.portfolio_report", "GET", "/api/v1/reports/portfolio?from={day}&to={day}", None, READ_STAFF),
    (
        "api.reports.portfolio_report",
        "GET",
        "/api/v1/reports/portfolio?from={day}&to={day}&team=TEAM-B",
        None,
        READ_STAFF | {"supervisor": 403},
    ),
    ("api.reports.list_weekly_reports", "GET", "/api/v1/reports/weekly", None, READ_STAFF),
    (
        "api.reports.download_weekly_report",
        "GET",
        "/api/v1/reports/weekly/{weekly_a}/file?format=csv",
        None,
        READ_STAFF,
    ),
    ("api.conduct.list_flags", "GET", "/api/v1/conduct/flags", None, READ_STAFF),
    ("api.conduct.get_flag", "GET", "/api/v1/conduct/flags/{flag_a}", None, READ_STAFF),
    ("api.conduct.get_flag", "GET", "/api/v1/conduct/flags/{flag_b}", None, READ_OTHER_TEAM),
    (
        "api.conduct.review_flag",
        "POST",
        "/api/v1/conduct/flags/{flag_a}/review",
        lambda role: {"status": "reviewed", "notes": "seen"},
        STAFF_WRITES,
    ),
    (
        "api.conduct.review_flag",
        "POST",
        "/api/v1/conduct/flags/{flag_b}/review",
        lambda role: {"status": "reviewed", "notes": "seen"},
        STAFF_WRITES | {"supervisor": 404},
    ),
    ("api.conduct.list_complaints", "GET", "/api/v1/complaints", None, READ_STAFF),
    (
        "api.conduct.create_complaint",
        "POST",
        "/api/v1/complaints",
        lambda role: {"case_id": 0, "channel": "phone", "category": "rudeness", "text": "x"},
        WRITE_MANAGERS,
    ),
    (
        "api.conduct.resolve_complaint",
        "POST",
        "/api/v1/complaints/{complaint}/resolve",
        lambda role: {"status": "under_review", "notes": "looking"},
        UPDATE_MANAGERS,
    ),
    (
        "api.jobs.submit_job",
        "POST",
        "/api/v1/jobs",
        lambda role: {"name": "evaluate_agreements"},
        ADMIN_CREATES | {"admin": 202},
    ),
    ("api.jobs.submit_job", "POST", "/api/v1/jobs", lambda role: {"name": "plan_day"}, ADMIN_CREATES | {"admin": 202}),
    (
        "api.jobs.submit_job",
        "POST",
        "/api/v1/jobs",
        lambda role: {"name": "export_audit_events"},
        AUDITORS | {"auditor": 202, "admin": 202},
    ),
    (
        "api.jobs.submit_job",
        "POST",
        "/api/v1/jobs",
        lambda role: {"name": "export_visits"},
        READ_STAFF | {"supervisor": 202, "auditor": 202, "admin": 202},
    ),
    # Someone else's job (here: the scheduler's) is seen by admins only.
    ("api.jobs.get_job", "GET", "/api/v1/jobs/{job}", None, READ_STAFF | {"supervisor": 404, "auditor": 404}),
    (
        "api.jobs.download_export",
        "GET",
        "/api/v1/jobs/{job}/file",
        None,
        READ_STAFF | {"supervisor": 404, "auditor": 404, "admin": 404},
    ),
    (
        "api.conduct.conduct_record",
        "GET",
        "/api/v1/collectors/{collector_a}/conduct?from=2026-01-01&to=2030-01-01",
        None,
        READ_STAFF,
    ),
    ("api.audit.list_events", "GET", "/api/v1/audit/events", None, AUDITORS),
    ("api.audit.list_events", "GET", "/api/v1/audit/events?format=csv", None, AUDITORS),
    ("api.audit.list_events", "GET", "/api/v1/audit/events?format=ndjson", None, AUDITORS),
    ("api.audit.list_visits", "GET", "/api/v1/audit/visits", None, READ_STAFF),
    ("api.audit.list_visits", "GET", "/api/v1/audit/visits?format=csv", None, READ_STAFF),
    ("api.audit.play_recording", "GET", "/api/v1/audit/recordings/{recording}", None, READ_STAFF),
    ("api.audit.verify_chain", "GET", "/api/v1/audit/verify", None, AUDITORS),
    ("api.audit.chain_head", "GET", "/api/v1/audit/head", None, AUDITORS),
    ("api.audit.chain_head", "GET", "/api/v1/audit/head?date=2020-01-01", None, AUDITORS),
]
PUBLIC = {"api.auth.login", "api.openapi.openapi_json", "api.openapi.docs"}


def _fill(value, ids):
    """Put the world's ids into a body: "{name}" strings and 0 for the case/task of the request."""
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, ids) for v in value]
    if isinstance(value, str) and value.startswith("{") and value.endswith("}"):
        return str(ids[value[1:-1]])
    return value


def _call(client, method, path, body, headers):
    if body is None:
        return client.open(path, method=method, headers=headers)
    if isinstance(body, dict) and "__multipart__" in body:
        import io

        form = dict(body["__multipart__"])
        content, name, mimetype = form.pop("file")
        form["file"] = (io.BytesIO(content), name, mimetype)
        return client.open(path, method=method, data=form, headers=headers, content_type="multipart/form-data")
    if isinstance(body, bytes):
        return client.open(path, method=method, data=body, headers={**headers, "Content-Type": "text/csv"})
    return client.open(path, method=method, json=body, headers=headers)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("endpoint,method,path,body,expected", MATRIX, ids=[f"{m} {p}" for _, m, p, _, _ in MATRIX])
def test_each_role_gets_the_documented_answer(client, world, endpoint, method, path, body, expected, role):
    headers = world["headers"][role]
    # Forming a crew needs a free collector, made first by the same caller.
    if endpoint == "api.collectors.create_crew" and expected[role] == 201:
        assert _call(client, "POST", "/api/v1/collectors", _collector(role), headers).status_code == 201
    payload = _fill(body(role), world["ids"]) if body else None
    if isinstance(payload, dict):  # 0 stands for "the task or case of this world"
        if payload.get("case_id") == 0:
            payload["case_id"] = world["ids"]["case_a"]
        for event in payload.get("events", []):
            event["task_id"] = world["ids"]["in_visit"]
    response = _call(client, method, path.format(**world["ids"]), payload, headers)
    assert response.status_code == expected[role], response.get_json()
    if response.status_code >= 400:
        assert set(response.json["error"]) >= {"code", "message", "fields"}


def test_every_api_endpoint_is_in_the_matrix(app):
    covered = {row[0] for row in MATRIX} | PUBLIC
    routed = {rule.endpoint for rule in app.url_map.iter_rules() if rule.rule.startswith("/api/v1")}
    assert routed - covered == set(), "add these endpoints to the role matrix"
