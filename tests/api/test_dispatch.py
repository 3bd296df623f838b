"""Planning a day from the database, under the conduct policy, and moving tasks by hand."""

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from app.models import AuditEvent, ConductFlag, VisitTask
from tests.conftest import TEST_NOW

TODAY = TEST_NOW.astimezone(ZoneInfo("Asia/Shanghai")).date()
DAY = TODAY + timedelta(days=1)


@pytest.fixture()
def team(make):
    return make.team(code="SH-A", region=make.region(code="SH", timezone_name="Asia/Shanghai"))


@pytest.fixture()
def sup(make, team):
    return make.token(make.user("supervisor", team=team))


def plan(client, headers, team="SH-A", day=DAY):
    response = client.post("/api/v1/dispatch/plans", json={"date": day.isoformat(), "team": team}, headers=headers)
    assert response.status_code == 201, response.json
    return response.json


def where(plan_json, case):
    for route in plan_json["routes"]:
        for stop in route["stops"]:
            if stop["case_id"] == case.id:
                return route["crew"], stop
    for entry in plan_json["unassigned"]:
        if entry["case_id"] == case.id:
            return None, entry
    raise AssertionError("every task must appear in the plan")


def test_dispatchable_cases_are_routed_to_eligible_crews_with_a_reason(client, make, team, sup):
    crew = make.trained_crew(team)
    cases = [make.dispatchable_case(team, lat=31.23 + i / 200) for i in range(3)]
    result = plan(client, sup)
    assert result["status"] == "draft" and result["summary"]["assigned"] == 3
    for case in cases:
        crew_code, stop = where(result, case)
        assert crew_code == crew.code
        assert stop["why"]["rule"] == "dispatch.route"


def test_a_crew_with_lapsed_training_gets_no_tasks_and_says_why(client, make, team, sup):
    lapsed = make.trained_crew(team, modules=("communication",))
    make.dispatchable_case(team)
    result = plan(client, sup)
    report = next(c for c in result["crews"] if c["crew"] == lapsed.code)
    assert report["eligible"] is False
    assert {r["rule_id"] for r in report["rules"]} == {"cn.qualification"}
    assert result["routes"] == []


def test_a_lone_collector_is_not_a_crew_under_the_cn_profile(client, make, team, sup):
    lone = make.trained_crew(team, size=1)
    make.dispatchable_case(team)
    report = next(c for c in plan(client, sup)["crews"] if c["crew"] == lone.code)
    assert [r["rule_id"] for r in report["rules"]] == ["cn.crew_size"]


def test_a_disputed_debtor_is_kept_out_of_the_plan_with_the_rule_named(client, make, team, sup):
    make.trained_crew(team)
    disputed = make.dispatchable_case(team, flags={"dispute": True})
    crew_code, entry = where(plan(client, sup), disputed)
    assert crew_code is None and entry["reason"] == "policy"
    assert [r["rule_id"] for r in entry["rules"]] == ["cn.blocking_flag"]
    assert entry["rules"][0]["reason_zh"]


def test_a_case_never_contacted_remotely_is_not_visited(client, make, team, sup):
    make.trained_crew(team)
    silent = make.case(team=team)
    crew_code, entry = where(plan(client, sup), silent)
    assert crew_code is None and [r["rule_id"] for r in entry["rules"]] == ["cn.prior_contact"]


def test_a_debtor_owing_on_two_loans_is_visited_once_that_day_and_the_other_loan_names_the_cap(client, make, team, sup):
    make.trained_crew(team)
    first = make.dispatchable_case(team, priority=60)
    second = make.case(team=team, debtor_id=first.debtor_id, priority=30)
    make.contact(second)
    result = plan(client, sup)
    assert where(result, first)[0] is not None
    crew_code, entry = where(result, second)
    assert crew_code is None and [r["rule_id"] for r in entry["rules"]] == ["cn.frequency_cap"]


