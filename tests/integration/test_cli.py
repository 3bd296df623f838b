"""The flask commands an operator runs."""

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from app import audit
from app.models import (
    Case,
    Collector,
    ConductFlag,
    ContactAttempt,
    Crew,
    Debtor,
    Recording,
    RepaymentAgreement,
    TrainingRecord,
    User,
    Visit,
    VisitTask,
)


def test_the_first_admin_is_made_with_a_password_from_stdin(app, db):
    result = app.test_cli_runner().invoke(
        args=["users", "create", "chief", "--role", "admin", "--password-stdin"], input="a-very-long-password\n"
    )
    assert result.exit_code == 0, result.output
    assert "created admin chief" in result.output
    client = app.test_client()
    response = client.post("/api/v1/auth/login", json={"username": "chief", "password": "a-very-long-password"})
    assert response.status_code == 200


def test_a_short_password_is_refused_and_nothing_is_made(app, db, rows):
    result = app.test_cli_runner().invoke(
        args=["users", "create", "chief", "--role", "admin", "--password-stdin"], input="short\n"
    )
    assert result.exit_code != 0
    assert "at least 10 characters" in result.output
    assert rows(User) == 0


def test_a_supervisor_without_team_or_region_is_refused(app, db):
    result = app.test_cli_runner().invoke(
        args=["users", "create", "boss", "--role", "supervisor", "--password-stdin"], input="a-very-long-password\n"
    )
    assert result.exit_code != 0 and "team" in result.output


@pytest.mark.slow
def test_the_demo_seeds_a_realistic_shanghai_operation(app, db, rows, make):
    result = app.test_cli_runner().invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    for username in ("admin", "supervisor", "auditor", "agent"):
        assert username in result.output
    with app.app_context():
        session = db.session
        assert rows(Collector) >= 40 and rows(Case) >= 1000
        crew_sizes = session.execute(
            sa.select(sa.func.count())
            .select_from(Collector)
            .where(Collector.crew_id.is_not(None))
            .group_by(Collector.crew_id)
        ).scalars()
        assert set(crew_sizes) == {2}
        stages = set(session.scalars(sa.select(Case.stage).distinct()))
        assert stages == {"notice", "remote_contact", "field_visit", "agreement", "resolved", "closed"}
        roles = set(session.scalars(sa.select(User.role).distinct()))
        assert roles == {"agent", "supervisor", "auditor", "admin"}
        flagged = {flag for flags in session.scalars(sa.select(Debtor.flags)) for flag, on in flags.items() if on}
        assert {"dispute", "cease", "vulnerable"} <= flagged
        expiries = session.scalars(sa.select(TrainingRecord.expires_at)).all()
        today = make.today()
        assert any(e < today for e in expiries), "one collector's training has lapsed"
        assert any(today <= e <= today + timedelta(days=15) for e in expiries), "some expire soon"
        assert rows(ContactAttempt) > 500
        lats = session.scalars(sa.select(Debtor.lat).where(Debtor.lat.is_not(None))).all()
        assert 30.6 < min(lats) and max(lats) < 31.9  # Shanghai
        # A handful known only by their address wait for a pin (no geocoder configured).
        assert (
            session.scalar(
                sa.select(sa.func.count())
                .select_from(Debtor)
                .where(Debtor.location_status == "pending", Debtor.location_note == "no_geocoder")
            )
            == 5
        )
        assert session.scalar(sa.select(sa.func.count()).select_from(Crew)) >= 20
        assert audit.verify_chain()["ok"]


@pytest.mark.slow
def test_the_demo_has_a_finished_day_before_today_worked_through_the_service(app, db, rows, make):
    """So the audit desk's first screen is not empty: yesterday, the demo agent's crew
    visited its first stops (outcomes, a promise, recordings, a flag), judged on the
    clock of that day; today's plan is committed as before."""
    result = app.test_cli_runner().invoke(args=["demo", "--cases", "300"])
    assert result.exit_code == 0, result.output
    yesterday = make.today() - timedelta(days=1)
    zone = ZoneInfo("Asia/Shanghai")
    with app.app_context():
        session = db.session
        visits = session.scalars(sa.select(Visit).order_by(Visit.check_in_at)).all()
        assert len(visits) >= 3
        assert {v.check_in_at.astimezone(zone).date() for v in visits} == {yesterday}
        assert all(v.check_out_at is not None and v.outcome for v in visits)
        assert all(9 <= v.check_in_at.astimezone(zone).hour < 21 for v in visits)
        assert "promise_to_pay" in {v.outcome for v in visits} and rows(RepaymentAgreement) >= 1
        assert rows(Recording) >= 2
        flags = set(session.scalars(sa.select(ConductFlag.kind)))
        assert "missing_recording" in flags
        tasks = session.scalars(sa.select(VisitTask.visit_date).distinct()).all()
        assert {yesterday, make.today()} <= set(tasks)
        assert audit.verify_chain()["ok"]


def test_running_the_demo_twice_adds_nothing(app, db, rows):
    runner = app.test_cli_runner()
    runner.invoke(args=["demo", "--cases", "50"])
    before = rows(Case)
    result = runner.invoke(args=["demo", "--cases", "50"])
    assert result.exit_code == 0 and "already present" in result.output
    assert rows(Case) == before


def test_audit_verify_reports_an_intact_chain(app, db):
    app.test_cli_runner().invoke(args=["demo", "--cases", "20"])
    result = app.test_cli_runner().invoke(args=["audit", "verify"])
    assert result.exit_code == 0 and result.output.startswith("intact:")
    head = app.test_cli_runner().invoke(args=["audit", "head"]).output.split()
    assert int(head[0]) > 0 and len(head[1]) == 64


def test_cases_import_from_the_command_line(app, db, make, tmp_path, rows):
    make.team(code="TEAM-A")
    path = tmp_path / "cases.csv"
    path.write_text(
        "loan_ref,product,currency,principal,outstanding,days_past_due,debtor_name,address,lat,lon\n"
        "CLI-1,cash_loan,CNY,10.00,10.00,31,Wang,1 Road,31.2,121.4\n",
        encoding="utf-8",
    )
    result = app.test_cli_runner().invoke(args=["cases", "import", str(path), "--team", "TEAM-A"])
    assert result.exit_code == 0, result.output
    assert "created 1" in result.output and rows(Case) == 1
