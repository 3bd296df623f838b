"""The collection strategy's nightly job: escalations by rule, the priority score, overrides."""

import json

import sqlalchemy as sa

from app.extensions import db as _db
from app.models import AuditEvent, Case, ContactAttempt, RepaymentAgreement
from app.services import strategy


def run(app):
    with app.app_context():
        report = strategy.apply()
        _db.session.commit()
        return report


def reload(app, case):
    with app.app_context():
        return _db.session.get(Case, case.id)


def events(app, case, action):
    with app.app_context():
        found = _db.session.scalars(
            sa.select(AuditEvent)
            .where(AuditEvent.entity_type == "cases", AuditEvent.entity_id == str(case.id), AuditEvent.action == action)
            .order_by(AuditEvent.seq)
        ).all()
        return [json.loads(e.changes) for e in found]


def failing(make, *, days_past_due=45, calls=3, days_apart=3, flags=None, team=None, **kw):
    """A case in remote contact with ``calls`` unanswered calls, the latest two days ago."""
    case = make.case(
        team=team, debtor=make.debtor(flags=flags or {}), stage="remote_contact", days_past_due=days_past_due, **kw
    )
    for number in range(calls):
        make.contact(case, days_ago=2 + days_apart * number, result="no_answer")
    return case


def test_failed_remote_contact_moves_a_case_into_the_field_queue_audited_with_the_rule(app, db, make):
    case = failing(make)
    report = run(app)
    assert reload(app, case).stage == "field_visit"
    assert report["escalated"] == {"default.remote_to_field": 1}
    [event] = events(app, case, "case.escalated")
    assert event["before"] == {"stage": "remote_contact"} and event["after"] == {"stage": "field_visit"}
    assert event["extra"] == {
        "strategy": "default",
        "strategy_version": "2026.2",
        "rule_id": "default.remote_to_field",
        "facts": {"days_past_due": 45, "failed_attempts": 3, "within_days": 14},
    }


def test_running_the_job_twice_moves_and_rescores_nothing_twice(app, db, make):
    cases = [failing(make), failing(make, days_past_due=20), make.case(stage="notice", days_past_due=12)]
    first = run(app)
    assert sum(first["escalated"].values()) == 2 and first["rescored"] == 3
    before = [reload(app, c) for c in cases]
    second = run(app)
    assert (second["escalated"], second["rescored"]) == ({}, 0)
    assert [(c.stage, c.priority) for c in before] == [(reload(app, c).stage, reload(app, c).priority) for c in cases]
    assert [len(events(app, c, "case.escalated")) for c in cases] == [1, 0, 1]


def test_a_notice_past_its_week_with_failed_calls_goes_through_remote_contact_to_the_field_in_one_night(app, db, make):
    case = failing(make, days_past_due=40)
    with app.app_context():
        _db.session.execute(sa.update(Case).where(Case.id == case.id).values(stage="notice"))
        _db.session.commit()
    run(app)
    assert reload(app, case).stage == "field_visit"
    assert [e["extra"]["rule_id"] for e in events(app, case, "case.escalated")] == [
        "default.notice_to_remote",
        "default.remote_to_field",
    ]


def test_a_debtor_under_a_cease_request_or_dispute_is_never_sent_to_the_field(app, db, make):
    ceased, disputed = failing(make, flags={"cease": True}), failing(make, flags={"dispute": True})
    report = run(app)
    assert [reload(app, c).stage for c in (ceased, disputed)] == ["remote_contact", "remote_contact"]
    assert report["blocked"] == {"default.remote_to_field": 2}
    assert events(app, ceased, "case.escalated") == []


def test_a_debtor_who_asked_to_cease_is_not_moved_on_to_remote_contact_either(app, db, make):
    case = make.case(debtor=make.debtor(flags={"cease": True}), stage="notice", days_past_due=20)
    report = run(app)
    assert reload(app, case).stage == "notice" and report["blocked"] == {"default.notice_to_remote": 1}


def test_the_blocking_flags_are_the_teams_policy_profile(app, db, make):
    """Vulnerable blocks nothing under cn; under uk-conc it forbids any visit."""
    cn_team = make.team(code="SH-A", region=make.region(code="SH"))
    uk_team = make.team(
        code="LDN-A", region=make.region(code="LDN", timezone_name="Europe/London"), policy_profile="uk-conc"
    )
    cn_case = failing(make, team=cn_team, flags={"vulnerable": True})
    uk_case = failing(make, team=uk_team, flags={"vulnerable": True})
    run(app)
    assert (reload(app, cn_case).stage, reload(app, uk_case).stage) == ("field_visit", "remote_contact")


def test_calls_outside_the_window_or_too_few_or_too_early_leave_the_case_where_it_is(app, db, make):
    old = failing(make, calls=3, days_apart=7)  # the third call was 16 days ago
    few = failing(make, calls=2)
    early = failing(make, days_past_due=25)
    answered = make.case(stage="remote_contact", days_past_due=45)
    for _ in range(3):
        make.contact(answered, days_ago=2, result="reached")
    run(app)
    assert [reload(app, c).stage for c in (old, few, early, answered)] == ["remote_contact"] * 4


def test_a_broken_promise_sends_an_m2_case_to_the_field(app, db, make):
    case = make.case(stage="remote_contact", days_past_due=40)
    make._save(
        RepaymentAgreement(
            case_id=case.id, kind="promise", status="broken", currency="CNY", total_minor=100, owed_minor=100
        )
    )
    run(app)
    assert reload(app, case).stage == "field_visit"
    assert events(app, case, "case.escalated")[0]["extra"]["rule_id"] == "default.broken_promise_to_field"