@pytest.mark.parametrize("hour", [21, 23])
def test_planning_today_after_the_shift_leaves_the_crew_out_and_after_visiting_hours_names_the_rule(
    client, make, team, sup, clock, hour
):
    crew = make.trained_crew(team)
    case = make.dispatchable_case(team)
    clock.set(datetime.combine(TODAY, time(hour, 30), ZoneInfo("Asia/Shanghai")))
    result = plan(client, sup, day=TODAY)
    report = next(c for c in result["crews"] if c["crew"] == crew.code)
    assert report["eligible"] is False and report["note"] == "no working time left today"
    assert result["routes"] == []
    _, entry = where(result, case)
    # At 21:30 the debtor's hours (to 22:00) are still open: no crew is left to go; at 23:30 they are over.
    assert [r["rule_id"] for r in entry.get("rules", [])] == ([] if hour == 21 else ["cn.no_visiting_window"])


def test_a_debtor_speaking_only_wuu_waits_for_a_crew_that_speaks_it(client, make, team, sup):
    make.trained_crew(team, languages=("zh",))
    wuu = make.dispatchable_case(team, language="wuu")
    crew_code, entry = where(plan(client, sup), wuu)
    assert crew_code is None and entry["reason"] == "skills"
    speaker = make.trained_crew(team, languages=("zh", "wuu"))
    assert where(plan(client, sup), wuu)[0] == speaker.code


def test_an_evening_only_debtor_is_visited_in_their_window(client, make, team, sup):
    crew = make.trained_crew(team)
    from app.extensions import db
    from app.models import Collector

    with make.app.app_context():
        for member in db.session.scalars(sa.select(Collector).where(Collector.crew_id == crew.id)):
            member.shift_end = datetime.strptime("21:30", "%H:%M").time()
        db.session.commit()
    evening = make.dispatchable_case(team, availability=[{"start": "18:00", "end": "21:00"}])
    crew_code, stop = where(plan(client, sup), evening)
    assert crew_code == crew.code and "18:00" <= stop["start"] < "21:00"


def test_committing_writes_the_tasks_in_order_with_utc_times(app, db, client, make, team, sup):
    crew = make.trained_crew(team)
    cases = [make.dispatchable_case(team, lat=31.23 + i / 100) for i in range(3)]
    draft = plan(client, sup)
    committed = client.post(f"/api/v1/dispatch/plans/{draft['id']}/commit", headers=sup)
    assert committed.status_code == 200 and committed.json["status"] == "committed"
    with app.app_context():
        tasks = db.session.scalars(sa.select(VisitTask).order_by(VisitTask.sequence)).all()
        assert {t.case_id for t in tasks} == {c.id for c in cases}
        assert [t.sequence for t in tasks] == [1, 2, 3] and {t.crew_id for t in tasks} == {crew.id}
        first = tasks[0].planned_start.astimezone(ZoneInfo("Asia/Shanghai"))
        assert first.date() == DAY and tasks[0].planned_start.utcoffset() == timedelta(0)
        actions = db.session.scalars(sa.select(AuditEvent.action)).all()
        assert actions.count("task.planned") == 3 and "plan.committed" in actions


def test_a_flag_raised_after_drafting_keeps_the_task_unassigned_at_commit(app, db, client, make, team, sup):
    make.trained_crew(team)
    case = make.dispatchable_case(team)
    draft = plan(client, sup)
    assert where(draft, case)[0] is not None
    client.patch(f"/api/v1/debtors/{case.debtor_id}", json={"flags": {"cease": True}}, headers=sup)
    client.post(f"/api/v1/dispatch/plans/{draft['id']}/commit", headers=sup)
    with app.app_context():
        task = db.session.scalars(sa.select(VisitTask)).one()
        assert task.status == "open" and task.crew_id is None
        assert task.reason["rules"][0]["rule_id"] == "cn.blocking_flag"


