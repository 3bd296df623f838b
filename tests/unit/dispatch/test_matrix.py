"""A supplied matrix replaces the travel model: in the plan, in its times and in check."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from dispatch_factories import collector, north, reasons_of, stops_of, task

from dispatch import check, solve, validate
from dispatch.generate import generate_family

REPO = Path(__file__).resolve().parents[3]
FAST = 1.0


def with_matrix(problem, names, seconds, metres):
    problem["matrix"] = {"locations": names, "durations_s": seconds, "distances_m": metres}
    return problem


@pytest.fixture
def two_tasks(make_problem):
    """c-1 at the base, t-a and t-b 1 km and 2 km north; the matrix says otherwise."""
    problem = make_problem(collectors=[collector("c-1")], tasks=[task("t-a", at=north(1)), task("t-b", at=north(2))])
    names = ["c-1", "t-a", "t-b"]
    seconds = [[0, 600, 1200], [660, 0, 300], [1260, 3600, 0]]
    metres = [[0, 4000, 9000], [4100, 0, 2000], [9100, 15000, 0]]
    return with_matrix(problem, names, seconds, metres)


def test_times_and_distance_come_from_the_matrix_not_the_coordinates(two_tasks):
    plan = solve(two_tasks, time_limit=FAST)
    # a -> b -> home: 4000 + 2000 + 9100 m; b -> a would cost 15 km.
    assert stops_of(plan, "c-1") == ["t-a", "t-b"]
    route = plan["routes"][0]
    assert route["distance_km"] == pytest.approx(15.1)
    assert [s["arrival"] for s in route["stops"]] == ["09:10", "09:45"]
    assert plan["summary"]["distance_km"] == pytest.approx(15.1)
    assert check(two_tasks, plan) == []


def test_check_measures_a_plan_with_the_matrix(two_tasks):
    plan = solve(two_tasks, time_limit=FAST)
    plan["routes"][0]["distance_km"] = 2.9  # what the coordinates would give
    plan["summary"]["distance_km"] = 2.9
    violations = check(two_tasks, plan)
    assert any("routes[0].distance_km" in v for v in violations)


def test_check_rejects_an_order_the_matrix_makes_too_late(two_tasks):
    two_tasks["tasks"][0]["windows"] = [["09:00", "09:30"]]
    plan = solve(two_tasks, time_limit=FAST)
    assert stops_of(plan, "c-1")[0] == "t-a"
    route = plan["routes"][0]
    route["stops"].reverse()  # b first: a is then reached after 09:30 by the matrix
    violations = check(two_tasks, plan)
    assert any("cannot start inside a window" in v for v in violations)


def test_a_task_the_matrix_puts_out_of_reach_is_window_unreachable(make_problem):
    problem = make_problem(collectors=[collector("c-1", shift=("09:00", "10:00"))], tasks=[task("t-a", at=north(0.5))])
    with_matrix(problem, ["c-1", "t-a"], [[0, 7200], [7200, 0]], [[0, 500], [500, 0]])
    plan = solve(problem, time_limit=FAST)
    assert reasons_of(plan) == {"t-a": "window_unreachable"}
    assert check(problem, plan) == []


def test_a_collector_end_has_its_own_row_when_it_differs(make_problem):
    far_end = north(8)
    problem = make_problem(collectors=[collector("c-1", end_lat=far_end[0], end_lon=far_end[1])], tasks=[task("t-a")])
    with_matrix(
        problem,
        ["c-1", "c-1:end", "t-a"],
        [[0, 0, 300], [0, 0, 300], [300, 900, 0]],
        [[0, 0, 1000], [0, 0, 1000], [1000, 7000, 0]],
    )
    plan = solve(problem, time_limit=FAST)
    assert plan["routes"][0]["distance_km"] == pytest.approx(8.0)
    assert check(problem, plan) == []


def test_generated_matrix_family_is_valid_and_solved_feasibly():
    problem = generate_family("matrix-depot-mixed-25", seed=2, tasks=30, collectors=4)
    assert validate(problem) == []
    plan = solve(problem, time_limit=FAST)
    assert plan["summary"]["assigned"] > 0
    assert check(problem, plan) == []


# -- validation -----------------------------------------------------------------


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (lambda m: m["locations"].remove("t-b"), "matrix.locations: has no entry for 't-b'"),
        (lambda m: m["locations"].__setitem__(2, "t-a"), "matrix.locations[2]: duplicate location 't-a'"),
        (lambda m: m["locations"].__setitem__(2, "t-zz"), "matrix.locations[2]: unknown location 't-zz'"),
        (lambda m: m["durations_s"][1].pop(), "matrix.durations_s[1]: must be a list of 3 integers"),
        (lambda m: m["durations_s"].pop(), "matrix.durations_s: must have 3 rows, one per location; has 2"),
        (lambda m: m["distances_m"][0].__setitem__(1, -5), "matrix.distances_m[0]: must be a list of 3"),
        (lambda m: m["distances_m"][2].__setitem__(0, 12.5), "matrix.distances_m[2]: must be a list"),
        (lambda m: m["durations_s"][2].__setitem__(0, True), "matrix.durations_s[2]: must be a list"),
        (lambda m: m.pop("distances_m"), "matrix.distances_m: is required"),
        (lambda m: m.__setitem__("speeds", []), "matrix.speeds: unknown field"),
    ],
)
def test_a_broken_matrix_is_refused_naming_the_field(two_tasks, mutate, expected):
    mutate(two_tasks["matrix"])
    errors = validate(two_tasks)
    assert any(e.startswith(expected) for e in errors), errors


def test_a_missing_end_row_is_refused_only_when_the_end_differs(make_problem):
    end = north(3)
    problem = make_problem(collectors=[collector("c-1", end_lat=end[0], end_lon=end[1])], tasks=[task("t-a")])
    with_matrix(problem, ["c-1", "t-a"], [[0, 1], [1, 0]], [[0, 1], [1, 0]])
    assert validate(problem) == ["matrix.locations: has no entry for 'c-1:end'"]
    problem["collectors"][0]["end_lat"], problem["collectors"][0]["end_lon"] = (
        problem["collectors"][0]["lat"],
        problem["collectors"][0]["lon"],
    )
    assert validate(problem) == []


def test_a_task_named_like_a_collector_is_ambiguous_with_a_matrix(make_problem):
    problem = make_problem(collectors=[collector("x")], tasks=[task("x")])
    assert validate(problem) == []  # without a matrix the names never meet
    with_matrix(problem, ["x"], [[0]], [[0]])
    assert any(e.startswith("tasks[0].id: 'x' is also a collector's location name") for e in validate(problem))


def test_a_matrix_of_the_wrong_kind_gives_a_bounded_report(make_problem):
    tasks = [task(f"t-{i}") for i in range(40)]
    problem = make_problem(tasks=tasks)
    names = ["c-1"] + [t["id"] for t in tasks]
    floats = [[1.5] * len(names) for _ in names]
    ints = [[1] * len(names) for _ in names]
    with_matrix(problem, names, floats, ints)
    errors = validate(problem)
    assert len(errors) == 21
    assert errors[-1] == "matrix.durations_s: 21 more rows are invalid"


def test_cli_refuses_an_invalid_matrix_with_exit_2(tmp_path, two_tasks):
    two_tasks["matrix"]["durations_s"][0] = "fast"
    path = tmp_path / "problem.json"
    path.write_text(json.dumps(two_tasks))
    result = subprocess.run(
        [sys.executable, "-m", "dispatch", "solve", str(path)], capture_output=True, text=True, cwd=REPO
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert "matrix.durations_s[0]: must be a list of 3 integers" in result.stderr