def test_the_job_scores_priority_and_audits_each_change_with_its_parts(app, db, make):
    case = make.case(stage="field_visit", days_past_due=45, outstanding_minor=1_000_000, priority=0)
    make.contact(case, days_ago=12, result="reached")
    run(app)
    assert reload(app, case).priority == 43  # 10 + 15 (dpd) + 12 (balance) + 6 (12 days' silence)
    [event] = events(app, case, "case.priority_scored")
    assert (event["before"], event["after"]) == ({"priority": 0}, {"priority": 43})
    assert event["extra"]["rule_id"] == "default.priority" and event["extra"]["strategy_version"] == "2026.2"
    assert event["extra"]["parts"]["silence"] == 6


def test_a_broken_promise_raises_priority_and_a_kept_one_lowers_it(app, db, make):
    plain, broken, kept = (make.case(stage="field_visit", priority=0) for _ in range(3))
    for case, status in ((broken, "broken"), (kept, "kept")):
        make._save(
            RepaymentAgreement(
                case_id=case.id, kind="promise", status=status, currency="CNY", total_minor=100, owed_minor=100
            )
        )
    run(app)
    base = reload(app, plain).priority
    assert (reload(app, broken).priority, reload(app, kept).priority) == (base + 15, base - 10)


def test_an_importer_or_supervisor_priority_is_an_override_the_job_leaves_alone(app, db, make):
    imported = make.case(stage="field_visit", priority=77, priority_source="import")
    manual = make.case(stage="field_visit", priority=5, priority_source="manual")
    report = run(app)
    assert (reload(app, imported).priority, reload(app, manual).priority) == (77, 5)
    assert report["overridden"] == 2 and events(app, imported, "case.priority_scored") == []


def test_a_case_changed_after_it_was_read_is_not_overwritten(app, db, make, monkeypatch):
    case = failing(make)
    real = strategy._facts

    def read_then_someone_edits(case_ids, strat, now):
        found = list(real(case_ids, strat, now))
        _db.session.execute(sa.update(Case).where(Case.id == case.id).values(stage="agreement", priority=61))
        return found

    monkeypatch.setattr(strategy, "_facts", read_then_someone_edits)
    report = run(app)
    assert (reload(app, case).stage, reload(app, case).priority) == ("agreement", 61)
    assert report["skipped"] == 2 and events(app, case, "case.escalated") == []


def test_the_job_judges_on_the_servers_clock(app, db, make, clock):
    case = failing(make)
    clock.advance(days=20)  # the calls are now three weeks old
    run(app)
    assert reload(app, case).stage == "remote_contact"


def test_closed_and_resolved_cases_are_not_touched(app, db, make):
    closed = make.case(stage="closed", priority=0)
    resolved = make.case(stage="resolved", priority=0, outstanding_minor=0)
    report = run(app)
    assert report["cases"] == 0 and reload(app, closed).priority == reload(app, resolved).priority == 0


def test_an_admin_runs_the_strategy_now_through_the_jobs_api_and_a_supervisor_may_not(app, db, client, make):
    team = make.team(code="SH-A", region=make.region(code="SH"))
    case = failing(make, team=team)
    supervisor = make.token(make.user("supervisor", team=team))
    assert client.post("/api/v1/jobs", json={"name": "apply_strategy"}, headers=supervisor).status_code == 403
    admin = make.token(make.user("admin"))
    submitted = client.post(
        "/api/v1/jobs", json={"name": "apply_strategy", "params": {"teams": ["SH-A"]}}, headers=admin
    )
    assert submitted.status_code == 202, submitted.json
    job = client.get(f"/api/v1/jobs/{submitted.json['id']}", headers=admin).json
    assert job["status"] == "finished" and job["result"]["escalated"] == {"default.remote_to_field": 1}, job
    assert reload(app, case).stage == "field_visit"


def test_the_operator_runs_the_strategy_from_the_command_line(app, db, make):
    case = failing(make)
    result = app.test_cli_runner().invoke(args=["jobs", "submit", "apply_strategy"])
    assert result.exit_code == 0 and "finished" in result.output and "default.remote_to_field" in result.output
    assert reload(app, case).stage == "field_visit"


def test_the_strategy_job_moves_the_demo_cases_into_the_field_queue_by_rule(app, db, make):
    from app.services.demo import FOR_ESCALATION

    assert app.test_cli_runner().invoke(args=["demo", "--cases", "20"]).exit_code == 0
    loan_ref = f"SH{make.today():%y}8"
    with app.app_context():
        demo = _db.session.scalars(
            sa.select(Case).where(Case.loan_ref.like(f"{loan_ref}%")).order_by(Case.loan_ref)
        ).all()
        assert [c.stage for c in demo] == ["remote_contact"] * len(FOR_ESCALATION)
        assert (
            _db.session.scalar(
                sa.select(sa.func.count())
                .select_from(ContactAttempt)
                .where(ContactAttempt.case_id.in_([c.id for c in demo]))
            )
            > 0
        )
    run(app)
    for case, (_, _, _, _, rule) in zip(demo, FOR_ESCALATION):
        assert reload(app, case).stage == ("field_visit" if rule else "remote_contact"), case.loan_ref
        assert [e["extra"]["rule_id"] for e in events(app, case, "case.escalated")] == ([rule] if rule else [])
        assert 0 <= reload(app, case).priority <= 100
