"""Bad input to every write endpoint answers 4xx with the error envelope, names the
field, and leaves the database exactly as it was."""

import json
import re

import pytest
import sqlalchemy as sa

from app.extensions import db as _db
from tests.conftest import TEST_NOW


@pytest.fixture(scope="module")
def setup(module_make):
    """Built once per module and backend; each test's changes are rolled back (``module_db``)."""
    from datetime import timedelta

    from app.models import Complaint, ConductFlag, RepaymentAgreement, Visit, VisitTask

    make = module_make
    region = make.region(code="RA")
    team = make.team(code="TEAM-A", region=region)
    crew = make.crew(team=team, members=1)
    collector = make.collector(team=team, code="FREE-1")
    case = make.case(team=team)
    admin = make.user("admin")
    other = make.user("auditor")
    make.trained_crew(team, code="CREW-OK")
    day = make.today()
    open_task = make._save(
        VisitTask(case_id=make.dispatchable_case(team).id, visit_date=day, status="open", priority=1)
    )
    # A crew at a door (for check-out, outcome and sync), and another with a visit still to make.
    agent = make.user("agent")
    member = make.collector(team=team, crew=crew, user=agent)
    in_visit = make._save(
        VisitTask(
            case_id=make.dispatchable_case(team).id, visit_date=day, status="checked_in", crew_id=crew.id, priority=1
        )
    )
    make._save(
        Visit(
            task_id=in_visit.id,
            crew_id=crew.id,
            collector_id=member.id,
            check_in_at=make.now() - timedelta(minutes=20),
            check_in_lat=31.23,
            check_in_lon=121.48,
        )
    )
    walker = make.user("agent")
    walking = make.trained_crew(team, code="CREW-WALK")
    with make.app.app_context():
        from app.models import Collector

        first = make.db.session.scalars(sa.select(Collector).where(Collector.crew_id == walking.id)).first()
        first.user_id = walker.id
        make.db.session.commit()
    assigned = make._save(
        VisitTask(
            case_id=make.dispatchable_case(team).id, visit_date=day, status="assigned", crew_id=walking.id, priority=1
        )
    )
    unassignable = make._save(
        VisitTask(case_id=case.id, visit_date=day, status="assigned", crew_id=crew.id, priority=1)
    )
    pending = make._save(
        RepaymentAgreement(
            case_id=case.id,
            kind="promise",
            status="pending_approval",
            currency="CNY",
            total_minor=90,
            waiver_minor=10,
            owed_minor=100,
        )
    )
    credit_case = make.case(team=team, stage="resolved", outstanding_minor=0, credit_minor=5000)
    flag = make._save(
        ConductFlag(
            kind="mock_location", rule_id="cn.mock_location", profile_version="cn@2026.1", case_id=case.id, details={}
        )
    )
    complaint = make._save(Complaint(case_id=case.id, channel="phone", category="other", text="x"))
    phone = {"X-Device-Id": "phone-bad-input-1", "X-Device-Time": make.now().isoformat(), "X-Device-Seq": "5"}
    return {
        "headers": make.token(admin),
        "agent_headers": {**make.token(agent), **phone},
        "walker_headers": {**make.token(walker), **phone},
        "loan_ref": case.loan_ref,
        "ids": {
            "user": other.id,
            "collector": collector.id,
            "crew": crew.id,
            "case": case.id,
            "debtor": case.debtor_id,
            "open_task": open_task.id,
            "assigned_task": assigned.id,
            "unassignable_task": unassignable.id,
            "in_visit": in_visit.id,
            "agreement": pending.id,
            "flag": flag.id,
            "complaint": complaint.id,
            "credit_case": credit_case.id,
        },
    }


IN_HOURS = TEST_NOW.isoformat()  # the phone's clock agreeing with the server's, inside visiting hours

