"""Verify a plan against its problem, independently of the solver.

Nothing here uses the solver's travel code, schedules or eligibility: the
travel model is re-implemented with scalar ``math`` in exact minutes (a
supplied matrix is read directly, by location name), and
every rule of the contract is tested directly on the problem's own fields.
Only parsing (``problem.parse``) is shared, so that "what the problem says"
cannot differ between the two.

Two schedule checks complement each other:

* the *reported* times must be a schedule the travel model allows — no
  arrival earlier than the previous end (or shift start) plus the leg, each
  start inside a window and not before arrival, each end one service later,
  home by shift end — with one minute of slack for the ``HH:MM`` rounding.
  A later arrival is allowed: a re-planned route sets out at the re-planning
  moment, not at the end of the previous stop;
* the route order must be feasible *exactly*: leaving at shift start and
  starting every visit as early as its windows allow, each visit starts
  inside a window and the collector is home by shift end, with no slack.
"""

from __future__ import annotations

import math
from typing import Any, Literal, TypeVar

from .model import REASONS
from .problem import Collector, Matrix, Problem, Task, is_hhmm, parse, parse_hhmm

EARTH_RADIUS_KM = 6371.0088
TOLERANCE_MINUTES = 1.0
EPSILON = 1e-6  # float noise on exact schedules, far below any real violation
SOLVER_ROUNDING_MINUTES = 0.05  # a solver may round each leg up by a few seconds

Place = tuple[Literal["task", "start", "end"], Task | Collector]
Windows = list[tuple[int, int]]


T = TypeVar("T")


def _km(lat1: float, lon1: float, lat2: float, lon2: float, circuity: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    h = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(min(1.0, h))) * circuity


class _Legs:
    """(km, minutes) of a leg between two places, by the problem's own travel.

    A place is ``("task", task)``, ``("start", collector)`` or ``("end", collector)``.
    With a supplied matrix the leg is read from it by location name; otherwise
    it is the contract's travel model.
    """

    def __init__(self, p: Problem) -> None:
        self.p = p

    def __call__(self, a: Place, b: Place) -> tuple[float, float]:
        mx = self.p.matrix
        if mx is not None:
            i, j = self._row(mx, a), self._row(mx, b)
            return int(mx.distances_m[i][j]) / 1000.0, int(mx.durations_s[i][j]) / 60.0
        km = _km(*self._point(a), *self._point(b), self.p.circuity)
        return km, km / self.p.speed_kmh * 60

    @staticmethod
    def _row(mx: Matrix, place: Place) -> int:
        kind, obj = place
        if kind == "end" and f"{obj.id}:end" in mx.index:
            return mx.index[f"{obj.id}:end"]
        return mx.index[obj.id]

    @staticmethod
    def _point(place: Place) -> tuple[float, float]:
        kind, obj = place
        if kind == "end" and isinstance(obj, Collector):
            return obj.end_lat, obj.end_lon
        return obj.lat, obj.lon


def _windows(task: Task, collector: Collector) -> Windows:
    """The task's windows in minutes; the default is the collector's shift."""
    if task.windows is None:
        return [(collector.shift_start, collector.shift_end)]
    return list(task.windows)


def _earliest(windows: Windows, arrival: float) -> float | None:
    """Earliest start at or after ``arrival`` inside one window; None if none."""
    best: float | None = None
    for a, b in windows:
        if arrival <= b + EPSILON:
            start = max(a, arrival)
            best = start if best is None else min(best, start)
    return best


def _hhmm(value: object) -> int | None:
    return parse_hhmm(value) if is_hhmm(value) else None


def _may_serve(task: Task, collector: Collector) -> str | None:
    """Why ``collector`` may not take ``task`` by the rules; None if it may."""
    if not task.skills <= collector.skills:
        return f"lacks skills {sorted(task.skills - collector.skills)}"
    if task.allowed_collectors is not None and collector.id not in task.allowed_collectors:
        return "is not in allowed_collectors"
    if collector.id in task.excluded_collectors:
        return "is in excluded_collectors"
    return None


def _alone_feasible(p: Problem, task: Task, collector: Collector, margin: float = 0.0) -> bool:
    """Whether the collector could do just this task in its shift (visits aside).

    ``margin`` minutes are added to each leg, to ask "clearly feasible".
    """
    legs = _Legs(p)
    go = legs(("start", collector), ("task", task))[1]
    back = legs(("task", task), ("end", collector))[1]
    start = _earliest(_windows(task, collector), collector.shift_start + go + margin)
    return start is not None and start + task.service_minutes + back + margin <= collector.shift_end + EPSILON


