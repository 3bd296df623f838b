"""Route arithmetic in solver units: schedules, objective, cheapest insertion.

A route is a list of task indices for one collector.  Its schedule leaves the
start at shift start, waits when early and starts each visit at the earliest
moment inside one of the task's windows.  Earliest starts are optimal for
feasibility here (there is no cost on waiting), so a route is feasible iff
its earliest schedule is.

Insertion uses the classic forward/backward slack: ``latest[i]`` is the
latest start of stop ``i`` that keeps the rest of the route feasible, so
trying a task between two stops costs O(1) once the route is evaluated.

During the day a route has a ``Release``: its first ``fixed`` stops are done
or under way and may not change, and the collector cannot set out for the
next one before ``not_before`` (the re-planning moment).
"""

from __future__ import annotations

from dataclasses import dataclass

from .model import Instance


@dataclass(frozen=True)
class Release:
    fixed: int = 0
    not_before: int = 0


OPEN = Release()


@dataclass
class RouteTimes:
    """Earliest and latest feasible start of every stop; None if infeasible."""

    starts: list[int]
    latest: list[int]
    metres: int


def evaluate(inst: Instance, c: int, route: list[int], release: Release = OPEN) -> RouteTimes | None:
    """Earliest/latest starts and length of ``route`` for collector ``c``; None if infeasible."""
    if len(route) > inst.max_visits[c]:
        return None
    seq = [inst.start_loc(c)] + route + [inst.end_loc(c)]
    legs = [inst.leg(a, b) for a, b in zip(seq, seq[1:])]
    starts = []
    clock = int(inst.shift_start[c])
    for k, task in enumerate(route):
        if k == release.fixed:
            clock = max(clock, release.not_before)
        begin = inst.earliest_start(task, clock + legs[k][0])
        if begin is None:
            return None
        starts.append(begin)
        clock = begin + int(inst.service[task])
    if len(route) == release.fixed:
        clock = max(clock, release.not_before)
    if clock + legs[-1][0] > inst.shift_end[c]:
        return None
    latest = [0] * len(route)
    bound = int(inst.shift_end[c])  # latest arrival at the next stop
    for k in range(len(route) - 1, -1, -1):
        task = route[k]
        cap = bound - legs[k + 1][0] - int(inst.service[task])
        latest[k] = _latest_start(inst, task, cap)
        bound = latest[k]
    return RouteTimes(starts, latest, sum(m for _, m in legs))


def _latest_start(inst: Instance, task: int, cap: int) -> int:
    """Latest start inside a window of ``task`` not after ``cap``."""
    best = None
    for a, b in inst.windows[task]:
        if a <= cap:
            best = min(b, cap)
    # The route is feasible, so some window starts before cap.
    assert best is not None
    return best


def route_metres(inst: Instance, c: int, route: list[int]) -> int:
    """Length of a route including the way home; 0 when the collector stays home."""
    if not route:
        return 0
    seq = [inst.start_loc(c)] + route + [inst.end_loc(c)]
    return sum(inst.leg(a, b)[1] for a, b in zip(seq, seq[1:]))


def objective(inst: Instance, routes: dict[int, list[int]]) -> tuple[int, int, int]:
    """The contract's order as a tuple to maximise: (priority sum, assigned, -metres)."""
    prio = count = metres = 0
    for c, route in routes.items():
        prio += int(sum(inst.priority[t] for t in route))
        count += len(route)
        metres += route_metres(inst, c, route)
    return prio, count, -metres


@dataclass
class Insertion:
    collector: int
    position: int
    added_metres: int


def best_insertion(
    inst: Instance, task: int, c: int, route: list[int], times: RouteTimes, release: Release = OPEN
) -> Insertion | None:
    """Cheapest feasible position of ``task`` in collector ``c``'s evaluated route."""
    if len(route) + 1 > inst.max_visits[c]:
        return None
    seq = [inst.start_loc(c)] + route + [inst.end_loc(c)]
    service = inst.service
    best = None
    for p in range(release.fixed, len(route) + 1):
        prev, nxt = seq[p], seq[p + 1]
        depart = inst.shift_start[c] if p == 0 else times.starts[p - 1] + service[prev]
        if p == release.fixed:
            depart = max(depart, release.not_before)
        go_s, go_m = inst.leg(prev, task)
        begin = inst.earliest_start(task, depart + go_s)
        if begin is None:
            continue  # no window is still open at this arrival
        back_s, back_m = inst.leg(task, nxt)
        arrive_next = begin + service[task] + back_s
        limit = inst.shift_end[c] if p == len(route) else times.latest[p]
        if arrive_next > limit:
            continue
        if route:
            added = go_m + back_m - inst.leg(prev, nxt)[1]
        else:
            added = go_m + back_m
        if best is None or added < best.added_metres:
            best = Insertion(c, p, int(added))
    return best