VALID = {
    ("POST", "/api/v1/auth/login"): {"username": "nobody", "password": "x"},
    ("POST", "/api/v1/users"): {"username": "new-user", "password": "long-enough-pw", "role": "auditor"},
    ("PATCH", "/api/v1/users/{user}"): {"display_name": "New name"},
    ("POST", "/api/v1/regions"): {"code": "RN", "name": "North", "timezone": "Asia/Shanghai"},
    ("POST", "/api/v1/teams"): {"code": "TN", "name": "North", "region": "RA"},
    ("POST", "/api/v1/collectors"): {
        "code": "CN",
        "name": "N",
        "team": "TEAM-A",
        "home": {"lat": 31.2, "lon": 121.4},
        "shift_start": "09:00",
        "shift_end": "18:00",
    },
    ("PATCH", "/api/v1/collectors/{collector}"): {"daily_capacity": 9},
    ("POST", "/api/v1/collectors/{collector}/trainings"): {
        "module": "law_compliance",
        "passed_at": "2026-01-01",
        "expires_at": "2027-01-01",
    },
    ("POST", "/api/v1/crews"): {"code": "KN", "team": "TEAM-A", "members": ["FREE-1"]},
    ("PATCH", "/api/v1/crews/{crew}"): {"name": "Renamed"},
    ("POST", "/api/v1/cases"): {
        "loan_ref": "LN-1",
        "product": "cash_loan",
        "currency": "CNY",
        "principal": "100.00",
        "outstanding": "90.00",
        "days_past_due": 40,
        "team": "TEAM-A",
        "debtor": {"name": "Li", "address": "1 Road", "lat": 31.2, "lon": 121.4},
    },
    ("PATCH", "/api/v1/cases/{case}"): {"priority": 60},
    ("PATCH", "/api/v1/debtors/{debtor}"): {"lat": 31.3, "lon": 121.5},
    ("PUT", "/api/v1/debtors/{debtor}/pin"): {"lat": 31.3, "lon": 121.5, "note": "south gate"},
    ("POST", "/api/v1/cases/{case}/contact-attempts"): {
        "channel": "call",
        "result": "no_answer",
        "occurred_at": "2026-06-01T10:00:00+08:00",
    },
    ("POST", "/api/v1/dispatch/plans"): {"date": "2030-01-02", "team": "TEAM-A"},
    ("POST", "/api/v1/tasks/{open_task}/assign"): {"crew": "CREW-OK", "reason": "closer"},
    ("POST", "/api/v1/tasks/{unassignable_task}/unassign"): {"reason": "hospital"},
    ("POST", "/api/v1/agent/tasks/{in_visit}/check-out"): {
        "client_event_id": "evt-bad-input-1",
        "lat": 31.23,
        "lon": 121.48,
        "accuracy_m": 8.0,
        "device_time": IN_HOURS,
    },
    ("POST", "/api/v1/agent/tasks/{assigned_task}/check-in"): {
        "client_event_id": "evt-bad-input-2",
        "lat": 31.23,
        "lon": 121.48,
        "accuracy_m": 8.0,
        "device_time": IN_HOURS,
    },
    ("POST", "/api/v1/agent/tasks/{in_visit}/visit"): {
        "client_event_id": "evt-bad-input-3",
        "outcome": "not_home",
        "person_met": "nobody",
    },
    ("POST", "/api/v1/agent/sync"): {
        "events": [
            {
                "type": "visit",
                "task_id": "{in_visit}",
                "seq": 5,
                "client_event_id": "evt-sync-bad-1",
                "outcome": "not_home",
                "person_met": "nobody",
            }
        ]
    },
    ("POST", "/api/v1/agreements/{agreement}/approve"): {"note": "verified"},
    ("POST", "/api/v1/agreements/{agreement}/reject"): {"reason": "no evidence"},
    ("POST", "/api/v1/agreements/{agreement}/counter"): {"waiver": "0.05", "note": "half"},
    ("POST", "/api/v1/agreements/evaluate"): {"date": "2026-12-01"},
    ("POST", "/api/v1/cases/{credit_case}/refunds"): {"amount": "10.00", "note": "to the card"},
    ("POST", "/api/v1/payments/import"): {
        "payments": [
            {
                "reference": "PI-1",
                "case_id": "{case}",
                "amount": "10.00",
                "currency": "CNY",
                "paid_at": "2026-11-20T10:00:00+08:00",
            }
        ]
    },
    ("POST", "/api/v1/payments"): {
        "reference": "P-1",
        "case_id": "{case}",
        "amount": "10.00",
        "currency": "CNY",
        "paid_at": "2026-11-20T10:00:00+08:00",
    },
    ("POST", "/api/v1/conduct/flags/{flag}/review"): {"status": "reviewed", "notes": "seen"},
    ("POST", "/api/v1/complaints"): {
        "debtor_id": "{debtor}",
        "channel": "phone",
        "category": "rudeness",
        "text": "rude",
    },
    ("POST", "/api/v1/complaints/{complaint}/resolve"): {"status": "under_review", "notes": "looking"},
    ("POST", "/api/v1/jobs"): {"name": "evaluate_agreements", "params": {"date": "2026-12-01"}},
}

