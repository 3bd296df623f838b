"""Re-planning during the day disturbs as few committed stops as possible."""

import copy

import pytest
from dispatch_factories import collector, north, reasons_of, stops_of, task

from dispatch import ProblemError, check, drop_collector, generate, insert_task, solve


@pytest.fixture
def committed(make_problem):
    """Two collectors with two stops each, morning and afternoon."""
    problem = make_problem(
        collectors=[collector("c-1", max_visits=4), collector("c-2", at=north(4), max_visits=4)],
        tasks=[
            task("t-1", at=north(0.3), windows=[["09:00", "10:00"]], priority=20),
            task("t-2", at=north(0.6), windows=[["15:00", "16:00"]], priority=20),
            task("t-3", at=north(4.2), windows=[["09:00", "10:00"]], priority=20),
            task("t-4", at=north(4.5), windows=[["15:00", "16:00"]], priority=20),
        ],
    )
    plan = solve(problem, time_limit=1)
    assert stops_of(plan, "c-1") == ["t-1", "t-2"] and stops_of(plan, "c-2") == ["t-3", "t-4"]
    return problem, plan


def test_urgent_task_goes_to_the_cheapest_route_and_moves_no_one(committed):
    problem, plan = committed
    result = insert_task(problem, plan, task("t-urgent", at=north(0.4), priority=90))
    assert "t-urgent" in stops_of(result["plan"], "c-1")
    assert result["moves"] == []
    assert stops_of(result["plan"], "c-2") == ["t-3", "t-4"]
    assert check(result["problem"], result["plan"]) == []


def test_stops_already_under_way_keep_their_times(committed):
    problem, plan = committed
    result = insert_task(problem, plan, task("t-urgent", at=north(0.4), priority=90), now="12:00")
    before = plan["routes"][0]["stops"][0]
    after = result["plan"]["routes"][0]["stops"][0]
    assert after == before  # t-1 was done before noon
    urgent = [s for r in result["plan"]["routes"] for s in r["stops"] if s["task"] == "t-urgent"]
    assert urgent[0]["arrival"] >= "12:00"
    assert check(result["problem"], result["plan"]) == []


def test_full_routes_make_room_by_moving_one_lower_priority_stop(make_problem):
    problem = make_problem(
        collectors=[collector("c-1", max_visits=1), collector("c-2", at=north(6), max_visits=1)],
        tasks=[task("t-low", at=north(0.2), priority=10)],
    )
    plan = solve(problem, time_limit=1)
    assert stops_of(plan, "c-1") == ["t-low"]
    # Only c-1 may take the urgent task, and c-1 is full.
    urgent = task("t-urgent", at=north(0.3), priority=90, allowed_collectors=["c-1"])
    result = insert_task(problem, plan, urgent)
    assert stops_of(result["plan"], "c-1") == ["t-urgent"]
    assert stops_of(result["plan"], "c-2") == ["t-low"]
    assert result["moves"] == [{"task": "t-low", "from": "c-1", "to": "c-2"}]
    assert check(result["problem"], result["plan"]) == []


def test_a_displaced_stop_with_nowhere_to_go_is_reported_unassigned(make_problem):
    problem = make_problem(collectors=[collector("c-1", max_visits=1)], tasks=[task("t-low", priority=10)])
    plan = solve(problem, time_limit=1)
    result = insert_task(problem, plan, task("t-urgent", at=north(0.5), priority=90))
    assert result["moves"] == [{"task": "t-low", "from": "c-1", "to": None}]
    assert reasons_of(result["plan"]) == {"t-low": "capacity"}


def test_urgent_task_nobody_may_serve_is_unassigned_with_its_reason(committed):
    problem, plan = committed
    result = insert_task(problem, plan, task("t-urgent", skills=["en"], priority=90))
    assert reasons_of(result["plan"]) == {"t-urgent": "skills"}
    assert result["moves"] == []


def test_invalid_urgent_task_is_refused(committed):
    problem, plan = committed
    with pytest.raises(ProblemError) as caught:
        insert_task(problem, plan, task("t-1"))
    assert caught.value.errors == ["tasks[4].id: duplicate id 't-1'"]


def test_dropped_collectors_remaining_stops_go_to_others(committed):
    problem, plan = committed
    result = drop_collector(problem, plan, "c-1", now="12:00")
    assert stops_of(result["plan"], "c-1") == ["t-1"]  # already done
    assert "t-2" in stops_of(result["plan"], "c-2")
    assert result["moves"] == [{"task": "t-2", "from": "c-1", "to": "c-2"}]
    assert check(problem, result["plan"]) == []


def test_drop_out_before_the_day_starts_hands_over_every_stop():
    problem = generate(60, 8, seed=2)
    plan = solve(problem, time_limit=1)
    leaving = max(plan["routes"], key=lambda r: len(r["stops"]))
    result = drop_collector(problem, plan, leaving["collector"])
    assert stops_of(result["plan"], leaving["collector"]) == []
    assert sorted(m["task"] for m in result["moves"] if m["from"] == leaving["collector"]) == sorted(
        s["task"] for s in leaving["stops"]
    )
    # Stops of the others move only when displaced, and each such move is reported.
    moved = {m["task"] for m in result["moves"]}
    for route in plan["routes"]:
        if route["collector"] != leaving["collector"]:
            for s in route["stops"]:
                assert s["task"] in stops_of(result["plan"], route["collector"]) or s["task"] in moved
    assert check(problem, result["plan"]) == []


def test_unknown_collector_cannot_drop_out(committed):
    problem, plan = committed
    with pytest.raises(ProblemError):
        drop_collector(problem, plan, "c-404")


def test_replanning_leaves_the_callers_dicts_untouched(committed):
    problem, plan = committed
    before = copy.deepcopy((problem, plan))
    insert_task(problem, plan, task("t-urgent", priority=90), now="10:00")
    drop_collector(problem, plan, "c-2", now="10:00")
    assert (problem, plan) == before
