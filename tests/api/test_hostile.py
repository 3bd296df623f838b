"""Hostile users: asking for rows that are not theirs, and probing every string input.

* A row outside the caller's scope answers exactly what a row that does not exist
  answers (same status, same body), so its existence does not leak. Every route
  that takes an id is found from the app's url_map, so a new one is covered.
* SQL-injection and path-traversal probes in every query-string parameter of every
  GET endpoint (found from the OpenAPI document), in path segments, in JSON string
  fields and in the login: never a 500, the envelope on every 4xx, and nothing
  written but the audit events the action legitimately records.
"""

import hashlib
import io
import json
import re
import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa

from tests.api.test_role_matrix import MATRIX
from tests.conftest import table_counts

MISSING_ID = 999_999_999
MISSING_JOB = "ffffffff-ffff-4fff-bfff-ffffffffffff"


@pytest.fixture()
def world(make):
    """Team A has two crews: the agent's, and another one whose rows are "foreign".
    The supervisor of team B sees none of team A. Every foreign row is in team A on
    the other crew, so it is out of scope for both the agent and supervisor B."""
    from app.models import (
        Complaint,
        ConductFlag,
        ContactAttempt,
        DispatchPlan,
        Job,
        Recording,
        RepaymentAgreement,
        Visit,
        VisitTask,
    )

    team_a = make.team(code="TEAM-A", region=make.region(code="RA"))
    team_b = make.team(code="TEAM-B", region=make.region(code="RB"))
    own_crew = make.crew(team=team_a, members=0, code="CREW-OWN")
    other_crew = make.crew(team=team_a, members=0, code="CREW-OTHER")
    agent = make.user("agent", username="hostile-agent")
    own_collector = make.collector(team=team_a, crew=own_crew, user=agent, code="OWN-1")
    other_agent = make.user("agent", username="other-agent")
    other_collector = make.collector(team=team_a, crew=other_crew, user=other_agent, code="OTHER-1")
    make.training(other_collector)
    supervisor_b = make.user("supervisor", team=team_b, username="supervisor-b")
    make.collector(team=team_b, code="B-FREE")
    day = make.today() + timedelta(days=1)
    now = make.now()

    own_case = make.dispatchable_case(team_a)
    own_task = make._save(
        VisitTask(
            case_id=own_case.id,
            visit_date=make.today(),
            status="checked_in",
            crew_id=own_crew.id,
            sequence=1,
            priority=10,
            crew_history=[own_crew.id],
        )
    )
    make._save(
        Visit(
            task_id=own_task.id,
            crew_id=own_crew.id,
            collector_id=own_collector.id,
            check_in_at=now,
            check_in_lat=31.23,
            check_in_lon=121.47,
        )
    )

    case = make.dispatchable_case(team_a)
    task = make._save(
        VisitTask(
            case_id=case.id,
            visit_date=make.today(),
            status="checked_in",
            crew_id=other_crew.id,
            sequence=1,
            priority=10,
            crew_history=[other_crew.id],
        )
    )
    visit = make._save(
        Visit(
            task_id=task.id,
            crew_id=other_crew.id,
            collector_id=other_collector.id,
            check_in_at=now,
            check_in_lat=31.23,
            check_in_lon=121.47,
        )
    )
    recording = make._save(
        Recording(
            sha256="ab" * 32,
            size_bytes=10,
            content_type="audio/ogg",
            kind="audio",
            storage_key=f"recordings/ab/{'ab' * 32}.oga",
            duration_seconds=90,
            visit_id=visit.id,
            uploaded_by_id=other_agent.id,
        )
    )
    agreement = make._save(
        RepaymentAgreement(
            case_id=case.id,
            visit_id=visit.id,
            kind="promise",
            status="pending_approval",
            currency="CNY",
            total_minor=1000,
            waiver_minor=0,
            owed_minor=1000,
        )
    )
    flag = make._save(
        ConductFlag(
            kind="off_geofence",
            rule_id="cn.off_geofence",
            profile_version="cn@2026.1",
            collector_id=other_collector.id,
            case_id=case.id,
            visit_id=visit.id,
            details={},
        )
    )
    complaint = make._save(
        Complaint(
            case_id=case.id, debtor_id=case.debtor_id, channel="phone", category="rudeness", text="x", status="open"
        )
    )
    plan = make._save(
        DispatchPlan(
            plan_date=day,
            team_id=team_a.id,
            status="draft",
            policy_profile="cn@2026.1",
            result={"timezone": "Asia/Shanghai", "routes": [], "unassigned": [], "crews": []},
            summary={},
        )
    )
    # A finished export with its file, asked for by an auditor: nobody else's to see.
    from app import storage

    job_owner = make.user("auditor", username="export-owner")
    export = b"seq,hash\n1,abc\n"
    key = f"exports/{uuid.uuid4().hex}.csv"
    with make.app.app_context():
        storage.current().put(key, export, "text/csv")
    job = make._save(
        Job(
            id=str(uuid.uuid4()),
            name="export_visits",
            params={"format": "csv", "filters": {}},
            status="finished",
            runner="inline",
            requested_by_id=job_owner.id,
            result={"format": "csv", "rows": 1, "file": key, "sha256": hashlib.sha256(export).hexdigest()},
        )
    )
    contact = make._save(
        ContactAttempt(
            case_id=case.id, channel="call", purpose="contact", result="no_answer", occurred_at=now - timedelta(days=2)
        )
    )
    # Team A's weekly report, its files in storage: supervisor B's to neither list nor fetch.
    from app.models import TeamReport

    pages = {"csv": b"\xef\xbb\xbfkey\r\nTEAM-A\r\n", "html": b"<!doctype html><title>week</title>"}
    with make.app.app_context():
        for fmt, content in pages.items():
            storage.current().put(f"reports/weekly/hostile.{fmt}", content, "text/plain")
    report = make._save(
        TeamReport(
            team_id=team_a.id,
            week_start=day - timedelta(days=day.weekday() + 7),
            csv_key="reports/weekly/hostile.csv",
            html_key="reports/weekly/hostile.html",
            csv_sha256=hashlib.sha256(pages["csv"]).hexdigest(),
            html_sha256=hashlib.sha256(pages["html"]).hexdigest(),
        )
    )
    foreign = {
        "task_id": task.id,
        "case_id": case.id,
        "debtor_id": case.debtor_id,
        "collector_id": other_collector.id,
        "crew_id": other_crew.id,
        "plan_id": plan.id,
        "agreement_id": agreement.id,
        "flag_id": flag.id,
        "complaint_id": complaint.id,
        "user_id": other_agent.id,
        "job_id": job.id,
        "recording_id": recording.id,
        "report_id": report.id,
    }
    return {
        "headers": {
            "agent": {
                **make.token(agent),
                "X-Device-Id": "phone-hostile-01",
                "X-Device-Time": now.isoformat(),
                "X-Device-Seq": "1",
            },
            "supervisor_b": make.token(supervisor_b),
        },
        "users": {"agent": agent, "supervisor_b": supervisor_b},
        "foreign": foreign,
        "own_task": own_task.id,
        "visit": visit.id,
        "recording": recording.id,
        "contact": contact.id,
        "loan_ref": case.loan_ref,
        "other_collector_code": other_collector.code,
    }