# (endpoint, a field to break, the bad value, the field the error must name)
TYPED = [
    (("POST", "/api/v1/users"), "role", 7, "role"),
    (("POST", "/api/v1/users"), "password", "short", "password"),
    (("PATCH", "/api/v1/users/{user}"), "active", "yes", "active"),
    (("POST", "/api/v1/regions"), "timezone", "Mars/Olympus", "timezone"),
    (("POST", "/api/v1/regions"), "policy_profile", "eu-gdpr", "policy_profile"),
    (("POST", "/api/v1/teams"), "policy_profile", "made-up", "policy_profile"),
    (("POST", "/api/v1/collectors"), "home", {"lat": 91, "lon": 121.4}, "home"),
    (("POST", "/api/v1/collectors"), "home", {"lat": 31.2, "lon": -181}, "home"),
    (("POST", "/api/v1/collectors"), "home", {"lat": "31.2", "lon": 121.4}, "home"),
    (("POST", "/api/v1/collectors"), "daily_capacity", "ten", "daily_capacity"),
    (("POST", "/api/v1/collectors"), "shift_start", "25:00", "shift_start"),
    (("POST", "/api/v1/collectors"), "shift_end", "08:00", "shift_end"),
    (("PATCH", "/api/v1/collectors/{collector}"), "daily_capacity", 0, "daily_capacity"),
    (("POST", "/api/v1/collectors/{collector}/trainings"), "expires_at", "2025-01-01", "expires_at"),
    (("POST", "/api/v1/crews"), "members", "FREE-1", "members"),
    (("POST", "/api/v1/crews"), "members", ["NOBODY"], "members"),
    (("POST", "/api/v1/cases"), "principal", "-1.00", "principal"),
    (("POST", "/api/v1/cases"), "outstanding", "12.345", "outstanding"),
    (("POST", "/api/v1/cases"), "outstanding", True, "outstanding"),
    (("POST", "/api/v1/cases"), "days_past_due", "40", "days_past_due"),
    (("POST", "/api/v1/cases"), "currency", "yuan", "currency"),
    (("POST", "/api/v1/cases"), "debtor", {"name": "Li", "address": "1", "lat": 95, "lon": 121.4}, "debtor"),
    (("POST", "/api/v1/cases"), "team", "NO-SUCH-TEAM", "team"),
    (("PATCH", "/api/v1/cases/{case}"), "outstanding", "-5", "outstanding"),
    (("PATCH", "/api/v1/cases/{case}"), "stage", "paid", "stage"),
    (("PATCH", "/api/v1/debtors/{debtor}"), "lat", -90.5, "lat"),
    (("PUT", "/api/v1/debtors/{debtor}/pin"), "lat", 95, "lat"),
    (("PUT", "/api/v1/debtors/{debtor}/pin"), "lon", "121.5", "lon"),
    (("PATCH", "/api/v1/debtors/{debtor}"), "flags", {"dispute": "yes"}, "flags"),
    (("PATCH", "/api/v1/debtors/{debtor}"), "flags", {"made_up": True}, "flags"),
    # A partial update leaves out the debtor's fields, never a known place's own required kind.
    (("PATCH", "/api/v1/debtors/{debtor}"), "places", [{"lat": 31.2, "lon": 121.4}], "places"),
    (("POST", "/api/v1/cases/{case}/contact-attempts"), "occurred_at", "2026-11-01 10:00", "occurred_at"),
    (("POST", "/api/v1/cases/{case}/contact-attempts"), "occurred_at", "2099-11-01T10:00:00+08:00", "occurred_at"),
    (("POST", "/api/v1/cases/{case}/contact-attempts"), "channel", "pigeon", "channel"),
    (("POST", "/api/v1/dispatch/plans"), "date", "tomorrow", "date"),
    (("POST", "/api/v1/dispatch/plans"), "team", "NOPE", "team"),
    (("POST", "/api/v1/tasks/{open_task}/assign"), "crew", "NO-SUCH-CREW", "crew"),
    (("POST", "/api/v1/tasks/{open_task}/assign"), "override_frequency", "true", "override_frequency"),
    (("POST", "/api/v1/tasks/{unassignable_task}/unassign"), "reason", "", "reason"),
    (("POST", "/api/v1/agent/tasks/{in_visit}/check-out"), "lat", 90.0001, "lat"),
    (("POST", "/api/v1/agent/tasks/{in_visit}/check-out"), "lon", "121.48", "lon"),
    (("POST", "/api/v1/agent/tasks/{in_visit}/check-out"), "accuracy_m", -1, "accuracy_m"),
    (("POST", "/api/v1/agent/tasks/{in_visit}/check-out"), "device_time", "yesterday", "device_time"),
    (("POST", "/api/v1/agent/tasks/{in_visit}/check-out"), "client_event_id", "x", "client_event_id"),
    (("POST", "/api/v1/agent/tasks/{in_visit}/check-out"), "mock_location", "no", "mock_location"),
    (("POST", "/api/v1/agent/tasks/{in_visit}/visit"), "outcome", "paid_in_kind", "outcome"),
    (
        ("POST", "/api/v1/agent/tasks/{in_visit}/visit"),
        "agreement",
        {"kind": "promise", "total": "-5", "due_date": "2030-01-01", "acknowledgement": {"kind": "otp", "ref": "1234"}},
        "agreement",
    ),
    (("POST", "/api/v1/agent/sync"), "events", [], "events"),
    (("POST", "/api/v1/agent/sync"), "events", "all of them", "events"),
    (("POST", "/api/v1/payments"), "amount", "-10.00", "amount"),
    (("POST", "/api/v1/payments"), "amount", "10.001", "amount"),
    (("POST", "/api/v1/payments"), "currency", "RMB ", "currency"),
    (("POST", "/api/v1/payments"), "case_id", 999999, "case_id"),
    (("POST", "/api/v1/conduct/flags/{flag}/review"), "status", "ignored", "status"),
    (("POST", "/api/v1/complaints"), "category", "vibes", "category"),
    (("POST", "/api/v1/jobs"), "params", {"date": "someday"}, "params"),
    (("POST", "/api/v1/jobs"), "params", {"teams": "all"}, "params"),
]


