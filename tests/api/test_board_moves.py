"""Moving work on the board: what the policy would say about each crew before a move,
and stops numbered 1, 2, 3… in time order after any move."""

from datetime import datetime, time, timedelta

import sqlalchemy as sa

from app.models import AuditEvent, Collector, Visit, VisitTask
from tests.api.test_field import HOME, SHANGHAI


def options(client, headers, task):
    response = client.get(f"/api/v1/tasks/{task.id}/move-options", headers=headers)
    assert response.status_code == 200, response.json
    return {o["crew"]: o for o in response.json["crews"]}


def route_of(app, db, crew):
    with app.app_context():
        tasks = db.session.scalars(
            sa.select(VisitTask)
            .where(VisitTask.crew_id == crew.id, VisitTask.status == "assigned")
            .order_by(VisitTask.sequence)
        ).all()
        return [(t.id, t.sequence, t.planned_start) for t in tasks]


def test_the_move_menu_knows_which_crews_the_policy_would_refuse_and_why(app, db, client, day):
    make = day.make
    ready = make.trained_crew(day.team, lat=HOME[0], lon=HOME[1])
    untrained = make.trained_crew(day.team, modules=("communication",), lat=HOME[0], lon=HOME[1])
    lone = make.trained_crew(day.team, size=1, lat=HOME[0], lon=HOME[1])
    with app.app_context():
        events = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent))
    crews = options(client, day.sup, day.tasks[0])
    assert crews[day.crew.code]["current"] and not crews[day.crew.code]["allowed"]
    assert crews[ready.code]["allowed"] and crews[ready.code]["rules"] == []
    assert not crews[untrained.code]["allowed"]
    assert "cn.qualification" in {r["rule_id"] for r in crews[untrained.code]["rules"]}
    assert all(r["reason_zh"] and r["reason_en"] for r in crews[untrained.code]["rules"])
    assert not crews[lone.code]["allowed"] and crews[lone.code]["rules"]
    with app.app_context():  # asking moved nothing and wrote nothing
        assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) == events
        assert db.session.get(VisitTask, day.tasks[0].id).crew_id == day.crew.id


def test_a_crew_at_its_capacity_is_marked_full_and_not_offered(app, db, client, day):
    small = day.make.trained_crew(day.team, lat=HOME[0], lon=HOME[1])
    with app.app_context():
        db.session.execute(sa.update(Collector).where(Collector.crew_id == small.id).values(daily_capacity=1))
        db.session.commit()
    crews = options(client, day.sup, day.tasks[0])
    assert crews[small.code] | {"rules": None} == {
        "crew": small.code,
        "current": False,
        "stops": 0,
        "capacity": 1,
        "full": False,
        "allowed": True,
        "rules": None,
    }
    day.task(day.make.dispatchable_case(day.team, lat=HOME[0], lon=HOME[1]), 1, crew=small)
    crews = options(client, day.sup, day.tasks[0])
    assert crews[small.code]["full"] and not crews[small.code]["allowed"] and crews[small.code]["stops"] == 1
    assert crews[day.crew.code]["stops"] == 2  # the task's own crew: its other two stops


def test_a_debtor_visited_yesterday_is_refused_for_every_crew_by_the_frequency_rule(app, db, client, day):
    other = day.make.trained_crew(day.team, lat=HOME[0], lon=HOME[1])
    yesterday = day.date - timedelta(days=1)
    done = day.task(day.cases[0], 9, visit_date=yesterday, status="done")
    with app.app_context():
        member = db.session.scalars(sa.select(Collector.id).where(Collector.crew_id == day.crew.id)).first()
        db.session.add(
            Visit(
                task_id=done.id,
                crew_id=day.crew.id,
                collector_id=member,
                check_in_at=datetime.combine(yesterday, time(10), SHANGHAI),
                check_in_lat=HOME[0],
                check_in_lon=HOME[1],
                outcome="not_home",
            )
        )
        db.session.commit()
    crews = options(client, day.sup, day.tasks[0])
    assert not crews[other.code]["allowed"]
    assert "cn.frequency_cap" in {r["rule_id"] for r in crews[other.code]["rules"]}


def test_after_a_move_both_crews_stops_are_numbered_from_one_in_time_order(app, db, client, day):
    other = day.make.trained_crew(day.team, lat=HOME[0], lon=HOME[1])
    moved = day.tasks[1]
    answer = client.post(
        f"/api/v1/tasks/{moved.id}/assign",
        headers=day.sup,
        json={"crew": other.code, "reason": "closer to the second crew", "from_crew": day.crew.code},
    )
    assert answer.status_code == 200, answer.json
    for crew, count in ((day.crew, 2), (other, 1)):
        route = route_of(app, db, crew)
        assert [sequence for _, sequence, _ in route] == list(range(1, count + 1))
        starts = [start for _, _, start in route]
        assert starts == sorted(starts)
    back = client.post(
        f"/api/v1/tasks/{moved.id}/assign",
        headers=day.sup,
        json={"crew": day.crew.code, "reason": "back again", "from_crew": other.code},
    )
    assert back.status_code == 200, back.json
    route = route_of(app, db, day.crew)
    assert [sequence for _, sequence, _ in route] == [1, 2, 3]
    assert [start for _, _, start in route] == sorted(start for _, _, start in route)
    assert route_of(app, db, other) == []


def test_after_an_unassign_the_crew_is_numbered_from_one_again(app, db, client, day):
    answer = client.post(
        f"/api/v1/tasks/{day.tasks[0].id}/unassign", headers=day.sup, json={"reason": "debtor asked for another day"}
    )
    assert answer.status_code == 200, answer.json
    assert [sequence for _, sequence, _ in route_of(app, db, day.crew)] == [1, 2]