def _known(found: dict[object, T], key: object) -> T | None:
    """What ``key`` names, or None: a plan may hold any JSON value where an id belongs, a
    list or an object included (which cannot be looked up at all)."""
    try:
        return found.get(key)
    except TypeError:
        return None


def check(problem: dict[str, Any], plan: object) -> list[str]:
    """Every violation found in ``plan``; [] when it is feasible and consistent.

    Raises ``ProblemError`` if the problem itself is invalid.
    """
    p = parse(problem)
    out: list[str] = []
    if not isinstance(plan, dict):
        return ["plan: must be a JSON object"]
    # Keyed by object: the plan may name a task or collector with any JSON value.
    tasks: dict[object, Task] = {t.id: t for t in p.tasks}
    collectors: dict[object, Collector] = {c.id: c for c in p.collectors}
    seen: dict[str, str] = {}
    total_km = 0.0
    priority_sum = assigned = 0

    routes = plan.get("routes")
    if not isinstance(routes, list):
        out.append("routes: must be a list")
        routes = []
    used_collectors: set[str] = set()
    for i, route in enumerate(routes):
        path = f"routes[{i}]"
        if not isinstance(route, dict):
            out.append(f"{path}: must be an object")
            continue
        collector = _known(collectors, route.get("collector"))
        if collector is None:
            out.append(f"{path}.collector: unknown collector {route.get('collector')!r}")
            continue
        if collector.id in used_collectors:
            out.append(f"{path}.collector: {collector.id} has more than one route")
        used_collectors.add(collector.id)
        stops = route.get("stops")
        if not isinstance(stops, list):
            out.append(f"{path}.stops: must be a list")
            continue
        route_tasks: list[tuple[int, Task, dict[str, Any]]] = []
        for k, stop in enumerate(stops):
            task = _known(tasks, stop.get("task")) if isinstance(stop, dict) else None
            if task is None:
                out.append(
                    f"{path}.stops[{k}].task: unknown task {stop.get('task') if isinstance(stop, dict) else stop!r}"
                )
                continue
            if task.id in seen:
                out.append(f"{path}.stops[{k}].task: {task.id} already appears in {seen[task.id]}")
            seen[task.id] = f"{path}.stops[{k}]"
            why = _may_serve(task, collector)
            if why:
                out.append(f"{path}.stops[{k}]: collector {collector.id} {why} of task {task.id}")
            route_tasks.append((k, task, stop))
        if collector.max_visits is not None and len(stops) > collector.max_visits:
            out.append(f"{path}: {len(stops)} stops exceed max_visits {collector.max_visits} of {collector.id}")
        km = _check_schedule(p, collector, route_tasks, path, out)
        total_km += km
        assigned += len(route_tasks)
        priority_sum += sum(t.priority for _, t, _ in route_tasks)
        reported = route.get("distance_km")
        if (
            not isinstance(reported, (int, float))
            or isinstance(reported, bool)
            or abs(reported - km) > max(0.01, 1e-4 * km)
        ):
            out.append(f"{path}.distance_km: {reported!r} but the travel model gives {km:.3f}")

    unassigned = plan.get("unassigned")
    if not isinstance(unassigned, list):
        out.append("unassigned: must be a list")
        unassigned = []
    for j, entry in enumerate(unassigned):
        path = f"unassigned[{j}]"
        task = _known(tasks, entry.get("task")) if isinstance(entry, dict) else None
        if task is None:
            out.append(f"{path}.task: unknown task")
            continue
        if task.id in seen:
            out.append(f"{path}.task: {task.id} already appears in {seen[task.id]}")
        seen[task.id] = path
        reason = entry.get("reason")
        if not isinstance(reason, str) or reason not in REASONS:
            out.append(f"{path}.reason: {reason!r} is not one of {sorted(REASONS)}")
        else:
            wrong = _reason_contradiction(p, task, reason)
            if wrong:
                out.append(f"{path}.reason: {reason} but {wrong}")
    for t in p.tasks:
        if t.id not in seen:
            out.append(f"task {t.id}: neither in a route nor unassigned")

    _check_summary(plan.get("summary"), assigned, len(unassigned), priority_sum, total_km, out)
    return out