# ---------------------------------------------------------------- helpers


def _bodies():
    """A valid body for each endpoint, taken from the role matrix, so the request
    reaches the lookup instead of stopping at validation."""
    bodies = {}
    for endpoint, method, path, body, _expected in MATRIX:
        query = path.partition("?")[2]
        bodies.setdefault((endpoint, method), (body, f"?{query}" if query and "{" not in query else ""))
    return bodies


def _normalised(response, *idents):
    """The answer with what legitimately differs taken out: the ids asked for and the
    client's event ids. The request id travels in a header, not in the body."""
    try:
        body = response.get_json()
    except Exception:
        body = None
    if body is None:
        text = response.get_data(as_text=True)
    else:
        _drop_event_ids(body)
        text = json.dumps(body, sort_keys=True, ensure_ascii=False)
    for ident in idents:
        text = re.sub(rf"(?<![0-9A-Za-z_-]){re.escape(str(ident))}(?![0-9A-Za-z_-])", "<id>", text)
    return response.status_code, text


def _drop_event_ids(value):
    if isinstance(value, dict):
        for key in list(value):
            if key == "client_event_id":
                value[key] = "<event>"
            else:
                _drop_event_ids(value[key])
    elif isinstance(value, list):
        for item in value:
            _drop_event_ids(item)


def _payload(body, role):
    if body is None:
        return None
    payload = body(role)
    if isinstance(payload, dict) and "client_event_id" in payload:
        payload["client_event_id"] = f"hostile-{uuid.uuid4().hex[:16]}"
    return payload


def _id_routes(app):
    """Every API route with an id in its path, with each of its methods."""
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if rule.rule.startswith("/api/v1") and rule.arguments:
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                yield rule, method


def _assert_envelope(response):
    assert set(response.json["error"]) >= {"code", "message", "fields"}, response.json


# ---------------------------------------------------------------- 1. no existence leak


@pytest.mark.parametrize("caller", ["agent", "supervisor_b"])
def test_a_row_out_of_scope_answers_exactly_like_a_row_that_does_not_exist(app, client, world, caller):
    from app import authz

    bodies = _bodies()
    user = world["users"][caller]
    headers = world["headers"][caller]
    checked, leaks = 0, []
    for rule, method in _id_routes(app):
        (argument,) = rule.arguments
        foreign = world["foreign"][argument]
        missing = MISSING_JOB if argument == "job_id" else MISSING_ID
        body, query = bodies.get((rule.endpoint, method), (None, ""))
        answers = []
        for ident in (foreign, missing):
            path = rule.build({argument: ident}, append_unknown=False)[1] + query
            payload = _payload(body, caller)
            response = client.open(path, method=method, json=payload, headers=headers)
            assert response.status_code < 500, (method, path, response.get_data(as_text=True))
            assert response.status_code in (403, 404), (method, path, response.status_code, response.json)
            _assert_envelope(response)
            answers.append(_normalised(response, foreign, missing))
        permission = app.view_functions[rule.endpoint].api_spec["permission"]
        if authz.allowed(user, permission):  # allowed to ask at all: the answer must be 404
            if answers[0][0] != 404:
                leaks.append((method, rule.rule, "status", answers[0][0]))
        if answers[0] != answers[1]:
            leaks.append((method, rule.rule, answers[0], answers[1]))
        checked += 1
    assert checked >= 25
    assert leaks == []


def test_the_agent_s_route_shows_nothing_of_another_crew(client, world, make):
    response = client.get(f"/api/v1/agent/route?date={make.today().isoformat()}", headers=world["headers"]["agent"])
    assert response.status_code == 200
    task_ids = {stop["task_id"] for stop in response.json["stops"]}
    assert world["own_task"] in task_ids and world["foreign"]["task_id"] not in task_ids


