"""The proven best plan of a tiny day, by dynamic programming.

A day with a handful of servable tasks (a supervisor adding one visit to a
crew's day, a small team's morning) is solved exactly, so the solver can stop
at once with a plan nothing beats instead of searching until its time is up.

For each collector, every subset of the tasks it may serve is routed by a
Held-Karp recursion over (subset, last stop) whose labels are the Pareto
front of (time the last visit ends, metres so far): starting each visit as
early as its windows allow is optimal for feasibility, and keeping every
non-dominated label keeps the shortest route.  The collectors' subsets are then
combined, collector by collector, over disjoint unions.  The best union in the
contract's order (priority sum, count, then distance) is the optimum, in the
solver's units (whole seconds rounded up, whole metres).

The work grows as ``2^k k^2`` per collector plus ``3^k`` per further collector
for ``k`` servable tasks; ``plan`` declines (returns None) above ``MAX_WORK``.
"""

from __future__ import annotations

import numpy as np

from .model import Instance

MAX_TASKS = 12
MAX_WORK = 150_000


def work(k: int, m: int) -> int:
    """The number of elementary steps the exact search takes for k tasks, m collectors."""
    steps: int = m * (2**k) * k * k + max(0, m - 1) * 3**k  # int ** int is Any to mypy
    return steps


def plan(inst: Instance) -> dict[int, list[int]] | None:
    """The optimal routes, or None if the day is too large to solve exactly."""
    tasks = [int(t) for t in np.flatnonzero(inst.servable)]
    k, m = len(tasks), inst.m
    if k > MAX_TASKS or work(k, m) > MAX_WORK:
        return None
    # best[mask] = (metres, {collector: route}) over the collectors seen so far
    best: dict[int, tuple[int, dict[int, list[int]]]] = {0: (0, {})}
    for c in range(m):
        own = [b for b, t in enumerate(tasks) if inst.eligible[t, c]]
        routes = _routes_of(inst, c, tasks, own)
        if not routes:
            continue
        merged = dict(best)
        everything = (1 << k) - 1
        for mask, (metres, chosen) in best.items():
            free = everything & ~mask
            sub = free
            while sub:  # every non-empty subset of the tasks not yet served
                if sub in routes:
                    total = metres + routes[sub][0]
                    union = mask | sub
                    if union not in merged or total < merged[union][0]:
                        merged[union] = (total, {**chosen, c: routes[sub][1]})
                sub = (sub - 1) & free
        best = merged
    prio = [int(inst.priority[t]) for t in tasks]

    def key(mask: int) -> tuple[int, int, int]:
        bits = [b for b in range(k) if mask >> b & 1]
        return sum(prio[b] for b in bits), len(bits), -best[mask][0]

    winner = max(sorted(best), key=key)
    out: dict[int, list[int]] = {c: [] for c in range(m)}
    out.update(best[winner][1])
    return out


def _routes_of(inst: Instance, c: int, tasks: list[int], own: list[int]) -> dict[int, tuple[int, list[int]]]:
    """Shortest feasible route of collector ``c`` for every subset of ``own`` (bitmasks)."""
    start, end = inst.start_loc(c), inst.end_loc(c)
    shift_start, shift_end = int(inst.shift_start[c]), int(inst.shift_end[c])
    cap = int(inst.max_visits[c])
    # labels[(mask, last bit)] = [(ready time, metres, route), ...] (Pareto front)
    labels: dict[tuple[int, int], list[tuple[int, int, list[int]]]] = {}
    for b in own:
        t = tasks[b]
        go_s, go_m = inst.leg(start, t)
        begin = inst.earliest_start(t, shift_start + go_s)
        if begin is not None and cap >= 1:
            labels[(1 << b, b)] = [(begin + int(inst.service[t]), go_m, [t])]
    out: dict[int, tuple[int, list[int]]] = {}
    for size in range(1, len(own) + 1):
        layer = [(key, front) for key, front in labels.items() if bin(key[0]).count("1") == size]
        for (mask, last), front in layer:
            t_last = tasks[last]
            back_s, back_m = inst.leg(t_last, end)
            for ready, metres, route in front:
                if ready + back_s <= shift_end:
                    total = metres + back_m
                    if mask not in out or total < out[mask][0]:
                        out[mask] = (total, route)
            if size >= cap:
                continue
            for b in own:
                if mask >> b & 1:
                    continue
                t = tasks[b]
                leg_s, leg_m = inst.leg(t_last, t)
                for ready, metres, route in front:
                    begin = inst.earliest_start(t, ready + leg_s)
                    if begin is None:
                        continue
                    _add(
                        labels.setdefault((mask | 1 << b, b), []),
                        (begin + int(inst.service[t]), metres + leg_m, route + [t]),
                    )
    return out


def _add(front: list[tuple[int, int, list[int]]], label: tuple[int, int, list[int]]) -> None:
    """Insert ``label`` into a Pareto front of (time, metres), dropping dominated ones."""
    ready, metres = label[0], label[1]
    for other in front:
        if other[0] <= ready and other[1] <= metres:
            return
    front[:] = [o for o in front if not (ready <= o[0] and metres <= o[1])]
    front.append(label)
