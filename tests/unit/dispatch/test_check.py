"""``check`` finds every kind of violation in a hand-broken plan."""

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest
from dispatch_factories import collector, north, task

from dispatch import check, solve

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def day(make_problem):
    """A small feasible day: two collectors, four tasks, one of them unassignable."""
    problem = make_problem(
        collectors=[
            collector("c-1", skills=["zh"], max_visits=3),
            collector("c-2", at=north(3), skills=["zh", "wuu"], max_visits=3),
        ],
        tasks=[
            task("t-1", at=north(0.5), windows=[["09:00", "12:00"]], priority=30),
            task("t-2", at=north(1), priority=20),
            task("t-3", at=north(3.2), skills=["wuu"], priority=50),
            task("t-4", skills=["en"]),
        ],
    )
    plan = solve(problem, time_limit=1)
    assert check(problem, plan) == []
    return problem, plan


def route_of(plan, cid):
    return next(r for r in plan["routes"] if r["collector"] == cid)


def broken(problem, plan, change):
    plan = copy.deepcopy(plan)
    change(plan)
    return check(problem, plan)


def has(violations, fragment):
    return any(fragment in v for v in violations)


def test_a_task_left_out_everywhere_is_caught(day):
    problem, plan = day
    violations = broken(problem, plan, lambda p: p["unassigned"].clear())
    assert has(violations, "task t-4: neither in a route nor unassigned")


def test_a_task_listed_twice_is_caught(day):
    problem, plan = day
    violations = broken(problem, plan, lambda p: p["unassigned"].append({"task": "t-3", "reason": "capacity"}))
    assert has(violations, "t-3 already appears")


def test_a_task_given_to_a_collector_without_its_skills_is_caught(day):
    problem, plan = day

    def give_wuu_task_to_c1(p):
        stop = route_of(p, "c-2")["stops"].pop()
        route_of(p, "c-1")["stops"].append(stop)

    assert has(broken(problem, plan, give_wuu_task_to_c1), "c-1 lacks skills ['wuu']")


def test_excluded_and_not_allowed_collectors_are_caught(day):
    problem, plan = day
    problem = copy.deepcopy(problem)
    where = "c-1" if "t-1" in [s["task"] for s in route_of(plan, "c-1")["stops"]] else "c-2"
    problem["tasks"][0]["excluded_collectors"] = [where]
    assert has(check(problem, plan), "is in excluded_collectors")
    problem["tasks"][0]["excluded_collectors"] = []
    problem["tasks"][0]["allowed_collectors"] = ["c-1" if where == "c-2" else "c-2"]
    assert has(check(problem, plan), "is not in allowed_collectors")


def test_a_start_outside_every_window_is_caught(day):
    problem, plan = day
    problem = copy.deepcopy(problem)
    problem["tasks"][1]["windows"] = [["16:00", "17:00"]]
    violations = check(problem, plan)
    assert has(violations, "is not inside any window of task t-2")
    assert has(violations, "t-2 cannot start inside a window in this order") or has(
        violations, "is not inside any window"
    )


def test_an_arrival_faster_than_the_travel_model_is_caught(day):
    problem, plan = day

    def teleport(p):
        stop = p["routes"][0]["stops"][0]
        stop["arrival"] = stop["start"] = "09:00"

    assert has(broken(problem, plan, teleport), "is earlier than the travel model allows")


def test_an_end_that_is_not_start_plus_service_is_caught(day):
    problem, plan = day

    def short_visit(p):
        p["routes"][0]["stops"][0]["end"] = p["routes"][0]["stops"][0]["start"]

    assert has(broken(problem, plan, short_visit), "minutes of service")


def test_more_stops_than_max_visits_is_caught(day):
    problem, plan = day
    problem = copy.deepcopy(problem)
    problem["collectors"][0]["max_visits"] = 0
    problem["collectors"][1]["max_visits"] = 0
    assert has(check(problem, plan), "exceed max_visits")


def test_coming_home_after_shift_end_is_caught(day):
    problem, plan = day
    problem = copy.deepcopy(problem)
    for c in problem["collectors"]:
        c["shift"] = ["09:00", "09:20"]
    assert has(check(problem, plan), "after shift end")


def test_a_wrong_distance_is_caught(day):
    problem, plan = day

    def stretch(p):
        p["routes"][0]["distance_km"] += 1

    assert has(broken(problem, plan, stretch), ".distance_km:")


def test_an_inconsistent_summary_is_caught(day):
    problem, plan = day

    def inflate(p):
        p["summary"]["assigned"] += 1
        p["summary"]["priority_sum"] += 5
        p["summary"]["distance_km"] += 3

    violations = broken(problem, plan, inflate)
    for key in ("summary.assigned", "summary.priority_sum", "summary.distance_km"):
        assert has(violations, key)


def test_an_unknown_or_untrue_reason_is_caught(day):
    problem, plan = day

    def relabel(p, reason):
        p["unassigned"][0]["reason"] = reason

    assert has(broken(problem, plan, lambda p: relabel(p, "bad_luck")), "is not one of")
    assert has(broken(problem, plan, lambda p: relabel(p, "window_unreachable")), "reason: window_unreachable but")


def test_unknown_collector_and_task_are_caught(day):
    problem, plan = day

    def strangers(p):
        p["routes"][0]["collector"] = "c-404"
        p["unassigned"].append({"task": "t-404", "reason": "capacity"})

    violations = broken(problem, plan, strangers)
    assert has(violations, "unknown collector 'c-404'")
    assert has(violations, "unknown task")


@pytest.mark.parametrize("value", [["c-1"], {"id": "t-1"}])
def test_a_list_or_object_where_an_id_or_reason_belongs_is_a_violation_not_a_crash(day, value):
    """A plan file is anyone's JSON: an id or a reason that is a list or an object is named
    as unknown, as any other wrong value is."""
    problem, plan = day

    def unhashable(p):
        p["routes"][0]["collector"] = value
        p["routes"][1]["stops"][0]["task"] = value
        p["unassigned"][0]["task"] = value
        p["unassigned"].append({"task": "t-4", "reason": value})

    violations = broken(problem, plan, unhashable)
    assert has(violations, "routes[0].collector: unknown collector")
    assert has(violations, "routes[1].stops[0].task: unknown task")
    assert has(violations, "unassigned[0].task: unknown task")
    assert has(violations, f"reason: {value!r} is not one of")


def test_cli_check_exits_1_and_prints_each_violation(day, tmp_path):
    problem, plan = day
    plan = copy.deepcopy(plan)
    plan["summary"]["assigned"] = 99
    plan["unassigned"].clear()
    (tmp_path / "problem.json").write_text(json.dumps(problem))
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    result = subprocess.run(
        [sys.executable, "-m", "dispatch", "check", str(tmp_path / "problem.json"), str(tmp_path / "plan.json")],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert any(line.startswith("summary.assigned") for line in lines)
    assert any(line.startswith("task t-4") for line in lines)
