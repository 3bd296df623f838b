"""Planning under the door rules: the frequency cap across plans, a commit that judges
every rule again, and planning a day that has already started."""

from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from app.models import Collector, Debtor, Visit, VisitTask
from tests.api.test_field import HOME, TODAY, local


@pytest.fixture()
def team(make):
    return make.team(code="SH-A", region=make.region(code="SH"))


@pytest.fixture()
def sup(make, team):
    return make.token(make.user("supervisor", team=team))


def plan(client, sup, day, team="SH-A"):
    response = client.post("/api/v1/dispatch/plans", json={"date": day.isoformat(), "team": team}, headers=sup)
    assert response.status_code == 201, response.json
    return response.json


def commit(client, sup, draft):
    response = client.post(f"/api/v1/dispatch/plans/{draft['id']}/commit", headers=sup)
    assert response.status_code == 200, response.json
    return response.json


def stops_of(plan_json):
    return {s["case_id"]: (r["crew"], s) for r in plan_json["routes"] for s in r["stops"]}


def blocked(plan_json, case):
    return next(u for u in plan_json["unassigned"] if u["case_id"] == case.id)


def tasks(app, db, **where):
    with app.app_context():
        stmt = sa.select(VisitTask).order_by(VisitTask.sequence, VisitTask.id)
        for key, value in where.items():
            stmt = stmt.where(getattr(VisitTask, key) == value)
        rows = db.session.scalars(stmt).all()
        db.session.expunge_all()
        return rows


# ---------------------------------------------------------------- frequency across plans


def test_a_debtor_planned_one_day_is_not_planned_again_within_the_profiles_window(client, make, team, sup):
    make.trained_crew(team)
    case = make.dispatchable_case(team)
    day = TODAY + timedelta(days=2)
    commit(client, sup, plan(client, sup, day))
    next_day = plan(client, sup, day + timedelta(days=1))
    assert [r["rule_id"] for r in blocked(next_day, case)["rules"]] == ["cn.frequency_cap"]
    day_before = plan(client, sup, day - timedelta(days=1))  # before it, too
    assert [r["rule_id"] for r in blocked(day_before, case)["rules"]] == ["cn.frequency_cap"]
    assert case.id in stops_of(plan(client, sup, day + timedelta(days=7)))


def test_replanning_the_same_day_does_not_count_that_days_own_tasks(client, make, team, sup):
    make.trained_crew(team)
    case = make.dispatchable_case(team)
    day = TODAY + timedelta(days=2)
    commit(client, sup, plan(client, sup, day))
    assert case.id in stops_of(commit(client, sup, plan(client, sup, day)))


def test_two_cases_of_one_debtor_are_visited_once_that_day(client, make, team, sup):
    make.trained_crew(team)
    first = make.dispatchable_case(team, priority=80)
    second = make.case(team=team, debtor_id=first.debtor_id, priority=20)
    make.contact(second)
    result = plan(client, sup, TODAY + timedelta(days=2))
    assert first.id in stops_of(result)
    assert [r["rule_id"] for r in blocked(result, second)["rules"]] == ["cn.frequency_cap"]


# ---------------------------------------------------------------- a commit judges again


def test_a_commit_drops_a_stop_whose_debtor_was_flagged_since_the_draft(app, db, client, make, team, sup):
    make.trained_crew(team)
    flagged, fine = make.dispatchable_case(team), make.dispatchable_case(team, lat=31.24)
    draft = plan(client, sup, TODAY + timedelta(days=2))
    assert {flagged.id, fine.id} <= set(stops_of(draft))
    with app.app_context():
        db.session.get(Debtor, flagged.debtor_id).flags = {"cease": True}
        db.session.commit()
    commit(client, sup, draft)
    (dropped,) = tasks(app, db, case_id=flagged.id)
    assert dropped.status == "open" and dropped.reason["rules"][0]["rule_id"] == "cn.blocking_flag"
    assert tasks(app, db, case_id=fine.id)[0].status == "assigned"


