"""The visit log auditors pull (and supervisors, for their teams), and the record of
auditors' reads of personal data."""

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from app import audit
from app.models import AuditEvent, ConductFlag, Recording, RepaymentAgreement, Visit, VisitTask

T0 = datetime(2026, 3, 10, 2, 30, tzinfo=UTC)  # 10:30 in Shanghai


def make_visit(
    make,
    case,
    crew,
    collector,
    at=T0,
    *,
    outcome="promise_to_pay",
    person_met="debtor",
    notes=None,
    checked_out=True,
    recordings=(),
    agreement=None,
    flags=(),
):
    """A finished visit with what the phone app would have sent, written directly (no API yet)."""
    task = make._save(VisitTask(case_id=case.id, visit_date=at.date(), status="done", crew_id=crew.id, priority=10))
    out = {}
    if checked_out:
        out = dict(
            check_out_at=at + timedelta(minutes=25),
            check_out_device_at=at + timedelta(minutes=24),
            check_out_lat=31.2318,
            check_out_lon=121.4847,
            check_out_accuracy_m=9.0,
            check_out_distance_m=30.0,
        )
    visit = make._save(
        Visit(
            task_id=task.id,
            crew_id=crew.id,
            collector_id=collector.id,
            check_in_at=at,
            check_in_device_at=at - timedelta(seconds=40),
            check_in_received_at=at + timedelta(seconds=2),
            check_in_basis="server",
            check_in_lat=31.2317,
            check_in_lon=121.4846,
            check_in_accuracy_m=12.5,
            check_in_distance_m=35.5,
            outcome=outcome,
            person_met=person_met,
            notes=notes,
            outcome_at=at + timedelta(minutes=20) if outcome else None,
            **out,
        )
    )
    for n, sha in enumerate(recordings):
        make._save(
            Recording(
                sha256=sha,
                size_bytes=48_000 + n,
                content_type="audio/mp4",
                kind="audio",
                storage_key=f"recordings/{visit.id}-{n}",
                duration_seconds=1500,
                visit_id=visit.id,
            )
        )
    if agreement:
        make._save(RepaymentAgreement(case_id=case.id, visit_id=visit.id, currency="CNY", waiver_minor=0, **agreement))
    for kind in flags:
        make._save(
            ConductFlag(
                kind=kind,
                rule_id=f"cn.{kind}",
                profile_version="cn@2026.1",
                collector_id=collector.id,
                crew_id=crew.id,
                case_id=case.id,
                task_id=task.id,
                visit_id=visit.id,
                details={},
            )
        )
    return visit


@pytest.fixture()
def field(make):
    region = make.region(code="SH")
    team_a, team_b = make.team(code="TEAM-A", region=region), make.team(code="TEAM-B", region=region)
    crew_a, crew_b = make.crew(team=team_a, members=0, code="K-A"), make.crew(team=team_b, members=0, code="K-B")
    col_a = make.collector(team=team_a, crew=crew_a, code="COL-A")
    col_a2 = make.collector(team=team_a, crew=crew_a, code="COL-A2")
    col_b = make.collector(team=team_b, crew=crew_b, code="COL-B")
    case_a, case_b = make.case(team=team_a, loan_ref="LOAN-A"), make.case(team=team_b, loan_ref="LOAN-B")
    visits = {
        "full": make_visit(
            make,
            case_a,
            crew_a,
            col_a,
            T0,
            notes="Met Mr Li at the door; agreed to pay.",
            recordings=("a" * 64, "b" * 64),
            agreement={"kind": "instalment", "status": "active", "total_minor": 600_000},
            flags=("geofence_outside",),
        ),
        "open": make_visit(
            make,
            case_a,
            crew_a,
            col_a2,
            T0 + timedelta(days=20),
            outcome="not_home",
            person_met=None,
            checked_out=False,
        ),
        "other_team": make_visit(
            make,
            case_b,
            crew_b,
            col_b,
            T0 + timedelta(days=1),
            outcome="refused",
            person_met="relative",
            flags=("out_of_hours",),
        ),
    }
    users = {
        "auditor": make.user("auditor"),
        "admin": make.user("admin"),
        "supervisor": make.user("supervisor", team=team_a),
        "agent": make.user("agent"),
    }
    return {
        "visits": visits,
        "case_a": case_a,
        "case_b": case_b,
        "crew_a": crew_a,
        "col_a": col_a,
        "headers": {role: make.token(user) for role, user in users.items()},
        "users": users,
    }


def pull(client, field, query="", role="auditor"):
    response = client.get(f"/api/v1/audit/visits{query}", headers=field["headers"][role])
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    return response


def ids(client, field, query="", role="auditor"):
    return [item["id"] for item in pull(client, field, query, role).json["items"]]