def database_state(app):
    """Row counts of every table, and the audit chain head."""
    with app.app_context():
        counts = {
            t.name: _db.session.scalar(sa.select(sa.func.count()).select_from(t)) for t in _db.metadata.sorted_tables
        }
        counts["head"] = tuple(_db.session.execute(sa.text("SELECT seq, hash FROM audit_chain_head")).one())
    return counts


def _fill(value, ids):
    """Bodies name the setup's rows as "{name}"; put their ids in."""
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, ids) for v in value]
    if isinstance(value, str) and value[:1] == "{" and value[-1:] == "}" and value[1:-1] in ids:
        return ids[value[1:-1]]
    return value


def _send(client, method, path, setup, **kwargs):
    headers = (
        setup["walker_headers"]
        if path.endswith("{assigned_task}/check-in")
        else setup["agent_headers"]
        if path.startswith("/api/v1/agent/")
        else setup["headers"]
    )
    if "json" in kwargs:
        kwargs["json"] = _fill(kwargs["json"], setup["ids"])
    return client.open(path.format(**setup["ids"]), method=method, headers=headers, **kwargs)


def _assert_refused(response, status, field=None):
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    error = response.json["error"]
    assert error["code"] and error["message"]
    if field:
        assert field in error["fields"], error
    body = response.get_data(as_text=True)
    assert "Traceback" not in body and "SELECT" not in body and "sqlalchemy" not in body.lower()


