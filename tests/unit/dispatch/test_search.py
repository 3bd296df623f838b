"""The solver spends the time it is given, never gets worse for more of it, and
stops at once only when it holds a proven optimum."""

import itertools
import math

import pytest
from dispatch_factories import collector, north, task

from dispatch import check, exact, solve
from dispatch.budget import Budget
from dispatch.generate import generate_family
from dispatch.model import Instance
from dispatch.problem import parse
from dispatch.routes import evaluate, objective
from dispatch.solver import plan_routes


def routes_after(problem, steps):
    inst = Instance(parse(problem))
    return inst, plan_routes(inst, Budget(math.inf, max_steps=steps))


@pytest.fixture(scope="module")
def small_day():
    return generate_family("wide-uniform-3", seed=2, tasks=40, collectors=3)


def test_a_longer_search_never_gives_a_worse_plan(small_day):
    values = []
    for steps in (0, 3, 10, 30, 60):
        inst, routes = routes_after(small_day, steps)
        values.append(objective(inst, routes))
    assert values == sorted(values)
    assert values[-1] > values[0]  # the search does improve this day


def test_the_same_steps_give_the_same_plan(small_day):
    first = routes_after(small_day, 25)[1]
    assert routes_after(small_day, 25)[1] == first


def test_solve_uses_the_time_it_is_given_and_the_plan_is_feasible(small_day):
    plan = solve(small_day, time_limit=1.5)
    assert plan["summary"]["solve_seconds"] >= 1.0
    assert plan["summary"]["assigned"] == 40
    assert check(small_day, plan) == []


def test_a_matrix_day_is_improved_too():
    problem = generate_family("matrix-depot-wide-8", seed=3, tasks=40, collectors=3)
    inst, start = routes_after(problem, 0)
    inst, better = routes_after(problem, 40)
    assert objective(inst, better) >= objective(inst, start)


def brute_force(inst):
    """The contract's best routes by trying every assignment and order."""
    best = None
    for owners in itertools.product([None] + list(range(inst.m)), repeat=inst.n):
        routes = {}
        for c in range(inst.m):
            mine = [t for t in range(inst.n) if owners[t] == c]
            if any(not inst.eligible[t, c] for t in mine):
                break
            feasible = [list(p) for p in itertools.permutations(mine) if evaluate(inst, c, list(p)) is not None]
            if not feasible:
                break
            routes[c] = min(feasible, key=lambda r: -objective(inst, {c: r})[2])
        else:
            value = objective(inst, routes)
            best = value if best is None or value > best else best
    return best


def test_a_tiny_day_is_solved_to_proven_optimality_and_returns_at_once(make_problem):
    problem = make_problem(
        collectors=[collector("c-1", max_visits=2), collector("c-2", at=north(6))],
        tasks=[
            task("t-1", at=north(1), priority=10, windows=[["09:00", "10:00"]]),
            task("t-2", at=north(5), priority=50),
            task("t-3", at=north(3), priority=20, windows=[["16:00", "17:00"]]),
            task("t-4", at=north(7), priority=5, service_minutes=240),
            task("t-5", at=north(2), priority=30, windows=[["09:00", "09:20"]]),
        ],
    )
    inst = Instance(parse(problem))
    routes = exact.plan(inst)
    assert objective(inst, routes) == brute_force(inst)
    plan = solve(problem, time_limit=30)
    assert plan["summary"]["solve_seconds"] < 5
    assert plan["summary"]["priority_sum"] == brute_force(inst)[0]
    assert check(problem, plan) == []


def test_exact_search_declines_a_day_it_cannot_finish_quickly():
    problem = generate_family("tight-uniform-25", seed=1, tasks=30, collectors=5)
    assert exact.plan(Instance(parse(problem))) is None


def test_the_large_day_path_is_never_worse_for_more_steps_either(small_day, monkeypatch):
    # Route groups, polish checkpoints, then ruin and recreate: the path of days of
    # more than GROUPS_MIN_TASKS tasks, here on a small day so that it runs quickly.
    from dispatch import solver

    monkeypatch.setattr(solver, "GROUPS_MIN_TASKS", 10)
    monkeypatch.setattr(solver, "POLISH_EVERY", 4)
    values = []
    for steps in (0, 2, 5, 9, 20, 40):
        inst, routes = routes_after(small_day, steps)
        values.append(objective(inst, routes))
    assert values == sorted(values)