def _check_schedule(
    p: Problem, collector: Collector, route_tasks: list[tuple[int, Task, dict[str, Any]]], path: str, out: list[str]
) -> float:
    """Check one route's reported and exact schedules; returns its exact km."""
    legs = _Legs(p)
    here: Place = ("start", collector)
    exact_clock = float(collector.shift_start)
    reported_end: int | None = None  # previous stop's reported end
    km_total = 0.0
    for k, task, stop in route_tasks:
        spath = f"{path}.stops[{k}]"
        leg_km, leg_min = legs(here, ("task", task))
        km_total += leg_km
        windows = _windows(task, collector)

        exact_start = _earliest(windows, exact_clock + leg_min)
        if exact_start is None:
            out.append(
                f"{spath}: task {task.id} cannot start inside a window in this order "
                f"(earliest arrival {exact_clock + leg_min:.1f} min)"
            )
            exact_clock = exact_clock + leg_min + task.service_minutes
        else:
            exact_clock = exact_start + task.service_minutes

        arrival, start, end = (_hhmm(stop.get(key)) for key in ("arrival", "start", "end"))
        if arrival is None or start is None or end is None:
            out.append(f"{spath}: arrival, start and end must be HH:MM times")
        else:
            earliest_arrival = (collector.shift_start if reported_end is None else reported_end) + leg_min
            if arrival < earliest_arrival - TOLERANCE_MINUTES:
                out.append(
                    f"{spath}.arrival: {stop['arrival']} is earlier than the travel "
                    f"model allows ({earliest_arrival:.1f} min)"
                )
            if start < arrival:
                out.append(f"{spath}.start: {stop['start']} is before arrival {stop['arrival']}")
            if not any(a <= start <= b for a, b in windows):
                out.append(f"{spath}.start: {stop['start']} is not inside any window of task {task.id}")
            if abs(end - (start + task.service_minutes)) > TOLERANCE_MINUTES:
                out.append(f"{spath}.end: {stop['end']} is not start plus {task.service_minutes} minutes of service")
            reported_end = end
        here = ("task", task)
    if route_tasks:
        home_km, home_min = legs(here, ("end", collector))
        km_total += home_km
        if exact_clock + home_min > collector.shift_end + EPSILON:
            out.append(
                f"{path}: back at the end point at {exact_clock + home_min:.1f} min, "
                f"after shift end {collector.shift_end} min"
            )
        elif reported_end is not None and reported_end + home_min > collector.shift_end + TOLERANCE_MINUTES:
            out.append(f"{path}: reported times bring {collector.id} home after shift end")
    return km_total


def _reason_contradiction(p: Problem, task: Task, reason: str) -> str | None:
    """What makes ``reason`` untrue for ``task``; None if it holds."""
    holders = [c for c in p.collectors if task.skills <= c.skills]
    may = [c for c in p.collectors if _may_serve(task, c) is None]
    if reason == "skills" and (holders or not task.skills):
        return f"{holders[0].id} holds the skills" if holders else "the task needs no skills"
    if reason == "no_eligible_collector":
        if may:
            return f"{may[0].id} may serve it"
        if task.skills and not holders:
            return "no collector holds the skills"
    if reason == "window_unreachable":
        # The solver rounds legs up to whole seconds; only a clear contradiction counts.
        clearly = [c for c in may if _alone_feasible(p, task, c, margin=SOLVER_ROUNDING_MINUTES)]
        if not may or clearly:
            return f"{clearly[0].id} could do it alone" if clearly else "no collector is eligible by the rules"
    if reason == "capacity" and not any(_alone_feasible(p, task, c) for c in may):
        return "no eligible collector could do it even alone"
    return None


def _check_summary(
    summary: object, assigned: int, unassigned: int, priority_sum: int, total_km: float, out: list[str]
) -> None:
    if not isinstance(summary, dict):
        out.append("summary: must be an object")
        return
    for key, actual in (("assigned", assigned), ("unassigned", unassigned), ("priority_sum", priority_sum)):
        if summary.get(key) != actual:
            out.append(f"summary.{key}: {summary.get(key)!r} but the plan has {actual}")
    km = summary.get("distance_km")
    if not isinstance(km, (int, float)) or isinstance(km, bool) or abs(km - total_km) > max(0.05, 1e-4 * total_km):
        out.append(f"summary.distance_km: {km!r} but the routes add up to {total_km:.3f}")
    seconds = summary.get("solve_seconds")
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or seconds < 0:
        out.append("summary.solve_seconds: must be a non-negative number")