def test_a_commit_drops_the_stops_of_a_crew_that_lost_a_member_since_the_draft(app, db, client, make, team, sup):
    crew = make.trained_crew(team)
    cases = [make.dispatchable_case(team, lat=31.23 + i / 200) for i in range(2)]
    draft = plan(client, sup, TODAY + timedelta(days=2))
    with app.app_context():
        member = db.session.scalars(sa.select(Collector).where(Collector.crew_id == crew.id)).first()
        member.active = False
        db.session.commit()
    result = commit(client, sup, draft)
    for case in cases:
        (task,) = tasks(app, db, case_id=case.id)
        assert task.status == "open" and task.crew_id is None
        assert task.reason["rules"][0]["rule_id"] == "cn.crew_size"
    assert result["status"] == "committed"


def test_a_commit_drops_a_stop_visited_by_another_crew_since_the_draft(app, db, client, make, team, sup):
    crew = make.trained_crew(team)
    case = make.dispatchable_case(team)
    day = TODAY + timedelta(days=2)
    draft = plan(client, sup, day)
    other = make._save(
        VisitTask(case_id=case.id, visit_date=day - timedelta(days=1), status="assigned", crew_id=crew.id, priority=1)
    )
    commit(client, sup, draft)
    (task,) = tasks(app, db, case_id=case.id, visit_date=day)
    assert task.status == "open" and task.reason["rules"][0]["rule_id"] == "cn.frequency_cap"
    assert tasks(app, db, id=other.id)[0].status == "assigned"


def test_a_draft_for_a_day_that_ended_cannot_be_committed(client, make, team, sup, clock):
    make.trained_crew(team)
    make.dispatchable_case(team)
    draft = plan(client, sup, TODAY)
    clock.set(local(0, 30, day=TODAY + timedelta(days=1)))
    response = client.post(f"/api/v1/dispatch/plans/{draft['id']}/commit", headers=sup)
    assert response.status_code == 409 and response.json["error"]["code"] == "plan_day_over"


def test_a_day_that_is_over_cannot_be_planned(client, make, team, sup):
    response = client.post(
        "/api/v1/dispatch/plans", json={"date": (TODAY - timedelta(days=1)).isoformat(), "team": "SH-A"}, headers=sup
    )
    assert response.status_code == 422 and "date" in response.json["error"]["fields"]


# ---------------------------------------------------------------- a day already under way


@pytest.fixture()
def working_day(app, db, client, make, team, sup, clock):
    """A crew's day planned and committed at 08:00; the agent's first stop visited 09:00–09:30."""
    crew = make.trained_crew(team, lat=HOME[0], lon=HOME[1])
    agent = make.user("agent")
    with app.app_context():
        member = db.session.scalars(sa.select(Collector).where(Collector.crew_id == crew.id)).first()
        member.user_id = agent.id
        db.session.commit()
    cases = [make.dispatchable_case(team, lat=HOME[0] + i * 0.004, lon=HOME[1]) for i in range(5)]
    clock.set(local(8))
    commit(client, sup, plan(client, sup, TODAY))
    route = tasks(app, db, visit_date=TODAY, status="assigned")
    assert len(route) == 5 and [t.sequence for t in route] == [1, 2, 3, 4, 5]
    first = route[0]
    case = next(c for c in cases if c.id == first.case_id)
    headers = make.token(agent)
    lat = HOME[0] + cases.index(case) * 0.004
    for kind, at in (("check-in", local(9)), ("check-out", local(9, 30))):
        clock.set(at)
        response = client.post(
            f"/api/v1/agent/tasks/{first.id}/{kind}",
            headers=headers,
            json={
                "client_event_id": f"evt-{kind}",
                "lat": lat,
                "lon": HOME[1],
                "accuracy_m": 5.0,
                "device_time": at.isoformat(),
            },
        )
        assert response.status_code in (200, 201), response.json
    return {"crew": crew, "first": first, "headers": headers, "position": (lat, HOME[1])}


