"""Invalid problems are refused with one line per problem naming the field."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from dispatch_factories import collector, task

from dispatch import ProblemError, solve, validate

REPO = Path(__file__).resolve().parents[3]


def test_a_valid_problem_has_no_errors(make_problem):
    assert validate(make_problem()) == []


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("lat", 91, "tasks[0].lat: must be between -90 and 90"),
        ("lon", "121.4", "tasks[0].lon: must be a number"),
        ("priority", 101, "tasks[0].priority: must be between 0 and 100"),
        ("priority", 4.5, "tasks[0].priority: must be an integer"),
        ("service_minutes", -5, "tasks[0].service_minutes: must be between 0 and 1440"),
        ("windows", [["9:00", "12:00"]], "tasks[0].windows[0][0]: must be a time HH:MM"),
        ("windows", [["12:00", "09:00"]], "tasks[0].windows[0]: start must be before end"),
        ("windows", [], "tasks[0].windows: must be a non-empty list"),
        ("skills", "wuu", "tasks[0].skills: must be a list of non-empty strings"),
        ("allowed_collectors", ["c-404"], "tasks[0].allowed_collectors[0]: unknown collector id"),
        ("excluded_collectors", ["c-404"], "tasks[0].excluded_collectors[0]: unknown collector id"),
        ("prority", 50, "tasks[0].prority: unknown field"),
    ],
)
def test_each_bad_task_field_is_named(make_problem, field, value, message):
    errors = validate(make_problem(tasks=[task(**{field: value})]))
    assert any(e.startswith(message) for e in errors), errors


@pytest.mark.parametrize(
    "change, message",
    [
        ({"shift": ["18:00", "09:00"]}, "collectors[0].shift: start must be before end"),
        ({"shift": ["09:00", "24:00"]}, "collectors[0].shift[1]: must be a time HH:MM"),
        ({"max_visits": -1}, "collectors[0].max_visits: must be between 0 and 10000"),
        ({"lat": True}, "collectors[0].lat: must be a number"),
        ({"end_lat": 31.0}, "collectors[0]: end_lat and end_lon must be given together"),
    ],
)
def test_each_bad_collector_field_is_named(make_problem, change, message):
    errors = validate(make_problem(collectors=[collector(**change)]))
    assert any(e.startswith(message) for e in errors), errors


def test_duplicate_ids_are_reported(make_problem):
    errors = validate(make_problem(collectors=[collector("c-1"), collector("c-1")], tasks=[task("t-1"), task("t-1")]))
    assert "collectors[1].id: duplicate id 'c-1'" in errors
    assert "tasks[1].id: duplicate id 't-1'" in errors


def test_every_error_is_reported_not_just_the_first(make_problem):
    errors = validate(make_problem(tasks=[task(lat=100), task("t-2", lon=200, priority=-1)]))
    assert len(errors) == 3


def test_top_level_shape_and_travel_are_validated():
    errors = validate(
        {"collectors": "none", "travel": {"speed_kmh": 0}, "date": "2026-13-01", "timezone": "Mars/Olympus"}
    )
    assert "collectors: is required and must be a list" in errors
    assert "tasks: is required and must be a list" in errors
    assert "travel.speed_kmh: must be greater than 0" in errors
    assert "date: must be a date YYYY-MM-DD" in errors
    assert "timezone: must be an IANA time zone name" in errors


def test_solve_raises_problem_error_listing_every_problem(make_problem):
    with pytest.raises(ProblemError) as caught:
        solve(make_problem(tasks=[task(lat=-91)]))
    assert caught.value.errors == ["tasks[0].lat: must be between -90 and 90"]


def run_cli(*args, stdin=None):
    return subprocess.run(
        [sys.executable, "-m", "dispatch", *args], input=stdin, capture_output=True, text=True, cwd=REPO
    )


def test_cli_exits_2_with_one_line_per_problem_and_prints_no_plan(make_problem):
    problem = make_problem(tasks=[task(lat=95), task("t-2", windows=[["10:00", "09:00"]])])
    result = run_cli("solve", "-", stdin=json.dumps(problem))
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "tasks[0].lat: must be between -90 and 90",
        "tasks[1].windows[0]: start must be before end",
    ]


def test_cli_rejects_malformed_json_with_exit_2():
    result = run_cli("solve", "-", stdin="{not json")
    assert result.returncode == 2
    assert result.stderr.startswith("problem: not valid JSON")


def test_cli_solves_from_stdin_and_the_plan_checks(make_problem, tmp_path):
    problem_path = tmp_path / "problem.json"
    problem_path.write_text(json.dumps(make_problem()))
    plan_path = tmp_path / "plan.json"
    solved = run_cli("solve", str(problem_path), "-o", str(plan_path), "--time-limit", "1")
    assert solved.returncode == 0, solved.stderr
    checked = run_cli("check", str(problem_path), str(plan_path))
    assert checked.returncode == 0, checked.stdout