@pytest.mark.parametrize("endpoint", list(VALID), ids=[f"{m} {p}" for m, p in VALID])
class TestEveryWriteEndpoint:
    def test_malformed_json_is_refused(self, app, client, setup, endpoint):
        before = database_state(app)
        response = _send(client, *endpoint, setup, data='{"code": ', content_type="application/json")
        _assert_refused(response, 400)
        assert response.json["error"]["code"] == "invalid_json"
        assert database_state(app) == before

    def test_a_body_that_is_not_an_object_is_refused(self, app, client, setup, endpoint):
        before = database_state(app)
        _assert_refused(_send(client, *endpoint, setup, json=[VALID[endpoint]]), 422, "_body")
        assert database_state(app) == before

    def test_a_body_that_is_not_json_is_refused(self, app, client, setup, endpoint):
        before = database_state(app)
        _assert_refused(_send(client, *endpoint, setup, data="code=1", content_type="text/plain"), 415)
        assert database_state(app) == before

    def test_unknown_fields_are_refused_by_name(self, app, client, setup, endpoint):
        before = database_state(app)
        response = _send(client, *endpoint, setup, json={**VALID[endpoint], "is_admin": True})
        _assert_refused(response, 422, "is_admin")
        assert database_state(app) == before

    def test_a_ten_megabyte_body_is_refused(self, app, client, setup, endpoint):
        before = database_state(app)
        huge = json.dumps({**VALID[endpoint], "notes": "x" * (10 * 1024 * 1024)})
        _assert_refused(_send(client, *endpoint, setup, data=huge, content_type="application/json"), 413)
        assert database_state(app) == before


@pytest.mark.parametrize(
    "endpoint,field,value,named", TYPED, ids=[f"{e[0]} {e[1]} {f}={v!r}"[:90] for e, f, v, _ in TYPED]
)
def test_a_bad_value_is_refused_naming_its_field(app, client, setup, endpoint, field, value, named):
    before = database_state(app)
    response = _send(client, *endpoint, setup, json={**VALID[endpoint], field: value})
    _assert_refused(response, 422, named)
    assert database_state(app) == before


@pytest.mark.parametrize(
    "endpoint",
    [e for e in VALID if e[1] != "/api/v1/auth/login"],
    ids=[f"{m} {p}" for m, p in VALID if p != "/api/v1/auth/login"],
)
def test_the_valid_body_used_above_is_accepted(client, setup, endpoint):
    """Guards the tests above: they break one thing in a body that is otherwise good."""
    response = _send(client, *endpoint, setup, json=VALID[endpoint])
    assert response.status_code in (200, 201, 202), response.json


