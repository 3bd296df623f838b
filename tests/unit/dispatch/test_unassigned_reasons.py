"""A task that is in no route says why, from the documented set."""

from dispatch_factories import collector, north, reasons_of, task

from dispatch import REASONS, check, solve


def test_reasons_are_the_documented_set():
    assert set(REASONS) == {"skills", "no_eligible_collector", "window_unreachable", "capacity"}


def test_task_needing_a_skill_nobody_has_is_unassigned_for_skills(make_problem):
    problem = make_problem(tasks=[task("t-1", skills=["en"])])
    assert reasons_of(solve(problem, time_limit=1)) == {"t-1": "skills"}


def test_allowed_collector_without_the_skill_leaves_no_eligible_collector(make_problem):
    problem = make_problem(
        collectors=[collector("c-1", skills=["zh"]), collector("c-2", skills=["wuu"])],
        tasks=[task("t-1", skills=["wuu"], allowed_collectors=["c-1"])],
    )
    plan = solve(problem, time_limit=1)
    assert reasons_of(plan) == {"t-1": "no_eligible_collector"}
    assert check(problem, plan) == []


def test_excluding_every_collector_leaves_no_eligible_collector(make_problem):
    problem = make_problem(tasks=[task("t-1", excluded_collectors=["c-1"])])
    assert reasons_of(solve(problem, time_limit=1)) == {"t-1": "no_eligible_collector"}


def test_window_nobody_can_reach_even_with_an_empty_day(make_problem):
    problem = make_problem(tasks=[task("t-1", at=north(10), windows=[["09:00", "09:10"]])])
    assert reasons_of(solve(problem, time_limit=1)) == {"t-1": "window_unreachable"}


def test_window_outside_every_shift_is_unreachable(make_problem):
    problem = make_problem(tasks=[task("t-1", windows=[["19:00", "21:00"]])])
    assert reasons_of(solve(problem, time_limit=1)) == {"t-1": "window_unreachable"}


def test_servable_task_crowded_out_by_others_is_capacity(make_problem):
    problem = make_problem(
        collectors=[collector(max_visits=1)], tasks=[task("t-1", priority=50), task("t-2", priority=60)]
    )
    plan = solve(problem, time_limit=1)
    assert reasons_of(plan) == {"t-1": "capacity"}
    assert check(problem, plan) == []


def test_problem_without_collectors_still_answers_a_plan(make_problem):
    problem = make_problem(collectors=[], tasks=[task("t-1"), task("t-2", skills=["wuu"])])
    plan = solve(problem, time_limit=1)
    assert plan["routes"] == []
    assert reasons_of(plan) == {"t-1": "no_eligible_collector", "t-2": "skills"}
    assert plan["summary"]["unassigned"] == 2
    assert check(problem, plan) == []