def test_another_auditor_s_export_answers_like_no_export_while_its_owner_downloads_it(client, world, make):
    from app.extensions import db
    from app.models import Job

    job_id = world["foreign"]["job_id"]
    with make.app.app_context():
        owner = db.session.get(Job, job_id).requested_by_id
    owner_headers = make.token(_user(make, owner))
    other = make.token(make.user("auditor", username="other-auditor"))
    assert client.get(f"/api/v1/jobs/{job_id}/file", headers=owner_headers).status_code == 200
    for suffix in ("", "/file"):
        foreign = client.get(f"/api/v1/jobs/{job_id}{suffix}", headers=other)
        missing = client.get(f"/api/v1/jobs/{MISSING_JOB}{suffix}", headers=other)
        assert foreign.status_code == missing.status_code == 404
        assert _normalised(foreign, job_id, MISSING_JOB) == _normalised(missing, job_id, MISSING_JOB)


def _user(make, user_id):
    from app.extensions import db
    from app.models import User

    with make.app.app_context():
        user = db.session.get(User, user_id)
        db.session.expunge(user)
        return user


def _sync(client, world, task_id):
    event = {
        "type": "visit",
        "task_id": task_id,
        "client_event_id": f"hostile-{uuid.uuid4().hex[:16]}",
        "seq": 1,
        "outcome": "not_home",
        "person_met": "nobody",
    }
    # Each phone of its own, so both answers stand in the same place of a phone's sequence.
    headers = {**world["headers"]["agent"], "X-Device-Id": f"phone-hostile-{uuid.uuid4().hex[:12]}"}
    return client.post("/api/v1/agent/sync", json={"events": [event]}, headers=headers)


def test_an_offline_event_for_another_crew_s_task_answers_like_one_for_no_task(client, world):
    foreign = _sync(client, world, world["foreign"]["task_id"])
    missing = _sync(client, world, MISSING_ID)
    assert foreign.status_code == missing.status_code == 200
    assert foreign.json["results"][0]["http_status"] == 404
    assert _normalised(foreign, world["foreign"]["task_id"], MISSING_ID) == _normalised(
        missing, world["foreign"]["task_id"], MISSING_ID
    )


def _upload(client, world, task_id):
    content = b"OggS" + b"x" * 200
    form = {
        "task_id": str(task_id),
        "sha256": hashlib.sha256(content).hexdigest(),
        "duration_seconds": "90",
        "file": (io.BytesIO(content), "a.ogg", "audio/ogg"),
    }
    return client.post(
        "/api/v1/agent/recordings", data=form, headers=world["headers"]["agent"], content_type="multipart/form-data"
    )


def test_a_recording_for_another_crew_s_task_answers_like_one_for_no_task(client, world):
    foreign, missing = _upload(client, world, world["foreign"]["task_id"]), _upload(client, world, MISSING_ID)
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json == missing.json


def test_linking_another_agent_s_recording_answers_like_linking_none(client, world):
    answers = []
    for recording_id in (world["recording"], MISSING_ID):
        body = {
            "client_event_id": f"hostile-{uuid.uuid4().hex[:16]}",
            "outcome": "not_home",
            "person_met": "nobody",
            "recording_ids": [recording_id],
        }
        response = client.post(
            f"/api/v1/agent/tasks/{world['own_task']}/visit", json=body, headers=world["headers"]["agent"]
        )
        _assert_envelope(response)
        answers.append(_normalised(response, world["recording"], MISSING_ID))
    assert answers[0][0] == 422
    assert answers[0] == answers[1]


COMPLAINT = {"channel": "phone", "category": "rudeness", "text": "hostile"}


@pytest.mark.parametrize("field", ["case_id", "debtor_id"])
def test_a_complaint_about_another_team_s_case_answers_like_one_about_nothing(client, world, field):
    answers = []
    for ident in (world["foreign"][field], MISSING_ID):
        response = client.post(
            "/api/v1/complaints", json={**COMPLAINT, field: ident}, headers=world["headers"]["supervisor_b"]
        )
        _assert_envelope(response)
        answers.append(_normalised(response, world["foreign"][field], MISSING_ID))
    assert answers[0][0] == 404
    assert answers[0] == answers[1]


def test_a_complaint_cannot_name_another_team_s_visit(client, world, make):
    own_case = make.case(team=_team(make, "TEAM-B"))
    answers = []
    for visit_id in (world["visit"], MISSING_ID):
        response = client.post(
            "/api/v1/complaints",
            json={**COMPLAINT, "debtor_id": own_case.debtor_id, "visit_id": visit_id},
            headers=world["headers"]["supervisor_b"],
        )
        answers.append(_normalised(response, world["visit"], MISSING_ID))
    assert answers[0][0] == 422, answers[0]
    assert answers[0] == answers[1]


def _team(make, code):
    from app.extensions import db
    from app.models import Team

    with make.app.app_context():
        return db.session.scalars(sa.select(Team).where(Team.code == code)).one()


def _collector_body(team):
    return {
        "code": f"NEW-{uuid.uuid4().hex[:6]}",
        "name": "New",
        "team": team,
        "home": {"lat": 31.2, "lon": 121.4},
        "shift_start": "09:00",
        "shift_end": "18:00",
    }