def test_every_endpoint_that_takes_a_json_body_is_covered(app):
    covered = {(method, path) for method, path in VALID}
    for rule in app.url_map.iter_rules():
        spec = getattr(app.view_functions[rule.endpoint], "api_spec", None)
        if spec and spec["body"]:
            path = rule.rule
            for name in rule.arguments:
                path = re.sub(rf"<(?:\w+:)?{name}>", f"{{{name}}}", path)
            methods = rule.methods - {"HEAD", "OPTIONS"}
            assert any(m in methods and _same_route(p, path) for m, p in covered), rule.rule


def _same_route(template, rule_path):
    import re

    return re.sub(r"\{[^}]+\}", "{}", template) == re.sub(r"\{[^}]+\}", "{}", rule_path)


def test_a_ten_megabyte_csv_of_garbage_is_refused_and_writes_nothing(app, client, setup):
    before = database_state(app)
    response = _send(
        client,
        "POST",
        "/api/v1/cases/import?team=TEAM-A",
        setup,
        data=b"\xff\xfe" + b"x" * (10 * 1024 * 1024),
        content_type="text/csv",
    )
    _assert_refused(response, 422, "file")
    assert database_state(app) == before


def test_an_unknown_query_parameter_is_refused_by_name(client, setup):
    response = _send(client, "GET", "/api/v1/cases?colour=red", setup)
    _assert_refused(response, 422, "colour")


def test_unknown_paths_and_methods_answer_with_the_envelope(client, setup):
    _assert_refused(_send(client, "GET", "/api/v1/nowhere", setup), 404)
    _assert_refused(_send(client, "DELETE", "/api/v1/cases", setup), 405)


# The auditors' pulls: a bad query parameter answers 422 naming it, and nothing is written
# (not even the audit event a pull would leave).
BAD_QUERIES = [
    ("/api/v1/audit/events", "limit=0", "limit"),
    ("/api/v1/audit/events", "limit=501", "limit"),
    ("/api/v1/audit/events", "limit=ten", "limit"),
    ("/api/v1/audit/events", "after=-1", "after"),
    ("/api/v1/audit/events", "format=xml", "format"),
    ("/api/v1/audit/events", "from=yesterday", "from"),
    ("/api/v1/audit/events", "from=2026-03-01T10:00:00", "from"),
    ("/api/v1/audit/events", "from=2026-03-01T10:00:00+08:00", "from"),  # an unencoded '+' arrives as a space
    ("/api/v1/audit/events", "from=2026-03-02&to=2026-03-01", "to"),
    ("/api/v1/audit/events", "actor=someone", "actor"),
    ("/api/v1/audit/events", "collector=not%20a%20code", "collector"),
    ("/api/v1/audit/events", "action=", "action"),
    ("/api/v1/audit/events", "seq=5", "seq"),
    ("/api/v1/audit/events", "format=csv&from=2026-02-30", "from"),
    ("/api/v1/audit/visits", "case=abc", "case"),
    ("/api/v1/audit/visits", "debtor=0", "debtor"),
    ("/api/v1/audit/visits", "format=ndjson&to=soon", "to"),
    ("/api/v1/audit/visits", "flag=" + "x" * 41, "flag"),
    ("/api/v1/audit/visits", "crew=K%2FA", "crew"),
    ("/api/v1/audit/visits", "limit=100000", "limit"),
    ("/api/v1/audit/head", "date=2026-13-01", "date"),
    ("/api/v1/audit/head", "date=2999-01-01", "date"),
    ("/api/v1/audit/verify", "deep=1", "deep"),
]


@pytest.mark.parametrize("path,query,named", BAD_QUERIES, ids=[f"{p} {q}"[:80] for p, q, _ in BAD_QUERIES])
def test_a_bad_query_parameter_of_an_audit_pull_is_refused_by_name(app, client, setup, path, query, named):
    before = database_state(app)
    _assert_refused(_send(client, "GET", f"{path}?{query}", setup), 422, named)
    assert database_state(app) == before
