"""Re-planning during the day with as little disturbance as possible.

Collectors are already on the road with a committed plan, so a change must
not reshuffle the day: ``insert_task`` puts an urgent task where it costs
least, and ``drop_collector`` hands a collector's remaining stops to others
the same way.  Only when a task fits nowhere is *one* stop of lower priority
taken out of a route to make room; that stop is then offered to the other
routes and, failing that, becomes unassigned.  Every such change is reported
in ``moves`` so the supervisor can tell the collectors concerned.

``now`` (``HH:MM``) freezes the past: a stop is fixed once its collector has
set out for it (its previous stop has ended, or the shift has begun for the
first one), and nobody sets out for a new stop before ``now``.  Fixed stops
keep the times the committed plan gave them.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Collection
from typing import Any

from .model import Instance, nearest_eligible
from .plan import build_plan
from .problem import ProblemError, is_hhmm, parse, parse_hhmm
from .routes import Release, best_insertion, evaluate

EJECTION_CANDIDATES = 30


class _Day:
    """A committed plan loaded onto an ``Instance``, with its frozen prefixes."""

    def __init__(self, problem: dict[str, Any], plan: dict[str, Any], now: str | None):
        self.inst = inst = Instance(parse(problem))
        task_index = {tid: i for i, tid in enumerate(inst.task_ids)}
        collector_index = {cid: j for j, cid in enumerate(inst.collector_ids)}
        now_s = None if now is None else _parse_now(now)
        self.routes: dict[int, list[int]] = {c: [] for c in range(inst.m)}
        self.releases: dict[int, Release] = {}
        self.fixed_times: dict[int, list[dict[str, Any]]] = {}
        self.reasons: dict[int, str] = {}
        try:
            for route in plan["routes"]:
                c = collector_index[route["collector"]]
                stops = route["stops"]
                self.routes[c] = [task_index[s["task"]] for s in stops]
                fixed = 0
                depart = int(inst.shift_start[c])
                if now_s is not None:
                    for s in stops:
                        if depart > now_s:
                            break
                        fixed += 1
                        depart = parse_hhmm(s["end"]) * 60
                self.releases[c] = Release(fixed, max(depart, now_s or 0))
                self.fixed_times[c] = [dict(s) for s in stops[:fixed]]
            for entry in plan["unassigned"]:
                self.reasons[task_index[entry["task"]]] = entry["reason"]
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ProblemError([f"plan: does not match the problem ({exc!r})"]) from None
        if now_s is not None:
            for c in range(inst.m):
                self.releases.setdefault(c, Release(0, max(int(inst.shift_start[c]), now_s)))
        self.moves: list[dict[str, Any]] = []

    def release(self, c: int) -> Release:
        return self.releases.get(c, Release())

    def cheapest(self, task: int, exclude: Collection[int] = ()) -> tuple[int, int, int] | None:
        """Best (added metres, collector, position) over eligible routes, or None."""
        best = None
        for c in range(self.inst.m):
            if c in exclude or not self.inst.eligible[task, c]:
                continue
            times = evaluate(self.inst, c, self.routes[c], self.release(c))
            if times is None:
                continue
            found = best_insertion(self.inst, task, c, self.routes[c], times, self.release(c))
            if found and (best is None or found.added_metres < best[0]):
                best = (found.added_metres, c, found.position)
        return best

    def place(self, task: int, exclude: Collection[int] = ()) -> int | None:
        """Insert ``task``, ejecting at most one lower-priority stop; its collector or None."""
        inst = self.inst
        best = self.cheapest(task, exclude)
        if best is not None:
            _, c, pos = best
            self.routes[c].insert(pos, task)
            return c
        ejection: tuple[int, int, int, int, int] | None = (
            None  # (ejected priority, added metres, collector, ejected position, position)
        )
        for c in nearest_eligible(inst, task, EJECTION_CANDIDATES):
            if c in exclude:
                continue
            route, release = self.routes[c], self.release(c)
            for k in range(release.fixed, len(route)):
                if inst.priority[route[k]] >= inst.priority[task]:
                    continue
                shorter = route[:k] + route[k + 1 :]
                times = evaluate(inst, c, shorter, release)
                found = times and best_insertion(inst, task, c, shorter, times, release)
                if found:
                    key = (int(inst.priority[route[k]]), found.added_metres, c, k, found.position)
                    if ejection is None or key < ejection:
                        ejection = key
        if ejection is None:
            return None
        _, _, c, k, pos = ejection
        ejected = self.routes[c].pop(k)
        self.routes[c].insert(pos, task)
        target = self.cheapest(ejected, exclude)
        if target is not None:
            _, to, at = target
            self.routes[to].insert(at, ejected)
        else:
            self.reasons[ejected] = "capacity"
        self.moves.append(
            {
                "task": inst.task_ids[ejected],
                "from": inst.collector_ids[c],
                "to": None if target is None else inst.collector_ids[target[1]],
            }
        )
        return c

    def plan(self, began: float) -> dict[str, Any]:
        inst = self.inst
        routed = {t for route in self.routes.values() for t in route}
        reasons = {t: r for t, r in self.reasons.items() if t not in routed}
        fresh = inst.reasons()
        for t in range(inst.n):
            if t not in routed and t not in reasons:
                reasons[t] = fresh.get(t, "capacity")
        plan = build_plan(inst, self.routes, reasons, time.perf_counter() - began, self.releases)
        by_collector = {r["collector"]: r for r in plan["routes"]}
        for c, stops in self.fixed_times.items():
            route = by_collector.get(inst.collector_ids[c])
            if route is not None:
                route["stops"][: len(stops)] = stops
        return plan


def _parse_now(now: str) -> int:
    if not is_hhmm(now):
        raise ProblemError([f"now: must be a time HH:MM, got {now!r}"])
    return parse_hhmm(now) * 60


def insert_task(
    problem: dict[str, Any], plan: dict[str, Any], task: dict[str, Any], now: str | None = None
) -> dict[str, Any]:
    """Add an urgent ``task`` (contract format) to a committed ``plan``.

    Returns ``{"problem", "plan", "moves"}``: the problem with the task
    appended, the new plan, and the stops that changed collector or were
    dropped (``{"task", "from", "to"}``, ``to`` null when dropped).  The new
    task itself is in the plan, routed or unassigned with its reason.
    """
    began = time.perf_counter()
    new_problem = copy.copy(problem)
    new_problem["tasks"] = list(problem.get("tasks") or []) + [task]
    day = _Day(new_problem, plan, now)
    index = day.inst.n - 1
    if day.inst.servable[index]:
        day.place(index)
    return {"problem": new_problem, "plan": day.plan(began), "moves": day.moves}


def drop_collector(
    problem: dict[str, Any], plan: dict[str, Any], collector_id: str, now: str | None = None
) -> dict[str, Any]:
    """Re-plan the stops of a collector who drops out at ``now``.

    Stops the collector has already started stay theirs; the rest go, highest
    priority first, to the cheapest place in other routes.  Returns ``{"plan",
    "moves"}``; every re-planned stop is in ``moves`` (``to`` null if dropped).
    """
    began = time.perf_counter()
    day = _Day(problem, plan, now)
    inst = day.inst
    if collector_id not in inst.collector_ids:
        raise ProblemError([f"collector: unknown collector id {collector_id!r}"])
    c = inst.collector_ids.index(collector_id)
    now_s = None if now is None else _parse_now(now)
    kept = [
        t
        for t, s in zip(day.routes[c], _plan_stops(plan, collector_id))
        if now_s is not None and parse_hhmm(s["start"]) * 60 <= now_s
    ]
    orphans = day.routes[c][len(kept) :]
    day.routes[c] = kept
    day.releases[c] = Release(len(kept), day.release(c).not_before)
    day.fixed_times[c] = day.fixed_times.get(c, [])[: len(kept)]
    for task in sorted(orphans, key=lambda t: -int(inst.priority[t])):
        to = day.place(task, exclude={c})
        if to is None:
            day.reasons[task] = "capacity"
        day.moves.append(
            {"task": inst.task_ids[task], "from": collector_id, "to": None if to is None else inst.collector_ids[to]}
        )
    return {"plan": day.plan(began), "moves": day.moves}


def _plan_stops(plan: dict[str, Any], collector_id: str) -> list[dict[str, Any]]:
    """The stops of one collector in a plan ([] if it has no route)."""
    for route in plan["routes"]:
        if route["collector"] == collector_id:
            stops: list[dict[str, Any]] = route["stops"]
            return stops
    return []