def test_replanning_a_started_day_keeps_the_finished_stop_and_plans_the_rest_from_now(
    app, db, client, sup, clock, working_day
):
    clock.set(local(13, 7))
    result = commit(client, sup, plan(client, sup, TODAY))
    day = tasks(app, db, visit_date=TODAY, crew_id=working_day["crew"].id)
    done = [t for t in day if t.status == "done"]
    assigned = [t for t in day if t.status == "assigned"]
    assert [t.id for t in done] == [working_day["first"].id] and done[0].sequence == 1
    # Numbered after the finished stop, no number twice, nothing before now.
    assert [t.sequence for t in day] == list(range(1, len(day) + 1))
    assert len(assigned) == 4 and all(t.planned_start >= local(13, 7) for t in assigned)
    assert result["status"] == "committed"


def test_the_phone_gets_a_coherent_route_after_a_replan(app, db, client, sup, clock, working_day):
    clock.set(local(13, 7))
    commit(client, sup, plan(client, sup, TODAY))
    route = client.get(f"/api/v1/agent/route?date={TODAY}", headers=working_day["headers"]).json
    stops = route["stops"]
    assert [s["sequence"] for s in stops] == list(range(1, len(stops) + 1))
    assert stops[0]["status"] == "done" and {s["status"] for s in stops[1:]} == {"assigned"}
    starts = [datetime.fromisoformat(s["planned_start"]) for s in stops[1:]]
    assert starts == sorted(starts) and starts[0] >= local(13, 7)


def test_a_replan_during_an_open_visit_starts_the_crew_after_that_visit_where_it_is(
    app, db, client, sup, clock, working_day
):
    second = next(t for t in tasks(app, db, visit_date=TODAY, status="assigned") if t.sequence == 2)
    with app.app_context():
        debtor = db.session.get(VisitTask, second.id).case.debtor
        where = (debtor.lat, debtor.lon)
    clock.set(local(14))
    response = client.post(
        f"/api/v1/agent/tasks/{second.id}/check-in",
        headers=working_day["headers"],
        json={
            "client_event_id": "evt-second-in",
            "lat": where[0],
            "lon": where[1],
            "accuracy_m": 5.0,
            "device_time": local(14).isoformat(),
        },
    )
    assert response.status_code == 201, response.json
    clock.set(local(14, 5))
    commit(client, sup, plan(client, sup, TODAY))
    day = tasks(app, db, visit_date=TODAY, crew_id=working_day["crew"].id)
    assert [t.status for t in day[:2]] == ["done", "checked_in"]
    later = [t for t in day if t.status == "assigned"]
    # The open visit lasts its planned 30 minutes: nothing before 14:30.
    assert later and all(t.planned_start >= local(14, 30) for t in later)
    assert [t.sequence for t in day] == list(range(1, len(day) + 1))


def test_a_draft_committed_after_its_first_stops_time_passed_drops_them(app, db, client, make, team, sup, clock):
    make.trained_crew(team)
    cases = [make.dispatchable_case(team, lat=HOME[0] + i * 0.004) for i in range(3)]
    clock.set(local(8))
    draft = plan(client, sup, TODAY)
    first_start = min(
        datetime.fromisoformat(s["start"].join(["2026-06-10T", ":00+08:00"]))
        for r in draft["routes"]
        for s in r["stops"]
    )
    clock.set(first_start + timedelta(minutes=1))
    commit(client, sup, draft)
    passed = [t for c in cases for t in tasks(app, db, case_id=c.id) if t.reason.get("reason") == "time_passed"]
    assert passed and all(t.status == "open" for t in passed)
    assert all(t.planned_start >= first_start for t in tasks(app, db, status="assigned"))


def test_a_visit_recorded_today_keeps_its_debtor_out_of_a_replan(app, db, client, sup, clock, working_day):
    clock.set(local(13))
    result = plan(client, sup, TODAY)
    assert working_day["first"].case_id not in stops_of(result)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Visit)) == 1
