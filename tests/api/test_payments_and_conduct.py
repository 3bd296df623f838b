"""Payments from the servicing system, the daily agreement evaluation, conduct flags,
complaints and a collector's conduct record."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from app.models import Case, ConductFlag, Instalment, Payment, RepaymentAgreement, Visit, VisitTask
from app.services.agreements import split_total
from tests.conftest import TEST_NOW

TODAY = TEST_NOW.astimezone(ZoneInfo("Asia/Shanghai")).date()


@pytest.fixture()
def team(make):
    return make.team(code="SH-A", region=make.region(code="SH"))


@pytest.fixture()
def admin(make):
    return make.token(make.user("admin"))


@pytest.fixture()
def sup(make, team):
    return make.token(make.user("supervisor", team=team))


def agreement_with(make, case, amounts, first_due, status="active"):
    agreement = make._save(
        RepaymentAgreement(
            case_id=case.id,
            kind="instalment",
            status=status,
            currency="CNY",
            total_minor=sum(amounts),
            waiver_minor=0,
            owed_minor=case.outstanding_minor,
        )
    )
    for seq, amount in enumerate(amounts, start=1):
        make._save(
            Instalment(
                agreement_id=agreement.id,
                seq=seq,
                due_date=first_due + timedelta(days=30 * (seq - 1)),
                amount_minor=amount,
            )
        )
    return agreement


def pay(client, headers, reference, amount, case, paid_at="2026-11-20T10:00:00+08:00"):
    return client.post(
        "/api/v1/payments",
        headers=headers,
        json={
            "reference": reference,
            "loan_ref": case.loan_ref,
            "amount": amount,
            "currency": "CNY",
            "paid_at": paid_at,
        },
    )


@pytest.mark.parametrize("total,count", [(100000, 3), (1, 1), (99999, 7), (500, 500), (10**12 + 7, 12)])
def test_instalments_always_sum_to_the_total_and_differ_by_at_most_one_fen(total, count):
    parts = split_total(total, count)
    assert sum(parts) == total and len(parts) == count
    assert max(parts) - min(parts) <= 1 and parts == sorted(parts, reverse=True)


def test_a_payment_is_allocated_to_the_oldest_open_instalment_first(app, db, client, make, team, admin):
    case = make.case(team=team, stage="agreement")
    agreement = agreement_with(make, case, [30000, 30000, 30000], TODAY)
    response = pay(client, admin, "PAY-1", "450.00", case)
    assert response.status_code == 201 and response.json["amount"] == "450.00"
    with app.app_context():
        rows = db.session.scalars(
            sa.select(Instalment).where(Instalment.agreement_id == agreement.id).order_by(Instalment.seq)
        ).all()
        assert [(i.paid_minor, i.status) for i in rows] == [(30000, "paid"), (15000, "open"), (0, "open")]
        assert db.session.get(Case, case.id).outstanding_minor == 800_000 - 45000


def test_a_payment_sent_twice_is_recorded_once(app, db, client, make, team, admin, rows):
    case = make.case(team=team)
    first = pay(client, admin, "PAY-2", "100.00", case)
    again = pay(client, admin, "PAY-2", "100.00", case)
    assert first.status_code == 201 and again.status_code == 200 and again.json["duplicate"] is True
    assert rows(Payment) == 1
    with app.app_context():
        assert db.session.get(Case, case.id).outstanding_minor == 800_000 - 10000


def test_a_reused_reference_with_other_details_is_a_conflict(client, make, team, admin):
    case = make.case(team=team)
    pay(client, admin, "PAY-3", "100.00", case)
    response = pay(client, admin, "PAY-3", "999.00", case)
    assert response.status_code == 409 and "reference" in response.json["error"]["fields"]


def test_paying_the_whole_debt_resolves_the_case(app, db, client, make, team, admin):
    case = make.case(team=team, outstanding_minor=5000)
    pay(client, admin, "PAY-4", "50.00", case)
    with app.app_context():
        assert db.session.get(Case, case.id).stage == "resolved"


def test_only_the_integration_admin_records_payments(client, make, team, sup):
    case = make.case(team=team)
    assert pay(client, sup, "PAY-5", "1.00", case).status_code == 403


def evaluate(app, on_date):
    result = app.test_cli_runner().invoke(args=["agreements", "evaluate", "--date", on_date.isoformat()])
    assert result.exit_code == 0, result.output
    return result.output


def test_an_unpaid_instalment_is_late_then_missed_after_grace_and_the_case_goes_back(app, db, make, team):
    case = make.case(team=team, stage="agreement")
    agreement = agreement_with(make, case, [10000, 10000], TODAY)
    grace = 3  # the cn profile's grace days
    evaluate(app, TODAY + timedelta(days=1))
    with app.app_context():
        assert db.session.get(RepaymentAgreement, agreement.id).instalments[0].status == "late"
    evaluate(app, TODAY + timedelta(days=grace))
    with app.app_context():
        assert db.session.get(RepaymentAgreement, agreement.id).status == "active"
    output = evaluate(app, TODAY + timedelta(days=grace + 1))
    assert "broken 1" in output
    with app.app_context():
        assert db.session.get(RepaymentAgreement, agreement.id).status == "broken"
        assert db.session.get(Case, case.id).stage == "field_visit"
    assert "broken 0" in evaluate(app, TODAY + timedelta(days=grace + 2))


def test_a_fully_paid_agreement_is_kept(app, db, client, make, team, admin):
    case = make.case(team=team, stage="agreement")
    agreement = agreement_with(make, case, [10000, 10000], TODAY)
    pay(client, admin, "PAY-6", "200.00", case)
    evaluate(app, TODAY)
    with app.app_context():
        assert db.session.get(RepaymentAgreement, agreement.id).status == "kept"


def test_a_uk_broken_agreement_returns_the_case_to_remote_contact(app, db, make):
    team = make.team(
        code="UK-A", region=make.region(code="LDN", timezone_name="Europe/London"), policy_profile="uk-conc"
    )
    case = make.case(team=team, stage="agreement")
    agreement_with(make, case, [10000], TODAY - timedelta(days=30))
    evaluate(app, TODAY)
    with app.app_context():
        assert db.session.get(Case, case.id).stage == "remote_contact"


# ---------------------------------------------------------------- flags and complaints


def flagged_visit(make, team, kind="off_geofence"):
    crew = make.trained_crew(team)
    case = make.dispatchable_case(team)
    task = make._save(VisitTask(case_id=case.id, visit_date=TODAY, status="done", crew_id=crew.id, priority=1))
    from app.models import Collector

    collector_id = make._save(
        Collector(
            code=f"X{task.id}",
            name="x",
            team_id=team.id,
            home_lat=31.2,
            home_lon=121.4,
            languages=[],
            shift_start=datetime.min.time().replace(hour=9),
            shift_end=datetime.min.time().replace(hour=18),
            daily_capacity=5,
        )
    ).id
    visit = make._save(
        Visit(
            task_id=task.id,
            crew_id=crew.id,
            collector_id=collector_id,
            check_in_at=TEST_NOW - timedelta(hours=2),
            check_in_lat=31.2,
            check_in_lon=121.4,
        )
    )
    flag = make._save(
        ConductFlag(
            kind=kind,
            rule_id=f"cn.{kind}",
            profile_version="cn@2026.1",
            collector_id=collector_id,
            case_id=case.id,
            visit_id=visit.id,
            details={},
        )
    )
    return flag, case, collector_id, crew


def test_supervisors_and_auditors_review_flags_with_notes(client, make, team, sup):
    flag, *_ = flagged_visit(make, team)
    auditor = make.token(make.user("auditor"))
    listed = client.get("/api/v1/conduct/flags?status=open", headers=sup).json["items"]
    assert [f["id"] for f in listed] == [flag.id]
    reviewed = client.post(
        f"/api/v1/conduct/flags/{flag.id}/review",
        headers=auditor,
        json={"status": "reviewed", "notes": "GPS drift in a high-rise; plausible"},
    )
    assert reviewed.status_code == 200 and reviewed.json["status"] == "reviewed"
    resolved = client.post(
        f"/api/v1/conduct/flags/{flag.id}/review",
        headers=sup,
        json={"status": "resolved", "notes": "spoke with the crew"},
    )
    assert resolved.json["status"] == "resolved" and resolved.json["review_notes"] == "spoke with the crew"


def test_another_teams_supervisor_cannot_see_the_flag(client, make, team):
    flag, *_ = flagged_visit(make, team)
    outsider = make.token(make.user("supervisor", team=make.team(code="SH-Z")))
    assert client.get(f"/api/v1/conduct/flags/{flag.id}", headers=outsider).status_code == 404
    assert client.get("/api/v1/conduct/flags", headers=outsider).json["items"] == []


def test_a_complaint_raises_a_flag_and_keeps_that_collector_from_the_debtor(app, db, client, make, team, sup):
    crew = make.trained_crew(team)
    case = make.dispatchable_case(team)
    with app.app_context():
        from app.models import Collector

        member = db.session.scalars(sa.select(Collector).where(Collector.crew_id == crew.id)).first()
    response = client.post(
        "/api/v1/complaints",
        headers=sup,
        json={
            "case_id": case.id,
            "collector": member.code,
            "channel": "phone",
            "category": "rudeness",
            "text": "The collector raised his voice.",
        },
    )
    assert response.status_code == 201
    with app.app_context():
        flag = db.session.scalars(sa.select(ConductFlag)).one()
        assert (flag.kind, flag.collector_id) == ("complaint_received", member.id)
    day = (TODAY + timedelta(days=1)).isoformat()
    plan = client.post("/api/v1/dispatch/plans", json={"date": day, "team": "SH-A"}, headers=sup).json
    assert plan["unassigned"][0]["case_id"] == case.id
    assert plan["unassigned"][0]["reason"] == "no_eligible_collector"
    resolved = client.post(
        f"/api/v1/complaints/{response.json['id']}/resolve",
        headers=sup,
        json={"status": "unsubstantiated", "notes": "recording shows a calm visit"},
    )
    assert resolved.json["status"] == "unsubstantiated"
    again = client.post("/api/v1/dispatch/plans", json={"date": day, "team": "SH-A"}, headers=sup).json
    assert again["summary"]["assigned"] == 1


def test_the_collectors_conduct_record_counts_visits_flags_complaints_and_agreements(client, make, team, sup):
    flag, case, collector_id, _ = flagged_visit(make, team)
    client.post(
        "/api/v1/complaints",
        headers=sup,
        json={"case_id": case.id, "visit_id": flag.visit_id, "channel": "letter", "category": "threat", "text": "..."},
    )
    make._save(
        RepaymentAgreement(
            case_id=case.id,
            visit_id=flag.visit_id,
            kind="promise",
            status="kept",
            currency="CNY",
            total_minor=100,
            waiver_minor=0,
            owed_minor=100,
        )
    )
    period = f"from={(TODAY - timedelta(days=7)).isoformat()}&to={(TODAY + timedelta(days=1)).isoformat()}"
    record = client.get(f"/api/v1/collectors/{collector_id}/conduct?{period}", headers=sup).json
    assert record["visits"] == 1
    assert record["flags"] == {"off_geofence": 1, "complaint_received": 1}
    assert record["complaints"]["total"] == 1
    assert record["agreements"]["made"] == 1 and record["agreements"]["kept"] == 1