def test_a_plan_is_committed_once_and_a_new_one_supersedes_it(client, make, team, sup):
    make.trained_crew(team)
    make.dispatchable_case(team)
    first = plan(client, sup)
    assert client.post(f"/api/v1/dispatch/plans/{first['id']}/commit", headers=sup).status_code == 200
    again = client.post(f"/api/v1/dispatch/plans/{first['id']}/commit", headers=sup)
    assert again.status_code == 409
    second = plan(client, sup)
    client.post(f"/api/v1/dispatch/plans/{second['id']}/commit", headers=sup)
    assert client.get(f"/api/v1/dispatch/plans/{first['id']}", headers=sup).json["status"] == "superseded"


def test_another_teams_supervisor_cannot_plan_or_see_this_team(client, make, team, sup):
    make.trained_crew(team)
    make.dispatchable_case(team)
    draft = plan(client, sup)
    other = make.token(make.user("supervisor", team=make.team(code="SH-B")))
    refused = client.post("/api/v1/dispatch/plans", json={"date": DAY.isoformat(), "team": "SH-A"}, headers=other)
    assert refused.status_code == 422 and "team" in refused.json["error"]["fields"]
    assert client.get(f"/api/v1/dispatch/plans/{draft['id']}", headers=other).status_code == 404


def test_a_region_plan_covers_every_team_of_the_region(app, db, client, make, team):
    from app.models import Region

    with app.app_context():
        region = db.session.scalars(sa.select(Region).where(Region.code == "SH")).one()
    second = make.team(code="SH-B", region=region)
    crews = [make.trained_crew(team), make.trained_crew(second)]
    cases = [make.dispatchable_case(team), make.dispatchable_case(second, lat=31.3)]
    region_sup = make.token(make.user("supervisor", region=region))
    response = client.post("/api/v1/dispatch/plans", json={"date": DAY.isoformat(), "region": "SH"}, headers=region_sup)
    assert response.status_code == 201 and response.json["region"] == "SH"
    assert {where(response.json, c)[0] for c in cases} <= {c.code for c in crews}
    assert response.json["summary"]["assigned"] == 2
    elsewhere = make.token(make.user("supervisor", region=make.region(code="YY")))
    refused = client.post("/api/v1/dispatch/plans", json={"date": DAY.isoformat(), "region": "SH"}, headers=elsewhere)
    assert refused.status_code == 422


# ---------------------------------------------------------------- manual moves


@pytest.fixture()
def committed_day(client, make, team, sup):
    crews = [make.trained_crew(team), make.trained_crew(team, lat=31.25)]
    cases = [make.dispatchable_case(team, lat=31.23 + i / 100) for i in range(4)]
    draft = plan(client, sup)
    client.post(f"/api/v1/dispatch/plans/{draft['id']}/commit", headers=sup)
    return crews, cases


def task_of(app, db, case):
    with app.app_context():
        return db.session.scalars(sa.select(VisitTask).where(VisitTask.case_id == case.id)).one()


def test_a_task_moves_to_another_crew_by_hand(app, db, client, committed_day, sup):
    crews, cases = committed_day
    task = task_of(app, db, cases[0])
    target = next(c for c in crews if c.id != task.crew_id)
    response = client.post(
        f"/api/v1/tasks/{task.id}/assign", json={"crew": target.code, "reason": "closer"}, headers=sup
    )
    assert response.status_code == 200, response.json
    assert response.json["crew"] == target.code and response.json["reason"]["note"] == "closer"
    with app.app_context():
        event = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "task.assigned")).one()
        assert event.actor_role == "supervisor" and "closer" in event.changes


def test_a_move_the_policy_refuses_names_its_rule_and_changes_nothing(app, db, client, make, committed_day, sup):
    crews, cases = committed_day
    task = task_of(app, db, cases[0])
    client.patch(f"/api/v1/debtors/{cases[0].debtor_id}", json={"flags": {"dispute": True}}, headers=sup)
    withdrawn = task_of(app, db, cases[0])
    assert withdrawn.status == "withdrawn" and withdrawn.reason["rule_id"] == "cn.blocking_flag"
    target = next(c for c in crews if c.id != task.crew_id)
    response = client.post(f"/api/v1/tasks/{task.id}/assign", json={"crew": target.code, "reason": "try"}, headers=sup)
    assert response.status_code == 422
    assert response.json["error"]["rule_id"] == "cn.blocking_flag"
    assert response.json["error"]["profile_version"] == "cn@2026.1"
    after = task_of(app, db, cases[0])
    assert (after.status, after.crew_id) == ("withdrawn", task.crew_id)


