"""Plan a day: the exact optimum when it is tiny, else construct and improve until time is up.

The pipeline (the measurements behind each choice are in ``dispatch/README.md``):

1. ``Instance`` decides who may serve what; tasks nobody may serve get their
   reason at once and take no further time.
2. A day with only a handful of servable tasks is solved exactly
   (``exact.py``): that plan is a proven optimum, and the solver stops.
3. ``decompose`` cuts the day into territories of about thirty collectors
   and hands every servable task to one territory; each territory is solved
   by VROOM at exploration level 0 — fast, a start rather than the result.
4. Tasks left out are inserted, cheapest first, into any eligible
   collector's route, across territory borders.
5. On days of up to ``POLISH_MAX_TASKS`` tasks, VROOM's local search is run
   over the whole day starting from these routes ("polish").
6. On large days (more than ``GROUPS_MIN_TASKS`` tasks), small groups of
   neighbouring routes are re-solved from scratch by VROOM together with the
   unassigned tasks near them, until a round of the largest groups gains
   nothing or time is up; on days of up to ``POLISH_MAX_TASKS`` tasks the
   day is polished again after every ``POLISH_EVERY`` group re-solves.
7. Until time is up, ruin and recreate (``lns.py``) over routes that share
   space keeps improving the plan.

Every step after the construction is deterministic and keeps the best plan
found, and no step depends on how much time is left: a longer time limit
walks further along the same path, so its plan is never worse.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from . import decompose, exact, lns
from .budget import Budget
from .model import Instance, nearest_eligible
from .plan import build_plan
from .problem import parse
from .routes import RouteTimes, best_insertion, evaluate, objective
from .vroom_backend import VroomInputException, solve_part

COLLECTORS_PER_PART = 30
PART_LEVEL = 0
CAPACITY_SLACK = 1.3
GROUP_SIZES = (6, 9, 12)
GROUP_LEVEL = 1
INSERT_CANDIDATES = 30
NEAR_FOR_GROUPS = 5
POLISH_MAX_TASKS = 2000
GROUPS_MIN_TASKS = 500
POLISH_EVERY = 60  # group re-solves between two polishes on days up to POLISH_MAX_TASKS


def default_time_limit(n_tasks: int) -> float:
    """Seconds a day of ``n_tasks`` may take when the caller sets no limit."""
    return min(45.0, max(5.0, n_tasks / 200.0))


def solve(problem: dict[str, Any], time_limit: float | None = None) -> dict[str, Any]:
    """A plan dict for a problem dict; raises ``ProblemError`` if it is invalid.

    ``time_limit`` bounds the whole call in seconds, except that the first
    construction of every territory always completes.  The call takes all of
    it unless it has a proven optimum (a tiny day) sooner.
    """
    began = time.perf_counter()
    inst = Instance(parse(problem))
    seconds = default_time_limit(inst.n) if time_limit is None else time_limit
    routes = plan_routes(inst, Budget(began + seconds))
    return build_plan(inst, routes, unassigned_reasons(inst, routes), time.perf_counter() - began)


def unassigned_reasons(inst: Instance, routes: dict[int, list[int]]) -> dict[int, str]:
    """Reason of every task in no route (see ``model.REASONS``)."""
    reasons = inst.reasons()
    routed = {t for route in routes.values() for t in route}
    for t in range(inst.n):
        if t not in routed and t not in reasons:
            reasons[t] = "capacity"
    return reasons


def plan_routes(inst: Instance, budget: Budget) -> dict[int, list[int]]:
    """Routes for every collector: proven optimal, or the best found within ``budget``."""
    if not inst.servable.any():
        return {c: [] for c in range(inst.m)}
    optimum = exact.plan(inst)
    if optimum is not None:
        return optimum
    routes: dict[int, list[int]] = {c: [] for c in range(inst.m)}
    if inst.n <= GROUPS_MIN_TASKS:
        # VROOM's four quick searches over the whole day: a start from the best
        # of several constructions is worth its time when routes are long.
        routes.update(solve_part(inst, np.flatnonzero(inst.servable), np.arange(inst.m), PART_LEVEL))
        insert_unassigned(inst, routes)
        lns.improve(inst, routes, budget)
        return routes
    parts = decompose.territories(inst, COLLECTORS_PER_PART)
    for members, tasks in zip(parts, decompose.assign_tasks(inst, parts, CAPACITY_SLACK)):
        routes.update(solve_part(inst, tasks, members, PART_LEVEL))
    insert_unassigned(inst, routes)
    if inst.n <= POLISH_MAX_TASKS and budget.more("polish"):
        polish(inst, routes)
    converged = improve_groups(inst, routes, budget)
    if converged and inst.n <= POLISH_MAX_TASKS and budget.more("polish"):
        polish(inst, routes)
    lns.improve(inst, routes, budget)
    return routes


def polish(inst: Instance, routes: dict[int, list[int]]) -> None:
    """Run VROOM's local search over the whole day from the current routes.

    VROOM refuses a starting solution it judges infeasible; ours are feasible
    in the same integer units, so that would only happen on a one-second
    rounding difference between numpy and ``math`` — then the day simply
    goes unpolished.
    """
    try:
        candidate = solve_part(inst, np.flatnonzero(inst.servable), np.arange(inst.m), PART_LEVEL, initial=routes)
    except VroomInputException:
        return
    if objective(inst, candidate) > objective(inst, routes):
        routes.update(candidate)


def insert_unassigned(inst: Instance, routes: dict[int, list[int]]) -> None:
    """Insert servable unrouted tasks, highest priority first.

    Each task goes to its cheapest feasible position among the routes of its
    ``INSERT_CANDIDATES`` nearest eligible collectors.
    """
    routed = np.zeros(inst.n, dtype=bool)
    for route in routes.values():
        routed[route] = True
    waiting = np.flatnonzero(~routed & inst.servable)
    waiting = waiting[np.argsort(-inst.priority[waiting], kind="stable")]
    times: dict[int, RouteTimes | None] = {}
    for task in waiting:
        best = None
        for c in nearest_eligible(inst, int(task), INSERT_CANDIDATES):
            if c not in times:
                times[c] = evaluate(inst, c, routes[c])
            route_times = times[c]
            if route_times is None:
                continue  # an infeasible route takes nothing more
            found = best_insertion(inst, int(task), c, routes[c], route_times)
            if found and (best is None or found.added_metres < best.added_metres):
                best = found
        if best is not None:
            routes[best.collector].insert(best.position, int(task))
            times[best.collector] = evaluate(inst, best.collector, routes[best.collector])


def improve_groups(inst: Instance, routes: dict[int, list[int]], budget: Budget) -> bool:
    """Re-solve groups of neighbouring routes with VROOM; True when they gain no more.

    A group is a seed collector and the collectors whose routes' centres lie
    nearest to its own, plus the unassigned tasks that have one of them among
    their ``NEAR_FOR_GROUPS`` nearest eligible collectors.  Every collector
    is a seed once per round.  When a round gains nothing, the next round
    uses larger groups (``GROUP_SIZES``), which lets work move further; the
    search stops when the largest groups gain nothing or the deadline passes.
    """
    if inst.m == 0:
        return True
    routed = np.zeros(inst.n, dtype=bool)
    for route in routes.values():
        routed[route] = True
    centres = np.array([_route_centre(inst, c, routes[c]) for c in range(inst.m)])
    near_of_task: dict[int, list[int]] = {}
    level = 0
    solves = 0
    while level < len(GROUP_SIZES):
        size = min(GROUP_SIZES[level], inst.m)
        gained = False
        for seed in range(inst.m):
            solves += 1
            if solves % POLISH_EVERY == 0 and inst.n <= POLISH_MAX_TASKS:
                # In place of a closing polish, which would make the plan depend
                # on when the deadline falls: the same checkpoints in every run.
                if not budget.more("polish"):
                    return False
                polish(inst, routes)
                centres = np.array([_route_centre(inst, c, routes[c]) for c in range(inst.m)])
                routed[:] = False
                for route in routes.values():
                    routed[route] = True
            if not budget.more("group"):
                return False
            d = np.hypot(*(centres - centres[seed]).T)
            group = np.argpartition(d, size - 1)[:size] if size < inst.m else np.arange(inst.m)
            members = set(int(c) for c in group)
            spare = []
            for flat in np.flatnonzero(~routed & inst.servable):
                t = int(flat)
                if t not in near_of_task:
                    near_of_task[t] = nearest_eligible(inst, t, NEAR_FOR_GROUPS)
                if members.intersection(near_of_task[t]):
                    spare.append(t)
            current = {c: routes[c] for c in members}
            tasks = sorted({t for r in current.values() for t in r} | set(spare))
            if not tasks:
                continue
            candidate = solve_part(inst, tasks, sorted(members), GROUP_LEVEL)
            if objective(inst, candidate) > objective(inst, current):
                for route in current.values():
                    routed[route] = False
                for c, route in candidate.items():
                    routed[route] = True
                    centres[c] = _route_centre(inst, c, route)
                routes.update(candidate)
                gained = True
        if not gained:
            level += 1
    return True


def _route_centre(inst: Instance, c: int, route: list[int]) -> np.ndarray:
    """Plane km of a route's centre of gravity, counting its start once."""
    locs = list(route) + [inst.start_loc(c)]
    centre: np.ndarray = decompose.plane_xy(inst.lat[locs], inst.lon[locs], inst.lat0).mean(axis=0)
    return centre
