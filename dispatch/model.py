"""The problem as arrays in solver units, and who may serve which task.

The solver works in integer seconds after local midnight and integer metres
(VROOM's units).  Locations share one index space so that any leg can be
looked up the same way: ``0..n-1`` are tasks, ``n..n+m-1`` the collectors'
starts and ``n+m..n+2m-1`` their end points.

Eligibility is decided here once, for the solver, the decomposition, the
re-planner and the unassigned reasons alike, so that they cannot disagree.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import numpy.typing as npt

from . import travel
from .problem import DAY_MINUTES, Problem

DAY = DAY_MINUTES * 60
UNLIMITED_VISITS = 1 << 30

_Clock = TypeVar("_Clock", int, float)  # whole seconds for the solver, float minutes for plans

# Why a task is not in any route.  The first four are decided before solving
# from the task alone (see ``Instance.reasons``); ``capacity`` is the answer
# for a task that some collector could serve on an otherwise empty day but
# that did not fit beside the higher-value tasks the plan kept.
REASONS = {
    "skills": "the task needs skills that no collector holds all of",
    "no_eligible_collector": "allowed_collectors/excluded_collectors leave no collector who also holds the skills",
    "window_unreachable": "no eligible collector can start it inside one of its windows and be "
    "back by the end of the shift, even with nothing else to do",
    "capacity": "eligible collectors could do it alone, but their visits or hours are taken "
    "by tasks of higher or equal value in this plan",
}


class Instance:
    """A parsed ``Problem`` in numpy arrays, with eligibility precomputed."""

    def __init__(self, problem: Problem, chunk: int = 2048):
        self.problem = problem
        tasks, collectors = problem.tasks, problem.collectors
        self.n = len(tasks)
        self.m = len(collectors)
        self.task_ids = [t.id for t in tasks]
        self.collector_ids = [c.id for c in collectors]

        self.lat = np.array(
            [t.lat for t in tasks] + [c.lat for c in collectors] + [c.end_lat for c in collectors], dtype=np.float64
        )
        self.lon = np.array(
            [t.lon for t in tasks] + [c.lon for c in collectors] + [c.end_lon for c in collectors], dtype=np.float64
        )
        self.lat0 = float(np.mean(self.lat)) if len(self.lat) else 0.0
        self.travel: travel.Travel
        if problem.matrix is None:
            self.travel = travel.ModelTravel(self.lat, self.lon, problem.speed_kmh, problem.circuity)
        else:
            mx = problem.matrix
            rows = np.array(
                [mx.index[t] for t in self.task_ids]
                + [mx.start_row(c) for c in self.collector_ids]
                + [mx.end_row(c) for c in self.collector_ids],
                dtype=np.int64,
            )
            self.travel = travel.MatrixTravel(rows, problem.matrix.durations_s, problem.matrix.distances_m)
        self.service = np.array([t.service_minutes * 60 for t in tasks], dtype=np.int64)
        self.priority = np.array([t.priority for t in tasks], dtype=np.int64)
        self.windows = [
            ((0, DAY),) if t.windows is None else _merge([(a * 60, b * 60) for a, b in t.windows]) for t in tasks
        ]
        self.shift_start = np.array([c.shift_start * 60 for c in collectors], dtype=np.int64)
        self.shift_end = np.array([c.shift_end * 60 for c in collectors], dtype=np.int64)
        self.max_visits = np.array(
            [UNLIMITED_VISITS if c.max_visits is None else c.max_visits for c in collectors], dtype=np.int64
        )

        self.static_ok = self._static_eligibility()
        self.reach_ok = self._single_visit_feasibility(chunk)
        self.eligible = self.static_ok & self.reach_ok & (self.max_visits > 0)[None, :]
        self.servable = self.eligible.any(axis=1)

    # -- locations and legs -------------------------------------------------
    def start_loc(self, c: int) -> int:
        return self.n + c

    def end_loc(self, c: int) -> int:
        return self.n + self.m + c

    def km_matrix(self, rows: npt.ArrayLike, cols: npt.ArrayLike) -> np.ndarray:
        """Road km from every location of ``rows`` to every one of ``cols``."""
        return self.travel.km(rows, cols)

    def matrices(self, locs: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        """(seconds, metres) between every pair of ``locs``."""
        return self.travel.matrices(locs)

    def legs_km(self, a: npt.ArrayLike, b: npt.ArrayLike) -> np.ndarray:
        """Road km of the legs a[i] -> b[i], element-wise (exact)."""
        return self.travel.legs_km(a, b)

    def legs_minutes(self, a: npt.ArrayLike, b: npt.ArrayLike) -> np.ndarray:
        """Travel minutes of the legs a[i] -> b[i], element-wise (exact)."""
        return self.travel.legs_minutes(a, b)

    def leg(self, a: int, b: int) -> tuple[int, int]:
        """(seconds, metres) of one leg, scalar and fast for small loops."""
        return self.travel.leg(a, b)

    def earliest_start(self, task: int, arrival: _Clock) -> _Clock | None:
        """Earliest start inside one of the task's windows at or after ``arrival``; None if none."""
        for a, b in self.windows[task]:
            if arrival <= b:
                return a if arrival < a else arrival
        return None

    # -- eligibility ----------------------------------------------------------
    def _static_eligibility(self) -> np.ndarray:
        """Skills, allowed and excluded collectors: (n, m) bool."""
        tasks, collectors = self.problem.tasks, self.problem.collectors
        ok = np.ones((self.n, self.m), dtype=bool)
        by_skills: dict[frozenset[str], np.ndarray] = {}
        index = {cid: j for j, cid in enumerate(self.collector_ids)}
        for i, t in enumerate(tasks):
            if t.skills:
                row = by_skills.get(t.skills)
                if row is None:
                    row = np.array([t.skills <= c.skills for c in collectors], dtype=bool)
                    by_skills[t.skills] = row
                ok[i] &= row
            if t.allowed_collectors is not None:
                allowed = np.zeros(self.m, dtype=bool)
                allowed[[index[c] for c in t.allowed_collectors]] = True
                ok[i] &= allowed
            for c in t.excluded_collectors:
                ok[i, index[c]] = False
        return ok

    def _single_visit_feasibility(self, chunk: int) -> np.ndarray:
        """Whether collector j could do task i alone in its shift: (n, m) bool.

        Computed in chunks of tasks so that a 10,000 x 1,200 day stays within
        a few hundred megabytes.
        """
        n, m = self.n, self.m
        out = np.zeros((n, m), dtype=bool)
        k = max((len(w) for w in self.windows), default=1)
        ws = np.full((n, k), 2 * DAY, dtype=np.int64)
        we = np.full((n, k), -1, dtype=np.int64)
        for i, wins in enumerate(self.windows):
            for j, (a, b) in enumerate(wins):
                ws[i, j], we[i, j] = a, b
        starts = np.arange(m) + n
        ends = np.arange(m) + n + m
        for lo in range(0, n, chunk):
            rows = np.arange(lo, min(n, lo + chunk))
            go = self.travel.seconds(rows, starts)
            back = self.travel.seconds(rows, ends)
            arrival = self.shift_start[None, :] + go
            best = np.full(arrival.shape, np.iinfo(np.int64).max // 2, dtype=np.int64)
            for j in range(k):
                begin = np.maximum(arrival, ws[rows, j][:, None])
                best = np.where(begin <= we[rows, j][:, None], np.minimum(best, begin), best)
            out[rows] = best + self.service[rows][:, None] + back <= self.shift_end[None, :]
        return out

    def reasons(self) -> dict[int, str]:
        """Reason of every task that no collector may serve even alone."""
        collectors = self.problem.collectors
        out = {}
        for i in np.flatnonzero(~self.servable):
            skills = self.problem.tasks[i].skills
            if skills and not any(skills <= c.skills for c in collectors):
                out[int(i)] = "skills"
            elif not self.static_ok[i].any():
                out[int(i)] = "no_eligible_collector"
            elif not (self.static_ok[i] & self.reach_ok[i]).any():
                out[int(i)] = "window_unreachable"
            else:
                out[int(i)] = "capacity"  # only collectors with max_visits == 0 are left
        return out


def nearest_eligible(inst: Instance, task: int, k: int) -> list[int]:
    """Up to ``k`` eligible collectors, nearest start first."""
    candidates = np.flatnonzero(inst.eligible[task])
    if len(candidates) > k:
        km = inst.legs_km(np.full(len(candidates), task), candidates + inst.n)
        candidates = candidates[np.argsort(km, kind="stable")[:k]]
    return [int(c) for c in candidates]


def _merge(windows: list[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    """Sorted, disjoint windows: touching or overlapping ones become one.

    A start inside either of two overlapping windows is inside their union,
    and VROOM rejects overlapping windows, so the union is what we solve with.
    """
    merged: list[list[int]] = []
    for a, b in sorted(windows):
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    return tuple((a, b) for a, b in merged)