def _case_body(team):
    return {
        "loan_ref": f"LOAN-{uuid.uuid4().hex[:8]}",
        "product": "cash_loan",
        "currency": "CNY",
        "principal": "1000.00",
        "outstanding": "900.00",
        "days_past_due": 40,
        "team": team,
        "debtor": {"name": "Li Lei", "address": "1 Road", "lat": 31.2, "lon": 121.4},
    }


@pytest.mark.parametrize(
    "path,body",
    [
        ("/api/v1/collectors", _collector_body),
        ("/api/v1/cases", _case_body),
        ("/api/v1/crews", lambda team: {"code": f"CREW-{uuid.uuid4().hex[:6]}", "team": team, "members": ["B-FREE"]}),
    ],
)
def test_naming_another_team_answers_like_naming_no_team(client, world, path, body):
    answers = []
    for team in ("TEAM-A", "NO-SUCH-TEAM"):
        response = client.post(path, json=body(team), headers=world["headers"]["supervisor_b"])
        _assert_envelope(response)
        answers.append(_normalised(response, "TEAM-A", "NO-SUCH-TEAM"))
    assert answers[0][0] == 422
    assert answers[0] == answers[1]


def test_naming_another_team_s_collector_in_a_crew_answers_like_naming_nobody(client, world):
    answers = []
    for code in (world["other_collector_code"], "NOBODY-1"):
        response = client.post(
            "/api/v1/crews",
            json={"code": f"CREW-{uuid.uuid4().hex[:6]}", "team": "TEAM-B", "members": [code]},
            headers=world["headers"]["supervisor_b"],
        )
        _assert_envelope(response)
        answers.append(_normalised(response, world["other_collector_code"], "NOBODY-1"))
    assert answers[0][0] == 422
    assert answers[0] == answers[1]


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/tasks?crew={crew}",
        "/api/v1/conduct/flags?collector={collector}",
        "/api/v1/agreements?case_id={case}",
        "/api/v1/audit/visits?case={case}",
        "/api/v1/audit/visits?debtor={debtor}",
        "/api/v1/audit/visits?crew={crew}",
        "/api/v1/audit/visits?collector={collector}",
        "/api/v1/collectors/{collector_id}/conduct?from=2026-01-01&to=2030-01-01",
        "/api/v1/cases?team={team}",
        "/api/v1/collectors?team={team}",
        "/api/v1/crews?team={team}",
        "/api/v1/board?date=2030-01-01&team={team}",
        "/api/v1/board?date=2030-01-01&region={region}",
        "/api/v1/cases?loan_ref={loan_ref}",
    ],
)
def test_filtering_by_another_team_s_rows_answers_like_filtering_by_nothing(client, world, path):
    foreign = world["foreign"]
    real = {
        "crew": "CREW-OTHER",
        "collector": world["other_collector_code"],
        "case": foreign["case_id"],
        "debtor": foreign["debtor_id"],
        "collector_id": foreign["collector_id"],
        "team": "TEAM-A",
        "region": "RA",
        "loan_ref": world["loan_ref"],
    }
    fake = {
        "crew": "NO-CREW",
        "collector": "NO-COLLECTOR",
        "case": MISSING_ID,
        "debtor": MISSING_ID,
        "collector_id": MISSING_ID,
        "team": "NO-TEAM",
        "region": "NO-REGION",
        "loan_ref": "NO-LOAN",
    }
    answers = []
    for values in (real, fake):
        response = client.get(path.format(**values), headers=world["headers"]["supervisor_b"])
        assert response.status_code < 500
        answers.append(_normalised(response, *real.values(), *fake.values()))
    assert answers[0] == answers[1]


# ---------------------------------------------------------------- 2. injection and traversal probes

PROBES = [
    "' OR '1'='1",
    "1; DROP TABLE cases;--",
    "' UNION SELECT password_hash, token_hash FROM users, api_tokens--",
    "1) OR 1=1 --",
    "../../etc/passwd",
    "..%2f..%2fetc%2fpasswd",
    "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "..\\..\\windows\\win.ini",
    "a\x00b",
    "\x00",
    "x" * 10_000,
    "债务人😀𝕏\u202e\ufeffß",
    "<script>alert(1)</script>",
    "${jndi:ldap://x}/{{7*7}}",
    "-1",
    "1e309",
]


@pytest.fixture()
def probed(app, client, world, make, monkeypatch):
    """The world, with an admin and an auditor, and login throttling raised so every
    login probe reaches the database instead of stopping at 429."""
    monkeypatch.setitem(app.config, "LOGIN_RATE_LIMIT", "100000 per minute")
    admin, auditor = make.user("admin", username="probe-admin"), make.user("auditor", username="probe-auditor")
    world["headers"] |= {"admin": make.token(admin), "auditor": make.token(auditor)}
    return world


def _snapshot(app, db):
    """Row counts of every table, and the audit chain's head."""
    from app.models import AuditEvent

    with app.app_context():
        counts = table_counts(db.session, db.metadata.sorted_tables)
        head = db.session.execute(
            sa.select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1)
        ).first()
    return counts, tuple(head) if head else None


def _new_audit_actions(app, db, since_head):
    from app.models import AuditEvent

    with app.app_context():
        stmt = sa.select(AuditEvent.action)
        if since_head:
            stmt = stmt.where(AuditEvent.seq > since_head[0])
        return set(db.session.scalars(stmt))


def _check(response, where):
    assert response.status_code < 500, (where, response.status_code, response.get_data(as_text=True)[:500])
    if response.status_code >= 400:
        body = response.get_json(silent=True)
        assert body and set(body["error"]) >= {"code", "message", "fields"}, (where, response.status_code)