def test_a_move_onto_an_ineligible_crew_is_refused(app, db, client, make, team, committed_day, sup):
    _, cases = committed_day
    lapsed = make.trained_crew(team, modules=())
    task = task_of(app, db, cases[0])
    response = client.post(f"/api/v1/tasks/{task.id}/assign", json={"crew": lapsed.code, "reason": "x"}, headers=sup)
    assert response.status_code == 422 and response.json["error"]["rule_id"] == "cn.qualification"


def test_a_move_onto_a_full_crew_is_a_conflict(app, db, client, make, team, committed_day, sup):
    crews, cases = committed_day
    from app.models import Collector

    def load(crew):
        return sum(1 for c in cases if task_of(app, db, c).crew_id == crew.id)

    target = min(crews, key=load)
    capacity = max(load(target), 1)
    with app.app_context():
        for member in db.session.scalars(sa.select(Collector).where(Collector.crew_id == target.id)):
            member.daily_capacity = capacity
        db.session.commit()
    movable = [t for t in (task_of(app, db, c) for c in cases) if t.crew_id != target.id]
    statuses = [
        client.post(f"/api/v1/tasks/{t.id}/assign", json={"crew": target.code, "reason": "x"}, headers=sup)
        for t in movable
    ]
    assert load(target) == capacity
    refused = [r for r in statuses if r.status_code == 409]
    assert refused and refused[0].json["error"]["code"] == "crew_full"


def test_overriding_the_frequency_cap_by_hand_raises_a_conduct_flag(app, db, client, make, team, sup):
    crew = make.trained_crew(team)
    case = make.dispatchable_case(team)
    # visited two days before DAY
    from app.models import Visit

    earlier = make._save(
        VisitTask(case_id=case.id, visit_date=DAY - timedelta(days=2), status="done", crew_id=crew.id, priority=1)
    )
    from app.models import Collector

    with app.app_context():
        member = db.session.scalars(sa.select(Collector.id).where(Collector.crew_id == crew.id)).first()
    make._save(
        Visit(
            task_id=earlier.id,
            crew_id=crew.id,
            collector_id=member,
            check_in_at=datetime.combine(DAY - timedelta(days=2), datetime.min.time(), ZoneInfo("Asia/Shanghai"))
            .replace(hour=10)
            .astimezone(UTC),
            check_in_lat=31.23,
            check_in_lon=121.48,
        )
    )
    crew_code, entry = where(plan(client, sup), case)
    assert crew_code is None and [r["rule_id"] for r in entry["rules"]] == ["cn.frequency_cap"]
    task = make._save(VisitTask(case_id=case.id, visit_date=DAY, status="open", priority=1))
    refused = client.post(f"/api/v1/tasks/{task.id}/assign", json={"crew": crew.code, "reason": "urgent"}, headers=sup)
    assert refused.json["error"]["rule_id"] == "cn.frequency_cap"
    allowed = client.post(
        f"/api/v1/tasks/{task.id}/assign",
        headers=sup,
        json={"crew": crew.code, "reason": "debtor asked", "override_frequency": True},
    )
    assert allowed.status_code == 200, allowed.json
    with app.app_context():
        flag = db.session.scalars(sa.select(ConductFlag)).one()
        assert (flag.kind, flag.rule_id, flag.task_id) == ("frequency_override", "cn.frequency_override", task.id)


def test_unassigning_needs_a_reason_and_reopens_the_task(app, db, client, committed_day, sup):
    _, cases = committed_day
    task = task_of(app, db, cases[0])
    assert client.post(f"/api/v1/tasks/{task.id}/unassign", json={}, headers=sup).status_code == 422
    response = client.post(f"/api/v1/tasks/{task.id}/unassign", json={"reason": "debtor in hospital"}, headers=sup)
    assert response.status_code == 200
    assert (response.json["status"], response.json["crew"]) == ("open", None)


