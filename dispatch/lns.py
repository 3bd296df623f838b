"""Ruin and recreate over routes that share space, for as long as time allows.

Each step takes the tasks around a randomly drawn task — nearest in space, in
space and time, or simply at random — out of at most ``ROUTES_PER_STEP``
routes, and hands those routes, without the removed tasks, to VROOM as its
starting solution together with the removed tasks and the unassigned ones
nearby.  VROOM re-inserts what it can and runs its local search on these
routes only, so one step costs a few tens of milliseconds on a small day.

The new routes are taken when they are better in the contract's order, or
as good in priority and count and at most ``DEVIATION`` longer than the best
plan found so far (record-to-record travel): accepting a slightly longer plan
now and then lets the search leave a local optimum that pure descent cannot.
The best plan found is what the caller gets.

The random draws come from a generator seeded with a constant and the steps
depend on nothing else (not on the clock), so the search follows the same
path every time and a longer budget only walks further along it: its best
plan is never worse than a shorter budget's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .budget import Budget
from .decompose import plane_xy
from .model import Instance, nearest_eligible
from .routes import best_insertion, evaluate, route_metres
from .vroom_backend import VroomInputException, solve_part

ROUTES_PER_STEP = 4
DEVIATION = 0.005
LEVEL = 1  # VROOM's ruin depth inside its local search from the given routes
NEAR_FOR_UNASSIGNED = 5
SEED = 20260601
REBUILD_SEARCHES = 2
# (priority sum, tasks assigned, -metres): a plan is better when this is larger
Value = tuple[int, int, int]


@dataclass(frozen=True)
class Move:
    """One way of making a step: how much to take out of how many routes, and how
    to put it back (``insert``: cheapest insertion in Python, then VROOM's local
    search; ``vroom``: VROOM inserts and searches; ``rebuild``: VROOM from scratch)."""

    name: str
    share: tuple[float, float]  # of the servable tasks
    most: int  # tasks taken out at most
    step_tasks: int  # stop adding routes once they hold this many tasks (at least two)


MOVES = (
    Move("insert", (0.05, 0.25), 50, 60),
    Move("vroom", (0.2, 0.4), 40, 1 << 30),
    Move("rebuild", (0.05, 0.25), 50, 60),
)
# How often each move is drawn: on days of long routes (``LONG_ROUTE`` tasks per
# collector or more) large ruins that VROOM repairs pay best; on days of many
# short routes, cheap insertion and rebuilding a few routes from scratch.
LONG_ROUTE = 15
MIX_LONG = (0.0, 0.8, 0.2)
MIX_SHORT = (0.5, 0.25, 0.25)


def improve(inst: Instance, routes: dict[int, list[int]], budget: Budget) -> None:
    """Replace ``routes`` by the best plan found before the budget runs out.

    Moves are drawn in proportions that depend on the length of the routes
    (``MIX_LONG``, ``MIX_SHORT``).
    """
    servable = np.flatnonzero(inst.servable)
    if len(servable) == 0 or inst.m == 0:
        return
    rng = np.random.default_rng(SEED)
    xy = plane_xy(inst.lat[: inst.n], inst.lon[: inst.n], inst.lat0)
    home = plane_xy(inst.lat[inst.n : inst.n + inst.m], inst.lon[inst.n : inst.n + inst.m], inst.lat0)
    middle = np.array([(w[0][0] + w[-1][1]) / 2.0 for w in inst.windows], dtype=np.float64)
    current = {c: list(r) for c, r in routes.items()}
    metres = {c: route_metres(inst, c, r) for c, r in current.items()}
    value = _value(inst, current, metres)
    best_value = value
    near: dict[int, list[int]] = {}
    mix = np.array(MIX_LONG if len(servable) >= LONG_ROUTE * inst.m else MIX_SHORT)
    while True:
        pick = int(rng.choice(len(MOVES), p=mix / mix.sum()))
        move = MOVES[pick]
        if not budget.more(move.name):
            return
        kind = int(rng.integers(0, 3))
        seed = int(rng.choice(servable))
        share = rng.uniform(*move.share)
        if kind == 0:
            order = np.hypot(*(xy[servable] - xy[seed]).T)
        elif kind == 1:  # a kilometre weighs like four minutes of window
            order = np.hypot(*(xy[servable] - xy[seed]).T) / 2.0 + np.abs(middle[servable] - middle[seed]) / 480.0
        else:
            order = rng.random(len(servable))
        order = servable[np.argsort(order, kind="stable")]
        route_of = {t: c for c, r in current.items() for t in r}
        size = max(2, min(move.most, int(share * len(servable))))
        chosen, removed = _ruin(route_of, current, order, size, move.step_tasks)
        idle = [c for c in range(inst.m) if not current[c] and inst.eligible[seed, c]]
        if idle:  # the nearest idle collector may take some of the work
            chosen.add(idle[int(np.argmin(np.hypot(*(home[idle] - xy[seed]).T)))])
        if not chosen:
            chosen = set(_nearest(inst, seed, near)[:ROUTES_PER_STEP])
        spare = [
            int(t) for t in servable if int(t) not in route_of and chosen.intersection(_nearest(inst, int(t), near))
        ]
        tasks = sorted({t for c in chosen for t in current[c]} | set(spare))
        start = {c: [t for t in current[c] if t not in removed] for c in chosen}
        try:
            if move.name == "rebuild":  # VROOM's constructions may split the work anew
                found = solve_part(inst, tasks, sorted(chosen), LEVEL, searches=REBUILD_SEARCHES)
            else:
                if move.name == "insert":
                    _recreate(inst, start, _insertion_order(rng, removed, xy, seed, inst.priority))
                found = solve_part(inst, tasks, sorted(chosen), LEVEL, initial=start)
        except VroomInputException:
            continue  # a supplied matrix without the triangle inequality: skip this ruin
        found_metres = {c: route_metres(inst, c, r) for c, r in found.items()}
        candidate = dict(current)
        candidate.update(found)
        candidate_metres = dict(metres)
        candidate_metres.update(found_metres)
        new_value = _value(inst, candidate, candidate_metres, base=value, changed=found, old=current)
        if new_value[:2] > value[:2] or (
            new_value[:2] == value[:2] and -new_value[2] <= -best_value[2] * (1.0 + DEVIATION)
        ):
            current, metres, value = candidate, candidate_metres, new_value
            if value > best_value:
                best_value = value
                routes.clear()
                routes.update({c: list(r) for c, r in current.items()})


def _ruin(
    route_of: dict[int, int], routes: dict[int, list[int]], order: np.ndarray, size: int, step_tasks: int
) -> tuple[set[int], set[int]]:
    """Routes to re-plan and the tasks taken out of them, nearest to the seed first."""
    chosen: set[int] = set()
    removed: set[int] = set()
    held = 0
    for t in order:
        c = route_of.get(int(t))
        if c is None:
            continue
        if c not in chosen:
            if len(chosen) >= ROUTES_PER_STEP or (len(chosen) >= 2 and held >= step_tasks):
                continue
            chosen.add(c)
            held += len(routes[c])
        removed.add(int(t))
        if len(removed) >= size:
            break
    return chosen, removed


def _insertion_order(
    rng: np.random.Generator, removed: set[int], xy: np.ndarray, seed: int, priority: np.ndarray
) -> list[int]:
    """Removed tasks in the order to put them back: highest priority first, then
    at random, farthest from the seed first or nearest first."""
    tasks = sorted(removed)
    way = int(rng.integers(0, 4))
    if way <= 1:
        key = rng.random(len(tasks))
    else:
        d = np.hypot(*(xy[tasks] - xy[seed]).T)
        key = -d if way == 2 else d
    order = np.lexsort((key, -priority[tasks]))
    return [tasks[i] for i in order]


def _recreate(inst: Instance, routes: dict[int, list[int]], order: list[int]) -> None:
    """Put each task back where it adds least distance among ``routes``, if it fits."""
    times = {c: evaluate(inst, c, r) for c, r in routes.items()}
    for task in order:
        best = None
        for c, route in routes.items():
            route_times = times[c]
            if not inst.eligible[task, c] or route_times is None:
                continue
            found = best_insertion(inst, task, c, route, route_times)
            if found and (best is None or found.added_metres < best.added_metres):
                best = found
        if best is not None:
            routes[best.collector].insert(best.position, task)
            times[best.collector] = evaluate(inst, best.collector, routes[best.collector])


def _nearest(inst: Instance, task: int, cache: dict[int, list[int]]) -> list[int]:
    if task not in cache:
        cache[task] = nearest_eligible(inst, task, NEAR_FOR_UNASSIGNED)
    return cache[task]


def _value(
    inst: Instance,
    routes: dict[int, list[int]],
    metres: dict[int, int],
    base: Value | None = None,
    changed: dict[int, list[int]] | None = None,
    old: dict[int, list[int]] | None = None,
) -> Value:
    """(priority sum, assigned, -metres) of a plan; from ``base`` when only ``changed`` moved."""
    if base is None:
        prio = sum(int(inst.priority[r].sum()) for r in routes.values() if r)
        count = sum(len(r) for r in routes.values())
        return prio, count, -sum(metres.values())
    prio, count, neg = base
    assert changed is not None and old is not None  # given with base
    for c, r in changed.items():
        prio += int(inst.priority[r].sum()) if r else 0
        prio -= int(inst.priority[old[c]].sum()) if old[c] else 0
        count += len(r) - len(old[c])
    return prio, count, -sum(metres.values())