def _unchanged_but_for(app, db, before, allowed_actions, where):
    """Nothing changed but the audit log (these actions) and, for a refused field event,
    its own record (kept, so a resend gets the same answer)."""
    counts, head = _snapshot(app, db)
    before_counts, before_head = before
    if allowed_actions is REFUSAL_AUDITS:  # the refused event, and a flag if its id came back with other content
        counts, before_counts = (
            {k: v for k, v in c.items() if k not in ("client_events", "conduct_flags")} for c in (counts, before_counts)
        )
    # The phone's contact is on record even when what it sent was not (its clock, its outbox mark).
    changed = {t for t in counts if counts[t] != before_counts[t]} - AUDIT_TABLES - {"devices", "device_contacts"}
    assert changed == set(), (where, changed)
    if head != before_head:
        assert _new_audit_actions(app, db, before_head) <= allowed_actions, where


# The audit log: its events, the personal values kept beside them, the debtors each is about.
AUDIT_TABLES = {"audit_events", "audit_personal_values", "audit_event_subjects"}
# Reads that are themselves audited (an export and its download, an auditor's view of personal data).
READ_AUDITS = {"audit.exported", "audit.export_downloaded", "pii.read", "report.downloaded"}


@pytest.mark.slow
@pytest.mark.parametrize("staff", ["admin", "supervisor_b"])
def test_probes_in_every_query_parameter_of_every_get_endpoint_change_nothing(app, db, client, probed, staff):
    from urllib.parse import quote

    spec = client.get("/api/v1/openapi.json").json
    headers = probed["headers"]
    own = probed["foreign"]  # the admin may see all of them
    sent = 0
    before = _snapshot(app, db)
    for template, operations in spec["paths"].items():
        if "get" not in operations:
            continue
        operation = operations["get"]
        params = [p["name"] for p in operation.get("parameters", []) if p["in"] == "query"] + ["unknown_param"]
        role = "agent" if template.startswith("/api/v1/agent/") else staff
        path = template.format(**{k: own[k] for k in own})
        for name in params:
            for probe in PROBES:
                response = client.get(f"{path}?{quote(name)}={quote(probe, safe='')}", headers=headers[role])
                _check(response, (path, name, probe[:40]))
                response.close()
                sent += 1
    _unchanged_but_for(app, db, before, READ_AUDITS, "query probes")
    assert sent >= 60 * len(PROBES)


def test_probes_in_every_path_segment_answer_404_with_the_envelope(app, db, client, probed):
    from urllib.parse import quote

    before = _snapshot(app, db)
    sent = 0
    for rule, method in _id_routes(app):
        (argument,) = rule.arguments
        for probe in PROBES:
            path = rule.rule.replace(f"<int:{argument}>", quote(probe, safe="")).replace(
                f"<{argument}>", quote(probe, safe="")
            )
            response = client.open(path, method=method, json={}, headers=probed["headers"]["admin"])
            _check(response, (method, path[:80]))
            assert response.status_code in (404, 405, 422), (method, path[:80], response.status_code)
            sent += 1
    _unchanged_but_for(app, db, before, set(), "path probes")
    assert sent >= 25 * len(PROBES)