def test_tasks_are_listed_by_date_and_status(client, committed_day, sup):
    listed = client.get(f"/api/v1/tasks?date={DAY.isoformat()}&status=assigned", headers=sup).json["items"]
    assert len(listed) == 4 and all(t["crew"] for t in listed)


def test_a_phone_of_the_crew_a_task_was_moved_from_is_answered_conflict(
    app, db, client, make, team, committed_day, sup
):
    crews, cases = committed_day
    task = task_of(app, db, cases[0])
    old = next(c for c in crews if c.id == task.crew_id)
    target = next(c for c in crews if c.id != task.crew_id)
    agent = make.user("agent")
    from app.models import Collector

    with app.app_context():
        member = db.session.scalars(sa.select(Collector).where(Collector.crew_id == old.id)).first()
        member.user_id = agent.id
        db.session.commit()
    assert (
        client.post(
            f"/api/v1/tasks/{task.id}/assign", json={"crew": target.code, "reason": "x"}, headers=sup
        ).status_code
        == 200
    )
    response = client.post(
        f"/api/v1/agent/tasks/{task.id}/check-in",
        headers=make.token(agent),
        json={
            "client_event_id": "evt-moved-away",
            "lat": 31.23,
            "lon": 121.48,
            "accuracy_m": 5.0,
            "device_time": TEST_NOW.isoformat(),
        },
    )
    assert response.status_code == 409 and response.json["error"]["code"] == "task_reassigned"


def test_a_move_based_on_a_stale_view_of_the_board_is_a_conflict(app, db, client, committed_day, sup):
    crews, cases = committed_day
    task = task_of(app, db, cases[0])
    other = next(c for c in crews if c.id != task.crew_id)
    response = client.post(
        f"/api/v1/tasks/{task.id}/assign",
        headers=sup,
        json={"crew": other.code, "reason": "x", "from_crew": "SOMEONE-ELSE"},
    )
    assert response.status_code == 409 and response.json["error"]["code"] == "task_changed"


# ---------------------------------------------------------------- the solve, outside the transaction


class Solving:
    """The engine's solve, watched: whether the request held a transaction open while it ran,
    and what changed in the database during each solve (``during(n)`` runs inside solve n)."""

    def __init__(self, real):
        self.real, self.calls, self.open_transactions = real, 0, []
        self.during = lambda n: None

    def __call__(self, problem, **kwargs):
        from app.extensions import db

        self.calls += 1
        self.open_transactions.append(db.session().in_transaction())
        self.during(self.calls)
        return self.real(problem, **kwargs)


@pytest.fixture()
def solving(monkeypatch):
    import dispatch as engine

    watched = Solving(engine.solve)
    monkeypatch.setattr(engine, "solve", watched)
    return watched


def _change(make, change):
    """Commit a change to the database from outside the planning request, as another user would."""
    from app.extensions import db

    with make.app.app_context():
        change(db.session)
        db.session.commit()


def test_the_engine_solves_with_no_database_transaction_open(client, make, team, sup, solving):
    make.trained_crew(team)
    make.dispatchable_case(team)
    result = plan(client, sup)
    assert solving.open_transactions == [False]
    assert result["summary"]["solves"] == 1 and result["summary"]["assigned"] == 1


def _lapse_training(crew):
    def change(session):
        from app.models import Collector, TrainingRecord

        members = sa.select(Collector.id).where(Collector.crew_id == crew.id)
        session.execute(
            sa.update(TrainingRecord)
            .where(TrainingRecord.collector_id.in_(members))
            .values(expires_at=TODAY - timedelta(days=1))
        )

    return change


def _leave_crew(crew):
    def change(session):
        from app.models import Collector

        member = session.scalars(sa.select(Collector).where(Collector.crew_id == crew.id)).first()
        member.crew_id = None

    return change