def events(app, db, action):
    with app.app_context():
        return db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)
        ).all()


# ---------------------------------------------------------------- the visit log


def test_a_visit_shows_times_places_people_outcome_recordings_agreement_and_flags(client, field):
    item = pull(client, field, f"?case={field['case_a'].id}").json["items"][0]
    visit = field["visits"]["full"]
    assert item["id"] == visit.id and item["case"] == {"id": field["case_a"].id, "loan_ref": "LOAN-A"}
    assert (item["team"], item["crew"], item["collector"]) == ("TEAM-A", "K-A", "COL-A")
    assert item["debtor_id"] == field["case_a"].debtor_id and item["visit_date"] == "2026-03-10"
    assert item["check_in"] == {
        "at": "2026-03-10T02:30:00+00:00",
        "received_at": "2026-03-10T02:30:02+00:00",
        "device_at": "2026-03-10T02:29:20+00:00",
        "time_basis": "server",
        "lat": 31.2317,
        "lon": 121.4846,
        "accuracy_m": 12.5,
        "distance_m": 35.5,
        "mock": False,
    }
    assert item["check_out"]["at"] == "2026-03-10T02:55:00+00:00" and item["check_out"]["distance_m"] == 30.0
    assert (item["outcome"], item["person_met"]) == ("promise_to_pay", "debtor")
    assert item["outcome_at"] == "2026-03-10T02:50:00+00:00"
    assert item["notes"] == "Met Mr Li at the door; agreed to pay."
    assert [r["sha256"] for r in item["recordings"]] == ["a" * 64, "b" * 64]
    assert [(a["kind"], a["status"], a["total"], a["currency"]) for a in item["agreements"]] == [
        ("instalment", "active", "6000.00", "CNY")
    ]
    assert [(f["kind"], f["rule_id"], f["status"]) for f in item["flags"]] == [
        ("geofence_outside", "cn.geofence_outside", "open")
    ]


def test_a_visit_not_yet_checked_out_has_no_check_out(client, field):
    item = pull(client, field, "?outcome=not_home").json["items"][0]
    assert item["check_out"] is None and item["recordings"] == [] and item["agreements"] == []


def test_visits_are_filtered_by_collector_crew_case_loan_debtor_time_outcome_and_flag(client, field):
    full, open_, other = (field["visits"][k].id for k in ("full", "open", "other_team"))
    assert ids(client, field) == [full, open_, other]
    assert ids(client, field, "?collector=COL-A") == [full]
    assert ids(client, field, "?crew=K-A") == [full, open_]
    assert ids(client, field, f"?case={field['case_b'].id}") == [other]
    assert ids(client, field, "?loan_ref=LOAN-A") == [full, open_]
    assert ids(client, field, f"?debtor={field['case_b'].debtor_id}") == [other]
    assert ids(client, field, "?from=2026-03-10&to=2026-03-11") == [full, other]
    assert ids(client, field, "?from=2026-03-10T10:31:00%2B08:00") == [open_, other]
    assert ids(client, field, "?outcome=refused") == [other]
    assert ids(client, field, "?flag=geofence_outside") == [full]
    assert ids(client, field, "?flag=geofence_outside&crew=K-B") == []
    assert ids(client, field, "?collector=NOBODY") == []


def test_the_visit_log_pages_by_visit_id(client, field):
    first = pull(client, field, "?limit=2").json
    assert len(first["items"]) == 2 and first["next_after"] == first["items"][-1]["id"]
    rest = pull(client, field, f"?limit=2&after={first['next_after']}").json
    assert [i["id"] for i in first["items"] + rest["items"]] == sorted(v.id for v in field["visits"].values())
    assert rest["next_after"] is None


def test_a_supervisor_reads_only_the_visits_of_their_team(client, field):
    full, open_ = field["visits"]["full"].id, field["visits"]["open"].id
    assert ids(client, field, role="supervisor") == [full, open_]
    assert ids(client, field, "?collector=COL-B", role="supervisor") == []
    lines = pull(client, field, "?format=ndjson", role="supervisor").get_data(as_text=True).splitlines()
    assert [json.loads(line)["id"] for line in lines] == [full, open_]


def test_a_supervisor_sees_a_visit_their_crew_made_on_another_teams_case(make, client, field):
    crossing = make_visit(make, field["case_b"], field["crew_a"], field["col_a"], T0 + timedelta(days=3))
    assert crossing.id in ids(client, field, role="supervisor")


def test_an_agent_may_not_read_the_visit_log(client, field):
    response = client.get("/api/v1/audit/visits", headers=field["headers"]["agent"])
    assert response.status_code == 403 and response.json["error"]["code"] == "forbidden"