def _string_paths(value, prefix=()):
    """Where the strings are in a JSON body, as key paths."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _string_paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _string_paths(item, (*prefix, index))
    elif isinstance(value, str):
        yield prefix


def _replaced(value, path, probe):
    if not path:
        return probe
    copy = json.loads(json.dumps(value))
    target = copy
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = probe
    return copy


def _json_bodies(probed):
    """Each endpoint taking a JSON body, once, with a valid body and a caller allowed to send it."""
    ids = {**probed["foreign"], "loan_a": None, "in_visit": probed["own_task"]}
    seen = set()
    for endpoint, method, path, body, expected in MATRIX:
        if body is None or (endpoint, method) in seen:
            continue
        role = next((r for r in ("admin", "agent", "auditor") if expected[r] < 300), None)
        payload = body(role or "admin")
        if role is None or not isinstance(payload, dict) or "__multipart__" in payload:
            continue
        seen.add((endpoint, method))
        if role == "agent":
            path = path.replace("{in_visit}", str(probed["own_task"])).replace("{crew_task}", str(probed["own_task"]))
        path = path.replace("{case_a}", str(ids["case_id"])).replace("{debtor_a}", str(ids["debtor_id"]))
        path = path.replace("{collector_a}", str(ids["collector_id"])).replace("{crew_a}", str(ids["crew_id"]))
        path = path.replace("{plan_a}", str(ids["plan_id"])).replace("{agreement_a}", str(ids["agreement_id"]))
        path = path.replace("{flag_a}", str(ids["flag_id"])).replace("{complaint}", str(ids["complaint_id"]))
        path = path.replace("{user_x}", str(ids["user_id"])).replace("{open_task}", str(ids["task_id"]))
        if "{" in path:
            continue
        yield endpoint, method, path, payload, role


# What a refused write may still leave behind: the record of the refusal itself.
REFUSAL_AUDITS = {
    "field.event_refused",
    "field.event_payload_mismatch",
    "field.sequence_gap",
    "field.sequence_late",
    "conduct_flag.raised",
    "field.check_in.rejected",
    "field.check_out.rejected",
    "field.visit.rejected",
    "field.synced",
    "field.check_in.conflict",
    "field.check_out.conflict",
    "field.visit.conflict",
    "task.assign_refused",
    "task.unassign_refused",
}


@pytest.mark.slow
def test_probes_in_every_json_string_field_are_refused_or_stored_as_text(app, db, client, probed):
    """A refused probe writes nothing (but the record of a refused field event); an
    accepted one is plain text: no table loses a row, and the audit chain still verifies."""
    sent = refused = 0
    endpoints = set()
    for endpoint, method, path, payload, role in _json_bodies(probed):
        endpoints.add(endpoint)
        for field in _string_paths(payload):
            if field and field[-1] == "client_event_id":
                continue
            for probe in PROBES:
                body = _replaced(payload, field, probe)
                if "client_event_id" in body:
                    body["client_event_id"] = f"probe-{uuid.uuid4().hex[:20]}"
                before = _snapshot(app, db)
                response = client.open(path, method=method, json=body, headers=probed["headers"][role])
                where = (method, path, field, probe[:30])
                _check(response, where)
                sent += 1
                if response.status_code >= 400:
                    refused += 1
                    _unchanged_but_for(app, db, before, REFUSAL_AUDITS, where)
                else:
                    counts, _head = _snapshot(app, db)
                    assert all(counts[t] >= before[0][t] for t in counts), where
    assert len(endpoints) >= 20 and refused > 0
    verify = client.get("/api/v1/audit/verify", headers=probed["headers"]["auditor"])
    assert verify.status_code == 200 and verify.json["ok"], verify.json


@pytest.mark.parametrize("depth", [10, 500, 950, 975, 999, 5_000, 100_000])
def test_json_nested_as_deep_as_the_parser_allows_or_deeper_is_never_a_500(app, db, client, probed, depth):
    """Too deep to parse is 400; a NUL far down is 422 with an answer shallow enough to write."""
    before = _snapshot(app, db)
    for leaf in ('"\\u0000"', "1"):
        nested = '{"a":' * depth + leaf + "}" * depth
        for path, body, role in (
            ("/api/v1/auth/login", f'{{"username": {nested}, "password": "x"}}', None),
            ("/api/v1/complaints", f'{{"text": "a", "channel": "phone", "category": "other", "x": {nested}}}', "admin"),
            ("/api/v1/agent/sync", f'{{"events": [{nested}]}}', "agent"),
            (
                "/api/v1/agent/sync",
                f'{{"events": [{{"type": "visit", "task_id": {probed["own_task"]:d}, '
                f'"client_event_id": "deep-{depth:d}", "outcome": "not_home", "notes": {nested}}}]}}',
                "agent",
            ),
        ):
            response = client.post(
                path, data=body, content_type="application/json", headers=probed["headers"][role] if role else {}
            )
            _check(response, (path, depth, leaf))
    _unchanged_but_for(app, db, before, REFUSAL_AUDITS, ("deep", depth))


def test_probes_as_login_username_or_password_are_refused_alike(app, db, client, probed):
    before = _snapshot(app, db)
    answers = set()
    for probe in PROBES:
        for body in (
            {"username": probe, "password": "whatever-password"},
            {"username": "probe-admin", "password": probe},
            {"username": probe, "password": probe},
        ):
            response = client.post("/api/v1/auth/login", json=body)
            _check(response, ("login", probe[:30]))
            assert response.status_code in (401, 422), (probe[:30], response.status_code)
            if response.status_code == 401:
                answers.add(json.dumps(response.json, sort_keys=True))
    assert len(answers) == 1  # one answer for every wrong credential
    _unchanged_but_for(app, db, before, set(), "login probes")


@pytest.mark.parametrize("sha256", PROBES + ["../" * 20 + "etc/passwd" + "0" * 10])
def test_a_recording_upload_cannot_name_its_own_storage_path(client, probed, sha256):
    content = b"OggS" + b"y" * 100
    form = {
        "task_id": str(probed["own_task"]),
        "sha256": sha256,
        "duration_seconds": "90",
        "file": (io.BytesIO(content), "../../../../etc/passwd", "audio/ogg"),
    }
    response = client.post(
        "/api/v1/agent/recordings", data=form, headers=probed["headers"]["agent"], content_type="multipart/form-data"
    )
    _check(response, sha256[:30])
    assert response.status_code == 422


def test_an_uploaded_recording_lands_inside_the_storage_folder_whatever_its_file_name(app, client, probed):
    from pathlib import Path

    content = b"OggS" + b"z" * 100
    form = {
        "task_id": str(probed["own_task"]),
        "sha256": hashlib.sha256(content).hexdigest(),
        "duration_seconds": "90",
        "file": (io.BytesIO(content), "../../../../tmp/evil.ogg", "audio/ogg"),
    }
    response = client.post(
        "/api/v1/agent/recordings", data=form, headers=probed["headers"]["agent"], content_type="multipart/form-data"
    )
    assert response.status_code == 201, response.json
    root = Path(app.config["STORAGE_DIR"]).resolve()
    stored = [
        p
        for p in root.rglob("*")
        if p.is_file() and hashlib.sha256(p.read_bytes()).hexdigest() == hashlib.sha256(content).hexdigest()
    ]
    assert stored and all(root in p.resolve().parents for p in stored)


@pytest.mark.parametrize(
    "key",
    PROBES + ["/etc/passwd", "recordings/../../outside", "recordings/%2e%2e/x", "recordings/ab/" + "../" * 5 + "x"],
)
def test_no_storage_key_escapes_the_storage_folder(tmp_path, key):
    from app.storage import LocalStorage, StorageError

    root = tmp_path / "store"
    storage = LocalStorage(root)
    try:
        storage.put(key, b"data", "application/octet-stream")
    except (ValueError, OSError, StorageError):
        pass  # refused: escapes, or a name the file system will not take (NUL, too long)
    outside = [p for p in tmp_path.rglob("*") if p.is_file() and root.resolve() not in p.resolve().parents]
    assert outside == []
    with pytest.raises((ValueError, OSError, FileNotFoundError)):
        storage.get("../" * 8 + "etc/passwd")


IMPORT_COLUMNS = [
    "loan_ref",
    "product",
    "currency",
    "principal",
    "outstanding",
    "days_past_due",
    "debtor_name",
    "address",
    "lat",
    "lon",
    "team",
    "phone",
    "national_id",
    "timezone",
    "language",
    "stage",
]
IMPORT_ROW = [
    "HOSTILE-1",
    "cash_loan",
    "CNY",
    "100.00",
    "90.00",
    "31",
    "Wang Fang",
    "2 Road",
    "31.2",
    "121.4",
    "TEAM-A",
    "13800001234",
    "310101199001011234",
    "Asia/Shanghai",
    "zh",
    "field_visit",
]


@pytest.mark.slow
def test_probes_in_every_column_of_a_csv_import_are_refused_or_stored_as_text(app, db, client, probed):
    import csv

    sent = 0
    for column in range(len(IMPORT_COLUMNS)):
        for probe in PROBES:
            row = list(IMPORT_ROW)
            row[column] = probe
            buffer = io.StringIO()
            csv.writer(buffer).writerows([IMPORT_COLUMNS, row])
            before = _snapshot(app, db)
            response = client.post(
                "/api/v1/cases/import?team=TEAM-A&dry_run=true",
                data=buffer.getvalue().encode(),
                headers={**probed["headers"]["admin"], "Content-Type": "text/csv"},
            )
            _check(response, (IMPORT_COLUMNS[column], probe[:30]))
            _unchanged_but_for(app, db, before, {"cases.import.dry_run", "import.dry_run"}, IMPORT_COLUMNS[column])
            sent += 1
    assert sent == len(IMPORT_COLUMNS) * len(PROBES)


def test_importing_into_another_team_answers_like_importing_into_no_team(client, world):
    import csv

    answers = []
    for team in ("TEAM-A", "NO-SUCH-TEAM"):
        row = list(IMPORT_ROW)
        row[IMPORT_COLUMNS.index("team")] = team
        buffer = io.StringIO()
        csv.writer(buffer).writerows([IMPORT_COLUMNS, row])
        response = client.post(
            "/api/v1/cases/import",
            data=buffer.getvalue().encode(),
            headers={**world["headers"]["supervisor_b"], "Content-Type": "text/csv"},
        )
        answers.append(_normalised(response, "TEAM-A", "NO-SUCH-TEAM"))
    assert answers[0][0] == 422
    assert answers[0] == answers[1]


# ---------------------------------------------------------------- 4. personal data out of the logs

PLANTED_PHONE = "13912345678"
PLANTED_NATIONAL_ID = "31010119850505123X"
PLANTED_NAME = "Zhuge Kongming"
PLANTED_PASSWORD = "planted-password-987"


@pytest.fixture()
def log_output(app):
    """Everything logged while the test runs, written by the service's own handler
    (JSON lines, the masking filter), from every logger."""
    import logging

    from app.observability import log_handler

    stream = io.StringIO()
    handler = log_handler(stream)
    handler.setLevel(logging.DEBUG)
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)


def test_no_phone_national_id_name_password_or_token_reaches_the_logs(app, client, make, log_output, monkeypatch):
    import sqlalchemy.exc

    from app.services import cases

    monkeypatch.setitem(app.config, "LOGIN_RATE_LIMIT", "1000 per minute")
    team = make.team(code="LOG-TEAM")
    make.user("admin", username="log-admin", password=PLANTED_PASSWORD)
    debtor = make.debtor(name=PLANTED_NAME, phone=PLANTED_PHONE, national_id=PLANTED_NATIONAL_ID)
    make.case(team=team, debtor=debtor)

    # Sign in (once wrongly, with the password as the username), read the debtor whole.
    assert (
        client.post("/api/v1/auth/login", json={"username": PLANTED_PASSWORD, "password": PLANTED_PASSWORD}).status_code
        == 401
    )
    token = client.post("/api/v1/auth/login", json={"username": "log-admin", "password": PLANTED_PASSWORD}).json[
        "access_token"
    ]
    headers = {"Authorization": f"Bearer {token}", "X-Request-ID": "log-test"}
    read = client.get(f"/api/v1/debtors/{debtor.id}", headers=headers)
    assert read.status_code == 200 and read.json["phone"] == PLANTED_PHONE  # the admin sees it whole; logs do not
    # An import carrying personal data, and a refused write carrying it too.
    csv_body = (
        "loan_ref,product,currency,principal,outstanding,days_past_due,debtor_name,address,lat,lon,phone,"
        f"national_id\nLOG-1,cash_loan,CNY,100.00,90.00,31,{PLANTED_NAME},2 Road,31.2,121.4,{PLANTED_PHONE},"
        f"{PLANTED_NATIONAL_ID}\n"
    )
    assert (
        client.post(
            "/api/v1/cases/import?team=LOG-TEAM",
            data=csv_body.encode(),
            headers={**headers, "Content-Type": "text/csv"},
        ).status_code
        == 200
    )
    refused = client.patch(
        f"/api/v1/debtors/{debtor.id}",
        headers=headers,
        json={"phone": PLANTED_PHONE, "national_id": PLANTED_NATIONAL_ID, "lat": 91},
    )
    assert refused.status_code == 422
    # Query strings are not logged either.
    client.get(f"/api/v1/cases?loan_ref={PLANTED_PHONE}&team=LOG-TEAM", headers=headers)
    # A 500 whose exception carries personal data, as a database error does in its message.
    monkeypatch.setitem(app.config, "PROPAGATE_UNEXPECTED", False)

    def broken(debtor_id, user):
        password = PLANTED_PASSWORD  # a local in the failing frame: tracebacks carry no locals
        raise sqlalchemy.exc.IntegrityError(
            "INSERT INTO debtors (name, phone, national_id) VALUES (%(name)s, %(phone)s, %(national_id)s)",
            {"name": PLANTED_NAME, "phone": PLANTED_PHONE, "national_id": PLANTED_NATIONAL_ID, "pw": password},
            Exception(
                f"duplicate key value violates unique constraint\nDETAIL:  Key (national_id)=("
                f"{PLANTED_NATIONAL_ID}) already exists. Authorization: Bearer {token} phone {PLANTED_PHONE}"
            ),
        )

    monkeypatch.setattr(cases, "get_debtor", broken)
    failed = client.get(f"/api/v1/debtors/{debtor.id}", headers=headers)
    assert failed.status_code == 500 and failed.json["error"]["code"] == "internal_error"
    assert PLANTED_PHONE not in failed.get_data(as_text=True)

    output = log_output.getvalue()
    lines = [json.loads(line) for line in output.splitlines()]
    assert any(line.get("status") == 500 for line in lines)  # the requests were logged
    assert any("exception" in line and "IntegrityError" in line["exception"] for line in lines)
    assert any(line.get("request_id") == "log-test" for line in lines)
    for planted in (
        PLANTED_PHONE,
        PLANTED_NATIONAL_ID,
        PLANTED_NAME,
        PLANTED_PASSWORD,
        token,
        PLANTED_NATIONAL_ID[:-1],
        "Kongming",
    ):
        assert planted not in output, planted
    assert "139****5678" in output  # masked, still recognisable to whoever debugs


def test_the_masking_keeps_what_an_operator_needs():
    from app.observability import redact

    assert redact("phone 13812345678") == "phone 138****5678"
    assert redact("id 31010119900101123X") == "id 310101********123X"
    assert redact("Authorization: Bearer abc.DEF-123").count("abc.DEF-123") == 0
    assert redact('{"password": "hunter2-hunter2"}') == '{"password": [redacted]}'
    assert redact("GET /x?phone=138&limit=5") == "GET /x?phone=[redacted]&limit=5"
    unchanged = "GET /api/v1/cases/12 200 at 2026-11-29T05:00:00+00:00 seq 1234567 hash 0f3a9912345678901bc"
    assert redact(unchanged) == unchanged


# ---------------------------------------------------------------- tokens and headers on every route


def _every_route(app):
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            values = {arg: ("x.css" if arg == "filename" else 1) for arg in rule.arguments}
            yield rule, method, rule.build(values, append_unknown=False)[1]


def test_expired_and_revoked_tokens_are_refused_on_every_authenticated_route(app, client, world, make):
    from app.extensions import db
    from app.models import ApiToken

    agent = world["users"]["agent"]
    expired = make.token(agent, expires_in=timedelta(seconds=-1))
    revoked = make.token(make.user("admin", username="revoked-admin"))
    with make.app.app_context():
        db.session.execute(
            sa.update(ApiToken)
            .where(
                ApiToken.user_id != agent.id, ApiToken.revoked_at.is_(None), ApiToken.user.has(username="revoked-admin")
            )
            .values(revoked_at=make.now())
        )
        db.session.commit()
    checked = 0
    for rule, method, path in _every_route(app):
        view = app.view_functions[rule.endpoint]
        if getattr(view, "api_spec", {}).get("permission") is None:
            continue
        for headers, code in ((expired, "token_expired"), (revoked, "invalid_token")):
            response = client.open(path, method=method, json={}, headers=headers)
            assert response.status_code == 401, (method, path, response.status_code)
            assert response.json["error"]["code"] == code
        checked += 1
    assert checked >= 55


def test_security_headers_are_on_every_response_errors_included(app, client, world, monkeypatch):
    from app.services.field import agent_route

    def broken(*_args):
        raise RuntimeError("a bug")

    monkeypatch.setitem(app.config, "PROPAGATE_UNEXPECTED", False)
    monkeypatch.setattr(agent_route, "route", broken)
    responses = [client.get("/api/v1/agent/route", headers=world["headers"]["agent"])]  # a 500
    for rule, method, path in _every_route(app):
        if rule.endpoint != "api.auth.logout":  # it would revoke the token for the rest
            responses.append(client.open(path, method=method, json={}, headers=world["headers"]["agent"]))
    responses.append(client.post("/api/v1/auth/logout", headers=world["headers"]["agent"]))
    responses += [
        client.get("/no/such/page"),
        client.delete("/api/v1/me"),
        client.get("/healthz"),
        client.get("/api/v1/me"),
        client.post("/api/v1/auth/login", data="not json", content_type="application/json"),
    ]
    assert {r.status_code for r in responses} >= {200, 400, 401, 403, 404, 405, 500}
    for response in responses:
        headers = response.headers
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["Referrer-Policy"] == "no-referrer"
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
        assert headers["X-Request-ID"]
        response.close()