def _evening_only(case):
    def change(session):
        from app.models import Debtor

        session.get(Debtor, case.debtor_id).availability = [{"start": "18:00", "end": "21:00"}]

    return change


def _started_that_day(case, crew):
    def change(session):
        session.add(
            VisitTask(
                case_id=case.id,
                visit_date=DAY,
                status="checked_in",
                crew_id=crew.id,
                crew_history=[crew.id],
                sequence=1,
            )
        )

    return change


@pytest.mark.parametrize("what", ["training", "collectors", "availability", "frozen_day"])
def test_a_change_while_the_engine_solves_is_planned_by_solving_again(client, make, team, sup, solving, what):
    crew = make.trained_crew(team)
    case = make.dispatchable_case(team)
    change = {
        "training": _lapse_training(crew),
        "collectors": _leave_crew(crew),
        "availability": _evening_only(case),
        "frozen_day": _started_that_day(case, crew),
    }[what]
    solving.during = lambda n: _change(make, change) if n == 1 else None
    result = plan(client, sup)
    assert solving.calls == 2 and result["summary"]["solves"] == 2
    crew_code, stop = where(result, case) if what != "frozen_day" else (None, None)
    if what in ("training", "collectors"):  # the crew is no longer eligible: the draft gives it nothing
        assert crew_code is None and result["summary"]["assigned"] == 0
    elif what == "availability":  # routed inside the debtor's new window
        assert crew_code is None or stop["start"] >= "18:00"
    else:  # the started stop is frozen: the draft does not plan the case again
        assert all(s["case_id"] != case.id for r in result["routes"] for s in r["stops"])
        assert all(u["case_id"] != case.id for u in result["unassigned"])


def test_a_case_that_became_visitable_while_the_engine_solved_is_in_the_draft(client, make, team, sup, solving):
    crew = make.trained_crew(team)
    make.dispatchable_case(team)
    late = []
    solving.during = lambda n: late.append(make.dispatchable_case(team, lat=31.24)) if n == 1 else None
    result = plan(client, sup)
    assert result["summary"]["solves"] == 2 and result["summary"]["assigned"] == 2
    assert where(result, late[0])[0] == crew.code


def test_a_plan_whose_inputs_change_during_every_solve_is_refused_and_nothing_is_written(
    app, db, client, make, team, sup, solving, rows
):
    from app.models import DispatchPlan

    make.trained_crew(team)
    make.dispatchable_case(team)
    solving.during = lambda n: make.dispatchable_case(team, lat=31.24 + n / 100)
    response = client.post("/api/v1/dispatch/plans", json={"date": DAY.isoformat(), "team": "SH-A"}, headers=sup)
    assert response.status_code == 409 and response.json["error"]["code"] == "plan_inputs_changed"
    assert solving.calls == 3
    assert rows(DispatchPlan) == 0
    with app.app_context():
        assert not db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "plan.drafted")).first()


def test_planning_reads_the_teams_and_their_regions_once_per_look_not_again_for_each_crew_and_case(
    client, make, team, sup, db
):
    """A plan looks at its scope four times (the first look, gathering, gathering again
    after the solve, writing the draft); each look reads the team with its region in one
    statement, and the crews' and cases' teams are found in the session, not asked for
    again (they were, each time with their regions: 9 statements on teams and more on
    regions; now 4 and none, and the answer's team code one more)."""
    from tests.api.test_field_cost import statements

    for k in range(2):
        make.trained_crew(team, code=f"SH-A-K{k}")
        make.dispatchable_case(team, lat=31.23 + k / 100)
    with statements(db) as seen:
        result = plan(client, sup)
    assert result["summary"]["assigned"] == 2
    on_teams = [s for s in seen if s.startswith("SELECT") and " FROM teams" in s]
    on_regions = [s for s in seen if s.startswith("SELECT") and " FROM regions" in s]
    assert len(on_teams) <= 5 and not on_regions, "\n".join(on_teams + on_regions)