def test_a_page_of_visits_costs_the_same_few_queries_however_many_visits_it_holds(make, client, field, query_counter):
    pull(client, field, "?limit=1")  # the chain's first append skips reading the last stamp
    with query_counter() as few:
        pull(client, field, "?limit=1")
    team, crew, collector = make.team(code="TEAM-M"), None, None
    crew = make.crew(team=team, members=0, code="K-M")
    collector = make.collector(team=team, crew=crew)
    for n in range(12):
        make_visit(
            make,
            make.case(team=team),
            crew,
            collector,
            T0 + timedelta(days=n),
            recordings=(f"{n:064d}",),
            agreement={"kind": "promise", "status": "active", "total_minor": 100},
            flags=("late",),
        )
    with query_counter() as many:
        assert len(pull(client, field, "?limit=15").json["items"]) == 15
    assert many() == few()


def test_the_visit_log_exports_as_csv_with_one_row_per_visit(client, field):
    response = pull(client, field, "?format=csv")
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == 'attachment; filename="visits.csv"'
    rows = list(csv.DictReader(io.StringIO(response.data.decode("utf-8-sig"))))
    assert [int(r["id"]) for r in rows] == sorted(v.id for v in field["visits"].values())
    full = rows[0]
    assert full["recording_sha256"] == f"{'a' * 64};{'b' * 64}"
    assert (full["agreement_kind"], full["agreement_total"], full["flag_kinds"]) == (
        "instalment",
        "6000.00",
        "geofence_outside",
    )
    assert full["check_in_at"] == "2026-03-10T02:30:00+00:00" and full["check_in_distance_m"] == "35.5"
    assert full["outcome_at"] == "2026-03-10T02:50:00+00:00"
    assert rows[1]["check_out_at"] == "" and rows[1]["person_met"] == ""


def test_the_csv_starts_with_a_byte_order_mark_so_excel_reads_chinese_notes(make, client, field):
    case = make.case(team=make.team(code="TEAM-X"))
    make_visit(
        make,
        case,
        make.crew(team=make.team(code="TEAM-Y"), members=0),
        make.collector(),
        T0,
        notes="债务人同意周五还款",
    )
    body = pull(client, field, f"?case={case.id}&format=csv").data
    assert body.startswith(b"\xef\xbb\xbfid,") and "债务人同意周五还款" in body.decode("utf-8-sig")
    assert not pull(client, field, f"?case={case.id}&format=ndjson").data.startswith(b"\xef\xbb\xbf")


@pytest.mark.parametrize(
    "query,name",
    [
        ("?from=2026-03-01&to=2026-03-31&collector=C-1", "visits-2026-03-01-2026-03-31-C-1.csv"),
        ("?crew=K-A&outcome=refused&format=ndjson", "visits-K-A-refused.ndjson"),
        ("?from=2026-03-01T08:00:00%2B08:00", "visits-2026-03-01T080000_0800.csv"),
        ("?loan_ref=%22%3B%20filename%3D..%2Fevil", "visits-filename_._evil.csv"),
    ],
)
def test_an_export_is_named_after_its_filter_in_letters_a_header_cannot_misread(client, field, query, name):
    fmt = "" if "format=" in query else "&format=csv"
    response = pull(client, field, query + fmt)
    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == f'attachment; filename="{name}"'


def test_free_text_that_a_spreadsheet_would_run_is_defused_in_csv_but_exact_in_ndjson(make, client, field):
    case = make.case(team=make.team(code="TEAM-X"))
    crew = make.crew(team=make.team(code="TEAM-Y"), members=0)
    make_visit(
        make,
        case,
        crew,
        make.collector(),
        T0,
        notes='=HYPERLINK("http://evil.example","click")',
        person_met="-relative",
    )
    row = list(
        csv.DictReader(io.StringIO(pull(client, field, f"?case={case.id}&format=csv").data.decode("utf-8-sig")))
    )[0]
    assert row["notes"] == '\'=HYPERLINK("http://evil.example","click")' and row["person_met"] == "'-relative"
    line = json.loads(pull(client, field, f"?case={case.id}&format=ndjson").get_data(as_text=True))
    assert line["notes"] == '=HYPERLINK("http://evil.example","click")'


