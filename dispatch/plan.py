"""Turn solver routes into the contract's plan JSON.

Reported times come from the exact (float) travel model, not the ceiled
seconds the solver used; because ceiling only ever lengthens legs, every stop
the solver accepted is at least as early — hence still inside its window and
home in time — in the exact schedule.  Times are rounded to the nearest
minute, which keeps a start inside whole-minute window bounds.
"""

from __future__ import annotations

from typing import Any

from .model import Instance
from .problem import format_hhmm
from .routes import OPEN, Release


def route_schedule(
    inst: Instance, c: int, route: list[int], release: Release = OPEN
) -> tuple[list[tuple[float, float, float]], float]:
    """Exact (arrival, start, end) minutes of each stop, and the route's km."""
    seq = [inst.start_loc(c)] + list(route) + [inst.end_loc(c)]
    km = inst.legs_km(seq[:-1], seq[1:])
    minutes = inst.legs_minutes(seq[:-1], seq[1:])
    clock = inst.shift_start[c] / 60.0
    stops = []
    for k, task in enumerate(route):
        if k == release.fixed:
            clock = max(clock, release.not_before / 60.0)
        arrival = clock + minutes[k]
        start = inst.earliest_start(task, arrival * 60.0)
        assert start is not None  # the route was evaluated feasible
        begin = start / 60.0
        clock = begin + inst.service[task] / 60.0
        stops.append((arrival, begin, clock))
    return stops, float(km.sum()) if route else 0.0


def build_plan(
    inst: Instance,
    routes: dict[int, list[int]],
    reasons: dict[int, str],
    solve_seconds: float,
    releases: dict[int, Release] | None = None,
) -> dict[str, Any]:
    """The plan dict; ``reasons`` gives the reason of every task in no route."""
    releases = releases or {}
    out_routes = []
    total_km = 0.0
    priority_sum = 0
    assigned = 0
    for c in sorted(routes):
        route = routes[c]
        if not route:
            continue
        stops, km = route_schedule(inst, c, route, releases.get(c, OPEN))
        total_km += round(km, 3)
        priority_sum += int(sum(inst.priority[t] for t in route))
        assigned += len(route)
        out_routes.append(
            {
                "collector": inst.collector_ids[c],
                "distance_km": round(km, 3),
                "stops": [
                    {
                        "task": inst.task_ids[t],
                        "arrival": format_hhmm(a),
                        "start": format_hhmm(s),
                        "end": format_hhmm(e),
                    }
                    for t, (a, s, e) in zip(route, stops)
                ],
            }
        )
    unassigned = [{"task": inst.task_ids[t], "reason": reasons[t]} for t in sorted(reasons)]
    return {
        "routes": out_routes,
        "unassigned": unassigned,
        "summary": {
            "assigned": assigned,
            "unassigned": len(unassigned),
            "priority_sum": priority_sum,
            "distance_km": round(total_km, 3),
            "solve_seconds": round(solve_seconds, 3),
        },
    }