def test_every_pull_of_the_visit_log_is_itself_logged(app, db, client, field):
    pull(client, field, "?crew=K-A&limit=1")
    pull(client, field, "?format=ndjson&flag=out_of_hours", role="admin").get_data()
    logged = events(app, db, "audit.exported")
    assert [(e.entity_type, e.actor_user_id) for e in logged] == [
        ("visits", field["users"]["auditor"].id),
        ("visits", field["users"]["admin"].id),
    ]
    page, export = (json.loads(e.changes)["extra"] for e in logged)
    assert page == {
        "format": "json",
        "filters": {"crew": "K-A", "limit": 1},
        "rows": 1,
        "last": field["visits"]["full"].id,
        "complete": True,
    }
    assert export["format"] == "ndjson" and export["rows"] == 1 and export["filters"] == {"flag": "out_of_hours"}
    with app.app_context():
        assert audit.verify_chain()["ok"]


# ---------------------------------------------------------------- auditors' reads of personal data


def test_an_auditors_read_of_a_case_is_logged_with_the_fields_seen_and_masked(app, db, client, field):
    case = field["case_a"]
    response = client.get(f"/api/v1/cases/{case.id}", headers=field["headers"]["auditor"])
    assert response.status_code == 200 and "*" in response.json["debtor"]["phone"]
    (event,) = events(app, db, "pii.read")
    assert (event.entity_type, event.entity_id, event.actor_user_id, event.actor_role) == (
        "debtors",
        str(case.debtor_id),
        field["users"]["auditor"].id,
        "auditor",
    )
    assert json.loads(event.changes)["extra"] == {
        "via": "cases.get_case",
        "debtors": [case.debtor_id],
        "cases": [case.id],
        "masked": ["national_id", "phone"],
        "fields": ["address", "lat", "lon", "name"],
    }


def test_an_auditors_read_of_a_debtor_is_logged(app, db, client, field):
    debtor_id = field["case_b"].debtor_id
    assert client.get(f"/api/v1/debtors/{debtor_id}", headers=field["headers"]["auditor"]).status_code == 200
    (event,) = events(app, db, "pii.read")
    assert event.entity_id == str(debtor_id) and json.loads(event.changes)["extra"]["via"] == "cases.get_debtor"


def test_an_auditors_page_of_cases_logs_one_read_naming_every_debtor_shown(app, db, client, field):
    page = client.get("/api/v1/cases?limit=1", headers=field["headers"]["auditor"]).json
    assert len(page["items"]) == 1
    logged = events(app, db, "pii.read")
    assert [e.entity_id for e in logged] == [str(page["items"][0]["debtor"]["id"])]
    client.get("/api/v1/cases", headers=field["headers"]["auditor"])
    logged = events(app, db, "pii.read")
    assert len(logged) == 1 + 1 and logged[1].entity_id is None
    assert json.loads(logged[1].changes)["extra"]["debtors"] == sorted(
        {field["case_a"].debtor_id, field["case_b"].debtor_id}
    )


def test_an_admins_reads_are_logged_too_and_see_the_national_id_whole(app, db, client, field):
    assert client.get(f"/api/v1/cases/{field['case_a'].id}", headers=field["headers"]["admin"]).status_code == 200
    (event,) = events(app, db, "pii.read")
    assert event.actor_role == "admin" and json.loads(event.changes)["extra"]["masked"] == []


def test_reads_by_the_supervisors_who_work_the_cases_are_not_logged_as_pii_reads(app, db, client, field):
    assert client.get(f"/api/v1/cases/{field['case_a'].id}", headers=field["headers"]["supervisor"]).status_code == 200
    assert events(app, db, "pii.read") == []


def test_a_refused_read_logs_nothing(app, db, client, field):
    assert client.get("/api/v1/cases/999999", headers=field["headers"]["auditor"]).status_code == 404
    assert client.get("/api/v1/cases?stage=nope", headers=field["headers"]["auditor"]).status_code == 422
    assert events(app, db, "pii.read") == []


def test_the_visit_logs_nested_shapes_are_the_apis_own_schemas():
    """A recording, an agreement, a flag and a case in the audit desk's visit log are the shapes
    the API answers for them elsewhere, not copies that can drift."""
    from marshmallow import Schema

    from api import audit_schemas
    from api.schemas import conduct, field, route

    pairs = [
        (audit_schemas.VisitRecording, field.RecordingOut),
        (audit_schemas.VisitAgreement, field.AgreementSummaryOut),
        (audit_schemas.VisitFlag, conduct.FlagOut),
        (audit_schemas.CaseRef, route.StopCaseOut),
    ]
    for nested, api_schema in pairs:
        shown, answered = nested().fields, api_schema().fields
        common = set(shown) & set(answered)
        assert common and all(type(shown[name]) is type(answered[name]) for name in common), nested
        assert set(shown) - common <= {"created_at"}, nested  # a visit's agreement also says when it was made
        assert (
            issubclass(api_schema, nested)
            or issubclass(nested, api_schema)
            or set(nested.__mro__) & set(api_schema.__mro__) - {object, *Schema.__mro__}
        ), nested
